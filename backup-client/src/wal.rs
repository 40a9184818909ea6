//! A write-ahead log beside an offline image (`<image>.wal`), so that
//! `serve` makes each call durable by appending what it wrote (the 4 KiB
//! pages) and what it answered (a note) instead of rewriting the whole
//! image: a reply is only certified once its record is synced. The log is
//! folded into the image (written atomically) from time to time and at
//! stop, then emptied; whoever opens the image next (`serve` or any offline
//! command) replays a log left by a crash.
//!
//! A record, all integers little-endian:
//!
//! | bytes | what |
//! | --- | --- |
//! | 8 | `ICBWAL02` |
//! | 8 | the body's length |
//! | 8 | the first 8 bytes of the SHA-256 of the 16 bytes before |
//! | body | the memory's length (u64), the page count (u32), each page's index (u64) and its 4096 bytes, the note's length (u32) and the note |
//! | 32 | the SHA-256 of the header and the body |
//!
//! Records are appended where the file ends and synced one by one, so only
//! the last one can be torn. The header checks itself: a damaged length is
//! never taken for a record that runs past the end. Replay drops a torn
//! last record (it was never acknowledged) and refuses a damaged record
//! with more after it (acknowledged records would be lost), changing
//! nothing.

use crate::durable;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"ICBWAL02";
pub const PAGE: usize = 4096;
const HEADER: usize = 8 + 8 + 8;
const DIGEST: usize = 32;

/// The log of `image`.
pub fn path_of(image: &Path) -> PathBuf {
    durable::with_suffix(image, ".wal")
}

/// An open log, appended to.
pub struct Wal {
    path: PathBuf,
    file: File,
    bytes: u64,
}

fn header_check(length: u64) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(MAGIC);
    hasher.update(length.to_le_bytes());
    let digest = hasher.finalize();
    let mut check = [0; 8];
    check.copy_from_slice(&digest[..8]);
    check
}

/// The record of a call that left `memory` with `pages` (4 KiB page
/// indices) written, and `note` to keep with it.
fn record(memory: &[u8], pages: &[u64], note: &[u8]) -> Vec<u8> {
    let pages: Vec<(u64, &[u8])> = pages
        .iter()
        .filter_map(|&page| {
            let start = usize::try_from(page).ok()?.checked_mul(PAGE)?;
            Some((page, memory.get(start..start.checked_add(PAGE)?)?))
        })
        .collect();
    let body = 8 + 4 + pages.len() * (8 + PAGE) + 4 + note.len();
    let mut record = Vec::with_capacity(HEADER + body + DIGEST);
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&(body as u64).to_le_bytes());
    record.extend_from_slice(&header_check(body as u64));
    record.extend_from_slice(&(memory.len() as u64).to_le_bytes());
    record.extend_from_slice(&(pages.len() as u32).to_le_bytes());
    for (page, bytes) in pages {
        record.extend_from_slice(&page.to_le_bytes());
        record.extend_from_slice(bytes);
    }
    record.extend_from_slice(&(note.len() as u32).to_le_bytes());
    record.extend_from_slice(note);
    let digest = Sha256::digest(&record);
    record.extend_from_slice(&digest);
    record
}

impl Wal {
    /// Creates (or empties) the log of `image`, opened to append.
    pub fn create(image: &Path) -> Result<Wal> {
        let path = path_of(image);
        let io = |source| Error::io(&path, source);
        // Appending: every write lands where the file ends, also after
        // `clear` cut it back to nothing.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        file.set_len(0).map_err(io)?;
        file.sync_all().map_err(io)?;
        durable::sync_dir(&path)?;
        Ok(Wal {
            path,
            file,
            bytes: 0,
        })
    }

    /// How many bytes the log holds.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Appends, and syncs, the record of a call that left `memory` with
    /// `pages` (4 KiB page indices) written, with `note` (what the call
    /// answered, for whoever replays the log). If it fails, the log is cut
    /// back to what it held before, where that can be done: the error says
    /// whether it was ([`AppendError::undone`]).
    pub fn append(
        &mut self,
        memory: &[u8],
        pages: &[u64],
        note: &[u8],
    ) -> std::result::Result<(), AppendError> {
        let record = record(memory, pages, note);
        let written = self
            .file
            .write_all(&record)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.bytes += record.len() as u64;
                Ok(())
            }
            Err(source) => {
                let undone = self
                    .file
                    .set_len(self.bytes)
                    .and_then(|()| self.file.sync_data())
                    .is_ok();
                Err(AppendError {
                    error: Error::io(&self.path, source),
                    undone,
                })
            }
        }
    }

    /// Empties the log once the image holds everything in it.
    pub fn clear(&mut self) -> Result<()> {
        let io = |source| Error::io(&self.path, source);
        self.file.set_len(0).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        self.bytes = 0;
        Ok(())
    }

    /// Removes the log (at stop, after the image was written).
    pub fn remove(self) -> Result<()> {
        drop(self.file);
        durable::remove(&self.path)
    }
}

