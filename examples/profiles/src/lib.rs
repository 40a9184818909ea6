//! The canister of the Factland article "Backup and Restore of Data on the
//! Internet Computer": user profiles keyed by principal. The article's
//! hand-written `backup`/`restore` endpoints, `AUTH` map, raw stable memory
//! endpoints and guards all come from `#[derive(Backupable)]`; what is left
//! is the canister's own logic.

use backup_runtime::prelude::*;

/// A user's profile, as in the article.
#[derive(Clone, Debug, Default, PartialEq, Eq, CandidType, Deserialize, serde::Serialize)]
pub struct Profile {
    pub updated_time_msecs: Option<u64>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub email: Option<String>,
}

impl Storable for Profile {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.clone().into_bytes())
    }

    fn into_bytes(self) -> Vec<u8> {
        // Encoding a record of options and text cannot fail.
        candid::encode_one(&self).expect("a Profile always encodes")
    }

    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        // Stable memory only ever holds what `into_bytes` wrote; a decode
        // failure means corrupt memory, where trapping is the safe answer.
        candid::decode_one(&bytes).expect("stable memory holds a valid Profile")
    }

    const BOUND: Bound = Bound::Unbounded;
}

/// The stored bytes are `candid::encode_one(&profile)`: backup pages carry
/// them as they are, and restore batches store the bytes they carry, without
/// decoding each profile and encoding it again.
impl CandidBytes for Profile {}

/// The canister's stable maps. The field is `pub`, so the static `PROFILES`
/// is too: a native tool can `Stable::open_image` a dump of this canister and
/// repair profiles through it.
#[derive(Backupable)]
pub struct Stable {
    /// User profiles; keys travel as principal text, as in the article.
    #[backup(memory_id = 0, key = text)]
    pub profiles: StableBTreeMap<Principal, Profile, Memory>,
}

/// The caller's own profile.
#[ic_cdk::query]
fn get_profile() -> Option<Profile> {
    let caller = ic_cdk::api::msg_caller();
    PROFILES.with(|profiles| profiles.borrow().get(&caller))
}

/// Creates or replaces the caller's own profile.
#[ic_cdk::update]
fn set_profile(profile: Profile) {
    let caller = ic_cdk::api::msg_caller();
    if caller == Principal::anonymous() {
        ic_cdk::trap("the anonymous principal cannot keep a profile");
    }
    let profile = Profile {
        updated_time_msecs: Some(ic_cdk::api::time() / 1_000_000),
        ..profile
    };
    PROFILES.with(|profiles| profiles.borrow_mut().insert(caller, profile));
}

/// Any user's profile, for admins: an ordinary method behind the generated
/// guard.
#[ic_cdk::query(guard = "is_authorized")]
fn get_profile_of(user: Principal) -> Option<Profile> {
    PROFILES.with(|profiles| profiles.borrow().get(&user))
}

/// How many profiles there are, for admins.
#[ic_cdk::query(guard = "is_authorized")]
fn profile_count() -> u64 {
    PROFILES.with(|profiles| profiles.borrow().len())
}

/// The Factland article's hand-written backup endpoint, exactly as written
/// there: `iter().skip(offset).take(count)`. Kept as the benchmarks'
/// baseline; use the generated `backup_profiles_page` instead, which never
/// exceeds the reply limit and does not walk the skipped entries.
#[ic_cdk::query(guard = "is_authorized")]
fn backup(offset: u64, count: u64) -> Vec<(String, Profile)> {
    PROFILES.with(|profiles| {
        profiles
            .borrow()
            .iter()
            .skip(offset as usize)
            .take(count as usize)
            .map(|entry| {
                let (principal, profile) = entry.into_pair();
                (principal.to_text(), profile)
            })
            .collect()
    })
}

ic_cdk::export_candid!();

#[cfg(test)]
mod tests {
    /// The checked-in interface is what the canister exports. Regenerate it
    /// with `UPDATE_DID=1 cargo test -p profiles`.
    #[test]
    fn candid_interface_is_up_to_date() {
        let generated = super::__export_service();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles.did");
        if std::env::var_os("UPDATE_DID").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            checked_in, generated,
            "profiles.did is stale: run UPDATE_DID=1 cargo test -p profiles"
        );
    }

    /// Every endpoint of DESIGN.md, with its signature.
    #[test]
    fn candid_interface_has_every_endpoint_of_the_design() {
        let generated: String = super::__export_service()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .map(|line| format!("{line}\n"))
            .collect();
        let page = "record {\n  len : nat64;\n  skipped : vec text;\n  next : opt text;\n  entries : vec record { text; Profile };\n}";
        assert!(
            generated.contains(page),
            "BackupPage is not `record {{ entries; next: opt K; len: nat64; skipped: vec K }}`:\n{generated}"
        );
        for signature in [
            "backup_profiles : (nat64, nat64) -> (vec record { text; Profile }) query;",
            "backup_profiles_page : (opt text, opt nat64, opt text) -> (BackupPage) query;",
            "backup_profiles_splits : (opt text, nat64, opt nat64) -> (Splits) query;",
            "type Splits = record { keys : vec text; next : opt text; walked : nat64 };",
            "restore_profiles : (vec record { text; Profile }) -> (Result);",
            "validate_profiles : (vec record { text; Profile }) -> (Result) query;",
            "clear_profiles : () -> (nat64);",
            "authorize : (principal) -> ();",
            "deauthorize : (principal) -> ();",
            "list_authorized : () -> (vec principal) query;",
            "stable_authorize : (principal) -> ();",
            "stable_deauthorize : (principal) -> ();",
            "stable_size : () -> (nat64) query;",
            "stable_read : (nat64, nat64) -> (blob) query;",
            "stable_write : (nat64, blob) -> ();",
            "stable_digest : (nat64, nat64, nat64) -> (vec blob) query;",
            "type Result = variant { Ok : nat64; Err : text };",
        ] {
            assert!(
                generated.contains(signature),
                "`{signature}` missing from\n{generated}"
            );
        }
    }
}
