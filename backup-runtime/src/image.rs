//! Stable memory images: the `MemoryManager` layout, checked before trusted.
//!
//! `MemoryManager::init` and `StableBTreeMap::init` silently create an empty
//! structure where the magic bytes are missing, which would turn a wrong file
//! into an empty canister. Everything here checks the layout first and says
//! what it expected and what it found.

use crate::limits::WASM_PAGE_SIZE;
use std::fmt;
use std::path::PathBuf;

pub(crate) const MANAGER_MAGIC: &[u8; 3] = b"MGR";
const MANAGER_VERSION: u8 = 1;
pub(crate) const MAP_MAGIC: &[u8; 3] = b"BTR";

/// The magic (first three bytes) `memory` starts with; `None` when it is
/// empty (nothing there yet: a structure may be made in it).
pub(crate) fn magic_of(memory: &impl ic_stable_structures::Memory) -> Option<[u8; 3]> {
    let mut magic = [0u8; 3];
    (memory.size() > 0).then(|| {
        memory.read(0, &mut magic);
        magic
    })
}
const MAP_VERSIONS: [u8; 2] = [1, 2];
const MAX_MEMORIES: usize = 255;
const MAX_BUCKETS: usize = 32768;
const FREE_BUCKET: u8 = 0xFF;
const SIZES_OFFSET: usize = 40;
const BUCKET_TABLE_OFFSET: usize = SIZES_OFFSET + MAX_MEMORIES * 8;
const BUCKETS_START: u64 = WASM_PAGE_SIZE;
const MAP_HEADER_LEN: usize = 28;

/// Why an image cannot be used.
#[derive(Debug)]
pub enum ImageError {
    /// The file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bytes are not a `MemoryManager` image, or a damaged one.
    Invalid(String),
    /// A virtual memory that a map of this canister uses holds something that
    /// is not a `StableBTreeMap`; loading it would replace it with an empty map.
    NotAMap { memory_id: u8, found: String },
    /// A virtual memory that another structure of this canister uses holds
    /// something else (`expected` names the structure).
    NotThe {
        memory_id: u8,
        expected: &'static str,
        found: String,
    },
    /// The image was opened after maps had been used with a memory manager the
    /// runtime cannot reset.
    InUse,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ImageError::Invalid(reason) => write!(f, "not a MemoryManager stable memory image: {reason}"),
            ImageError::NotAMap { memory_id, found } => write!(
                f,
                "virtual memory {memory_id} should hold a StableBTreeMap (magic `BTR`, version 1 or 2), found {found}"
            ),
            ImageError::NotThe { memory_id, expected, found } => write!(
                f,
                "virtual memory {memory_id} should hold {expected}, found {found}"
            ),
            ImageError::InUse => write!(
                f,
                "open_image must be called before any map is used when the struct names its own `memory = ...` manager"
            ),
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn invalid(reason: impl Into<String>) -> ImageError {
    ImageError::Invalid(reason.into())
}

/// The `MemoryManager` layout of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Size of the image in bytes.
    pub image_len: u64,
    /// Size of one bucket in wasm pages (128 unless the canister chose).
    pub bucket_size_pages: u16,
    /// Buckets handed out so far.
    pub allocated_buckets: u16,
    /// Every virtual memory that has a size or buckets, by id.
    pub memories: Vec<VirtualMemoryInfo>,
}

/// One virtual memory of a [`Layout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualMemoryInfo {
    /// The `MemoryId`.
    pub id: u8,
    /// Its size in wasm pages, as the manager records it.
    pub size_pages: u64,
    /// The buckets that hold it, in order.
    pub buckets: Vec<u16>,
}

/// What a byte of an image belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Region {
    /// The `MemoryManager`'s own header page.
    Header,
    /// A bucket of virtual memory `id`.
    Memory(u8),
    /// No allocated bucket.
    Unallocated,
}

/// The header of a `StableBTreeMap` found at the start of a virtual memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapHeader {
    /// Layout version, 1 or 2.
    pub version: u8,
    /// What fixes the node layout: the maximum key and value sizes, or the
    /// page size; two maps with the same version and layout bytes store
    /// their nodes alike.
    pub layout: [u8; 8],
    /// Address of the root node inside the virtual memory.
    pub root_addr: u64,
    /// Number of entries.
    pub len: u64,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(le)
}

/// The bytes at the start of an image that hold the whole `MemoryManager`
/// header: magic, sizes and the bucket table.
pub const HEADER_LEN: usize = BUCKET_TABLE_OFFSET + MAX_BUCKETS;

impl Layout {
    /// Reads and checks the layout of `image`.
    pub fn parse(image: &[u8]) -> Result<Layout, ImageError> {
        Self::parse_header(image, image.len() as u64)
    }

