use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0, key = text)]
    accounts: StableBTreeMap<Vec<u8>, u64, Memory>,
}

fn main() {}
