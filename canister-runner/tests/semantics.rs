//! The runner's IC semantics, on small hand-written canisters.

use candid::Principal;
use canister_runner::{Canister, InstallArgs, Limits, RejectCode, RunnerError};

/// A canister with a counter in a mutable global, one in linear memory at
/// address 16, and one in stable memory at offset 0.
const COUNTER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "stable64_size" (func $stable_size (result i64)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_read" (func $stable_read (param i64 i64 i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (import "ic0" "cost_http_request" (func $cost_http (param i64 i64 i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (data (i32.const 100) "boom")

  ;; Bumps all three counters; traps afterwards if the argument is not empty.
  (func $bump
    (if (i64.eqz (call $stable_size)) (then (drop (call $stable_grow (i64.const 1)))))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (call $stable_read (i64.const 32) (i64.const 0) (i64.const 4))
    (i32.store (i32.const 32) (i32.add (i32.load (i32.const 32)) (i32.const 1)))
    (call $stable_write (i64.const 0) (i64.const 32) (i64.const 4)))

  ;; Replies with the three counters, 12 bytes.
  (func $report
    (i32.store (i32.const 48) (global.get $count))
    (i32.store (i32.const 52) (i32.load (i32.const 16)))
    (if (i64.eqz (call $stable_size))
      (then (i32.store (i32.const 56) (i32.const 0)))
      (else (call $stable_read (i64.const 56) (i64.const 0) (i64.const 4))))
    (call $append (i32.const 48) (i32.const 12))
    (call $reply))

  (func (export "canister_update bump")
    (call $bump)
    (if (call $arg_size) (then (call $trap (i32.const 100) (i32.const 4))))
    (call $report))
  (func (export "canister_query bump_query") (call $bump) (call $report))
  (func (export "canister_query read") (call $report))
  (func (export "canister_query spin") (loop $l (br $l)))
  (func (export "canister_query big_reply")
    (memory.grow (i32.const 64)) (drop)
    (call $append (i32.const 0) (i32.const 3200000))
    (call $reply))
  (func (export "canister_update no_reply") (call $bump))
  (func (export "canister_update call_out")
    (call $cost_http (i64.const 0) (i64.const 0) (i32.const 0))
    (call $report))
)
"#;

