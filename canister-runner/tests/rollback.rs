//! A trap undoes every write of the message to the heap, however it was
//! written (stores of each width, a store across a page boundary, bulk
//! fills and copies, the system API writing the argument or stable memory
//! into the heap, pages the message grew), and a kept message keeps them
//! all. The runner copies only the pages a message wrote, so each way of
//! writing must be seen.

use candid::Principal;
use canister_runner::{Canister, InstallArgs};

const HEAP: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $stable_read (param i64 i64 i64)))
  (memory (export "memory") 2)
  (global $round (mut i64) (i64.const 0))

  (func (export "canister_init")
    (drop (call $stable_grow (i64.const 1)))
    (i64.store (i32.const 64) (i64.const 0x1122334455667788))
    (call $stable_write (i64.const 0) (i64.const 64) (i64.const 8)))

  ;; Writes in every way; traps at the end if the argument's first byte is 1.
  (func $write
    (global.set $round (i64.add (global.get $round) (i64.const 1)))
    ;; stores of each width, one across the boundary of pages 0 and 1
    (i64.store (i32.const 4092) (i64.mul (global.get $round) (i64.const 0x0101010101010101)))
    (i32.store8 (i32.const 9000) (i32.const 0x5a))
    (i32.store16 offset=12000 (i32.const 1) (i32.const 0x1234))
    (f64.store (i32.const 20000) (f64.const 2.5))
    (f32.store (i32.const 24000) (f32.const 1.5))
    (i64.store32 (i32.const 28000) (i64.const 7))
    ;; a fill over three pages and a copy into a fourth
    (memory.fill (i32.const 40000) (i32.const 0xab) (i32.const 9000))
    (memory.copy (i32.const 60000) (i32.const 4092) (i32.const 8))
    ;; the argument, copied in across a page boundary
    (call $arg_copy (i32.const 69630) (i32.const 0) (call $arg_size))
    ;; stable memory read into the heap
    (call $stable_read (i64.const 100000) (i64.const 0) (i64.const 8))
    ;; a new page, written
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 131080) (i32.const 99)))

  (func (export "canister_update write")
    (call $write)
    (call $arg_copy (i32.const 0) (i32.const 0) (i32.const 1))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 1)) (then unreachable))
    (call $reply))

  (func (export "canister_query write_query")
    (call $write)
    (call $reply))

  ;; The whole heap, and the round.
  (func (export "canister_query dump")
    (i64.store (i32.const 0) (global.get $round))
    (call $append (i32.const 0) (i32.mul (memory.size) (i32.const 65536)))
    (call $reply))
)
"#;

fn dump(canister: &mut Canister) -> Vec<u8> {
    canister
        .query(Principal::anonymous(), "dump", &[])
        .result
        .unwrap()
}

/// Heaps are equal where both have memory; what one has past the other is zero.
fn same_heap(a: &[u8], b: &[u8]) -> bool {
    let common = a.len().min(b.len());
    a[..common] == b[..common]
        && a[common..].iter().all(|&byte| byte == 0)
        && b[common..].iter().all(|&byte| byte == 0)
}

#[test]
fn a_trap_undoes_every_write_and_a_kept_message_keeps_them() {
    let wasm = wat::parse_str(HEAP).unwrap();
    let mut canister = Canister::install(&wasm, InstallArgs::default()).unwrap();
    let caller = Principal::from_slice(&[3; 29]);
    let before = dump(&mut canister);

    let mut argument = vec![1u8];
    argument.extend_from_slice(&[0xcd; 20]);
    let trapped = canister.update(caller, "write", &argument);
    assert!(trapped.result.is_err());
    let after_trap = dump(&mut canister);
    assert!(same_heap(&before, &after_trap), "a trap left writes behind");

    canister
        .query(caller, "write_query", &argument)
        .result
        .unwrap();
    assert!(
        same_heap(&before, &dump(&mut canister)),
        "a query left writes behind"
    );

    argument[0] = 0;
    canister.update(caller, "write", &argument).result.unwrap();
    let kept = dump(&mut canister);
    assert!(!same_heap(&before, &kept));
    assert_eq!(kept[..8], 1u64.to_le_bytes(), "the round");
    let across = 0x0101010101010101u64.to_le_bytes();
    assert_eq!(kept[4092..4100], across, "across pages 0 and 1");
    assert_eq!(kept[9000], 0x5a);
    assert_eq!(kept[12001..12003], 0x1234u16.to_le_bytes());
    assert_eq!(kept[20000..20008], 2.5f64.to_le_bytes());
    assert_eq!(kept[24000..24004], 1.5f32.to_le_bytes());
    assert_eq!(kept[28000..28004], 7u32.to_le_bytes());
    assert!(kept[40000..49000].iter().all(|&byte| byte == 0xab));
    assert_eq!(kept[60000..60008], across);
    assert_eq!(kept[69630..69651], argument[..]);
    assert_eq!(kept[100000..100008], 0x1122334455667788u64.to_le_bytes());
    assert_eq!(kept[131080..131084], 99u32.to_le_bytes());

    // Trapping again gives back the kept state, not the first one.
    argument[0] = 1;
    argument[1] = 0xee;
    assert!(canister.update(caller, "write", &argument).result.is_err());
    assert!(same_heap(&kept, &dump(&mut canister)));
}

