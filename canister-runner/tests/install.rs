//! The management canister's methods that put code on the canister and take
//! it off, as a controller calls them by ingress: `install_code` (install,
//! reinstall, upgrade with `skip_pre_upgrade`), the chunk store and
//! `install_chunked_code`, `uninstall_code`; each a whole change or none.

use crate::common;

use candid::{Encode, Principal};
use canister_runner::{Canister, InstallArgs, RejectCode};
use common::*;
use ic_management_canister_types::{CanisterInstallMode, ChunkHash, UpgradeFlags};

/// An upgrade by `install_code` runs the old module's `canister_pre_upgrade`
/// and the new one's `canister_post_upgrade` over the same stable memory:
/// the new module answers, the data is kept, the version goes up by one,
/// the history and the log say so.
#[test]
fn an_upgrade_keeps_stable_memory_and_runs_the_new_module() {
    let (a, b) = (module('A', &[]), module('B', &[]));
    let mut canister = install(&a);
    bump(&mut canister, 3);
    let version = status(&mut canister).version;
    let arg = install_arg(&canister, upgrade(), &b);
    assert_eq!(
        manage(&mut canister, controller(), "install_code", &arg).unwrap(),
        UNIT
    );
    assert_eq!(label(&mut canister), "B");
    assert_eq!(count(&mut canister), 3);
    let status = status(&mut canister);
    assert_eq!(status.version, version + 1);
    assert_eq!(status.module_hash, Some(sha256(&b).to_vec()));
    assert_eq!(canister.module(), Some(&b[..]));
    assert_eq!(canister.record().module, Some(sha256(&b)));
    assert_eq!(
        log(&canister),
        ["init A", "pre_upgrade A", "post_upgrade B"]
    );
    assert!(format!("{:?}", canister.record().history.last().unwrap())
        .contains("code_deployment { mode: upgrade"));
}

/// A hook that traps, a module that is no module, an install over code:
/// each refused with the IC's words, and the canister as it was.
#[test]
fn a_failed_install_changes_nothing() {
    let a = module('A', &[]);
    let mut canister = install(&a);
    bump(&mut canister, 2);
    let id = canister.canister_id();
    let before = (canister.record(), canister.stable_memory().to_vec());
    let cases = [
        (
            upgrade(),
            module('B', &["post_upgrade"]),
            "IC0503: Error from Canister",
        ),
        (
            CanisterInstallMode::Reinstall,
            module('B', &["init"]),
            "with message: 'boom'",
        ),
        (
            upgrade(),
            b"not a module".to_vec(),
            "IC0505: Error from Canister",
        ),
        (
            CanisterInstallMode::Install,
            module('B', &[]),
            "IC0514: Canister",
        ),
    ];
    for (mode, wasm, words) in cases {
        let arg = install_arg(&canister, mode, &wasm);
        let (code, message) =
            manage(&mut canister, controller(), "install_code", &arg).unwrap_err();
        assert_eq!(code, RejectCode::CanisterError, "{message}");
        assert!(message.contains(words), "{message}");
        assert!(message.contains(&id.to_text()), "{message}");
        assert_eq!(
            (canister.record(), canister.stable_memory().to_vec()),
            before
        );
        assert_eq!(
            (label(&mut canister), count(&mut canister)),
            ("A".into(), 2)
        );
    }
    // Only the log changed: what the failed hooks printed, and their traps.
    assert!(log(&canister).contains(&"[TRAP]: boom".to_string()));
    // A module whose pre_upgrade traps is upgraded only past it.
    let stuck = module('S', &["pre_upgrade"]);
    let arg = install_arg(&canister, upgrade(), &stuck);
    manage(&mut canister, controller(), "install_code", &arg).unwrap();
    let arg = install_arg(&canister, upgrade(), &a);
    let (_, message) = manage(&mut canister, controller(), "install_code", &arg).unwrap_err();
    assert!(message.contains("(in canister_pre_upgrade)"), "{message}");
    assert_eq!(label(&mut canister), "S");
    let skip = CanisterInstallMode::Upgrade(Some(UpgradeFlags {
        skip_pre_upgrade: Some(true),
        wasm_memory_persistence: None,
    }));
    let arg = install_arg(&canister, skip, &a);
    manage(&mut canister, controller(), "install_code", &arg).unwrap();
    assert_eq!(
        (label(&mut canister), count(&mut canister)),
        ("A".into(), 2)
    );
}

