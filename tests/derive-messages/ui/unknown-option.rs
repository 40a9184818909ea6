// errors: 3 (three unknown options)
use backup_runtime::prelude::*;

#[derive(Backupable)]
#[backup(memroy = my_memory)]
pub struct Stable {
    #[backup(memory_id = 0, compress = true, key = json)]
    accounts: StableBTreeMap<u64, u64, Memory>,
}

fn main() {}
