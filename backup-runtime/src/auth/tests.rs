use super::*;
use ic_stable_structures::VectorMemory;

fn principal(n: u8) -> Principal {
    Principal::from_slice(&[n; 10])
}

fn admins() -> AdminSet<VectorMemory> {
    StableBTreeMap::init(VectorMemory::default())
}

#[test]
fn controllers_always_pass_both_guards() {
    let controller = principal(1);
    assert_eq!(check_admin(&controller, true, Some(&admins())), Ok(()));
    assert_eq!(check_raw(&controller, true, &RawAccessSet::new()), Ok(()));
}

#[test]
fn strangers_and_anonymous_are_refused_with_the_caller_named() {
    let stranger = principal(2);
    let error = check_admin(&stranger, false, None::<&AdminSet<VectorMemory>>).unwrap_err();
    assert!(error.to_string().contains(&stranger.to_text()), "{error}");
    assert!(check_raw(&stranger, false, &RawAccessSet::new()).is_err());
    // Even a misconfigured "controller" flag does not let anonymous in.
    assert!(check_admin(&Principal::anonymous(), true, Some(&admins())).is_err());
    assert!(check_raw(&Principal::anonymous(), true, &RawAccessSet::new()).is_err());
}

#[test]
fn admin_set_grants_typed_access_only() {
    let admin = principal(3);
    let mut set = admins();
    authorize(&mut set, admin).unwrap();
    assert_eq!(check_admin(&admin, false, Some(&set)), Ok(()));
    assert!(check_raw(&admin, false, &RawAccessSet::new()).is_err());
    assert_eq!(list(&set), vec![admin]);
    deauthorize(&mut set, &admin);
    assert!(check_admin(&admin, false, Some(&set)).is_err());
    assert!(list(&set).is_empty());
}

#[test]
fn raw_set_grants_raw_access_only() {
    let holder = principal(4);
    let mut raw = RawAccessSet::new();
    stable_authorize(&mut raw, holder).unwrap();
    assert_eq!(check_raw(&holder, false, &raw), Ok(()));
    assert!(check_admin(&holder, false, Some(&admins())).is_err());
    stable_deauthorize(&mut raw, &holder);
    assert!(check_raw(&holder, false, &raw).is_err());
}

#[test]
fn anonymous_cannot_be_added_to_either_set() {
    let mut set = admins();
    assert_eq!(
        authorize(&mut set, Principal::anonymous()),
        Err(AccessError::Anonymous)
    );
    assert!(set.is_empty());
    let mut raw = RawAccessSet::new();
    assert_eq!(
        stable_authorize(&mut raw, Principal::anonymous()),
        Err(AccessError::Anonymous)
    );
    assert!(raw.is_empty());
}

#[test]
fn admin_set_is_kept_in_its_memory() {
    let memory = VectorMemory::default();
    let admin = principal(5);
    authorize(&mut StableBTreeMap::init(memory.clone()), admin).unwrap();
    // A fresh map over the same memory, as after an upgrade, still knows the admin.
    let reloaded: AdminSet<VectorMemory> = StableBTreeMap::init(memory);
    assert_eq!(check_admin(&admin, false, Some(&reloaded)), Ok(()));
}