/// A reinstall starts over: stable memory empty then what `canister_init`
/// made of it, the log emptied; a keeper of the image is given every page.
#[test]
fn a_reinstall_starts_from_empty_memories() {
    let (a, b) = (module('A', &[]), module('B', &[]));
    let mut canister = install(&a);
    canister.update(controller(), "bump", UNIT).result.unwrap();
    // A stable memory of three pages, the last two written.
    let mut big = vec![0u8; 3 << 16];
    big[0] = 9;
    big[(2 << 16) + 5] = 1;
    let mut canister_big = Canister::from_image(
        &a,
        big,
        InstallArgs {
            controllers: vec![controller()],
            ..InstallArgs::default()
        },
    )
    .unwrap();
    canister_big.take_written_pages();
    let arg = install_arg(&canister_big, CanisterInstallMode::Reinstall, &b);
    manage(&mut canister_big, controller(), "install_code", &arg).unwrap();
    assert_eq!(
        (label(&mut canister_big), count(&mut canister_big)),
        ("B".into(), 0)
    );
    assert_eq!(canister_big.stable_memory(), vec![0u8; 1 << 16]);
    assert_eq!(
        canister_big.take_written_pages(),
        (0..16).collect::<Vec<u64>>()
    );
    assert_eq!(log(&canister_big), ["init B"]);
    let arg = install_arg(&canister, CanisterInstallMode::Reinstall, &b);
    manage(&mut canister, controller(), "install_code", &arg).unwrap();
    assert_eq!(count(&mut canister), 0);
    assert!(format!("{:?}", canister.record().history.last().unwrap())
        .contains("code_deployment { mode: reinstall"));
}

/// Uninstalled, the canister answers nothing and reports no module; its
/// memories are empty; a new install brings it back.
#[test]
fn an_uninstalled_canister_answers_nothing_until_installed() {
    let a = module('A', &[]);
    let mut canister = install(&a);
    bump(&mut canister, 2);
    let version = status(&mut canister).version;
    let arg = id_arg(&canister);
    manage(&mut canister, controller(), "uninstall_code", &arg).unwrap();
    let query = canister
        .query(controller(), "count", UNIT)
        .result
        .unwrap_err();
    assert!(
        query.message.starts_with(&format!(
            "IC0537: Error from Canister {}: Attempted to execute a message, but the canister contains no Wasm module.",
            canister.canister_id()
        )),
        "{}",
        query.message
    );
    let update = canister
        .update(controller(), "bump", UNIT)
        .result
        .unwrap_err();
    assert_eq!(
        update.message,
        "IC0537: Requested canister has no wasm module"
    );
    assert_eq!(update.code, RejectCode::CanisterError);
    let status = status(&mut canister);
    assert_eq!((status.module_hash, status.version), (None, version + 1));
    assert!(canister.stable_memory().is_empty());
    assert!(canister.methods().is_empty());
    assert_eq!(canister.record().module, None);
    assert!(format!("{:?}", canister.record().history.last().unwrap()).contains("code_uninstall"));
    let arg = install_arg(&canister, upgrade(), &a);
    let (_, message) = manage(&mut canister, controller(), "install_code", &arg).unwrap_err();
    assert!(message.contains("IC0537"), "{message}");
    let arg = install_arg(&canister, CanisterInstallMode::Install, &a);
    manage(&mut canister, controller(), "install_code", &arg).unwrap();
    assert_eq!(
        (label(&mut canister), count(&mut canister)),
        ("A".into(), 0)
    );
}

fn upload(canister: &mut Canister, chunk: &[u8]) -> Result<Vec<u8>, (RejectCode, String)> {
    #[derive(candid::CandidType)]
    struct Args<'a> {
        canister_id: Principal,
        chunk: &'a serde_bytes::Bytes,
    }
    let arg = Encode!(&Args {
        canister_id: canister.canister_id(),
        chunk: serde_bytes::Bytes::new(chunk),
    })
    .unwrap();
    manage(canister, controller(), "upload_chunk", &arg)
        .map(|reply| candid::decode_one::<ChunkHash>(&reply).unwrap().hash)
}

fn chunked_arg(canister: &Canister, chunks: &[Vec<u8>], hash: &[u8]) -> Vec<u8> {
    Encode!(&ic_management_canister_types::InstallChunkedCodeArgs {
        mode: upgrade(),
        target_canister: canister.canister_id(),
        store_canister: None,
        chunk_hashes_list: chunks
            .iter()
            .map(|hash| ChunkHash { hash: hash.clone() })
            .collect(),
        wasm_module_hash: hash.to_vec(),
        arg: UNIT.to_vec(),
        sender_canister_version: None,
    })
    .unwrap()
}