/// An append that failed.
#[derive(Debug)]
pub struct AppendError {
    pub error: Error,
    /// The log was cut back to what it held before: the call is not in it.
    pub undone: bool,
}

/// What a replay found in a log.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The records applied.
    pub records: usize,
    /// Their notes, in order.
    pub notes: Vec<Vec<u8>>,
}

/// Applies the log of `image`, if there is one, to `memory` (the image's
/// bytes); `None` without a log. A refused log leaves `memory` as it was.
pub fn replay(image: &Path, memory: &mut Vec<u8>) -> Result<Option<Replayed>> {
    let path = path_of(image);
    let log = match std::fs::read(&path) {
        Ok(log) => log,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::io(&path, source)),
    };
    let records = parse(&log).map_err(|(at, why)| {
        Error::Input(format!(
            "{}: the write-ahead log is damaged at byte {at} ({why}) with records after it; the image {} and the log are left as they are: a copy of both is what to keep",
            path.display(),
            image.display()
        ))
    })?;
    let mut replayed = Replayed::default();
    for record in records {
        // The memory's length after the call: longer (grown, zeros until
        // written), or shorter (replaced whole, every page of it in the
        // record). Replayed over an image that already holds later records
        // (a fold cut short), a page past a shorter length comes back
        // with the record that grew the memory again or wrote it.
        memory.resize(record.length, 0);
        for (page, bytes) in record.pages {
            let start = page * PAGE;
            if let Some(target) = memory.get_mut(start..start + PAGE) {
                target.copy_from_slice(bytes);
            }
        }
        replayed.records += 1;
        replayed.notes.push(record.note.to_vec());
    }
    Ok(Some(replayed))
}

struct Record<'a> {
    length: usize,
    pages: Vec<(usize, &'a [u8])>,
    note: &'a [u8],
}

/// The records of `log`, without a torn last one; or where it is damaged
/// with records after it, and how.
fn parse(log: &[u8]) -> std::result::Result<Vec<Record<'_>>, (usize, String)> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < log.len() {
        let rest = &log[at..];
        if rest.len() < HEADER {
            break; // torn: the last append did not finish its header
        }
        let length = u64::from_le_bytes(rest[8..16].try_into().unwrap_or_default());
        if &rest[..8] != MAGIC || rest[16..24] != header_check(length) {
            // A header that fails its check is a torn last append, unless a
            // whole record's header follows: then records were lost.
            if (1..rest.len()).any(|start| starts_record(&rest[start..])) {
                return Err((at, "a record's header fails its check".into()));
            }
            break;
        }
        let size = usize::try_from(length)
            .ok()
            .and_then(|body| body.checked_add(HEADER + DIGEST))
            .filter(|&size| size <= rest.len());
        let Some(size) = size else {
            break; // torn: the last append did not finish its body
        };
        let (content, digest) = rest[..size].split_at(size - DIGEST);
        if Sha256::digest(content).as_slice() != digest {
            if rest.len() == size {
                break; // the last record, torn mid-write
            }
            return Err((at, "its checksum does not match".into()));
        }
        let record = body(&content[HEADER..])
            .ok_or((at, "its body does not hold what its counts say".to_string()))?;
        records.push(record);
        at += size;
    }
    Ok(records)
}

/// Whether `bytes` begin with a record header that passes its check.
fn starts_record(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER
        && &bytes[..8] == MAGIC
        && bytes[16..24]
            == header_check(u64::from_le_bytes(
                bytes[8..16].try_into().unwrap_or_default(),
            ))
}

/// A record's body, checked against its own counts.
fn body(bytes: &[u8]) -> Option<Record<'_>> {
    let length = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let count = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
    let pages_end = count.checked_mul(8 + PAGE)?.checked_add(12)?;
    let mut pages = Vec::with_capacity(count);
    for entry in bytes.get(12..pages_end)?.chunks_exact(8 + PAGE) {
        let page = usize::try_from(u64::from_le_bytes(entry[..8].try_into().ok()?)).ok()?;
        // A page past the memory's length is not a page this record wrote.
        if page.checked_mul(PAGE)?.checked_add(PAGE)? > length {
            return None;
        }
        pages.push((page, &entry[8..]));
    }
    let note_length =
        u32::from_le_bytes(bytes.get(pages_end..pages_end + 4)?.try_into().ok()?) as usize;
    let note = bytes.get(pages_end + 4..)?;
    (note.len() == note_length).then_some(Record {
        length,
        pages,
        note,
    })
}

#[cfg(test)]
mod tests;
