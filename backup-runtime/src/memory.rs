//! The canister's stable memory and the runtime's default `MemoryManager`.
//!
//! On wasm the stable memory is the canister's own (`ic0.stable64_*`).
//! Natively it is one vector per thread, shared by every handle, so that a
//! native build of a canister can load an image file into it and read the
//! maps through the same statics.

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::DefaultMemoryImpl;
use std::cell::RefCell;

/// The memory type of the maps when the struct does not name its own
/// `memory = ...` function: a virtual memory of the runtime's manager.
pub type Memory = VirtualMemory<DefaultMemoryImpl>;

thread_local! {
    static STABLE: DefaultMemoryImpl = DefaultMemoryImpl::default();
    static MANAGER: RefCell<Option<MemoryManager<DefaultMemoryImpl>>> = const { RefCell::new(None) };
}

/// A handle on the canister's whole stable memory.
///
/// A canister with its own `MemoryManager` should build it over this handle
/// (`MemoryManager::init(backup_runtime::stable_memory())`): on wasm it is the
/// same as `DefaultMemoryImpl::default()`, and natively it is the memory that
/// `open_image` fills.
pub fn stable_memory() -> DefaultMemoryImpl {
    STABLE.with(|memory| memory.clone())
}

/// The virtual memory `id` of the runtime's `MemoryManager`, created over
/// [`stable_memory()`] on first use.
pub fn memory(id: MemoryId) -> Memory {
    MANAGER.with(|manager| {
        manager
            .borrow_mut()
            .get_or_insert_with(|| MemoryManager::init(stable_memory()))
            .get(id)
    })
}

/// Forgets the runtime's manager, so that the next [`memory`] call reads the
/// layout afresh from [`stable_memory()`].
#[cfg(not(target_family = "wasm"))]
pub(crate) fn reset_manager() {
    MANAGER.with(|manager| *manager.borrow_mut() = None);
}
