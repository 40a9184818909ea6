//! Rolling a message back without copying the heap: the runner keeps a
//! shadow of linear memory as the last kept message left it, and the
//! module's write barrier (see `instrument::barrier`) and the host mark
//! each 4 KiB page a message writes. Keeping the message copies the marked
//! pages into the shadow; undoing it copies them back. Either costs the
//! pages written, not the heap. Mutable globals and certified data are
//! small and saved whole at the start of each message.

use crate::host::Env;
use crate::instrument::PAGE_SHIFT;
use wasmi::{Global, Store, Val};

const PAGE: usize = 1 << PAGE_SHIFT;

/// The state a message may undo.
#[derive(Default)]
pub struct Shadow {
    /// Linear memory as the last kept message left it.
    memory: Vec<u8>,
    /// The mutable globals and certified data at the start of the message.
    globals: Vec<Val>,
    certified_data: Vec<u8>,
    /// The pages the message wrote (a buffer reused between messages).
    written: Vec<usize>,
}

impl Shadow {
    /// Takes linear memory whole, as it is after an install or an upgrade,
    /// and forgets what was marked written.
    pub fn resync(&mut self, store: &mut Store<Env>) {
        take_written(store, &mut self.written);
        self.memory.clear();
        if let Some(memory) = store.data().memory {
            self.memory.extend_from_slice(memory.data(&*store));
        }
    }

    /// Saves what a message may change besides memory pages.
    pub fn begin(&mut self, store: &Store<Env>, globals: &[Global]) {
        self.certified_data.clone_from(&store.data().certified_data);
        self.globals.clear();
        self.globals
            .extend(globals.iter().map(|global| global.get(store)));
    }

    /// Keeps what the message did: the pages it wrote join the shadow.
    pub fn keep(&mut self, store: &mut Store<Env>) {
        take_written(store, &mut self.written);
        let Some(memory) = store.data().memory else {
            return;
        };
        let live = memory.data(&*store);
        // Pages the message grew are zero where it did not write.
        if self.memory.len() < live.len() {
            self.memory.resize(live.len(), 0);
        }
        for &page in &self.written {
            let range = page * PAGE..((page + 1) * PAGE).min(live.len());
            if let Some(source) = live.get(range.clone()) {
                self.memory[range].copy_from_slice(source);
            }
        }
    }

    /// Undoes what the message did. Wasm memory cannot shrink: pages it
    /// grew stay, zeroed, as the IC's rollback leaves them unreachable.
    pub fn undo(&mut self, store: &mut Store<Env>, globals: &[Global]) {
        take_written(store, &mut self.written);
        if let Some(memory) = store.data().memory {
            let live = memory.data_mut(&mut *store);
            for &page in &self.written {
                let range = page * PAGE..((page + 1) * PAGE).min(live.len());
                let Some(target) = live.get_mut(range.clone()) else {
                    continue;
                };
                // Memory grows by whole 64 KiB pages: a page is all in the
                // shadow or all past it.
                match self.memory.get(range) {
                    Some(saved) => target.copy_from_slice(saved),
                    None => target.fill(0),
                }
            }
        }
        store
            .data_mut()
            .certified_data
            .clone_from(&self.certified_data);
        for (global, value) in globals.iter().zip(&self.globals) {
            // The value came from this global, so its type matches.
            let _ = global.set(&mut *store, value.clone());
        }
    }
}

/// The pages marked written, into `pages`; the marks are cleared.
fn take_written(store: &mut Store<Env>, pages: &mut Vec<usize>) {
    pages.clear();
    let Some(bytemap) = store.data().dirty else {
        return;
    };
    let heap_pages = store
        .data()
        .memory
        .map_or(0, |memory| memory.data(&*store).len().div_ceil(PAGE));
    let marks = bytemap.data_mut(&mut *store);
    let end = heap_pages.min(marks.len());
    let marks = &mut marks[..end];
    // Most of the bytemap is clear: skip it eight bytes at a time.
    for (chunk_index, chunk) in marks.chunks_mut(8).enumerate() {
        if chunk.iter().all(|&mark| mark == 0) {
            continue;
        }
        for (offset, mark) in chunk.iter_mut().enumerate() {
            if *mark != 0 {
                pages.push(chunk_index * 8 + offset);
                *mark = 0;
            }
        }
    }
}
