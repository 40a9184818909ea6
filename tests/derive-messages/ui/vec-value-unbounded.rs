// errors: 1 (a vec keeps values of a bounded size: the value's bound is Unbounded)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    lines: StableVec<String, Memory>,
}

fn main() {}
