//! The files of a snapshot being saved, as rustic_core's archiver reads
//! them: each the read end of a pipe its producer writes into.

use crate::{Error, NewFile, Result};
use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{ErrorKind, ReadSource, ReadSourceEntry, RusticError, RusticResult};
use std::io::{PipeReader, PipeWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The streams of one save, handed to the archiver once.
pub struct Streams {
    entries: Mutex<Vec<ReadSourceEntry<Stream>>>,
    size: u64,
    /// A stream failed to read (the archiver only logs such a failure).
    failed: Arc<AtomicBool>,
}

/// One file's stream: the read end of its pipe.
pub struct Stream {
    pipe: PipeReader,
    failed: Arc<AtomicBool>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.pipe.read(buf);
        if read.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        read
    }
}

impl Streams {
    /// The streams of `files` under `root`, and the writer of each.
    pub fn new(root: &Path, files: &[NewFile]) -> Result<(Streams, Vec<PipeWriter>)> {
        let failed = Arc::new(AtomicBool::new(false));
        let mut entries = Vec::new();
        let mut writers = Vec::new();
        let now = rustic_core::jiff::Timestamp::now();
        for file in files {
            let (pipe, writer) = std::io::pipe()
                .map_err(|error| Error::internal(format!("cannot open a pipe: {error}")))?;
            let path: PathBuf = root.join(&file.path);
            let name = path.file_name().ok_or_else(|| {
                Error::input(format!("expected a file name, found `{}`", file.path))
            })?;
            let meta = Metadata {
                // Without a mode and time restic restores the file with mode
                // 0 and a date in 1901.
                mode: Some(0o644),
                mtime: Some(now),
                ctime: Some(now),
                uid: Some(0),
                gid: Some(0),
                size: file.size,
                ..Metadata::default()
            };
            let node = Node::new_node(name, NodeType::File, meta);
            entries.push(ReadSourceEntry {
                path,
                node,
                open: Some(Stream {
                    pipe,
                    failed: failed.clone(),
                }),
            });
            writers.push(writer);
        }
        let size = files.iter().map(|file| file.size).sum();
        let streams = Streams {
            entries: Mutex::new(entries),
            size,
            failed,
        };
        Ok((streams, writers))
    }

    /// Whether a stream failed to read.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }
}

impl ReadSource for Streams {
    type Open = Stream;
    type Iter = std::vec::IntoIter<RusticResult<ReadSourceEntry<Stream>>>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(Some(self.size))
    }

    fn entries(&self) -> Self::Iter {
        let entries =
            std::mem::take(&mut *self.entries.lock().unwrap_or_else(PoisonError::into_inner));
        if entries.is_empty() {
            let error = RusticError::new(ErrorKind::Internal, "the streams were taken already");
            return vec![Err(error)].into_iter();
        }
        entries.into_iter().map(Ok).collect::<Vec<_>>().into_iter()
    }
}
