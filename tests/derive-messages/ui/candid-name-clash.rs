// errors: 1 (one mistake)
// A method of the canister's own whose Candid name is one the derive
// generates: refused, naming the method.
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    profiles: StableBTreeMap<u64, String, Memory>,
}

#[ic_cdk::update]
fn restore_profiles(entries: Vec<(u64, String)>) -> u64 {
    entries.len() as u64
}

fn main() {}
