//! The management canister's methods a controller calls by ingress on the
//! canister: `canister_status`, `update_settings`, `stop_canister`,
//! `start_canister`, with the IC's rules, refusals and canister versions.

use candid::{Encode, Nat, Principal};
use canister_runner::{Canister, InstallArgs, RejectCode};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterSettings, CanisterStatusResult, CanisterStatusType,
    EnvironmentVariable, FetchCanisterLogsArgs, FetchCanisterLogsResult, LogVisibility,
    StatusVisibility, UpdateSettingsArgs,
};

/// A canister with an update and a query that both reply `()`, and a query
/// that replies its canister version (8 bytes, little-endian).
const CANISTER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "canister_version" (func $version (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "DIDL\00\00")
  (func $unit (call $append (i32.const 0) (i32.const 6)) (call $reply))
  (func (export "canister_update poke") (call $unit))
  (func (export "canister_query peek") (call $unit))
  (func (export "canister_query version")
    (i64.store (i32.const 16) (call $version))
    (call $append (i32.const 16) (i32.const 8))
    (call $reply))
)
"#;

fn principal(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

fn controller() -> Principal {
    principal(1)
}

fn stranger() -> Principal {
    principal(2)
}

fn canister() -> Canister {
    install(CANISTER)
}

/// `wat` installed, controlled by [`controller`].
fn install(wat: &str) -> Canister {
    let wasm = wat::parse_str(wat).unwrap();
    Canister::install(
        &wasm,
        InstallArgs {
            controllers: vec![controller()],
            ..InstallArgs::default()
        },
    )
    .unwrap()
}

fn id_arg(canister: &Canister) -> Vec<u8> {
    Encode!(&CanisterIdRecord {
        canister_id: canister.canister_id()
    })
    .unwrap()
}

fn status(canister: &mut Canister, caller: Principal) -> Result<CanisterStatusResult, String> {
    let arg = id_arg(canister);
    canister
        .management_ingress(caller, "canister_status", &arg)
        .result
        .map(|reply| candid::decode_one(&reply).unwrap())
        .map_err(|reject| reject.message)
}

fn settings_arg(canister: &Canister, settings: CanisterSettings) -> Vec<u8> {
    Encode!(&UpdateSettingsArgs {
        canister_id: canister.canister_id(),
        settings,
        sender_canister_version: None,
    })
    .unwrap()
}

/// `update_settings(settings)` by the controller, which must succeed.
fn update_settings(canister: &mut Canister, settings: CanisterSettings) {
    let arg = settings_arg(canister, settings);
    canister
        .management_ingress(controller(), "update_settings", &arg)
        .result
        .unwrap();
}

fn version(canister: &mut Canister) -> u64 {
    let reply = canister.query(controller(), "version", &[]).result.unwrap();
    u64::from_le_bytes(reply.try_into().unwrap())
}

/// A stopped canister refuses updates and queries with the IC's codes and
/// words; started again it answers. Stopping counts two versions (the
/// request and the stop), stopping again one, starting one.
#[test]
fn a_stopped_canister_refuses_calls_until_started() {
    let mut canister = canister();
    let arg = id_arg(&canister);
    let id = canister.canister_id();
    let before = version(&mut canister);
    let stop = canister.management_ingress(controller(), "stop_canister", &arg);
    assert_eq!(stop.result.unwrap(), b"DIDL\x00\x00");
    assert_eq!(canister.status(), CanisterStatusType::Stopped);
    assert_eq!(
        status(&mut canister, controller()).unwrap().status,
        CanisterStatusType::Stopped
    );
    let update = canister
        .update(controller(), "poke", b"DIDL\x00\x00")
        .result
        .unwrap_err();
    assert_eq!(update.code, RejectCode::CanisterError);
    assert_eq!(update.message, format!("IC0508: Canister {id} is stopped"));
    let query = canister
        .query(stranger(), "peek", b"DIDL\x00\x00")
        .result
        .unwrap_err();
    assert_eq!(query.code, RejectCode::CanisterError);
    assert_eq!(
        query.message,
        format!(
            "IC0508: Canister {id} is stopped and therefore does not have a CallContextManager"
        )
    );
    assert!(
        status(&mut canister, controller())
            .unwrap()
            .ready_for_migration
    );
    // Stopped again: one more version, still stopped.
    canister
        .management_ingress(controller(), "stop_canister", &arg)
        .result
        .unwrap();
    canister
        .management_ingress(controller(), "start_canister", &arg)
        .result
        .unwrap();
    assert_eq!(version(&mut canister), before + 4);
    assert_eq!(
        status(&mut canister, controller()).unwrap().version,
        before + 4
    );
    canister
        .update(controller(), "poke", b"DIDL\x00\x00")
        .result
        .unwrap();
}

/// Only controllers may stop, start, change settings or read the status
/// (by default): others are refused with the ingress filter's words, and
/// nothing changes.
#[test]
fn others_are_refused_every_method_and_nothing_changes() {
    let mut canister = canister();
    let id = canister.canister_id();
    let before = canister.record();
    let settings = settings_arg(
        &canister,
        CanisterSettings {
            controllers: Some(vec![stranger()]),
            ..CanisterSettings::default()
        },
    );
    for (method, arg) in [
        ("canister_status", id_arg(&canister)),
        ("update_settings", settings),
        ("stop_canister", id_arg(&canister)),
        ("start_canister", id_arg(&canister)),
    ] {
        let reject = canister
            .management_ingress(stranger(), method, &arg)
            .result
            .unwrap_err();
        assert_eq!(reject.code, RejectCode::CanisterError, "{method}");
        assert_eq!(
            reject.message,
            format!("IC0512: Only controllers of canister {id} can call ic00 method {method}")
        );
    }
    assert_eq!(canister.record(), before);
}

/// `update_settings` sets what it is given and keeps the rest; the version
/// goes up by one; a new set of controllers changes who controls the
/// canister and enters the history; `status_visibility` lets others read
/// the status.
#[test]
fn update_settings_sets_what_it_is_given() {
    let mut canister = canister();
    let version_before = canister.record().version;
    update_settings(
        &mut canister,
        CanisterSettings {
            controllers: Some(vec![controller(), stranger()]),
            freezing_threshold: Some(Nat::from(86_400u64)),
            log_visibility: Some(LogVisibility::Public),
            environment_variables: Some(vec![EnvironmentVariable {
                name: "MODE".into(),
                value: "test".into(),
            }]),
            ..CanisterSettings::default()
        },
    );
    let record = canister.record();
    assert_eq!(record.version, version_before + 1);
    assert!(canister.is_controller(&stranger()));
    let read = status(&mut canister, stranger()).unwrap();
    assert_eq!(read.settings.controllers, vec![controller(), stranger()]);
    assert_eq!(read.settings.freezing_threshold, Nat::from(86_400u64));
    assert_eq!(read.settings.log_visibility, LogVisibility::Public);
    assert_eq!(read.settings.environment_variables.len(), 1);
    // Untouched: the IC's defaults.
    assert_eq!(read.settings.wasm_memory_limit, Nat::from(3u64 << 30));
    // One more entry in the history: the new controllers, at the new version.
    assert_eq!(record.history.len(), 3);
    let last = format!("{:?}", record.history.last().unwrap());
    assert!(
        last.contains("controllers_change")
            && last.contains(&format!("canister_version: {}", version_before + 1)),
        "{last}"
    );

    // Status for anyone, then the controller gives up control.
    update_settings(
        &mut canister,
        CanisterSettings {
            status_visibility: Some(StatusVisibility::Public),
            controllers: Some(vec![stranger()]),
            ..CanisterSettings::default()
        },
    );
    assert!(!canister.is_controller(&controller()));
    let read = status(&mut canister, principal(9)).unwrap();
    assert_eq!(read.settings.controllers, vec![stranger()]);
}

/// Settings the IC refuses are refused with its codes and words, and change
/// nothing: not the settings, not the version, not the history.
#[test]
fn settings_the_ic_refuses_change_nothing() {
    let mut canister = canister();
    let before = canister.record();
    let eleven: Vec<Principal> = (10..21).map(principal).collect();
    let variable = |name: &str, value: &str| EnvironmentVariable {
        name: name.into(),
        value: value.into(),
    };
    let cases: Vec<(CanisterSettings, RejectCode, &str)> = vec![
        (
            CanisterSettings {
                controllers: Some(eleven.clone()),
                ..CanisterSettings::default()
            },
            RejectCode::CanisterReject,
            "IC0408: Error decoding candid: Deserialize error: The number of elements exceeds maximum allowed 10",
        ),
        (
            CanisterSettings {
                log_visibility: Some(LogVisibility::AllowedViewers(eleven)),
                ..CanisterSettings::default()
            },
            RejectCode::CanisterReject,
            "IC0408: Error decoding candid: Deserialize error: The number of elements exceeds maximum allowed 10",
        ),
        (
            CanisterSettings {
                compute_allocation: Some(Nat::from(101u64)),
                freezing_threshold: Some(Nat::from(1u64)),
                ..CanisterSettings::default()
            },
            RejectCode::CanisterError,
            "IC0504: ComputeAllocation expected to be in the range [0..100], got 101",
        ),
        (
            CanisterSettings {
                wasm_memory_limit: Some(Nat::from((1u64 << 48) + 1)),
                ..CanisterSettings::default()
            },
            RejectCode::CanisterError,
            "IC0504: Wasm memory limit expected to be in the range of [0..2^64-1], got 281_474_976_710_657",
        ),
        (
            CanisterSettings {
                environment_variables: Some(vec![variable("A", "1"), variable("A", "2")]),
                ..CanisterSettings::default()
            },
            RejectCode::CanisterReject,
            "IC0408: Duplicate environment variables are not allowed",
        ),
        (
            CanisterSettings {
                environment_variables: Some(vec![variable(&"N".repeat(129), "1")]),
                ..CanisterSettings::default()
            },
            RejectCode::CanisterReject,
            "exceeds the maximum allowed length of 128.",
        ),
    ];
    for (settings, code, words) in cases {
        let arg = settings_arg(&canister, settings);
        let reject = canister
            .management_ingress(controller(), "update_settings", &arg)
            .result
            .unwrap_err();
        assert_eq!(reject.code, code, "{}", reject.message);
        assert!(reject.message.contains(words), "{}", reject.message);
        assert_eq!(canister.record(), before, "{words}");
    }
}

/// A record given back restores controllers, settings, status, version and
/// history.
#[test]
fn a_record_given_back_restores_the_canister() {
    let mut canister = canister();
    let arg = id_arg(&canister);
    update_settings(
        &mut canister,
        CanisterSettings {
            controllers: Some(vec![controller(), stranger()]),
            ..CanisterSettings::default()
        },
    );
    canister
        .management_ingress(controller(), "stop_canister", &arg)
        .result
        .unwrap();
    let record = canister.record();
    let mut fresh = self::canister();
    fresh
        .restore_record(record.clone(), &|_| Err("no chunks".into()))
        .unwrap();
    assert_eq!(fresh.record(), record);
    assert!(fresh.is_controller(&stranger()));
    assert!(fresh
        .update(controller(), "poke", b"DIDL\x00\x00")
        .result
        .is_err());
}

/// A canister that prints its argument (as text) from an update and from a
/// query, and traps with "boom" from another update.
const PRINTER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "debug_print" (func $print (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "DIDL\00\00boom")
  (func $echo
    (call $arg_copy (i32.const 100) (i32.const 0) (call $arg_size))
    (call $print (i32.const 100) (call $arg_size))
    (call $append (i32.const 0) (i32.const 6))
    (call $reply))
  (func (export "canister_update say") (call $echo))
  (func (export "canister_query whisper") (call $echo))
  (func (export "canister_update fail")
    (call $print (i32.const 6) (i32.const 4))
    (call $trap (i32.const 6) (i32.const 4)))
)
"#;

fn logs(canister: &mut Canister, caller: Principal) -> Result<Vec<(u64, String)>, String> {
    let arg = Encode!(&FetchCanisterLogsArgs {
        canister_id: canister.canister_id(),
        filter: None,
    })
    .unwrap();
    canister
        .management_query(caller, "fetch_canister_logs", &arg)
        .result
        .map(|reply| {
            let result: FetchCanisterLogsResult = candid::decode_one(&reply).unwrap();
            result
                .canister_log_records
                .into_iter()
                .map(|record| (record.idx, String::from_utf8(record.content).unwrap()))
                .collect()
        })
        .map_err(|reject| reject.message)
}

/// The log holds what updates printed and how they trapped, numbered in
/// order, never what queries printed; past `log_memory_limit` the oldest
/// records go and the numbers go on. Only controllers read it (by
/// default), and only by query.
#[test]
fn the_log_holds_what_updates_printed_and_how_they_trapped() {
    let mut canister = install(PRINTER);
    canister.update(controller(), "say", b"one").result.unwrap();
    canister
        .query(controller(), "whisper", b"unheard")
        .result
        .unwrap();
    canister
        .update(controller(), "fail", b"")
        .result
        .unwrap_err();
    canister.update(controller(), "say", b"two").result.unwrap();
    assert_eq!(
        logs(&mut canister, controller()).unwrap(),
        vec![
            (0, "one".to_string()),
            (1, "boom".to_string()),
            (2, "[TRAP]: boom".to_string()),
            (3, "two".to_string()),
        ]
    );
    let id = canister.canister_id();
    assert_eq!(
        logs(&mut canister, stranger()).unwrap_err(),
        format!(
            "IC0406: Caller {} is not allowed to access canister logs",
            stranger()
        )
    );
    let arg = Encode!(&FetchCanisterLogsArgs {
        canister_id: id,
        filter: None
    })
    .unwrap();
    let ingress = canister
        .management_ingress(controller(), "fetch_canister_logs", &arg)
        .result
        .unwrap_err();
    assert_eq!(ingress.code, RejectCode::CanisterReject);
    // A limit of 10 bytes: the oldest records go, the numbers go on.
    update_settings(
        &mut canister,
        CanisterSettings {
            log_memory_limit: Some(Nat::from(10u64)),
            ..CanisterSettings::default()
        },
    );
    canister
        .update(controller(), "say", b"three")
        .result
        .unwrap();
    assert_eq!(
        logs(&mut canister, controller()).unwrap(),
        vec![(3, "two".to_string()), (4, "three".to_string())]
    );
}
