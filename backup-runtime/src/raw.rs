//! Raw stable memory: size, bounded reads and writes, block digests.

use crate::limits::{MAX_DIGEST_RANGE, MAX_RAW_READ, MIN_DIGEST_BLOCK, WASM_PAGE_SIZE};
use ic_stable_structures::Memory;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::fmt;

thread_local! {
    /// Set by a successful `stable_write`; lives on the heap, so the upgrade
    /// that makes the maps read stable memory afresh also clears it.
    static WRITTEN: Cell<bool> = const { Cell::new(false) };
}

/// Why a raw access was refused. Nothing was read or written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawError {
    /// `offset + length` does not fit in 64 bits.
    Overflow { offset: u64, length: u64 },
    /// The range ends past the end of stable memory.
    OutOfRange { offset: u64, length: u64, size: u64 },
    /// More bytes than one call may carry.
    TooLong { length: u64, max: u64 },
    /// A digest block size outside the allowed range.
    BadBlockSize { block_size: u64, min: u64, max: u64 },
    /// Stable memory could not grow to hold a write.
    GrowFailed { needed_pages: u64, size_pages: u64 },
    /// A write that starts past the end of stable memory would leave a hole
    /// of zeros no image holds.
    Hole { offset: u64, size: u64 },
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawError::Overflow { offset, length } => {
                write!(f, "offset {offset} + length {length} overflows a 64-bit address")
            }
            RawError::OutOfRange { offset, length, size } => write!(
                f,
                "expected a range within the {size} bytes of stable memory, found {length} bytes at offset {offset}"
            ),
            RawError::TooLong { length, max } => {
                write!(f, "expected at most {max} bytes in one call, found {length}")
            }
            RawError::BadBlockSize { block_size, min, max } => {
                write!(f, "expected a block size between {min} and {max} bytes, found {block_size}")
            }
            RawError::GrowFailed { needed_pages, size_pages } => write!(
                f,
                "stable memory cannot grow from {size_pages} to {needed_pages} pages"
            ),
            RawError::Hole { offset, size } => write!(
                f,
                "expected a write starting at most at the end of stable memory ({size} bytes), found offset {offset}"
            ),
        }
    }
}

impl std::error::Error for RawError {}

/// The size of stable memory in bytes.
pub fn stable_size(memory: &impl Memory) -> u64 {
    memory.size() * WASM_PAGE_SIZE
}

fn end_of(offset: u64, length: u64) -> Result<u64, RawError> {
    offset
        .checked_add(length)
        .ok_or(RawError::Overflow { offset, length })
}

fn check_range(memory: &impl Memory, offset: u64, length: u64) -> Result<(), RawError> {
    let size = stable_size(memory);
    if end_of(offset, length)? > size {
        return Err(RawError::OutOfRange {
            offset,
            length,
            size,
        });
    }
    Ok(())
}

/// `length` bytes at `offset`; at most [`MAX_RAW_READ`] bytes, within the
/// current size.
pub fn stable_read(memory: &impl Memory, offset: u64, length: u64) -> Result<Vec<u8>, RawError> {
    if length > MAX_RAW_READ {
        return Err(RawError::TooLong {
            length,
            max: MAX_RAW_READ,
        });
    }
    check_range(memory, offset, length)?;
    let mut bytes = vec![0; length as usize];
    memory.read(offset, &mut bytes);
    Ok(bytes)
}

/// Writes `data` at `offset`, growing stable memory first when the write ends
/// past its end. The write may start anywhere up to the current end, so
/// memory grows by at most one argument (bounded by the ingress limit) per
/// call and never with a hole. After it, [`check_heap_fresh`] refuses until
/// the canister is upgraded.
pub fn stable_write(memory: &impl Memory, offset: u64, data: &[u8]) -> Result<(), RawError> {
    let end = end_of(offset, data.len() as u64)?;
    let size = stable_size(memory);
    if offset > size {
        return Err(RawError::Hole { offset, size });
    }
    let size_pages = memory.size();
    let needed_pages = end.div_ceil(WASM_PAGE_SIZE);
    if needed_pages > size_pages && memory.grow(needed_pages - size_pages) < 0 {
        return Err(RawError::GrowFailed {
            needed_pages,
            size_pages,
        });
    }
    memory.write(offset, data);
    WRITTEN.with(|written| written.set(true));
    Ok(())
}

