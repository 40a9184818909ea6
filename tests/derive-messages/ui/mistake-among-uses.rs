// errors: 1 (one mistake)
// One mistake in the struct is one error: the statics and guards the rest of
// the crate uses are still declared, so their uses add none.
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 999)]
    profiles: StableBTreeMap<u64, String, Memory>,
}

#[ic_cdk::query(guard = "is_authorized")]
fn profile_count() -> u64 {
    PROFILES.with(|p| p.borrow().len())
}

#[ic_cdk::query(guard = "is_stable_authorized")]
fn first() -> Option<String> {
    PROFILES.with(|p| p.borrow().first_key_value().map(|(_, v)| v))
}

fn main() {
    let _ = Stable::open_image("stable_memory.bin");
}
