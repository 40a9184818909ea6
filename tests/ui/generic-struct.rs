use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable<V> {
    #[backup(memory_id = 0)]
    accounts: StableBTreeMap<u64, V, Memory>,
}

fn main() {}
