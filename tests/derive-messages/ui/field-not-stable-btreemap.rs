// errors: 1 (one mistake)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    profiles: Vec<(u64, u64)>,
}

fn main() {}
