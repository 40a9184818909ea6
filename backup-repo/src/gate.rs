//! The repository's backend with a gate on snapshot files.
//!
//! rustic_core's archiver logs a file it failed to read and saves the
//! snapshot without it. While a save runs, the gate keeps the snapshot file
//! the archiver writes instead of writing it, so that [`crate::Repo::save`]
//! writes it only once every stream ended well: a failed or killed save
//! leaves data no snapshot refers to, never a snapshot.

use bytes::Bytes;
use rustic_core::{BytesList, FileType, Id, ReadBackend, RusticResult, WriteBackend};
use std::sync::{Arc, Mutex, PoisonError};

/// A snapshot file the archiver wrote while the gate was closed.
#[derive(Debug)]
pub struct Held {
    id: Id,
    cacheable: bool,
    content: BytesList,
}

/// Passes everything to `inner`, except snapshot files while closed.
#[derive(Debug)]
pub struct Gate {
    inner: Arc<dyn WriteBackend>,
    /// `Some` while closed: the snapshot files held back.
    held: Mutex<Option<Vec<Held>>>,
}

impl Gate {
    pub fn new(inner: Arc<dyn WriteBackend>) -> Self {
        Gate {
            inner,
            held: Mutex::new(None),
        }
    }

    /// From now on, snapshot files are held back.
    pub fn close(&self) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
    }

    /// Opens the gate again and gives what it held back.
    pub fn open(&self) -> Vec<Held> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default()
    }

    /// Writes a snapshot file that was held back.
    pub fn write(&self, held: Held) -> RusticResult<()> {
        self.inner
            .write_bytes(FileType::Snapshot, &held.id, held.cacheable, held.content)
    }
}

impl ReadBackend for Gate {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.inner.list_with_size(tpe)
    }

    fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
        self.inner.list(tpe)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.inner.read_full(tpe, id)
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        self.inner.read_partial(tpe, id, cacheable, offset, length)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.warmup_path(tpe, id)
    }

    fn needs_warm_up(&self) -> bool {
        self.inner.needs_warm_up()
    }

    fn warm_up(&self, tpe: FileType, id: &Id) -> RusticResult<()> {
        self.inner.warm_up(tpe, id)
    }
}

impl WriteBackend for Gate {
    fn create(&self) -> RusticResult<()> {
        self.inner.create()
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        if tpe == FileType::Snapshot {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(held) = held.as_mut() {
                held.push(Held {
                    id: *id,
                    cacheable,
                    content,
                });
                return Ok(());
            }
        }
        self.inner.write_bytes(tpe, id, cacheable, content)
    }

    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)
    }
}
