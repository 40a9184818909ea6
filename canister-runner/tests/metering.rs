//! The runner counts instructions as the IC does: the module metered with
//! the IC's cost table (one charge per straight-line block, a check where a
//! block can be entered again, bulk memory by its size), and each system
//! call charged its overhead and its bytes. The expected figures below are
//! worked out by hand from the IC's rules.

use candid::Principal;
use canister_runner::{Canister, InstallArgs, Limits, RunnerError};

const METERED: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "performance_counter" (func $counter (param i32) (result i64)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (memory (export "memory") 1)
  (global $started (mut i32) (i32.const 0))
  (start $start)

  ;; The start function: 1 (entry) + i32.const 1 (1) + global.set (2) = 4.
  (func $start (global.set $started (i32.const 1)))

  ;; One block, charged on entry: 1 + 20 (the instructions, the three calls
  ;; 5 each, `end` 0); performance_counter then charges 200 and reads 221;
  ;; the reply charges 500 + 50 * 8 and 500.
  (func (export "canister_query straight")
    (i64.store (i32.const 0) (call $counter (i32.const 0)))
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))

  ;; A loop of 10 rounds. Entry block: 1 + local.set's i32.const (1) +
  ;; local.set (1) + loop (0) = 3. Loop body: local.get (1), i32.const (1),
  ;; i32.sub (1), local.tee (1), br_if (2) = 6, ten times = 60. After the
  ;; loop: end (0), then the reply's block: i32.const (1) x2, call (5) x2,
  ;; end (0) = 12. With the reply (500 + 50 * 0 + 500): 1075.
  (func (export "canister_query looping") (local i32)
    (local.set 0 (i32.const 10))
    (loop $again
      (br_if $again (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
    (call $append (i32.const 0) (i32.const 0))
    (call $reply))

  ;; memory.fill of 1000 bytes: charged its static 100 and its size.
  (func (export "canister_query fill")
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 1000))
    (call $reply))

  ;; Stable memory: growth 100, a write of 64 bytes 20 + 64, and 1000 for
  ;; the page it is the first to write.
  (func (export "canister_update stable")
    (drop (call $stable_grow (i64.const 1)))
    (call $stable_write (i64.const 0) (i64.const 0) (i64.const 64))
    (call $reply))

  (func (export "canister_query started")
    (i32.store (i32.const 0) (global.get $started))
    (call $append (i32.const 0) (i32.const 4))
    (call $reply))
)
"#;

fn metered(limits: Limits) -> Result<Canister, RunnerError> {
    let wasm = wat::parse_str(METERED).unwrap();
    Canister::install(
        &wasm,
        InstallArgs {
            limits,
            ..InstallArgs::default()
        },
    )
}

fn anyone() -> Principal {
    Principal::from_slice(&[9; 29])
}

#[test]
fn counts_are_the_ics_static_costs_plus_system_call_charges() {
    let mut canister = metered(Limits::default()).unwrap();

    let straight = canister.query(anyone(), "straight", &[]);
    let seen = u64::from_le_bytes(straight.result.unwrap().try_into().unwrap());
    assert_eq!(seen, 21 + 200, "performance_counter");
    assert_eq!(straight.stats.instructions, 21 + 200 + 500 + 50 * 8 + 500);

    let looping = canister.query(anyone(), "looping", &[]);
    assert_eq!(looping.stats.instructions, 3 + 60 + 12 + 500 + 500);

    // 1 + i32.const x3 (3) + memory.fill (100) + call (5) + end (0) = 109,
    // the fill's 1000 bytes, and msg_reply's 500.
    let fill = canister.query(anyone(), "fill", &[]);
    assert_eq!(fill.stats.instructions, 109 + 1000 + 500);

    // 1 + i64.const (1) + call (5) + drop (1) + i64.const x3 (3) + call (5)
    // + call (5) = 21; growth 100; the write 20 + 64 and its new page 1000;
    // the reply 500.
    let stable = canister.update(anyone(), "stable", &[]);
    assert_eq!(stable.stats.instructions, 21 + 100 + 20 + 64 + 1000 + 500);
    // The page is new in each message, not once for the canister.
    let again = canister.update(anyone(), "stable", &[]);
    assert_eq!(again.stats.instructions, stable.stats.instructions);
}

#[test]
fn a_count_does_not_depend_on_what_ran_before() {
    // wasmi fuel charged a function's translation to its first call; the
    // IC's count is the same every time.
    let mut canister = metered(Limits::default()).unwrap();
    let first = canister.query(anyone(), "looping", &[]).stats.instructions;
    let second = canister.query(anyone(), "looping", &[]).stats.instructions;
    assert_eq!(first, second);
}

#[test]
fn the_start_function_runs_once_under_the_install_limit() {
    let mut canister = metered(Limits::default()).unwrap();
    let started = canister.query(anyone(), "started", &[]).result.unwrap();
    assert_eq!(started, 1u32.to_le_bytes());

    // The start function costs 4: an install with 3 instructions fails in it.
    let error = metered(Limits {
        upgrade_instructions: 3,
        ..Limits::default()
    })
    .err()
    .expect("the install runs out of instructions")
    .to_string();
    assert!(
        error.contains("start function") && error.contains("instruction limit of 3"),
        "{error}"
    );
    assert!(metered(Limits {
        upgrade_instructions: 4,
        ..Limits::default()
    })
    .is_ok());
}

#[test]
fn a_system_call_past_the_limit_traps_before_it_acts() {
    // `straight` needs 21 + 200 to read the counter and 900 more to reply.
    let mut canister = metered(Limits {
        query_instructions: 21 + 200 + 500,
        ..Limits::default()
    })
    .unwrap();
    let result = canister.query(anyone(), "straight", &[]);
    let reject = result.result.expect_err("out of instructions");
    assert!(
        reject.message.contains("instruction limit of 721"),
        "{}",
        reject.message
    );
    assert_eq!(result.stats.instructions, 721);
}