fn principal(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

fn counter(limits: Limits) -> Canister {
    let wasm = wat::parse_str(COUNTER).unwrap();
    Canister::install(
        &wasm,
        InstallArgs {
            controllers: vec![principal(1)],
            limits,
            ..Default::default()
        },
    )
    .unwrap()
}

fn counters(canister: &mut Canister) -> [u32; 3] {
    let reply = canister.query(principal(1), "read", &[]).result.unwrap();
    let word = |i: usize| u32::from_le_bytes(reply[i * 4..i * 4 + 4].try_into().unwrap());
    [word(0), word(1), word(2)]
}

#[test]
fn an_update_keeps_its_changes_and_a_trap_rolls_back_heap_globals_and_stable_memory() {
    let mut canister = counter(Limits::default());
    let result = canister.update(principal(2), "bump", &[]);
    assert_eq!(result.result.unwrap().len(), 12);
    assert_eq!(counters(&mut canister), [1, 1, 1]);

    let reject = canister
        .update(principal(2), "bump", b"x")
        .result
        .unwrap_err();
    assert_eq!(reject.code, RejectCode::CanisterError);
    assert!(reject.message.contains("boom"), "{reject}");
    assert_eq!(
        counters(&mut canister),
        [1, 1, 1],
        "the trapped update left no trace"
    );
}

#[test]
fn a_query_keeps_nothing() {
    let mut canister = counter(Limits::default());
    let reply = canister
        .query(principal(2), "bump_query", &[])
        .result
        .unwrap();
    assert_eq!(reply[..4], 1u32.to_le_bytes());
    assert_eq!(counters(&mut canister), [0, 0, 0]);
    assert!(
        canister.stable_memory().is_empty(),
        "the query's stable growth was undone"
    );
}

#[test]
fn execution_stops_at_the_instruction_limit() {
    let limits = Limits {
        query_instructions: 1_000_000,
        ..Limits::default()
    };
    let mut canister = counter(limits);
    let result = canister.query(principal(2), "spin", &[]);
    let reject = result.result.unwrap_err();
    assert_eq!(reject.code, RejectCode::CanisterError);
    assert!(
        reject.message.contains("instruction limit of 1000000"),
        "{reject}"
    );
    assert_eq!(result.stats.instructions, 1_000_000);
}

#[test]
fn replies_over_the_limit_trap_and_arguments_over_the_limit_are_refused() {
    let mut canister = counter(Limits::default());
    let reject = canister
        .query(principal(2), "big_reply", &[])
        .result
        .unwrap_err();
    assert!(
        reject
            .message
            .contains("reply exceeds the limit of 3145728 bytes"),
        "{reject}"
    );

    let reject = canister
        .update(principal(2), "bump", &vec![0; 2 * 1024 * 1024 + 1])
        .result
        .unwrap_err();
    assert_eq!(reject.code, RejectCode::SysFatal);
    assert_eq!(counters(&mut canister), [0, 0, 0]);
}

#[test]
fn stats_report_instructions_and_bytes() {
    let mut canister = counter(Limits::default());
    let result = canister.update(principal(2), "bump", &[]);
    assert!(result.stats.instructions > 10, "{:?}", result.stats);
    assert_eq!((result.stats.bytes_in, result.stats.bytes_out), (0, 12));
}

#[test]
fn an_unimplemented_import_loads_and_traps_with_its_name_when_called() {
    let mut canister = counter(Limits::default());
    let reject = canister
        .update(principal(2), "call_out", &[])
        .result
        .unwrap_err();
    assert!(
        reject
            .message
            .contains("ic0.cost_http_request is not implemented"),
        "{reject}"
    );
    assert_eq!(counters(&mut canister), [0, 0, 0]);
}

#[test]
fn a_method_that_does_not_reply_is_an_error() {
    let mut canister = counter(Limits::default());
    let reject = canister
        .update(principal(2), "no_reply", &[])
        .result
        .unwrap_err();
    assert!(reject.message.contains("did not reply"), "{reject}");
}

#[test]
fn an_upgrade_empties_the_heap_and_keeps_stable_memory() {
    let mut canister = counter(Limits::default());
    canister.update(principal(2), "bump", &[]).result.unwrap();
    canister.update(principal(2), "bump", &[]).result.unwrap();
    canister
        .upgrade(&wat::parse_str(COUNTER).unwrap(), &[])
        .unwrap();
    assert_eq!(counters(&mut canister), [0, 0, 2]);
}

#[test]
fn bad_modules_and_images_are_clear_errors() {
    let error = Canister::install(b"hello", InstallArgs::default())
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("expected a wasm module"),
        "{error}"
    );
    let no_memory = wat::parse_str(r#"(module (func (export "canister_query x")))"#).unwrap();
    let error = Canister::install(&no_memory, InstallArgs::default())
        .err()
        .unwrap();
    assert!(matches!(error, RunnerError::MissingExport(_)), "{error}");
    // The exports the runner adds to a module do not count as its own.
    for silent in [
        "(module (memory 1))",
        "(module (memory 1) (func $s) (start $s))",
    ] {
        let error = Canister::install(&wat::parse_str(silent).unwrap(), InstallArgs::default())
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("exports nothing"),
            "{silent}: {error}"
        );
    }
    let wasm = wat::parse_str(COUNTER).unwrap();
    let error = Canister::from_image(&wasm, vec![0; 100], InstallArgs::default())
        .err()
        .unwrap();
    assert!(matches!(error, RunnerError::BadImage(_)), "{error}");
    let trapping_init = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "canister_init") unreachable))"#,
    )
    .unwrap();
    let error = Canister::install(&trapping_init, InstallArgs::default())
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("canister_init failed"),
        "{error}"
    );
}

