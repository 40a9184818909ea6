// errors: 2 (rustc also reports the struct itself, whose field needs `V: Storable`)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable<V> {
    #[backup(memory_id = 0)]
    accounts: StableBTreeMap<u64, V, Memory>,
}

fn main() {}
