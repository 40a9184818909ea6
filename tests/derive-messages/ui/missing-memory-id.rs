// errors: 1 (one mistake)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(key = text)]
    accounts: StableBTreeMap<u64, u64, Memory>,
}

fn main() {}
