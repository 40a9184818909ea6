//! Smoke: the profiles canister's real wasm runs in the embedded runner.
use backup_tests::*;

#[test]
fn smoke() {
    let cast = Cast::new();
    let mut canister = install("profiles", &cast);
    let size: u64 = query(&mut canister, cast.controller, "stable_size", ()).unwrap();
    println!("stable size {size}");
    let denied = query::<_, u64>(&mut canister, cast.stranger, "stable_size", ()).unwrap_err();
    println!("{denied}");
    update::<_, ()>(
        &mut canister,
        cast.admin,
        "set_profile",
        (profiles::Profile {
            username: Some("a".into()),
            ..Default::default()
        },),
    )
    .unwrap();
    let count: Result<u64, _> = query(&mut canister, cast.controller, "profile_count", ());
    println!("{count:?}");
    let page: Vec<(String, profiles::Profile)> = query(
        &mut canister,
        cast.controller,
        "backup_profiles",
        (0u64, 10u64),
    )
    .unwrap();
    println!("{page:?}");
    println!("{:?}", canister.methods().len());
}