/// Remembers who ran its last lifecycle hook.
const HOOKS: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_caller_size" (func $caller_size (result i32)))
  (import "ic0" "msg_caller_copy" (func $caller_copy (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func $remember
    (i32.store (i32.const 0) (call $caller_size))
    (call $caller_copy (i32.const 4) (i32.const 0) (call $caller_size)))
  (func (export "canister_init") (call $remember))
  (func (export "canister_post_upgrade") (call $remember))
  (func (export "canister_query hook_caller")
    (call $append (i32.const 4) (i32.load (i32.const 0)))
    (call $reply))
)
"#;

#[test]
fn init_and_upgrade_hooks_run_as_the_installer() {
    let wasm = wat::parse_str(HOOKS).unwrap();
    let hook_caller = |canister: &mut Canister| {
        Principal::from_slice(
            &canister
                .query(principal(9), "hook_caller", &[])
                .result
                .unwrap(),
        )
    };
    // By default the first controller installs.
    let mut canister = Canister::install(
        &wasm,
        InstallArgs {
            controllers: vec![principal(1), principal(2)],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(hook_caller(&mut canister), principal(1));
    canister.upgrade(&wasm, &[]).unwrap();
    assert_eq!(
        hook_caller(&mut canister),
        principal(1),
        "upgraded by the installer"
    );
    canister.upgrade_as(principal(2), &wasm, &[]).unwrap();
    assert_eq!(hook_caller(&mut canister), principal(2));

    // Named explicitly, over an image.
    let mut canister = Canister::from_image(
        &wasm,
        Vec::new(),
        InstallArgs {
            installer: Some(principal(3)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(hook_caller(&mut canister), principal(3));
}

/// Calls out: to the management canister's `raw_rand`, to a canister that
/// does not exist, from a query; callbacks that reply, report a reject, or
/// trap (and a cleanup that counts). Memory: 100 = reply callbacks that
/// returned, 104 = the cleanups' sum of `env`, 108 = set before the await.
const CALLER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reject_code" (func $reject_code (result i32)))
  (import "ic0" "msg_reject_msg_size" (func $reject_size (result i32)))
  (import "ic0" "msg_reject_msg_copy" (func $reject_copy (param i32 i32 i32)))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_data_append" (func $call_data (param i32 i32)))
  (import "ic0" "call_on_cleanup" (func $on_cleanup (param i32 i32)))
  (import "ic0" "call_perform" (func $perform (result i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory (export "memory") 1)
  (table 4 funcref)
  (elem (i32.const 0) $replied $rejected $replied_then_trap $cleanup)
  (data (i32.const 0) "raw_rand")
  (data (i32.const 16) "DIDL\00\00")
  (data (i32.const 32) "\01\02\03")
  (data (i32.const 40) "boom")

  (func $call (param $callee i32) (param $callee_size i32) (param $on_reply i32)
    (call $call_new (local.get $callee) (local.get $callee_size) (i32.const 0) (i32.const 8)
      (local.get $on_reply) (i32.const 7) (i32.const 1) (i32.const 7))
    (call $call_data (i32.const 16) (i32.const 6))
    (call $on_cleanup (i32.const 3) (i32.const 7))
    (drop (call $perform)))

  (func (export "canister_update rand")
    (i32.store (i32.const 108) (i32.const 1))
    (call $call (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "canister_update missing") (call $call (i32.const 32) (i32.const 3) (i32.const 0)))
  (func (export "canister_update rand_then_trap")
    (i32.store (i32.const 108) (i32.const 1))
    (call $call (i32.const 0) (i32.const 0) (i32.const 2)))
  (func (export "canister_query from_query") (call $call (i32.const 0) (i32.const 0) (i32.const 0)) (call $reply))
  (func (export "canister_query state") (call $append (i32.const 100) (i32.const 12)) (call $reply))

  (func $replied (param $env i32)
    (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1)))
    (call $arg_copy (i32.const 200) (i32.const 0) (call $arg_size))
    (call $append (i32.const 200) (call $arg_size))
    (call $reply))
  (func $rejected (param $env i32)
    (i32.store8 (i32.const 300) (call $reject_code))
    (call $reject_copy (i32.const 301) (i32.const 0) (call $reject_size))
    (call $append (i32.const 300) (i32.add (i32.const 1) (call $reject_size)))
    (call $reply))
  (func $replied_then_trap (param $env i32)
    (i32.store (i32.const 100) (i32.const 99))
    (call $trap (i32.const 40) (i32.const 4)))
  (func $cleanup (param $env i32)
    (i32.store (i32.const 104) (i32.add (i32.load (i32.const 104)) (local.get $env))))
)
"#;

fn caller_canister(seed: u64) -> Canister {
    Canister::install(
        &wat::parse_str(CALLER).unwrap(),
        InstallArgs {
            controllers: vec![principal(1)],
            seed,
            ..Default::default()
        },
    )
    .unwrap()
}

fn state(canister: &mut Canister) -> [u32; 3] {
    let reply = canister.query(principal(1), "state", &[]).result.unwrap();
    let word = |i: usize| u32::from_le_bytes(reply[i * 4..i * 4 + 4].try_into().unwrap());
    [word(0), word(1), word(2)]
}

#[test]
fn raw_rand_answers_in_the_reply_callback_reproducibly_from_its_seed() {
    let draw = |seed: u64| {
        let mut canister = caller_canister(seed);
        let first = canister.update(principal(2), "rand", &[]).result.unwrap();
        let second = canister.update(principal(2), "rand", &[]).result.unwrap();
        assert_eq!(state(&mut canister), [2, 0, 1]);
        let first: Vec<u8> = candid::decode_one(&first).unwrap();
        let second: Vec<u8> = candid::decode_one(&second).unwrap();
        assert_eq!(first.len(), 32);
        assert_ne!(first, second, "each draw is new");
        first
    };
    assert_eq!(draw(7), draw(7), "the same seed, the same bytes");
    assert_ne!(draw(7), draw(8));
}

#[test]
fn a_call_to_a_canister_that_does_not_exist_is_rejected_with_the_ic_code() {
    let mut canister = caller_canister(0);
    let reply = canister
        .update(principal(2), "missing", &[])
        .result
        .unwrap();
    assert_eq!(
        reply[0],
        RejectCode::DestinationInvalid as u8,
        "reject code 3"
    );
    let message = String::from_utf8_lossy(&reply[1..]).to_string();
    let callee = Principal::from_slice(&[1, 2, 3]);
    assert_eq!(message, format!("Canister {callee} not found"));
}

#[test]
fn the_state_at_the_await_is_kept_when_the_callback_traps_and_cleanup_runs() {
    let mut canister = caller_canister(0);
    let reject = canister
        .update(principal(2), "rand_then_trap", &[])
        .result
        .unwrap_err();
    assert_eq!(reject.code, RejectCode::CanisterError);
    assert!(
        reject
            .message
            .contains("trapped: the canister trapped: boom"),
        "{reject}"
    );
    // 108 written before the await is kept; the callback's 99 is undone;
    // the cleanup ran with its env, 7.
    assert_eq!(state(&mut canister), [0, 7, 1]);
}

#[test]
fn a_query_cannot_call() {
    let mut canister = caller_canister(0);
    let reject = canister
        .query(principal(2), "from_query", &[])
        .result
        .unwrap_err();
    assert_eq!(reject.code, RejectCode::CanisterError);
    assert!(reject.message.contains("call_new"), "{reject}");
}

/// Stable memory through both APIs, certified data, replicated execution,
/// and hooks that spin.
const RULES: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "stable_size" (func $size32 (result i32)))
  (import "ic0" "stable_grow" (func $grow32 (param i32) (result i32)))
  (import "ic0" "stable_read" (func $read32 (param i32 i32 i32)))
  (import "ic0" "stable_write" (func $write32 (param i32 i32 i32)))
  (import "ic0" "stable64_grow" (func $grow64 (param i64) (result i64)))
  (import "ic0" "stable64_read" (func $read64 (param i64 i64 i64)))
  (import "ic0" "stable64_write" (func $write64 (param i64 i64 i64)))
  (import "ic0" "certified_data_set" (func $certify (param i32 i32)))
  (import "ic0" "in_replicated_execution" (func $replicated (result i32)))
  (memory (export "memory") 64)
  (data (i32.const 0) "boom")
  (data (i32.const 16) "certified")

  (func $spin (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000)))))
  (func (export "canister_init") (drop (call $grow64 (i64.const 4))))
  (func (export "canister_pre_upgrade") (call $spin))
  (func (export "canister_post_upgrade") (call $spin))
  (func (export "canister_update spin") (call $spin) (call $reply))

  ;; 8 KiB, 2 pages of 4 KiB, and 20 KiB, 5 pages.
  (func (export "canister_query read_2_pages") (call $read64 (i64.const 1000) (i64.const 0) (i64.const 8192)) (call $reply))
  (func (export "canister_query read_5_pages") (call $read64 (i64.const 1000) (i64.const 0) (i64.const 20480)) (call $reply))
  (func (export "canister_query read_2_pages_twice")
    (call $read64 (i64.const 1000) (i64.const 0) (i64.const 8192))
    (call $read64 (i64.const 1000) (i64.const 0) (i64.const 8192))
    (call $reply))
  (func (export "canister_update write_5_pages") (call $write64 (i64.const 0) (i64.const 1000) (i64.const 20480)) (call $reply))

  (func (export "canister_update api32")
    ;; 4 pages already; grow 1 (old size 4), write "boom" at 70000, read it back
    (if (i32.ne (call $grow32 (i32.const 1)) (i32.const 4)) (then (unreachable)))
    (if (i32.ne (call $size32) (i32.const 5)) (then (unreachable)))
    (call $write32 (i32.const 70000) (i32.const 0) (i32.const 4))
    (call $read32 (i32.const 500) (i32.const 70000) (i32.const 4))
    (call $append (i32.const 500) (i32.const 4))
    (call $reply))
  (func (export "canister_update grow32_past_4gib")
    (i32.store (i32.const 500) (call $grow32 (i32.const 65536)))
    (call $append (i32.const 500) (i32.const 4))
    (call $reply))

  (func (export "canister_update certify") (call $certify (i32.const 16) (i32.const 9)) (call $reply))
  (func (export "canister_update certify_then_trap") (call $certify (i32.const 0) (i32.const 4)) (call $trap (i32.const 0) (i32.const 4)))
  (func (export "canister_query certify_in_query") (call $certify (i32.const 16) (i32.const 9)) (call $reply))

  (func (export "canister_query replicated")
    (i32.store (i32.const 500) (call $replicated))
    (call $append (i32.const 500) (i32.const 4))
    (call $reply))
  ;; 2.5 MB: within a query's 3 MiB, over an update's 2 MiB.
  (func (export "canister_query big") (call $append (i32.const 0) (i32.const 2500000)) (call $reply))
)
"#;

fn rules(limits: Limits) -> Canister {
    Canister::install(
        &wat::parse_str(RULES).unwrap(),
        InstallArgs {
            controllers: vec![principal(1)],
            limits,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn stable_memory_access_is_limited_per_message_as_on_the_ic() {
    let limits = Limits {
        query_stable_access: 4 * 4096,
        update_stable_access: 4 * 4096,
        ..Limits::default()
    };
    let mut canister = rules(limits);
    assert!(canister
        .query(principal(2), "read_2_pages", &[])
        .result
        .is_ok());
    // Pages read twice count once; each message starts from nothing.
    assert!(canister
        .query(principal(2), "read_2_pages_twice", &[])
        .result
        .is_ok());
    assert!(canister
        .query(principal(2), "read_2_pages", &[])
        .result
        .is_ok());
    let reject = canister
        .query(principal(2), "read_5_pages", &[])
        .result
        .unwrap_err();
    assert!(
        reject.message.contains("Exceeded the limit for the number of accessed pages in the stable memory in a single message execution: limit: 16 KB."),
        "{reject}"
    );
    let before = canister.stable_memory().to_vec();
    let reject = canister
        .update(principal(2), "write_5_pages", &[])
        .result
        .unwrap_err();
    assert!(
        reject.message.contains("number of accessed pages"),
        "{reject}"
    );
    assert_eq!(
        canister.stable_memory(),
        before,
        "the refused write left nothing"
    );
    // The IC's own limits: 1 GiB for a query, 2 GiB for an update.
    let ic = Limits::default();
    assert_eq!(
        (ic.query_stable_access, ic.update_stable_access),
        (1 << 30, 2 << 30)
    );
}

#[test]
fn an_upgrade_has_one_instruction_limit_for_all_its_hooks() {
    let mut canister = rules(Limits::default());
    let hook = canister
        .update(principal(1), "spin", &[])
        .stats
        .instructions;
    let wasm = wat::parse_str(RULES).unwrap();
    // Room for one hook and a half: each hook alone fits, both do not.
    let limits = Limits {
        upgrade_instructions: hook * 3 / 2,
        ..Limits::default()
    };
    let mut canister = rules(limits);
    let error = canister.upgrade(&wasm, &[]).unwrap_err().to_string();
    assert!(
        error.contains("canister_post_upgrade") && error.contains("instruction limit"),
        "{error}"
    );
    let limits = Limits {
        upgrade_instructions: hook * 5 / 2,
        ..Limits::default()
    };
    rules(limits).upgrade(&wasm, &[]).unwrap();
}

#[test]
fn the_32_bit_stable_memory_api_of_older_canisters() {
    let mut canister = rules(Limits::default());
    let reply = canister.update(principal(1), "api32", &[]).result.unwrap();
    assert_eq!(reply, b"boom");
    assert_eq!(&canister.stable_memory()[70000..70004], b"boom");
    let reply = canister
        .update(principal(1), "grow32_past_4gib", &[])
        .result
        .unwrap();
    assert_eq!(
        i32::from_le_bytes(reply.try_into().unwrap()),
        -1,
        "past 4 GiB: -1"
    );
}

#[test]
fn certified_data_is_set_by_updates_undone_by_traps_refused_in_queries() {
    let mut canister = rules(Limits::default());
    canister
        .update(principal(1), "certify", &[])
        .result
        .unwrap();
    assert_eq!(canister.certified_data(), b"certified");
    assert!(canister
        .update(principal(1), "certify_then_trap", &[])
        .result
        .is_err());
    assert_eq!(canister.certified_data(), b"certified", "a trap undoes it");
    for reject in [
        canister
            .query(principal(1), "certify_in_query", &[])
            .result
            .unwrap_err(),
        canister
            .query_replicated(principal(1), "certify_in_query", &[])
            .result
            .unwrap_err(),
    ] {
        assert!(
            reject
                .message
                .contains("certified_data_set cannot be called"),
            "{reject}"
        );
    }
    assert_eq!(canister.certified_data(), b"certified");
}

#[test]
fn a_query_called_as_an_update_is_replicated_and_replies_at_most_2_mib() {
    let mut canister = rules(Limits::default());
    let flag = |reply: Vec<u8>| i32::from_le_bytes(reply.try_into().unwrap());
    assert_eq!(
        flag(
            canister
                .query(principal(1), "replicated", &[])
                .result
                .unwrap()
        ),
        0
    );
    assert_eq!(
        flag(
            canister
                .query_replicated(principal(1), "replicated", &[])
                .result
                .unwrap()
        ),
        1
    );
    assert_eq!(
        canister
            .query(principal(1), "big", &[])
            .result
            .unwrap()
            .len(),
        2_500_000
    );
    let reject = canister
        .query_replicated(principal(1), "big", &[])
        .result
        .unwrap_err();
    assert!(
        reject
            .message
            .contains("exceeds the limit of 2097152 bytes"),
        "{reject}"
    );
}

/// Replies with the data certificate if one is present, else with "none".
const CERTIFICATE_READER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "data_certificate_present" (func $present (result i32)))
  (import "ic0" "data_certificate_size" (func $size (result i32)))
  (import "ic0" "data_certificate_copy" (func $copy (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "none")
  (func $answer
    (if (call $present)
      (then
        (call $copy (i32.const 100) (i32.const 0) (call $size))
        (call $append (i32.const 100) (call $size)))
      (else (call $append (i32.const 0) (i32.const 4))))
    (call $reply))
  (func (export "canister_query read") (call $answer))
  (func (export "canister_update write") (call $answer))
  (func (export "canister_query size_anyway") (drop (call $size)) (call $reply))
)
"#;

#[test]
fn the_data_certificate_is_given_to_non_replicated_queries_only() {
    let wasm = wat::parse_str(CERTIFICATE_READER).unwrap();
    let mut canister = Canister::install(&wasm, InstallArgs::default()).unwrap();
    let caller = principal(1);
    // None set: no query sees one, and asking for its size traps.
    assert_eq!(canister.query(caller, "read", b"").result.unwrap(), b"none");
    let error = canister
        .query(caller, "size_anyway", b"")
        .result
        .unwrap_err();
    assert!(
        error.message.contains("no data certificate"),
        "{}",
        error.message
    );
    canister.set_data_certificate(Some(b"a certificate".to_vec()));
    assert_eq!(
        canister.query(caller, "read", b"").result.unwrap(),
        b"a certificate"
    );
    // Replicated execution never sees it.
    assert_eq!(
        canister.update(caller, "write", b"").result.unwrap(),
        b"none"
    );
    assert_eq!(
        canister
            .query_replicated(caller, "read", b"")
            .result
            .unwrap(),
        b"none"
    );
    canister.set_data_certificate(None);
    assert_eq!(canister.query(caller, "read", b"").result.unwrap(), b"none");
}
