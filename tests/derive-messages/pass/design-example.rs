// The struct of DESIGN.md, exactly as a canister author writes it.
use backup_runtime::prelude::*;

#[derive(Clone, Debug, Default, CandidType, Deserialize)]
pub struct Profile {
    updated_time_msecs: Option<u64>,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
}

impl Storable for Profile {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(candid::encode_one(self).unwrap())
    }
    fn into_bytes(self) -> Vec<u8> {
        candid::encode_one(&self).unwrap()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        candid::decode_one(&bytes).unwrap()
    }
    const BOUND: Bound = Bound::Unbounded;
}

#[derive(Backupable)]
pub struct Stable {
    /// User profiles; keys travel as principal text, as in the article.
    #[backup(memory_id = 0, key = text)]
    profiles: StableBTreeMap<Principal, Profile, Memory>,
}

ic_cdk::export_candid!();

fn main() {
    // The statics exist and are the maps.
    PROFILES.with(|p| assert!(p.borrow().is_empty()));
    let service = __export_service();
    for endpoint in [
        "backup_profiles :",
        "backup_profiles_page :",
        "restore_profiles :",
        "clear_profiles :",
        "stable_digest :",
    ] {
        assert!(
            service.contains(endpoint),
            "{endpoint} missing from\n{service}"
        );
    }
    let _: fn() -> Result<(), String> = is_authorized;
    let _: fn() -> Result<(), String> = is_stable_authorized;
}
