//! A write-ahead log beside an offline image (`<image>.wal`), so that
//! `serve` makes each update durable by appending the 4 KiB pages it wrote
//! instead of rewriting the whole image: a reply is only certified once its
//! record is synced. The log is folded into the image (written atomically)
//! from time to time and at stop, then removed; whoever opens the image
//! next (`serve` or any offline command) replays a log left by a crash.
//!
//! A record: `ICBWAL01`, the memory's length after the update (u64 LE), the
//! number of pages (u32 LE), each page's index (u64 LE) and its 4096 bytes,
//! then the SHA-256 of everything before it in the record. Records are
//! appended and synced one by one, so only the last one can be torn: a torn
//! last record was never acknowledged and is dropped; a damaged record with
//! more after it is an error, never skipped.

use crate::durable;
use crate::error::{CliError, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"ICBWAL01";
pub const PAGE: usize = 4096;
const HEADER: usize = 8 + 8 + 4;

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

impl Wal {
    /// Creates (or empties) the log of `image`.
    pub fn create(image: &Path) -> Result<Wal> {
        let path = path_of(image);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| CliError::io(&path, source))?;
        file.sync_all()
            .map_err(|source| CliError::io(&path, source))?;
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

    /// Appends, and syncs, the record of an update that left `memory` with
    /// `pages` (4 KiB page indices) written.
    pub fn append(&mut self, memory: &[u8], pages: &[u64]) -> Result<()> {
        let mut record = Vec::with_capacity(HEADER + pages.len() * (8 + PAGE) + 32);
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&(memory.len() as u64).to_le_bytes());
        record.extend_from_slice(&(pages.len() as u32).to_le_bytes());
        for &page in pages {
            let start = page as usize * PAGE;
            let Some(bytes) = memory.get(start..start + PAGE) else {
                continue;
            };
            record.extend_from_slice(&page.to_le_bytes());
            record.extend_from_slice(bytes);
        }
        // Pages past the end (written, then shrunk away) are not recorded.
        let count = ((record.len() - HEADER) / (8 + PAGE)) as u32;
        record[16..20].copy_from_slice(&count.to_le_bytes());
        let digest = Sha256::digest(&record);
        record.extend_from_slice(&digest);
        let io = |source| CliError::io(&self.path, source);
        self.file.write_all(&record).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.bytes += record.len() as u64;
        Ok(())
    }

    /// Empties the log once the image holds everything in it.
    pub fn clear(&mut self) -> Result<()> {
        let io = |source| CliError::io(&self.path, source);
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

/// Applies the log of `image`, if there is one, to `memory` (the image's
/// bytes); returns how many records it applied, or `None` without a log.
pub fn replay(image: &Path, memory: &mut Vec<u8>) -> Result<Option<usize>> {
    let path = path_of(image);
    let log = match std::fs::read(&path) {
        Ok(log) => log,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CliError::io(&path, source)),
    };
    let damaged = |at: usize, why: &str| {
        CliError::Input(format!(
            "{}: the write-ahead log is damaged at byte {at} ({why}) with records after it; the image {} and the log are left as they are",
            path.display(),
            image.display()
        ))
    };
    let mut at = 0;
    let mut applied = 0;
    while at < log.len() {
        let rest = &log[at..];
        let torn = rest.len() < HEADER || &rest[..8] != MAGIC;
        if torn {
            // Only an unfinished append can end the log this way.
            if rest.len() < HEADER && MAGIC.starts_with(&rest[..rest.len().min(8)]) {
                break;
            }
            return Err(damaged(at, "no record starts here"));
        }
        let length = u64::from_le_bytes(rest[8..16].try_into().unwrap_or_default());
        let count = u32::from_le_bytes(rest[16..20].try_into().unwrap_or_default()) as usize;
        let size = HEADER + count * (8 + PAGE) + 32;
        if rest.len() < size {
            break; // torn: the last append did not finish
        }
        let (body, digest) = rest[..size].split_at(size - 32);
        if Sha256::digest(body).as_slice() != digest {
            if rest.len() == size {
                break; // the last record, torn mid-write
            }
            return Err(damaged(at, "its checksum does not match"));
        }
        let length = usize::try_from(length).map_err(|_| damaged(at, "a length past memory"))?;
        memory.resize(length, 0);
        for entry in body[HEADER..].chunks_exact(8 + PAGE) {
            let page = u64::from_le_bytes(entry[..8].try_into().unwrap_or_default()) as usize;
            let start = page.saturating_mul(PAGE);
            if let Some(target) = memory.get_mut(start..start.saturating_add(PAGE)) {
                target.copy_from_slice(&entry[8..]);
            }
        }
        applied += 1;
        at += size;
    }
    Ok(Some(applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(pages: usize, fill: u8) -> Vec<u8> {
        vec![fill; pages * PAGE]
    }

    #[test]
    fn records_replay_in_order_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.bin");
        let mut wal = Wal::create(&image).unwrap();
        let mut live = memory(32, 0);
        live[5 * PAGE..6 * PAGE].fill(1);
        wal.append(&live, &[5]).unwrap();
        live.resize(48 * PAGE, 0);
        live[40 * PAGE..41 * PAGE].fill(2);
        live[5 * PAGE..6 * PAGE].fill(3);
        wal.append(&live, &[5, 40]).unwrap();
        let mut replayed = memory(32, 0);
        assert_eq!(replay(&image, &mut replayed).unwrap(), Some(2));
        assert!(replayed == live);
        // Every cut of the log replays to a prefix of the updates, never a mix.
        let log = std::fs::read(path_of(&image)).unwrap();
        let first = HEADER + (8 + PAGE) + 32;
        for cut in 0..log.len() {
            std::fs::write(path_of(&image), &log[..cut]).unwrap();
            let mut replayed = memory(32, 0);
            let applied = replay(&image, &mut replayed).unwrap().unwrap();
            assert_eq!(applied, usize::from(cut >= first));
            if applied == 1 {
                assert!(replayed[5 * PAGE..6 * PAGE].iter().all(|&b| b == 1));
            }
        }
    }

    #[test]
    fn a_damaged_record_with_more_after_it_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.bin");
        let mut wal = Wal::create(&image).unwrap();
        let live = memory(16, 7);
        wal.append(&live, &[1]).unwrap();
        wal.append(&live, &[2]).unwrap();
        let mut log = std::fs::read(path_of(&image)).unwrap();
        log[HEADER + 100] ^= 1;
        std::fs::write(path_of(&image), &log).unwrap();
        let error = replay(&image, &mut memory(16, 0)).unwrap_err().to_string();
        assert!(error.contains("damaged at byte 0"), "{error}");
        assert!(replay(&dir.path().join("none.bin"), &mut Vec::new())
            .unwrap()
            .is_none());
    }
}
