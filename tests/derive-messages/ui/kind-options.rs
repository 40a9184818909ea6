// errors: 4 (a log without its data memory, a data memory on a vec, a default on a set, text keys on a heap)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    audit: StableLog<String, Memory, Memory>,
    #[backup(memory_id = 1, data_memory_id = 2)]
    samples: StableVec<u64, Memory>,
    #[backup(memory_id = 3, default = 7)]
    members: StableBTreeSet<Principal, Memory>,
    #[backup(memory_id = 4, key = text)]
    deadlines: StableMinHeap<u64, Memory>,
}

fn main() {}
