//! What the runner's tests of the management canister share: a canister
//! whose state is in stable memory, in its heap and in a global, and the
//! calls that drive it.
#![allow(dead_code)]

use candid::{Encode, Principal};
use canister_runner::{Canister, InstallArgs, RejectCode};
use ic_management_canister_types::{CanisterIdRecord, CanisterInstallMode, CanisterStatusResult};
use sha2::{Digest, Sha256};

/// A canister labelled `label` that keeps a counter in the first byte of
/// stable memory: `canister_init` grows stable memory by a page (the
/// counter 0), `bump` adds one, `count` and `label` reply them (Candid
/// `nat8` and `text`). Two more counters live in its heap and in a mutable
/// global: `tick` adds one to both, `ticks` replies them (`nat8`, `nat8`).
/// Each hook prints its name and the label; `trap` names the hooks that
/// trap instead.
pub fn module(label: char, trap: &[&str]) -> Vec<u8> {
    let hook = |name: &str, body: &str| {
        let (at, len) = (200 + offset(name), name.len() + 2);
        let body = if trap.contains(&name) {
            "(call $trap (i32.const 64) (i32.const 4))"
        } else {
            body
        };
        format!(
            r#"(func (export "canister_{name}") (call $print (i32.const {at}) (i32.const {len})) {body})"#
        )
    };
    let init = hook("init", "(drop (call $grow (i64.const 1)))");
    let pre = hook("pre_upgrade", "");
    let post = hook("post_upgrade", "");
    let names = format!(
        r#"(data (i32.const {}) "init {label}")(data (i32.const {}) "pre_upgrade {label}")(data (i32.const {}) "post_upgrade {label}")"#,
        200 + offset("init"),
        200 + offset("pre_upgrade"),
        200 + offset("post_upgrade"),
    );
    let wat = format!(
        r#"(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "stable64_grow" (func $grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $swrite (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $sread (param i64 i64 i64)))
  (import "ic0" "debug_print" (func $print (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory (export "memory") 1)
  (global $ticks (mut i32) (i32.const 0))
  (data (i32.const 56) "DIDL\00\02\7b\7b")
  (data (i32.const 16) "DIDL\00\01\71\01{label}")
  (data (i32.const 32) "DIDL\00\01\7b")
  (data (i32.const 48) "DIDL\00\00")
  (data (i32.const 64) "boom")
  {names}
  {init}
  {pre}
  {post}
  (func (export "canister_query label")
    (call $append (i32.const 16) (i32.const 9))
    (call $reply))
  (func (export "canister_query count")
    (call $sread (i64.const 39) (i64.const 0) (i64.const 1))
    (call $append (i32.const 32) (i32.const 8))
    (call $reply))
  (func (export "canister_update tick")
    (i32.store8 (i32.const 300) (i32.add (i32.load8_u (i32.const 300)) (i32.const 1)))
    (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
    (call $append (i32.const 48) (i32.const 6))
    (call $reply))
  (func (export "canister_query ticks")
    (call $append (i32.const 56) (i32.const 8))
    (i32.store8 (i32.const 310) (i32.load8_u (i32.const 300)))
    (i32.store8 (i32.const 311) (global.get $ticks))
    (call $append (i32.const 310) (i32.const 2))
    (call $reply))
  (func (export "canister_update bump")
    (call $sread (i64.const 100) (i64.const 0) (i64.const 1))
    (i32.store8 (i32.const 100) (i32.add (i32.load8_u (i32.const 100)) (i32.const 1)))
    (call $swrite (i64.const 0) (i64.const 100) (i64.const 1))
    (call $append (i32.const 48) (i32.const 6))
    (call $reply))
)"#
    );
    wat::parse_str(wat).unwrap()
}

/// Where each hook's name is in the module's data, from 200.
pub fn offset(hook: &str) -> u32 {
    match hook {
        "init" => 0,
        "pre_upgrade" => 20,
        _ => 40,
    }
}

pub fn controller() -> Principal {
    Principal::from_slice(&[1; 29])
}

pub fn stranger() -> Principal {
    Principal::from_slice(&[2; 29])
}

pub fn install(wasm: &[u8]) -> Canister {
    Canister::install(
        wasm,
        InstallArgs {
            controllers: vec![controller()],
            ..InstallArgs::default()
        },
    )
    .unwrap()
}

pub const UNIT: &[u8] = b"DIDL\x00\x00";

pub fn count(canister: &mut Canister) -> u8 {
    let reply = canister.query(controller(), "count", UNIT).result.unwrap();
    candid::decode_one(&reply).unwrap()
}

pub fn label(canister: &mut Canister) -> String {
    let reply = canister.query(controller(), "label", UNIT).result.unwrap();
    candid::decode_one(&reply).unwrap()
}

pub fn bump(canister: &mut Canister, times: usize) {
    for _ in 0..times {
        canister.update(controller(), "bump", UNIT).result.unwrap();
    }
}

pub fn install_arg(canister: &Canister, mode: CanisterInstallMode, wasm: &[u8]) -> Vec<u8> {
    #[derive(candid::CandidType)]
    struct Args<'a> {
        mode: CanisterInstallMode,
        canister_id: Principal,
        wasm_module: &'a serde_bytes::Bytes,
        arg: &'a serde_bytes::Bytes,
        sender_canister_version: Option<u64>,
    }
    Encode!(&Args {
        mode,
        canister_id: canister.canister_id(),
        wasm_module: serde_bytes::Bytes::new(wasm),
        arg: serde_bytes::Bytes::new(UNIT),
        sender_canister_version: None,
    })
    .unwrap()
}

/// `method(arg)` by `caller`: the reply, or the reject's code and message.
pub fn manage(
    canister: &mut Canister,
    caller: Principal,
    method: &str,
    arg: &[u8],
) -> Result<Vec<u8>, (RejectCode, String)> {
    canister
        .management_ingress(caller, method, arg)
        .result
        .map_err(|reject| (reject.code, reject.message))
}

pub fn upgrade() -> CanisterInstallMode {
    CanisterInstallMode::Upgrade(None)
}

pub fn status(canister: &mut Canister) -> CanisterStatusResult {
    let arg = id_arg(canister);
    candid::decode_one(&manage(canister, controller(), "canister_status", &arg).unwrap()).unwrap()
}

pub fn id_arg(canister: &Canister) -> Vec<u8> {
    Encode!(&CanisterIdRecord {
        canister_id: canister.canister_id()
    })
    .unwrap()
}

pub fn log(canister: &Canister) -> Vec<String> {
    canister
        .canister_log()
        .fetch(None)
        .into_iter()
        .map(|record| String::from_utf8(record.content).unwrap())
        .collect()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The heap's and the global's counters.
pub fn ticks(canister: &mut Canister) -> (u8, u8) {
    let reply = canister.query(controller(), "ticks", UNIT).result.unwrap();
    candid::decode_args(&reply).unwrap()
}

pub fn tick(canister: &mut Canister, times: usize) {
    for _ in 0..times {
        canister.update(controller(), "tick", UNIT).result.unwrap();
    }
}
