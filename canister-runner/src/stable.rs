//! Stable memory with an undo journal, so a call can be rolled back without
//! copying the whole memory: the first write to a page during a call saves
//! the page's old contents.

use std::collections::HashMap;

pub const PAGE: u64 = backup_common::limits::WASM_PAGE_SIZE;
/// The page the IC counts stable memory accesses in.
const OS_PAGE: u64 = backup_common::limits::OS_PAGE_SIZE;

/// A growth of at least this many bytes (and of at least the memory's size)
/// takes a fresh zeroed allocation instead of zeros written.
const ZEROED_GROWTH: usize = 1 << 20;

#[derive(Default)]
pub struct StableMemory {
    bytes: Vec<u8>,
    max_pages: u64,
    journal: Option<Journal>,
    /// The 4 KiB pages the current message touched, and wrote.
    accessed: PageSet,
    dirty: PageSet,
    /// What the current message may touch, and write, in 4 KiB pages.
    limit: u64,
    /// Counts the committed calls that changed the memory.
    generation: u64,
    /// The 4 KiB pages the messages committed since the last
    /// [`StableMemory::take_written`] wrote.
    written: PageSet,
    /// The memory was replaced whole since the last
    /// [`StableMemory::take_written`] (a reinstall, an uninstall, a
    /// snapshot loaded): every page counts as written.
    replaced: bool,
}

/// A set of 4 KiB pages, counted, cleared in the time it took to fill.
#[derive(Default)]
struct PageSet {
    words: Vec<u64>,
    touched: Vec<usize>,
    count: u64,
}

impl PageSet {
    /// Adds pages `first..=last`; returns how many are in the set now.
    fn add(&mut self, first: u64, last: u64) -> u64 {
        for page in first..=last {
            let (word, bit) = ((page / 64) as usize, page % 64);
            if word >= self.words.len() {
                self.words.resize(word + 1, 0);
            }
            if self.words[word] == 0 {
                self.touched.push(word);
            }
            if self.words[word] & (1 << bit) == 0 {
                self.words[word] |= 1 << bit;
                self.count += 1;
            }
        }
        self.count
    }

    /// The pages in the set, in ascending order.
    fn pages(&self) -> Vec<u64> {
        let mut words = self.touched.clone();
        words.sort_unstable();
        let mut pages = Vec::with_capacity(self.count as usize);
        for word in words {
            let bits = self.words[word];
            for bit in 0..64 {
                if bits & (1 << bit) != 0 {
                    pages.push(word as u64 * 64 + bit);
                }
            }
        }
        pages
    }

    /// Adds every page of `other`.
    fn absorb(&mut self, other: &PageSet) {
        for &word in &other.touched {
            let bits = other.words[word];
            if word >= self.words.len() {
                self.words.resize(word + 1, 0);
            }
            if self.words[word] == 0 && bits != 0 {
                self.touched.push(word);
            }
            self.count += u64::from((bits & !self.words[word]).count_ones());
            self.words[word] |= bits;
        }
    }

    fn clear(&mut self) {
        for word in self.touched.drain(..) {
            self.words[word] = 0;
        }
        self.count = 0;
    }
}

struct Journal {
    len: usize,
    pages: HashMap<u64, Vec<u8>>,
}

impl StableMemory {
    pub fn new(bytes: Vec<u8>, max_pages: u64) -> Self {
        StableMemory {
            bytes,
            max_pages,
            journal: None,
            accessed: PageSet::default(),
            dirty: PageSet::default(),
            limit: u64::MAX,
            generation: 0,
            written: PageSet::default(),
            replaced: false,
        }
    }

    /// A memory holding `bytes` in place of this one (a reinstall's empty
    /// memory, a snapshot's): the same limit, a later generation, and every
    /// page written for whoever keeps a copy of it.
    pub fn replacement(&self, bytes: Vec<u8>) -> StableMemory {
        StableMemory {
            generation: self.generation + 1,
            replaced: true,
            ..StableMemory::new(bytes, self.max_pages)
        }
    }

    /// Starts counting a message's accesses, which may touch, and write, at
    /// most `limit_bytes` of stable memory.
    pub fn start_message(&mut self, limit_bytes: u64) {
        self.accessed.clear();
        self.dirty.clear();
        self.limit = limit_bytes / OS_PAGE;
    }

