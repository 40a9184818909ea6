// One of each collection of ic-stable-structures, over the canister's own
// memory function: a cell with its default, a set, a map, a vec, a log
// over two memories, a min-heap.
use backup_runtime::prelude::*;
use ic_stable_structures::memory_manager::MemoryManager;

thread_local! {
    static MANAGER: RefCell<MemoryManager<DefaultMemoryImpl>> =
        RefCell::new(MemoryManager::init(backup_runtime::stable_memory()));
}

fn my_memory(id: MemoryId) -> Memory {
    MANAGER.with(|m| m.borrow().get(id))
}

#[derive(Backupable)]
#[backup(memory = my_memory)]
struct Everything {
    #[backup(memory_id = 0, default = String::from("hello"))]
    greeting: StableCell<String, Memory>,
    #[backup(memory_id = 1, key = text)]
    tags: StableBTreeSet<String, Memory>,
    #[backup(memory_id = 2)]
    counts: StableBTreeMap<Principal, u64, Memory>,
    #[backup(memory_id = 3)]
    samples: StableVec<u64, Memory>,
    #[backup(memory_id = 4, data_memory_id = 5, rename = "journal")]
    log: StableLog<String, Memory, Memory>,
    #[backup(memory_id = 6)]
    deadlines: StableMinHeap<u64, Memory>,
    #[backup(memory_id = 7)]
    hits: StableCell<u64, Memory>,
}

fn main() {
    let _ = GREETING.with(|cell| cell.borrow().get().len());
    let _ = JOURNAL_LEN;
}

const JOURNAL_LEN: fn() -> u64 = || LOG.with(|log| log.borrow().len());