#[test]
fn a_failed_upgrade_leaves_the_heap_as_it_was() {
    let wasm = wat::parse_str(HEAP).unwrap();
    let mut canister = Canister::install(&wasm, InstallArgs::default()).unwrap();
    let caller = Principal::from_slice(&[3; 29]);
    canister.update(caller, "write", &[0, 9, 9]).result.unwrap();
    let kept = dump(&mut canister);
    // pre_upgrade writes the heap, then post_upgrade traps.
    let failing = wat::parse_str(
        r#"(module
          (memory (export "memory") 1)
          (func (export "canister_post_upgrade") unreachable))"#,
    )
    .unwrap();
    let with_pre_upgrade = HEAP.replace(
        "(func (export \"canister_init\")",
        "(func (export \"canister_pre_upgrade\") (memory.fill (i32.const 0) (i32.const 1) (i32.const 70000)))\n  (func (export \"canister_init\")",
    );
    let mut canister_b = Canister::install(
        &wat::parse_str(&with_pre_upgrade).unwrap(),
        InstallArgs::default(),
    )
    .unwrap();
    canister_b
        .update(caller, "write", &[0, 9, 9])
        .result
        .unwrap();
    assert!(same_heap(&kept, &dump(&mut canister_b)));
    assert!(canister_b.upgrade(&failing, &[]).is_err());
    assert!(same_heap(&kept, &dump(&mut canister_b)));
    assert!(canister.upgrade(&failing, &[]).is_err());
    assert!(same_heap(&kept, &dump(&mut canister)));
}

#[test]
fn an_undone_message_leaves_the_heap_its_old_size() {
    // On the IC a trap or a query undoes memory.grow too: allocators see
    // the old size and memory.grow returns it.
    let wasm = wat::parse_str(
        r#"(module
          (import "ic0" "msg_reply" (func $reply))
          (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
          (memory (export "memory") 2)
          (func $answer (param i32)
            (i32.store (i32.const 0) (local.get 0))
            (call $append (i32.const 0) (i32.const 4))
            (call $reply))
          (func (export "canister_query grow") (call $answer (memory.grow (i32.const 3))))
          (func (export "canister_update grow_and_trap") (drop (memory.grow (i32.const 3))) unreachable)
          (func (export "canister_update grow") (call $answer (memory.grow (i32.const 1))))
          (func (export "canister_query size") (call $answer (memory.size))))"#,
    )
    .unwrap();
    let mut canister = Canister::install(&wasm, InstallArgs::default()).unwrap();
    let caller = Principal::from_slice(&[3; 29]);
    let mut ask = |method: &str, update: bool| {
        let call = if update {
            canister.update(caller, method, &[])
        } else {
            canister.query(caller, method, &[])
        };
        call.result
            .map(|reply| u32::from_le_bytes(reply.try_into().unwrap()))
    };
    assert_eq!(ask("size", false), Ok(2));
    assert_eq!(ask("grow", false), Ok(2), "the query grows from 2 pages");
    assert_eq!(ask("size", false), Ok(2), "and its growth is undone");
    assert!(ask("grow_and_trap", true).is_err());
    assert_eq!(ask("size", false), Ok(2), "a trap's growth is undone");
    assert_eq!(ask("grow", true), Ok(2), "an update grows from 2 pages");
    assert_eq!(ask("size", false), Ok(3), "and keeps its growth");
}
