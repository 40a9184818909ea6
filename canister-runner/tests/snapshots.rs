//! Canister snapshots as a controller takes, reads, uploads, loads and
//! deletes them by ingress: what a snapshot holds (module, heap, globals,
//! stable memory, certified data, chunk store), the limits (10 snapshots,
//! slices of 2,000,000 bytes), the refusals, each changing nothing.

use crate::common;

use candid::{Encode, Principal};
use canister_runner::{Canister, RejectCode};
use common::*;
use ic_management_canister_types::{
    CanisterSettings, CanisterStatusType, ReadCanisterSnapshotMetadataResult, Snapshot,
    SnapshotDataKind, SnapshotDataOffset, SnapshotMetadataGlobal, SnapshotVisibility,
    UpdateSettingsArgs, UploadCanisterSnapshotMetadataArgs, UploadCanisterSnapshotMetadataResult,
};

fn take(canister: &mut Canister, replace: Option<Vec<u8>>) -> Result<Snapshot, String> {
    let arg = Encode!(&ic_management_canister_types::TakeCanisterSnapshotArgs {
        canister_id: canister.canister_id(),
        replace_snapshot: replace,
        uninstall_code: None,
        sender_canister_version: None,
    })
    .unwrap();
    manage(canister, controller(), "take_canister_snapshot", &arg)
        .map(|reply| candid::decode_one(&reply).unwrap())
        .map_err(|(_, message)| message)
}

fn snapshot_arg(canister: &Canister, id: &[u8]) -> Vec<u8> {
    Encode!(&ic_management_canister_types::LoadCanisterSnapshotArgs {
        canister_id: canister.canister_id(),
        snapshot_id: id.to_vec(),
        sender_canister_version: None,
    })
    .unwrap()
}

fn load(canister: &mut Canister, id: &[u8]) -> Result<(), (RejectCode, String)> {
    let arg = snapshot_arg(canister, id);
    manage(canister, controller(), "load_canister_snapshot", &arg).map(drop)
}

fn list(canister: &mut Canister, caller: Principal) -> Result<Vec<Snapshot>, String> {
    let arg = id_arg(canister);
    manage(canister, caller, "list_canister_snapshots", &arg)
        .map(|reply| candid::decode_one(&reply).unwrap())
        .map_err(|(_, message)| message)
}

fn delete(canister: &mut Canister, id: &[u8]) -> Result<(), (RejectCode, String)> {
    let arg = Encode!(&ic_management_canister_types::DeleteCanisterSnapshotArgs {
        canister_id: canister.canister_id(),
        snapshot_id: id.to_vec(),
    })
    .unwrap();
    manage(canister, controller(), "delete_canister_snapshot", &arg).map(drop)
}

fn metadata(canister: &mut Canister, id: &[u8]) -> ReadCanisterSnapshotMetadataResult {
    let arg = Encode!(
        &ic_management_canister_types::ReadCanisterSnapshotMetadataArgs {
            canister_id: canister.canister_id(),
            snapshot_id: id.to_vec(),
        }
    )
    .unwrap();
    candid::decode_one(
        &manage(
            canister,
            controller(),
            "read_canister_snapshot_metadata",
            &arg,
        )
        .unwrap(),
    )
    .unwrap()
}

fn read(
    canister: &mut Canister,
    id: &[u8],
    kind: SnapshotDataKind,
) -> Result<Vec<u8>, (RejectCode, String)> {
    let arg = Encode!(
        &ic_management_canister_types::ReadCanisterSnapshotDataArgs {
            canister_id: canister.canister_id(),
            snapshot_id: id.to_vec(),
            kind,
        }
    )
    .unwrap();
    manage(canister, controller(), "read_canister_snapshot_data", &arg).map(|reply| {
        candid::decode_one::<ic_management_canister_types::ReadCanisterSnapshotDataResult>(&reply)
            .unwrap()
            .chunk
    })
}

/// A whole part of a snapshot, read in slices of at most 2,000,000 bytes.
fn read_all(canister: &mut Canister, id: &[u8], part: &str, len: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    while (bytes.len() as u64) < len {
        let (offset, size) = (
            bytes.len() as u64,
            (len - bytes.len() as u64).min(2_000_000),
        );
        let kind = match part {
            "module" => SnapshotDataKind::WasmModule { offset, size },
            "heap" => SnapshotDataKind::WasmMemory { offset, size },
            _ => SnapshotDataKind::StableMemory { offset, size },
        };
        bytes.extend(read(canister, id, kind).unwrap());
    }
    bytes
}

