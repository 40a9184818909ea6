//! The club canister written without the derive, as most canisters in
//! production are: the same types in the same memories of a
//! `MemoryManager`, its own statics, and no backup endpoints. Its typed
//! records come out of a snapshot through a layout file
//! (`ic-backup backup --layout`).

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{
    DefaultMemoryImpl, StableBTreeMap, StableBTreeSet, StableCell, StableLog, StableMinHeap,
    StableVec,
};
use std::cell::RefCell;

include!("../../club/src/types.rs");

type Memory = VirtualMemory<DefaultMemoryImpl>;

thread_local! {
    static MANAGER: RefCell<MemoryManager<DefaultMemoryImpl>> =
        RefCell::new(MemoryManager::init(DefaultMemoryImpl::default()));
    static CONFIG: RefCell<StableCell<Config, Memory>> =
        RefCell::new(StableCell::init(memory(0), Config::default()));
    static MEMBERS: RefCell<StableBTreeSet<Principal, Memory>> =
        RefCell::new(StableBTreeSet::init(memory(1)));
    static DUES: RefCell<StableBTreeMap<Principal, u64, Memory>> =
        RefCell::new(StableBTreeMap::init(memory(2)));
    static POSTS: RefCell<StableVec<Post, Memory>> = RefCell::new(StableVec::init(memory(3)));
    static AUDIT: RefCell<StableLog<Event, Memory, Memory>> =
        RefCell::new(StableLog::init(memory(4), memory(5)));
    static JOBS: RefCell<StableMinHeap<Job, Memory>> = RefCell::new(StableMinHeap::init(memory(6)));
}

fn memory(id: u8) -> Memory {
    MANAGER.with(|manager| manager.borrow().get(MemoryId::new(id)))
}

/// Opens every structure at install, as canisters written by hand often
/// do: each memory holds its structure from the start (a `StableVec`'s
/// header records its element bound, which a restore through a layout
/// file needs).
#[ic_cdk::init]
fn init() {
    CONFIG.with(|_| ());
    MEMBERS.with(|_| ());
    DUES.with(|_| ());
    POSTS.with(|_| ());
    AUDIT.with(|_| ());
    JOBS.with(|_| ());
}

include!("../../club/src/methods.rs");

ic_cdk::export_candid!();