    /// Reads and checks the layout of an image of `len` bytes from its
    /// first bytes (at least [`HEADER_LEN`] of them, or the whole image):
    /// how a client reads a live canister's layout without downloading it.
    pub fn parse_header(image: &[u8], len: u64) -> Result<Layout, ImageError> {
        if len == 0 {
            return Err(invalid("the image is empty"));
        }
        if !len.is_multiple_of(WASM_PAGE_SIZE) {
            return Err(invalid(format!(
                "expected a whole number of 64 KiB wasm pages, found {len} bytes"
            )));
        }
        if image.len() < HEADER_LEN {
            return Err(invalid(format!(
                "expected the first {HEADER_LEN} bytes of the image, found {}",
                image.len()
            )));
        }
        if image[..3] != MANAGER_MAGIC[..] {
            return Err(invalid(format!(
                "expected the magic `MGR` at offset 0, found {}",
                describe_bytes(&image[..3])
            )));
        }
        if image[3] != MANAGER_VERSION {
            return Err(invalid(format!(
                "expected MemoryManager layout version {MANAGER_VERSION}, found {}",
                image[3]
            )));
        }
        let allocated_buckets = u16_at(image, 4);
        let bucket_size_pages = u16_at(image, 6);
        if bucket_size_pages == 0 {
            return Err(invalid("the bucket size is 0 pages"));
        }
        if usize::from(allocated_buckets) > MAX_BUCKETS {
            return Err(invalid(format!(
                "expected at most {MAX_BUCKETS} allocated buckets, found {allocated_buckets}"
            )));
        }
        let bucket_bytes = u64::from(bucket_size_pages) * WASM_PAGE_SIZE;
        let needed = BUCKETS_START + u64::from(allocated_buckets) * bucket_bytes;
        if len < needed {
            return Err(invalid(format!(
                "{allocated_buckets} buckets of {bucket_size_pages} pages need {needed} bytes, the image has {len}"
            )));
        }

        let mut buckets_of: Vec<Vec<u16>> = vec![Vec::new(); MAX_MEMORIES];
        let table = &image[BUCKET_TABLE_OFFSET..BUCKET_TABLE_OFFSET + MAX_BUCKETS];
        for (bucket, &owner) in table.iter().enumerate() {
            let allocated = bucket < usize::from(allocated_buckets);
            match (owner, allocated) {
                (FREE_BUCKET, false) => {}
                (FREE_BUCKET, true) => {
                    return Err(invalid(format!(
                        "bucket {bucket} is counted as allocated but has no owner"
                    )))
                }
                (_, false) => {
                    return Err(invalid(format!(
                        "bucket {bucket} has owner {owner} but only {allocated_buckets} buckets are allocated"
                    )))
                }
                (owner, true) => buckets_of[usize::from(owner)].push(bucket as u16),
            }
        }

        let mut memories = Vec::new();
        for (id, buckets) in buckets_of.into_iter().enumerate() {
            let size_pages = u64_at(image, SIZES_OFFSET + id * 8);
            let capacity = buckets.len() as u64 * u64::from(bucket_size_pages);
            if size_pages > capacity {
                return Err(invalid(format!(
                    "virtual memory {id} records {size_pages} pages but owns {} buckets ({capacity} pages)",
                    buckets.len()
                )));
            }
            if size_pages > 0 || !buckets.is_empty() {
                memories.push(VirtualMemoryInfo {
                    id: id as u8,
                    size_pages,
                    buckets,
                });
            }
        }
        Ok(Layout {
            image_len: len,
            bucket_size_pages,
            allocated_buckets,
            memories,
        })
    }

    /// The virtual memory `id`, if it has a size or buckets.
    pub fn memory(&self, id: u8) -> Option<&VirtualMemoryInfo> {
        self.memories.iter().find(|memory| memory.id == id)
    }

    /// Reads `dst.len()` bytes at `offset` of virtual memory `id`; `None` if
    /// the range is outside its recorded size.
    pub fn read_virtual(&self, image: &[u8], id: u8, offset: u64, dst: &mut [u8]) -> Option<()> {
        let memory = self.memory(id)?;
        let end = offset.checked_add(dst.len() as u64)?;
        if end > memory.size_pages * WASM_PAGE_SIZE {
            return None;
        }
        let bucket_bytes = u64::from(self.bucket_size_pages) * WASM_PAGE_SIZE;
        let mut done = 0usize;
        while done < dst.len() {
            let at = offset + done as u64;
            let bucket = *memory
                .buckets
                .get(usize::try_from(at / bucket_bytes).ok()?)?;
            let within = at % bucket_bytes;
            let physical = BUCKETS_START + u64::from(bucket) * bucket_bytes + within;
            let n = ((bucket_bytes - within) as usize).min(dst.len() - done);
            let start = usize::try_from(physical).ok()?;
            dst[done..done + n].copy_from_slice(image.get(start..start + n)?);
            done += n;
        }
        Some(())
    }

    /// Where in the image virtual memory `id` starts (its first bucket), if
    /// it has a size.
    pub fn memory_start(&self, id: u8) -> Option<u64> {
        let memory = self.memory(id).filter(|memory| memory.size_pages > 0)?;
        let bucket_bytes = u64::from(self.bucket_size_pages) * WASM_PAGE_SIZE;
        Some(BUCKETS_START + u64::from(*memory.buckets.first()?) * bucket_bytes)
    }