fn upload_metadata(
    canister: &mut Canister,
    args: UploadCanisterSnapshotMetadataArgs,
) -> Result<Vec<u8>, (RejectCode, String)> {
    let arg = Encode!(&args).unwrap();
    manage(
        canister,
        controller(),
        "upload_canister_snapshot_metadata",
        &arg,
    )
    .map(|reply| {
        candid::decode_one::<UploadCanisterSnapshotMetadataResult>(&reply)
            .unwrap()
            .snapshot_id
    })
}

fn upload_data(
    canister: &mut Canister,
    id: &[u8],
    kind: SnapshotDataOffset,
    chunk: &[u8],
) -> Result<(), (RejectCode, String)> {
    let arg = Encode!(
        &ic_management_canister_types::UploadCanisterSnapshotDataArgs {
            canister_id: canister.canister_id(),
            snapshot_id: id.to_vec(),
            kind,
            chunk: chunk.to_vec(),
        }
    )
    .unwrap();
    manage(
        canister,
        controller(),
        "upload_canister_snapshot_data",
        &arg,
    )
    .map(drop)
}

/// The state a snapshot restores: stable memory, heap and global.
fn state(canister: &mut Canister) -> (u8, (u8, u8)) {
    (count(canister), ticks(canister))
}

/// A snapshot taken while the canister runs gives back, when loaded, its
/// stable memory, heap and globals as they were; the version goes up by
/// one and the history says which snapshot; the snapshot stays.
#[test]
fn a_loaded_snapshot_gives_back_the_canister_as_it_was() {
    let mut canister = install(&module('A', &[]));
    bump(&mut canister, 2);
    tick(&mut canister, 3);
    let snapshot = take(&mut canister, None).unwrap();
    let status_now = status(&mut canister);
    assert_eq!(status_now.status, CanisterStatusType::Running);
    assert_eq!(
        status_now.memory_metrics.snapshots_size,
        candid::Nat::from(snapshot.total_size)
    );
    bump(&mut canister, 5);
    tick(&mut canister, 1);
    assert_eq!(state(&mut canister), (7, (4, 4)));
    let version = status(&mut canister).version;
    load(&mut canister, &snapshot.id).unwrap();
    assert_eq!(state(&mut canister), (2, (3, 3)));
    assert_eq!(status(&mut canister).version, version + 1);
    let history = format!("{:?}", canister.record().history.last().unwrap());
    assert!(history.contains("load_snapshot"), "{history}");
    assert_eq!(list(&mut canister, controller()).unwrap(), vec![snapshot]);
    // The canister goes on from there.
    tick(&mut canister, 1);
    assert_eq!(ticks(&mut canister), (4, 4));
}

/// The metadata says what the snapshot holds; its module, heap and stable
/// memory read back in slices of at most 2,000,000 bytes are the
/// canister's; a longer slice, or one past the end, is refused with the
/// IC's code.
#[test]
fn a_snapshot_reads_back_in_slices() {
    let wasm = module('A', &[]);
    let mut canister = install(&wasm);
    bump(&mut canister, 1);
    let stable = canister.stable_memory().to_vec();
    let snapshot = take(&mut canister, None).unwrap();
    let meta = metadata(&mut canister, &snapshot.id);
    assert_eq!(meta.wasm_module_size, wasm.len() as u64);
    assert_eq!(meta.stable_memory_size, stable.len() as u64);
    assert_eq!(meta.wasm_memory_size, 65536);
    assert!(!meta.globals.is_empty());
    assert_eq!(meta.taken_at_timestamp, snapshot.taken_at_timestamp);
    let id = snapshot.id.clone();
    assert_eq!(
        read_all(&mut canister, &id, "module", meta.wasm_module_size),
        wasm
    );
    assert_eq!(
        read_all(&mut canister, &id, "stable", meta.stable_memory_size),
        stable
    );
    let heap = read_all(&mut canister, &id, "heap", meta.wasm_memory_size);
    assert_eq!(&heap[16..20], b"DIDL");
    for kind in [
        SnapshotDataKind::StableMemory {
            offset: 0,
            size: 2_000_001,
        },
        SnapshotDataKind::StableMemory {
            offset: 65535,
            size: 2,
        },
        SnapshotDataKind::WasmModule {
            offset: u64::MAX,
            size: 2,
        },
    ] {
        let (code, message) = read(&mut canister, &id, kind).unwrap_err();
        assert_eq!(code, RejectCode::CanisterReject, "{message}");
        assert!(message.starts_with("IC0408: "), "{message}");
    }
}

