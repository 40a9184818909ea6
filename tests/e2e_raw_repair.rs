//! The article's raw repair, end to end on the real wasm: dump stable memory
//! with `stable_read`, repair the image offline through a native build of the
//! canister, write back only the blocks whose `stable_digest` differs, upgrade,
//! and read the repaired data through the canister's own methods.

use backup_tests::*;
use candid::Principal;
use canister_runner::Canister;
use profiles::{Profile, Stable, PROFILES};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

const BLOCK: u64 = 64 * 1024;
const CHUNK: u64 = 1024 * 1024;

fn user(n: u32) -> Principal {
    let mut bytes = [6u8; 29];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    Principal::from_slice(&bytes)
}

fn dump(canister: &mut Canister, caller: Principal) -> Vec<u8> {
    let size: u64 = query(canister, caller, "stable_size", ()).unwrap();
    let mut image = Vec::with_capacity(size as usize);
    while (image.len() as u64) < size {
        let length = CHUNK.min(size - image.len() as u64);
        let chunk: ByteBuf = query(
            canister,
            caller,
            "stable_read",
            (image.len() as u64, length),
        )
        .unwrap();
        assert_eq!(chunk.len() as u64, length);
        image.extend_from_slice(&chunk);
    }
    image
}

fn local_digests(image: &[u8]) -> Vec<Vec<u8>> {
    image
        .chunks(BLOCK as usize)
        .map(|block| Sha256::digest(block).to_vec())
        .collect()
}

fn live_digests(canister: &mut Canister, caller: Principal, length: u64) -> Vec<Vec<u8>> {
    let digests: Vec<ByteBuf> =
        query(canister, caller, "stable_digest", (0u64, length, BLOCK)).unwrap();
    digests.into_iter().map(ByteBuf::into_vec).collect()
}

#[test]
fn dump_repair_offline_load_changed_blocks_upgrade_and_read_the_repair() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    for n in 0..300 {
        let profile = Profile {
            username: Some(format!("user{n}")),
            email: Some(format!("user{n}@example.org")),
            password: Some(format!("{n:0>200}")),
            updated_time_msecs: None,
        };
        update::<_, ()>(&mut canister, user(n), "set_profile", (profile,)).unwrap();
    }
    update::<_, ()>(
        &mut canister,
        cast.controller,
        "stable_authorize",
        (cast.raw,),
    )
    .unwrap();

    // 1. Dump, as the raw-access holder.
    let image = dump(&mut canister, cast.raw);
    assert_eq!(
        image,
        canister.stable_memory(),
        "the dump is the canister's stable memory"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stable_memory.dat");
    std::fs::write(&path, &image).unwrap();

    // 2. Repair offline through the canister's own statics, natively.
    let repaired_path = path.clone();
    std::thread::spawn(move || {
        Stable::open_image(&repaired_path).unwrap();
        PROFILES.with(|profiles| {
            let mut profiles = profiles.borrow_mut();
            let mut seven = profiles.get(&user(7)).unwrap();
            seven.email = Some("fixed@example.org".into());
            profiles.insert(user(7), seven);
            profiles.remove(&user(8));
        });
        Stable::save_image(&repaired_path).unwrap();
    })
    .join()
    .unwrap();
    let repaired = std::fs::read(&path).unwrap();
    assert_eq!(
        repaired.len(),
        image.len(),
        "the repair did not grow the image"
    );

    // 3. Write back only the blocks whose digest differs.
    let live = live_digests(&mut canister, cast.raw, image.len() as u64);
    let wanted = local_digests(&repaired);
    assert_eq!(
        live,
        local_digests(&image),
        "stable_digest is SHA-256 per block"
    );
    let changed: Vec<usize> = (0..wanted.len())
        .filter(|&i| live[i] != wanted[i])
        .collect();
    assert!(!changed.is_empty());
    assert!(
        changed.len() * 10 < wanted.len(),
        "{} of {} blocks changed",
        changed.len(),
        wanted.len()
    );
    for &block in &changed {
        let start = block * BLOCK as usize;
        let data =
            ByteBuf::from(repaired[start..(start + BLOCK as usize).min(repaired.len())].to_vec());
        update::<_, ()>(
            &mut canister,
            cast.raw,
            "stable_write",
            (start as u64, data),
        )
        .unwrap();
    }
    assert_eq!(
        live_digests(&mut canister, cast.raw, image.len() as u64),
        wanted,
        "verified after the load"
    );
    assert_eq!(canister.stable_memory(), &repaired[..]);

    // 4. Upgrade so the heap reads the new memory, and check through the canister.
    canister
        .upgrade(&wasm("profiles"), b"DIDL\x00\x00")
        .unwrap();
    let seven: Option<Profile> =
        query(&mut canister, cast.controller, "get_profile_of", (user(7),)).unwrap();
    assert_eq!(seven.unwrap().email.as_deref(), Some("fixed@example.org"));
    let eight: Option<Profile> =
        query(&mut canister, cast.controller, "get_profile_of", (user(8),)).unwrap();
    assert_eq!(eight, None);
    let count: u64 = query(&mut canister, cast.controller, "profile_count", ()).unwrap();
    assert_eq!(count, 299);
}

#[test]
fn an_image_dumped_from_one_canister_runs_in_another() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    update::<_, ()>(
        &mut canister,
        user(1),
        "set_profile",
        (Profile {
            username: Some("one".into()),
            ..Profile::default()
        },),
    )
    .unwrap();
    update::<_, ()>(&mut canister, cast.controller, "authorize", (cast.admin,)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stable_memory.bin");
    canister.save_image(&path).unwrap();

    let args = canister_runner::InstallArgs {
        controllers: vec![cast.controller],
        ..Default::default()
    };
    let mut offline = Canister::from_image_file(&wasm("profiles"), &path, args).unwrap();
    let one: Option<Profile> =
        query(&mut offline, cast.admin, "get_profile_of", (user(1),)).unwrap();
    assert_eq!(one.unwrap().username.as_deref(), Some("one"));

    std::fs::write(&path, b"not an image").unwrap();
    let args = canister_runner::InstallArgs::default();
    let error = Canister::from_image_file(&wasm("profiles"), &path, args)
        .err()
        .unwrap();
    assert!(error.to_string().contains("64 KiB"), "{error}");
}
