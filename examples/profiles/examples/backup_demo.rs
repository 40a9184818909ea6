//! The main job, natively: back up the profiles map to JSON in pages that
//! would fit the IC's reply limit, let a bug damage the map, restore it from
//! the file in batches under the ingress limit, and check every entry.
//!
//! It calls the same runtime functions as the canister's generated endpoints,
//! on the same `PROFILES` static, over an in-memory stable memory that it
//! finally saves as an image and opens again.
//!
//! Run it with `scripts/demo.sh` (or `cargo run -p profiles --example backup_demo`).

use backup_runtime::limits::INGRESS_LIMIT;
use backup_runtime::page::{cursor_page, PageLimits};
use backup_runtime::restore::{clear, restore};
use backup_runtime::TextKey;
use candid::Principal;
use profiles::{Profile, Stable, PROFILES};
use std::error::Error;

const USERS: u32 = 20_000;

fn user(n: u32) -> Principal {
    let mut bytes = [7u8; 29];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    Principal::from_slice(&bytes)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/demo");
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;

    println!("1. {USERS} users sign up");
    PROFILES.with(|profiles| {
        let mut profiles = profiles.borrow_mut();
        for n in 0..USERS {
            let profile = Profile {
                updated_time_msecs: Some(1_700_000_000_000 + u64::from(n)),
                username: Some(format!("user{n}")),
                password: Some(format!("hash-{:08x}", n.wrapping_mul(2_654_435_761))),
                email: Some(format!("user{n}@example.org")),
            };
            profiles.insert(user(n), profile);
        }
    });

    println!("2. back up `profiles` with cursor pages (backup_profiles_page)");
    let limits = PageLimits::default();
    let mut entries: Vec<(String, Profile)> = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = PROFILES.with(|profiles| {
            cursor_page::<_, _, _, TextKey>(&profiles.borrow(), after.take(), limits)
        })?;
        pages += 1;
        let bytes = candid::encode_one(&page)?.len();
        println!(
            "   page {pages:>2}: {:>5} entries, {bytes:>7} bytes (reply limit 3 MiB)",
            page.entries.len()
        );
        entries.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let backup = dir.join("profiles.json");
    std::fs::write(&backup, serde_json::to_vec(&entries)?)?;
    println!(
        "   {} entries in {pages} pages -> {}",
        entries.len(),
        backup.display()
    );

    println!("3. a bug deletes every third profile and blanks the emails of the rest");
    PROFILES.with(|profiles| {
        let mut profiles = profiles.borrow_mut();
        for n in (0..USERS).step_by(3) {
            profiles.remove(&user(n));
        }
        let keys: Vec<Principal> = profiles.keys().collect();
        for key in keys {
            if let Some(mut profile) = profiles.get(&key) {
                profile.email = None;
                profiles.insert(key, profile);
            }
        }
    });
    let damaged = PROFILES.with(|profiles| profiles.borrow().len());
    println!("   {damaged} profiles left, none with an email");

    println!(
        "4. restore from {} (clear_profiles, then restore_profiles in batches)",
        backup.display()
    );
    let from_file: Vec<(String, Profile)> = serde_json::from_slice(&std::fs::read(&backup)?)?;
    let cleared = PROFILES.with(|profiles| clear(&mut profiles.borrow_mut()));
    println!("   cleared {cleared} damaged entries");
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    let mut batches = 0;
    let mut restored = 0;
    let budget = INGRESS_LIMIT / 2;
    for entry in from_file {
        let size = candid::encode_one(&entry)?.len();
        if batch_bytes + size > budget && !batch.is_empty() {
            restored += PROFILES.with(|profiles| {
                restore::<_, _, _, TextKey>(&mut profiles.borrow_mut(), std::mem::take(&mut batch))
            })?;
            batches += 1;
            batch_bytes = 0;
        }
        batch_bytes += size;
        batch.push(entry);
    }
    if !batch.is_empty() {
        restored += PROFILES
            .with(|profiles| restore::<_, _, _, TextKey>(&mut profiles.borrow_mut(), batch))?;
        batches += 1;
    }
    println!("   restored {restored} entries in {batches} batches of at most {budget} bytes");

    println!("5. compare every entry with the backup");
    let now: Vec<(String, Profile)> = PROFILES.with(|profiles| {
        profiles
            .borrow()
            .iter()
            .map(|e| (e.key().to_text(), e.value()))
            .collect()
    });
    if now != entries {
        return Err("the restored map differs from the backup".into());
    }
    println!("   all {} entries identical", now.len());

    let image = dir.join("stable_memory.bin");
    Stable::save_image(&image)?;
    let layout = Stable::open_image(&image)?;
    let reopened = PROFILES.with(|profiles| profiles.borrow().len());
    println!(
        "6. saved the stable memory image ({} bytes, {} buckets of {} pages) and reopened it: {reopened} profiles",
        layout.image_len, layout.allocated_buckets, layout.bucket_size_pages
    );
    Ok(())
}