/// A module uploaded in chunks installs from them, named in order and
/// checked against its hash; the store keeps each chunk once, refuses a
/// chunk over 1 MiB and a 101st, lists them, and empties on request.
#[test]
fn a_module_installs_from_the_chunk_store() {
    let (a, b) = (module('A', &[]), module('B', &[]));
    let mut canister = install(&a);
    bump(&mut canister, 4);
    let pieces: Vec<&[u8]> = b.chunks(b.len() / 3 + 1).collect();
    let hashes: Vec<Vec<u8>> = pieces
        .iter()
        .map(|piece| upload(&mut canister, piece).unwrap())
        .collect();
    assert_eq!(hashes[0], sha256(pieces[0]));
    assert_eq!(upload(&mut canister, pieces[0]).unwrap(), hashes[0]);
    let arg = id_arg(&canister);
    let stored: Vec<ChunkHash> =
        candid::decode_one(&manage(&mut canister, controller(), "stored_chunks", &arg).unwrap())
            .unwrap();
    let mut sorted = hashes.clone();
    sorted.sort();
    assert_eq!(
        stored.into_iter().map(|c| c.hash).collect::<Vec<_>>(),
        sorted
    );
    let before = canister.record();
    // The wrong order: the hash does not match; an unknown chunk.
    let mut wrong = hashes.clone();
    wrong.swap(0, 1);
    for (list, words) in [(wrong, "does not match"), (vec![vec![7; 32]], "not found")] {
        let arg = chunked_arg(&canister, &list, &sha256(&b));
        let (_, message) =
            manage(&mut canister, controller(), "install_chunked_code", &arg).unwrap_err();
        assert!(message.contains(words), "{message}");
        assert_eq!(canister.record(), before);
    }
    let arg = chunked_arg(&canister, &hashes, &sha256(&b));
    manage(&mut canister, controller(), "install_chunked_code", &arg).unwrap();
    assert_eq!(
        (label(&mut canister), count(&mut canister)),
        ("B".into(), 4)
    );
    let (_, message) = upload(&mut canister, &vec![0; (1 << 20) + 1]).unwrap_err();
    assert!(
        message.contains("exceeds the maximum chunk size"),
        "{message}"
    );
    for n in 3..100u32 {
        upload(&mut canister, &n.to_le_bytes()).unwrap();
    }
    let (_, message) = upload(&mut canister, b"one too many").unwrap_err();
    assert!(
        message.contains("the maximum number of entries, 100"),
        "{message}"
    );
    let record = canister.record();
    assert_eq!(record.chunks.len(), 100);
    let blobs: std::collections::HashMap<_, _> = canister.blobs().into_iter().collect();
    let blob = |hash: &[u8; 32]| {
        blobs
            .get(hash)
            .map(|bytes| bytes.to_vec())
            .ok_or("gone".to_string())
    };
    let mut fresh = install(&b);
    let arg = install_arg(&fresh, upgrade(), &b);
    // The record names the module the canister runs: the same history
    // length is not needed, only the module.
    manage(&mut fresh, controller(), "install_code", &arg).unwrap();
    fresh.restore_record(record.clone(), &blob).unwrap();
    assert_eq!(fresh.record(), record);
    let arg = id_arg(&canister);
    manage(&mut canister, controller(), "clear_chunk_store", &arg).unwrap();
    assert!(canister.record().chunks.is_empty());
}

/// Who is not a controller is refused every one of these methods, with
/// the IC's words, and nothing changes.
#[test]
fn others_may_not_install_or_use_the_chunk_store() {
    let a = module('A', &[]);
    let mut canister = install(&a);
    let id = canister.canister_id();
    let before = canister.record();
    let install = install_arg(&canister, upgrade(), &module('B', &[]));
    for (method, arg) in [
        ("install_code", install.clone()),
        (
            "install_chunked_code",
            chunked_arg(&canister, &[], &[0; 32]),
        ),
        ("uninstall_code", id_arg(&canister)),
        ("upload_chunk", id_arg(&canister)),
        ("stored_chunks", id_arg(&canister)),
        ("clear_chunk_store", id_arg(&canister)),
    ] {
        let (code, message) = manage(&mut canister, stranger(), method, &arg).unwrap_err();
        assert_eq!(code, RejectCode::CanisterError);
        assert_eq!(
            message,
            format!("IC0512: Only controllers of canister {id} can call ic00 method {method}")
        );
    }
    assert_eq!(canister.record(), before);
    assert_eq!(label(&mut canister), "A");
}