    /// Counts an access to `len` bytes at `offset` (`write` if it writes),
    /// refusing it, as the IC does, past the message's limit. Returns how
    /// many pages it is the first in the message to write (the IC charges
    /// each).
    pub fn access(&mut self, offset: u64, len: u64, write: bool) -> Result<u64, String> {
        if len == 0 {
            return Ok(0);
        }
        let (first, last) = (offset / OS_PAGE, (offset + len - 1) / OS_PAGE);
        let kb = self.limit * (OS_PAGE / 1024);
        if self.accessed.add(first, last) > self.limit {
            return Err(format!("Exceeded the limit for the number of accessed pages in the stable memory in a single message execution: limit: {kb} KB."));
        }
        if !write {
            return Ok(0);
        }
        let before = self.dirty.count;
        if self.dirty.add(first, last) > self.limit {
            return Err(format!("Exceeded the limit for the number of modified pages in the stable memory in a single message execution: limit: {kb} KB."));
        }
        Ok(self.dirty.count - before)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn pages(&self) -> u64 {
        self.bytes.len() as u64 / PAGE
    }

    /// Grows by `pages`; the old size, or `None` past the maximum.
    pub fn grow(&mut self, pages: u64) -> Option<u64> {
        let old = self.pages();
        let new = old
            .checked_add(pages)
            .filter(|&new| new <= self.max_pages)?;
        let len = usize::try_from(new * PAGE).ok()?;
        let added = len - self.bytes.len();
        if added >= ZEROED_GROWTH && added >= self.bytes.len() {
            // A fresh zeroed allocation: the system hands its pages over
            // zeroed as they are first touched, and most of a growth never
            // is (ic-stable-structures' memory manager grows by 8 MiB
            // buckets to write a few bytes); copying what is there costs
            // less than writing zeros over all that is added.
            let mut bytes = vec![0; len];
            bytes[..self.bytes.len()].copy_from_slice(&self.bytes);
            self.bytes = bytes;
        } else {
            self.bytes.resize(len, 0);
        }
        Some(old)
    }

    fn range(&self, offset: u64, len: u64) -> Option<std::ops::Range<usize>> {
        let end = offset.checked_add(len)?;
        if end > self.bytes.len() as u64 {
            return None;
        }
        Some(offset as usize..end as usize)
    }

    pub fn read(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let range = self.range(offset, len)?;
        Some(&self.bytes[range])
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) -> Option<()> {
        let range = self.range(offset, data.len() as u64)?;
        if let Some(journal) = &mut self.journal {
            if !data.is_empty() {
                for page in offset / PAGE..=(offset + data.len() as u64 - 1) / PAGE {
                    let start = (page * PAGE) as usize;
                    if start < journal.len {
                        journal
                            .pages
                            .entry(page)
                            .or_insert_with(|| self.bytes[start..start + PAGE as usize].to_vec());
                    }
                }
            }
        }
        self.bytes[range].copy_from_slice(data);
        Some(())
    }

    /// Starts recording what a call changes.
    pub fn begin(&mut self) {
        self.journal = Some(Journal {
            len: self.bytes.len(),
            pages: HashMap::new(),
        });
    }

    /// Keeps the call's changes.
    pub fn commit(&mut self) {
        if let Some(journal) = self.journal.take() {
            if self.dirty.count > 0 || journal.len != self.bytes.len() {
                self.generation += 1;
            }
            self.written.absorb(&self.dirty);
        }
    }

    /// The 4 KiB pages written by the messages committed since the last
    /// call, ascending, and forgets them: a call made of several messages
    /// (its callbacks, its calls to itself) has written all of them.
    pub fn take_written(&mut self) -> Vec<u64> {
        let pages = if std::mem::take(&mut self.replaced) {
            (0..self.bytes.len() as u64 / OS_PAGE).collect()
        } else {
            self.written.pages()
        };
        self.written.clear();
        pages
    }

    /// Changes whenever a committed call changed the memory.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Undoes the call's changes.
    pub fn rollback(&mut self) {
        if let Some(journal) = self.journal.take() {
            self.bytes.truncate(journal.len);
            for (page, old) in journal.pages {
                let start = (page * PAGE) as usize;
                self.bytes[start..start + old.len()].copy_from_slice(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests;