/// At most ten snapshots: an eleventh is refused unless it replaces one
/// (which goes, and the new one gets a new id); a deleted snapshot is gone;
/// an unknown id is refused.
#[test]
fn ten_snapshots_at_most() {
    let mut canister = install(&module('A', &[]));
    let ids: Vec<Vec<u8>> = (0..10)
        .map(|_| take(&mut canister, None).unwrap().id)
        .collect();
    let before = canister.record();
    let refused = take(&mut canister, None).unwrap_err();
    assert!(refused.contains("maximum number of snapshots"), "{refused}");
    assert_eq!(canister.record(), before);
    let replacing = take(&mut canister, Some(ids[3].clone())).unwrap();
    assert!(!ids.contains(&replacing.id));
    let listed: Vec<Vec<u8>> = list(&mut canister, controller())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed.len(), 10);
    assert!(!listed.contains(&ids[3]) && listed.contains(&replacing.id));
    delete(&mut canister, &ids[0]).unwrap();
    let (_, message) = delete(&mut canister, &ids[0]).unwrap_err();
    assert!(
        message.contains("Could not find the snapshot ID"),
        "{message}"
    );
    assert_eq!(list(&mut canister, controller()).unwrap().len(), 9);
}

/// A snapshot uploaded (metadata, then data in slices and chunks) loads as
/// the snapshot it was read from; a snapshot taken from the canister
/// cannot be written into.
#[test]
fn an_uploaded_snapshot_loads_like_the_one_it_came_from() {
    let wasm = module('A', &[]);
    let mut canister = install(&wasm);
    bump(&mut canister, 4);
    tick(&mut canister, 2);
    let taken = take(&mut canister, None).unwrap();
    let meta = metadata(&mut canister, &taken.id);
    let id = taken.id.clone();
    let parts = [
        ("module", meta.wasm_module_size),
        ("heap", meta.wasm_memory_size),
        ("stable", meta.stable_memory_size),
    ]
    .map(|(part, len)| read_all(&mut canister, &id, part, len));
    let args = UploadCanisterSnapshotMetadataArgs {
        canister_id: canister.canister_id(),
        replace_snapshot: None,
        wasm_module_size: meta.wasm_module_size,
        globals: meta.globals.iter().map(|g| g.clone().unwrap()).collect(),
        wasm_memory_size: meta.wasm_memory_size,
        stable_memory_size: meta.stable_memory_size,
        certified_data: meta.certified_data.clone(),
        global_timer: None,
        on_low_wasm_memory_hook_status: None,
    };
    let uploaded = upload_metadata(&mut canister, args.clone()).unwrap();
    let offsets = |offset| {
        [
            SnapshotDataOffset::WasmModule { offset },
            SnapshotDataOffset::WasmMemory { offset },
            SnapshotDataOffset::StableMemory { offset },
        ]
    };
    for (index, bytes) in parts.iter().enumerate() {
        for (n, slice) in bytes.chunks(40_000).enumerate() {
            let kind = offsets(n as u64 * 40_000)[index].clone();
            upload_data(&mut canister, &uploaded, kind, slice).unwrap();
        }
    }
    let (code, message) = upload_data(
        &mut canister,
        &taken.id,
        SnapshotDataOffset::WasmModule { offset: 0 },
        b"x",
    )
    .unwrap_err();
    assert_eq!(code, RejectCode::CanisterReject, "{message}");
    let past = SnapshotDataOffset::StableMemory {
        offset: meta.stable_memory_size,
    };
    let (_, message) = upload_data(&mut canister, &uploaded, past, b"x").unwrap_err();
    assert!(message.starts_with("IC0408: "), "{message}");
    let source = format!("{:?}", metadata(&mut canister, &uploaded).source);
    assert!(source.contains("MetadataUpload"), "{source}");
    bump(&mut canister, 1);
    tick(&mut canister, 1);
    load(&mut canister, &uploaded).unwrap();
    assert_eq!(state(&mut canister), (4, (2, 2)));
    // Globals that do not fit the module: refused, nothing changed.
    let wrong = upload_metadata(
        &mut canister,
        UploadCanisterSnapshotMetadataArgs {
            globals: vec![
                SnapshotMetadataGlobal::I64(1),
                SnapshotMetadataGlobal::I64(2),
            ],
            ..args.clone()
        },
    )
    .unwrap();
    for (index, bytes) in parts.iter().enumerate() {
        let kind = offsets(0)[index].clone();
        for (n, slice) in bytes.chunks(1_000_000).enumerate() {
            let kind = match kind {
                SnapshotDataOffset::WasmModule { .. } => SnapshotDataOffset::WasmModule {
                    offset: n as u64 * 1_000_000,
                },
                SnapshotDataOffset::WasmMemory { .. } => SnapshotDataOffset::WasmMemory {
                    offset: n as u64 * 1_000_000,
                },
                _ => SnapshotDataOffset::StableMemory {
                    offset: n as u64 * 1_000_000,
                },
            };
            upload_data(&mut canister, &wrong, kind, slice).unwrap();
        }
    }
    let before = (canister.record(), canister.stable_memory().to_vec());
    let (_, message) = load(&mut canister, &wrong).unwrap_err();
    assert!(message.contains("globals"), "{message}");
    assert_eq!(
        (canister.record(), canister.stable_memory().to_vec()),
        before
    );
    assert_eq!(state(&mut canister), (4, (2, 2)));
    // Metadata the IC would refuse: nothing is made.
    let before = canister.record();
    for bad in [
        UploadCanisterSnapshotMetadataArgs {
            wasm_module_size: 0,
            ..args.clone()
        },
        UploadCanisterSnapshotMetadataArgs {
            wasm_memory_size: 1000,
            ..args.clone()
        },
        UploadCanisterSnapshotMetadataArgs {
            stable_memory_size: 65537,
            ..args.clone()
        },
        UploadCanisterSnapshotMetadataArgs {
            certified_data: vec![0; 33],
            ..args.clone()
        },
    ] {
        let (code, message) = upload_metadata(&mut canister, bad).unwrap_err();
        assert_eq!(code, RejectCode::CanisterReject, "{message}");
        assert!(
            message.contains("Snapshot Metadata contains invalid data"),
            "{message}"
        );
    }
    assert_eq!(canister.record(), before);
}

