// errors: 6 (six mistakes)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    accounts: StableBTreeMap<u64, u64, Memory>,
    #[backup(memory_id = 0)]
    transfers: StableBTreeMap<u64, u64, Memory>,
    #[backup(memory_id = 300)]
    owners: StableBTreeMap<u64, u64, Memory>,
    documents: StableBTreeMap<u64, u64, Memory>,
    #[backup(memory_id = 5, rename = "not an identifier")]
    notes: std::collections::BTreeMap<u64, u64>,
    #[backup(memory_id = 6, skip, skip)]
    cache: StableBTreeMap<u64, u64, Memory>,
}

fn main() {}