/// Why the typed endpoints refuse after a raw write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleHeap;

impl fmt::Display for StaleHeap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("raw memory was written; upgrade the canister first: its maps on the heap still describe the stable memory as it was before `stable_write`, and using them would corrupt the new contents")
    }
}

impl std::error::Error for StaleHeap {}

/// Refuses once `stable_write` has written since the canister last started
/// (its install or last upgrade): the heap's cached map headers no longer
/// match stable memory. Every typed endpoint calls it first.
pub fn check_heap_fresh() -> Result<(), StaleHeap> {
    if WRITTEN.with(Cell::get) {
        Err(StaleHeap)
    } else {
        Ok(())
    }
}

/// Forgets earlier raw writes: natively, after an image is loaded and the
/// maps re-created over it.
#[cfg(not(target_family = "wasm"))]
pub(crate) fn reset_written() {
    WRITTEN.with(|written| written.set(false));
}

/// Whether `bytes` are all zeros, read eight at a time.
fn all_zeros(bytes: &[u8]) -> bool {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    words
        .map(|word| {
            u64::from_ne_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ])
        })
        .all(|word| word == 0)
        && tail.iter().all(|&byte| byte == 0)
}

/// Feeds `count` zero bytes to `hasher`.
fn hash_zeros(hasher: &mut Sha256, count: u64) {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut left = count;
    while left > 0 {
        let n = left.min(ZEROS.len() as u64) as usize;
        hasher.update(&ZEROS[..n]);
        left -= n as u64;
    }
}

/// The SHA-256 of each `block_size` block of `length` bytes from `offset`;
/// the last block may be shorter. The range must lie within stable memory and
/// be at most [`MAX_DIGEST_RANGE`] bytes; `block_size` at least
/// [`MIN_DIGEST_BLOCK`].
pub fn stable_digest(
    memory: &impl Memory,
    offset: u64,
    length: u64,
    block_size: u64,
) -> Result<Vec<[u8; 32]>, RawError> {
    if !(MIN_DIGEST_BLOCK..=MAX_DIGEST_RANGE).contains(&block_size) {
        return Err(RawError::BadBlockSize {
            block_size,
            min: MIN_DIGEST_BLOCK,
            max: MAX_DIGEST_RANGE,
        });
    }
    if length > MAX_DIGEST_RANGE {
        return Err(RawError::TooLong {
            length,
            max: MAX_DIGEST_RANGE,
        });
    }
    check_range(memory, offset, length)?;
    // Read in chunks of at most 1 MiB so a large block does not need a large buffer.
    let mut buffer = vec![0; block_size.min(1 << 20) as usize];
    let mut digests = Vec::with_capacity(length.div_ceil(block_size) as usize);
    // A block of zeros (stable memory grown and never written, as most of a
    // large image is) is checked a word at a time, some 20 times fewer
    // instructions than hashing it, and given the digest of that many zeros,
    // hashed once per call.
    let mut zeros_digest: Option<(u64, [u8; 32])> = None;
    let end = offset + length;
    let mut block_start = offset;
    while block_start < end {
        let block_end = end.min(block_start + block_size);
        let mut hasher = Sha256::new();
        // The block's bytes before `at` are all zeros, not yet hashed.
        let mut zeros_so_far = true;
        let mut at = block_start;
        while at < block_end {
            let n = (block_end - at).min(buffer.len() as u64) as usize;
            memory.read(at, &mut buffer[..n]);
            if zeros_so_far && !all_zeros(&buffer[..n]) {
                zeros_so_far = false;
                hash_zeros(&mut hasher, at - block_start);
            }
            if !zeros_so_far {
                hasher.update(&buffer[..n]);
            }
            at += n as u64;
        }
        let len = block_end - block_start;
        let digest = match (zeros_so_far, zeros_digest) {
            (false, _) => hasher.finalize().into(),
            (true, Some((zeros, digest))) if zeros == len => digest,
            (true, _) => {
                hash_zeros(&mut hasher, len);
                let digest: [u8; 32] = hasher.finalize().into();
                zeros_digest = Some((len, digest));
                digest
            }
        };
        digests.push(digest);
        block_start = block_end;
    }
    Ok(digests)
}