    /// What holds the image's byte at `offset`.
    pub fn owner_of(&self, offset: u64) -> Region {
        if offset < BUCKETS_START {
            return Region::Header;
        }
        let bucket_bytes = u64::from(self.bucket_size_pages) * WASM_PAGE_SIZE;
        let bucket = (offset - BUCKETS_START) / bucket_bytes;
        self.memories
            .iter()
            .find(|memory| memory.buckets.iter().any(|&b| u64::from(b) == bucket))
            .map_or(Region::Unallocated, |memory| Region::Memory(memory.id))
    }

    /// The `StableBTreeMap` header at the start of virtual memory `id`:
    /// `Ok(None)` if the memory is empty (a map there would be created fresh),
    /// an error if it holds something else.
    pub fn map_header(&self, image: &[u8], id: u8) -> Result<Option<MapHeader>, ImageError> {
        let size = self.memory(id).map_or(0, |memory| memory.size_pages);
        if size == 0 {
            return Ok(None);
        }
        let mut header = [0u8; MAP_HEADER_LEN];
        self.read_virtual(image, id, 0, &mut header)
            .ok_or_else(|| ImageError::NotAMap {
                memory_id: id,
                found: "a memory too small for a map header".into(),
            })?;
        MapHeader::parse(id, &header).map(Some)
    }
}

impl MapHeader {
    /// The bytes a map header takes at the start of its memory.
    pub const LEN: usize = MAP_HEADER_LEN;

    /// Reads the map header of memory `id` from its first [`MapHeader::LEN`]
    /// bytes; an error names what the memory holds instead.
    pub fn parse(id: u8, header: &[u8]) -> Result<MapHeader, ImageError> {
        if header.len() < MAP_HEADER_LEN {
            return Err(ImageError::NotAMap {
                memory_id: id,
                found: format!("{} bytes, too few for a map header", header.len()),
            });
        }
        if header[..3] != MAP_MAGIC[..] {
            return Err(ImageError::NotAMap {
                memory_id: id,
                found: describe_bytes(&header[..3]),
            });
        }
        if !MAP_VERSIONS.contains(&header[3]) {
            return Err(ImageError::NotAMap {
                memory_id: id,
                found: format!("version {}", header[3]),
            });
        }
        let mut layout = [0u8; 8];
        layout.copy_from_slice(&header[4..12]);
        Ok(MapHeader {
            version: header[3],
            layout,
            root_addr: u64_at(header, 12),
            len: u64_at(header, 20),
        })
    }
}

pub(crate) fn describe_bytes(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic()) {
        format!("`{}`", String::from_utf8_lossy(bytes))
    } else {
        format!("bytes {bytes:02x?}")
    }
}

/// Loads the image at `path` into this thread's stable memory, after checking
/// that it is a `MemoryManager` image and that each of `map_ids` is empty or
/// holds a `StableBTreeMap`. Nothing changes when it fails.
///
/// `owns_manager` is false when the canister names its own `memory = ...`
/// function: its manager cannot be reset, so the image must come first.
///
/// Called by the `open_image` that `#[derive(Backupable)]` generates, which
/// then re-creates every map static over the new memory.
#[cfg(not(target_family = "wasm"))]
pub fn open_image(
    path: &std::path::Path,
    map_ids: &[u8],
    others: &[(u8, [u8; 3], &'static str)],
    owns_manager: bool,
) -> Result<Layout, ImageError> {
    use ic_stable_structures::Memory as _;

    let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.into(),
        source,
    })?;
    let layout = Layout::parse(&bytes)?;
    for &id in map_ids {
        layout.map_header(&bytes, id)?;
    }
    for &(id, magic, expected) in others {
        let size = layout.memory(id).map_or(0, |memory| memory.size_pages);
        let mut found = [0u8; 3];
        if size > 0 && layout.read_virtual(&bytes, id, 0, &mut found).is_some() && found != magic {
            return Err(ImageError::NotThe {
                memory_id: id,
                expected,
                found: describe_bytes(&found),
            });
        }
    }
    let stable = crate::memory::stable_memory();
    if !owns_manager && stable.size() > 0 {
        return Err(ImageError::InUse);
    }
    *stable.borrow_mut() = bytes;
    crate::memory::reset_manager();
    crate::raw::reset_written();
    Ok(layout)
}

/// Writes this thread's stable memory to `path` atomically and durably
/// (a synced temporary file renamed over it), so that a failure or a crash
/// leaves any earlier file whole.
#[cfg(not(target_family = "wasm"))]
pub fn save_image(path: &std::path::Path) -> Result<(), ImageError> {
    let stable = crate::memory::stable_memory();
    let bytes = stable.borrow();
    backup_common::durable::write_atomically(path, bytes.as_slice()).map_err(|error| {
        ImageError::Io {
            path: error.path,
            source: error.source,
        }
    })
}

#[cfg(test)]
mod tests;