/// A snapshot of another canister cannot be loaded here, and an id that is
/// not a snapshot id is refused.
#[test]
fn a_snapshot_of_another_canister_is_refused() {
    let mut canister = install(&module('A', &[]));
    let taken = take(&mut canister, None).unwrap();
    let other = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 1, 1]);
    let mut foreign = taken.id[..8].to_vec();
    foreign.extend_from_slice(other.as_slice());
    let before = canister.record();
    let (code, message) = load(&mut canister, &foreign).unwrap_err();
    assert_eq!(code, RejectCode::DestinationInvalid, "{message}");
    assert!(message.contains(&other.to_text()), "{message}");
    let (_, message) = load(&mut canister, b"junk").unwrap_err();
    assert!(message.starts_with("IC0408"), "{message}");
    assert_eq!(canister.record(), before);
}

/// Others are refused every snapshot method; `snapshot_visibility` lets
/// them list and read, never take, load, upload or delete.
#[test]
fn others_may_only_read_snapshots_they_are_shown() {
    let mut canister = install(&module('A', &[]));
    let id = canister.canister_id();
    let taken = take(&mut canister, None).unwrap();
    let snapshot = snapshot_arg(&canister, &taken.id);
    let changes = [
        "take_canister_snapshot",
        "load_canister_snapshot",
        "delete_canister_snapshot",
        "upload_canister_snapshot_metadata",
        "upload_canister_snapshot_data",
    ];
    let reads = [
        "list_canister_snapshots",
        "read_canister_snapshot_metadata",
        "read_canister_snapshot_data",
    ];
    let before = canister.record();
    for method in changes.iter().chain(&reads) {
        let (code, message) = manage(&mut canister, stranger(), method, &snapshot).unwrap_err();
        assert_eq!(code, RejectCode::CanisterError);
        assert_eq!(
            message,
            format!("IC0512: Only controllers of canister {id} can call ic00 method {method}")
        );
    }
    assert_eq!(canister.record(), before);
    let arg = Encode!(&UpdateSettingsArgs {
        canister_id: id,
        settings: CanisterSettings {
            snapshot_visibility: Some(SnapshotVisibility::Public),
            ..CanisterSettings::default()
        },
        sender_canister_version: None,
    })
    .unwrap();
    manage(&mut canister, controller(), "update_settings", &arg).unwrap();
    assert_eq!(list(&mut canister, stranger()).unwrap(), vec![taken]);
    for method in changes {
        assert!(
            manage(&mut canister, stranger(), method, &snapshot).is_err(),
            "{method}"
        );
    }
}

/// The record keeps the snapshots: given back to a canister running the
/// same module, they are there, and load.
#[test]
fn a_record_given_back_keeps_the_snapshots() {
    let wasm = module('A', &[]);
    let mut canister = install(&wasm);
    tick(&mut canister, 2);
    bump(&mut canister, 1);
    let taken = take(&mut canister, None).unwrap();
    let record = canister.record();
    let blobs: std::collections::HashMap<_, _> = canister.blobs().into_iter().collect();
    assert!(record.blobs().iter().all(|hash| blobs.contains_key(hash)));
    let mut fresh = install(&wasm);
    fresh
        .restore_record(record.clone(), &|hash| {
            blobs
                .get(hash)
                .map(|b| b.to_vec())
                .ok_or("missing".to_string())
        })
        .unwrap();
    assert_eq!(fresh.record(), record);
    load(&mut fresh, &taken.id).unwrap();
    assert_eq!(state(&mut fresh), (1, (2, 2)));
}
