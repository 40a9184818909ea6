// errors: 1 (one mistake)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 3)]
    accounts: StableBTreeMap<u64, u64, Memory>,
    #[backup(memory_id = 3)]
    transfers: StableBTreeMap<u64, u64, Memory>,
}

fn main() {}
