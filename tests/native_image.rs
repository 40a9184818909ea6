//! A native build of a canister opens a stable memory image, reads and
//! repairs its maps through the same statics, and saves it; a file that is
//! not an image is refused with an error and changes nothing.
//!
//! Each step runs on its own thread: the statics are thread-local, so a new
//! thread is a canister that has not touched its memory yet.

use backup_runtime::ImageError;
use candid::Principal;
use profiles::{Profile, Stable, PROFILES};
use std::path::Path;

fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("the step panicked")
}

fn user(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

fn profile(name: &str) -> Profile {
    Profile {
        username: Some(name.into()),
        email: Some(format!("{name}@example.org")),
        ..Profile::default()
    }
}

fn write_image(path: &Path, users: u8) {
    let path = path.to_owned();
    on_fresh_thread(move || {
        PROFILES.with(|profiles| {
            let mut profiles = profiles.borrow_mut();
            for n in 1..=users {
                profiles.insert(user(n), profile(&format!("user{n}")));
            }
        });
        Stable::save_image(&path).unwrap();
    });
}

fn read_profiles(path: &Path) -> Result<Vec<(Principal, Profile)>, String> {
    let path = path.to_owned();
    on_fresh_thread(move || {
        Stable::open_image(&path).map_err(|error| error.to_string())?;
        Ok(PROFILES.with(|profiles| {
            profiles
                .borrow()
                .iter()
                .map(|entry| entry.into_pair())
                .collect()
        }))
    })
}

#[test]
fn an_image_is_read_repaired_and_saved_through_the_statics() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("stable_memory.bin");
    write_image(&image, 50);

    let before = read_profiles(&image).unwrap();
    assert_eq!(before.len(), 50);
    assert_eq!(
        before[0]
            .1
            .username
            .as_deref()
            .map(|n| n.starts_with("user")),
        Some(true)
    );

    // The repair: one profile lost its email, another must go.
    let path = image.clone();
    let layout = on_fresh_thread(move || {
        let layout = Stable::open_image(&path).unwrap();
        PROFILES.with(|profiles| {
            let mut profiles = profiles.borrow_mut();
            let mut broken = profiles.get(&user(7)).unwrap();
            broken.email = None;
            profiles.insert(user(7), broken);
            profiles.remove(&user(8));
        });
        Stable::save_image(&path).unwrap();
        layout
    });
    assert!(
        layout.memory(0).is_some(),
        "the profiles map lives in memory 0"
    );

    let after = read_profiles(&image).unwrap();
    assert_eq!(after.len(), 49);
    let seven = after.iter().find(|(p, _)| *p == user(7)).unwrap();
    assert_eq!(seven.1.email, None);
    assert!(after.iter().all(|(p, _)| *p != user(8)));
}

#[test]
fn a_file_that_is_not_an_image_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("empty.bin", Vec::new(), "empty"),
        (
            "text.bin",
            b"hello, this is not stable memory".to_vec(),
            "64 KiB",
        ),
        ("zeros.bin", vec![0; 65536 * 2], "expected the magic `MGR`"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let error = read_profiles(&path).unwrap_err();
        assert!(error.contains(expected), "{name}: {error}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
    }
    let missing = read_profiles(&dir.path().join("missing.bin")).unwrap_err();
    assert!(missing.contains("missing.bin"), "{missing}");
}

#[test]
fn a_map_memory_holding_something_else_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("stable_memory.bin");
    write_image(&image, 3);
    let mut bytes = std::fs::read(&image).unwrap();
    // Memory 0 is the first bucket, right after the manager's first page.
    bytes[65536..65539].copy_from_slice(b"XYZ");
    std::fs::write(&image, &bytes).unwrap();

    let path = image.clone();
    let (error, untouched) = on_fresh_thread(move || {
        let error = Stable::open_image(&path).unwrap_err();
        // The refused image was not loaded: the canister still sees its own (empty) memory.
        let untouched = PROFILES.with(|profiles| profiles.borrow().is_empty());
        (error, untouched)
    });
    assert!(
        matches!(error, ImageError::NotAMap { memory_id: 0, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("`XYZ`"), "{error}");
    assert!(untouched);
}

#[test]
fn saving_replaces_the_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("stable_memory.bin");
    std::fs::write(&image, b"old contents").unwrap();
    write_image(&image, 2);
    assert_eq!(read_profiles(&image).unwrap().len(), 2);
    assert!(!dir.path().join("stable_memory.bin.partial").exists());
}
