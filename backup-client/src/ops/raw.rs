//! Raw stable memory: `dump`, `load`, `verify`, and `inspect` of an image.

use super::{notice, output};
use crate::durable::{self, with_suffix};
use crate::error::{Error, Result};
use crate::progress;
use crate::resume::{PartialProgress, Resume, TargetId};
use crate::target::Target;
use backup_runtime::image::HEADER_LEN;
use backup_runtime::limits::{INGRESS_LIMIT, MAX_DIGEST_RANGE, MAX_RAW_READ, MIN_DIGEST_BLOCK};
use backup_runtime::{ImageError, Layout, MapHeader, Region};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The block size of a dump's manifest.
pub const MANIFEST_BLOCK: u64 = 64 * 1024;

pub(crate) fn stable_size(target: &mut dyn Target) -> Result<u64> {
    candid::decode_one(&target.query("stable_size", &candid::encode_args(())?)?)
        .map_err(Error::candid("the reply of `stable_size`"))
}

fn stable_read(target: &mut dyn Target, offset: u64, length: u64) -> Result<Vec<u8>> {
    let reply = target.query("stable_read", &candid::encode_args((offset, length))?)?;
    read_reply(&reply, offset, length)
}

/// The bytes of a `stable_read(offset, length)` reply, which must be all of them.
pub(crate) fn read_reply(reply: &[u8], offset: u64, length: u64) -> Result<Vec<u8>> {
    let bytes: serde_bytes::ByteBuf =
        candid::decode_one(reply).map_err(Error::candid("the reply of `stable_read`"))?;
    if bytes.len() as u64 != length {
        return Err(Error::Rejected {
            method: "stable_read".into(),
            message: format!(
                "expected {length} bytes at offset {offset}, found {}",
                bytes.len()
            ),
        });
    }
    Ok(bytes.into_vec())
}

/// An image read piece by piece, never whole: a file, or a dump in a
/// restic repository. A load of a 4 GiB image holds a block at a time.
pub trait Image {
    /// What to call it in messages.
    fn name(&self) -> String;
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// The bytes at `[offset, offset + length)`, cut at the end.
    fn read(&self, offset: u64, length: u64) -> Result<Vec<u8>>;
    /// The SHA-256 of each `block` of the image.
    fn digests(&self, block: u64) -> Result<Vec<[u8; 32]>> {
        digests_of(self, block)
    }
}

/// The SHA-256 of each `block` of `image`, read one block at a time.
pub(crate) fn digests_of<I: Image + ?Sized>(image: &I, block: u64) -> Result<Vec<[u8; 32]>> {
    let block = block.max(1);
    (0..image.size())
        .step_by(block as usize)
        .map(|offset| Ok(Sha256::digest(image.read(offset, block)?).into()))
        .collect()
}

/// An image file.
pub struct ImageFile<'a> {
    path: &'a Path,
    file: std::fs::File,
    pub len: u64,
}

impl<'a> ImageFile<'a> {
    pub fn open(path: &'a Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|source| Error::io(path, source))?;
        let len = file
            .metadata()
            .map_err(|source| Error::io(path, source))?
            .len();
        Ok(ImageFile { path, file, len })
    }
}

impl Image for ImageFile<'_> {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn size(&self) -> u64 {
        self.len
    }

    fn read(&self, offset: u64, length: u64) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let end = offset.saturating_add(length).min(self.len);
        let mut bytes = vec![0; end.saturating_sub(offset) as usize];
        self.file
            .read_exact_at(&mut bytes, offset)
            .map_err(|source| Error::io(self.path, source))?;
        Ok(bytes)
    }
}

fn check_block(block: u64, what: &str) -> Result<()> {
    if !(MIN_DIGEST_BLOCK..=MAX_DIGEST_RANGE).contains(&block) {
        return Err(Error::Input(format!(
            "expected {what} between {MIN_DIGEST_BLOCK} and {MAX_DIGEST_RANGE} bytes, found {block}"
        )));
    }
    Ok(())
}

/// `stable_digest` queries in flight at once: each hashes up to 16 MiB.
const DIGEST_PARALLEL: usize = 8;

/// The canister's digests of `[0, length)` in blocks of `block`.
///
/// Offline, where the target holds the stable memory, the canister is asked
/// for its first block's digest only (its guard decides who may, as for
/// every block) and the rest are hashed natively from the same bytes, when
/// that first digest is the canister's: the interpreter hashes some
/// 10 MiB/s, the native SHA-256 hundreds.
pub fn live_digests(target: &mut dyn Target, length: u64, block: u64) -> Result<Vec<[u8; 32]>> {
    check_block(block, "a digest block size")?;
    let held = target.stable_memory().map(|memory| memory.len() as u64);
    if held.is_some_and(|held| length > 0 && length <= held) {
        let first = canister_digests(target, block.min(length), block)?;
        if let Some(memory) = target.stable_memory() {
            let native: Vec<[u8; 32]> = memory[..length as usize]
                .chunks(block as usize)
                .map(|bytes| Sha256::digest(bytes).into())
                .collect();
            if native.first() == first.first() {
                return Ok(native);
            }
        }
    }
    canister_digests(target, length, block)
}

/// The canister's digests of `[0, length)` in blocks of `block`, asked for
/// in ranges of at most `MAX_DIGEST_RANGE` (`stable_digest`).
fn canister_digests(target: &mut dyn Target, length: u64, block: u64) -> Result<Vec<[u8; 32]>> {
    let range = MAX_DIGEST_RANGE - MAX_DIGEST_RANGE % block;
    let mut calls = (0..length).step_by(range as usize).map(|offset| {
        let arg = candid::encode_args((offset, range.min(length - offset), block))?;
        Ok(("stable_digest".to_string(), arg))
    });
    let mut digests = Vec::new();
    target.pipeline(&mut calls, DIGEST_PARALLEL, &mut |reply| {
        let blobs: Vec<serde_bytes::ByteBuf> =
            candid::decode_one(&reply).map_err(Error::candid("the reply of `stable_digest`"))?;
        for blob in blobs {
            let digest: [u8; 32] = blob.as_slice().try_into().map_err(|_| {
                Error::Input(format!(
                    "expected 32-byte digests, found {} bytes",
                    blob.len()
                ))
            })?;
            digests.push(digest);
        }
        Ok(())
    })?;
    Ok(digests)
}

/// A dump's manifest (`<image>.sha256`): the image's size, its SHA-256, and
/// the SHA-256 of each block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub image: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub block_size: u64,
    pub blocks: Vec<String>,
}

impl Manifest {
    /// Reads and checks a manifest; every mistake is an error that names the file.
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
        Manifest::parse(&bytes, &path.display().to_string())
    }

    /// Checks the manifest `bytes` of `what` (a file, a repository snapshot's file).
    pub fn parse(bytes: &[u8], what: &str) -> Result<Manifest> {
        let bad = |why: String| Error::Input(format!("{what}: not a manifest: {why}"));
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|error| {
            Error::file(
                Path::new(what),
                "a manifest (expected JSON with `size`, `sha256`, `block_size` and `blocks`)",
                error,
            )
        })?;
        if !(MIN_DIGEST_BLOCK..=MAX_DIGEST_RANGE).contains(&manifest.block_size) {
            return Err(bad(format!(
                "expected a block_size between {MIN_DIGEST_BLOCK} and {MAX_DIGEST_RANGE}, found {}",
                manifest.block_size
            )));
        }
        let expected = manifest.size.div_ceil(manifest.block_size);
        if manifest.blocks.len() as u64 != expected {
            return Err(bad(format!(
                "expected {expected} block digests for {} bytes in blocks of {}, found {}",
                manifest.size,
                manifest.block_size,
                manifest.blocks.len()
            )));
        }
        let is_digest =
            |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_digest(&manifest.sha256) {
            return Err(bad("expected `sha256` to be 64 hex digits".into()));
        }
        if let Some(i) = manifest.blocks.iter().position(|block| !is_digest(block)) {
            return Err(bad(format!(
                "expected block {i}'s digest to be 64 hex digits"
            )));
        }
        Ok(manifest)
    }

    /// The manifest of the image file at `path`, read block by block.
    fn of_file(path: &Path) -> Result<Manifest> {
        let io = |source| Error::io(path, source);
        let mut file =
            std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).map_err(io)?);
        let (mut whole, mut blocks, mut size) = (Sha256::new(), Vec::new(), 0u64);
        let mut block = vec![0u8; MANIFEST_BLOCK as usize];
        loop {
            let mut filled = 0;
            while filled < block.len() {
                let n = file.read(&mut block[filled..]).map_err(io)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            whole.update(&block[..filled]);
            blocks.push(super::sha256_hex(&block[..filled]));
            size += filled as u64;
            if filled < block.len() {
                break;
            }
        }
        Ok(Manifest {
            image: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            size,
            sha256: hex::encode(whole.finalize()),
            block_size: MANIFEST_BLOCK,
            blocks,
        })
    }
}

/// Writes the manifest of `data` (the finished dump, not yet at its final
/// name) beside `image`, atomically.
fn write_manifest(image: &Path, data: &Path) -> Result<PathBuf> {
    let path = with_suffix(image, ".sha256");
    let mut manifest = Manifest::of_file(data)?;
    manifest.image = image.file_name().map(|n| n.to_string_lossy().into_owned());
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|error| Error::file(&path, "a manifest", error))?;
    durable::write_atomically(&path, &text)?;
    Ok(path)
}

/// What a dump is bound to: the same canister (offline, the same image
/// unchanged), the same size of stable memory, the same output file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct DumpBinding {
    target: TargetId,
    output: PathBuf,
    size: u64,
}

/// The first `done` bytes of the partial file are durable and hash to `partial_sha256`.
#[derive(Debug, Serialize, Deserialize)]
struct DumpProgress {
    done: u64,
    partial_sha256: String,
}

impl PartialProgress for DumpProgress {
    fn prefixes(&self) -> Vec<(u64, &str)> {
        vec![(self.done, &self.partial_sha256)]
    }
}

pub fn dump(
    target: &mut dyn Target,
    output_path: &Path,
    parallel: usize,
    chunk: u64,
    stop_after: Option<usize>,
    json: bool,
) -> Result<()> {
    if chunk == 0 || chunk > MAX_RAW_READ {
        return Err(Error::Input(format!(
            "expected --chunk-bytes between 1 and {MAX_RAW_READ}, found {chunk}"
        )));
    }
    let parallel = parallel.max(1);
    let size = stable_size(target)?;
    let partial = with_suffix(output_path, ".partial");
    let binding = DumpBinding {
        target: target.id(),
        output: durable::absolute(output_path),
        size,
    };
    let (state, start) = Resume::<DumpBinding, DumpProgress>::open(
        &with_suffix(output_path, ".progress"),
        "dump",
        &binding,
    )?;
    // Another run's files are never cleared: its state's lock is ours now.
    durable::clear_stale(output_path)?;
    durable::clear_stale(&with_suffix(output_path, ".sha256"))?;
    // A recorded length past the memory's size is not a dump of it.
    let resumed = start
        .over_partial(&partial, json)?
        .filter(|(progress, _)| progress.done <= size)
        .map(|(progress, hasher)| (progress.done, hasher));
    let (mut done, mut hasher) = resumed.unwrap_or((0, Sha256::new()));
    let mut file = durable::open_partial(&partial, done)?;

    let bar = progress::bar(Some(size), "dump", true, json);
    bar.set_position(done);
    let first = done;
    let mut calls = (first..size)
        .step_by(chunk as usize)
        .take(stop_after.unwrap_or(usize::MAX))
        .map(|offset| {
            let arg = candid::encode_args((offset, chunk.min(size - offset)))?;
            Ok(("stable_read".to_string(), arg))
        });
    // Progress is recorded every `parallel` chunks, after the file is synced.
    let record = |file: &std::fs::File, done: u64, hasher: &Sha256| -> Result<()> {
        file.sync_data()
            .map_err(|source| Error::io(&partial, source))?;
        state.save(
            &binding,
            &DumpProgress {
                done,
                partial_sha256: hex::encode(hasher.clone().finalize()),
            },
        )
    };
    let mut unrecorded = 0;
    let read = target.pipeline(&mut calls, parallel, &mut |reply| {
        let bytes = read_reply(&reply, done, chunk.min(size - done))?;
        file.write_all(&bytes)
            .map_err(|source| Error::io(&partial, source))?;
        hasher.update(&bytes);
        done += bytes.len() as u64;
        unrecorded += 1;
        if unrecorded == parallel {
            record(&file, done, &hasher)?;
            unrecorded = 0;
            bar.set_position(done);
        }
        Ok(())
    });
    // What arrived before a failure is kept for the next run.
    if done > first {
        record(&file, done, &hasher)?;
    }
    read?;
    if done < size {
        bar.abandon();
        return Err(Error::Stopped(format!(
            "stopped after {} reads as asked; run the same command again to resume at byte {done}",
            stop_after.unwrap_or(0)
        )));
    }
    file.sync_all()
        .map_err(|source| Error::io(&partial, source))?;
    drop(file);
    bar.finish_and_clear();
    let manifest = write_manifest(output_path, &partial)?;
    durable::rename(&partial, output_path)?;
    state.remove()?;
    output(
        json,
        json!({ "image": output_path, "bytes": size, "manifest": manifest }),
        || {
            format!(
                "{size} bytes -> {} (manifest {})",
                output_path.display(),
                manifest.display()
            )
        },
    );
    Ok(())
}

/// What a memory of an image holds, for comparing two images' maps.
type Maps = BTreeMap<u8, std::result::Result<MapHeader, String>>;

/// The map header (or what is there instead) of every memory with a size,
/// read through `read(offset, length)`.
fn maps_of(layout: &Layout, read: &mut dyn FnMut(u64, u64) -> Result<Vec<u8>>) -> Result<Maps> {
    let mut maps = Maps::new();
    for memory in &layout.memories {
        let Some(start) = layout.memory_start(memory.id) else {
            continue;
        };
        let header = read(start, MapHeader::LEN as u64)?;
        maps.insert(
            memory.id,
            MapHeader::parse(memory.id, &header).map_err(|error| match error {
                ImageError::NotAMap { found, .. } => found,
                other => other.to_string(),
            }),
        );
    }
    Ok(maps)
}

fn describe_map(map: Option<&std::result::Result<MapHeader, String>>) -> String {
    match map {
        None => "nothing".into(),
        Some(Ok(header)) => format!(
            "a StableBTreeMap v{} (layout {}, {} entries)",
            header.version,
            hex::encode(header.layout),
            header.len
        ),
        Some(Err(found)) => format!("something that is not a StableBTreeMap ({found})"),
    }
}

/// Where the image's maps differ from the canister's: memory ids, layout
/// versions, key and value layout.
fn map_differences(live: &Maps, image: &Maps) -> Vec<String> {
    let ids: std::collections::BTreeSet<u8> = live.keys().chain(image.keys()).copied().collect();
    ids.into_iter()
        .filter_map(|id| {
            let (a, b) = (live.get(&id), image.get(&id));
            let same = match (a, b) {
                (Some(Ok(a)), Some(Ok(b))) => a.version == b.version && a.layout == b.layout,
                // Neither holds a map: nothing the typed side relies on.
                (Some(Err(_)) | None, Some(Err(_)) | None) => true,
                _ => false,
            };
            (!same).then(|| {
                format!(
                    "memory {id}: the canister holds {}, the image {}",
                    describe_map(a),
                    describe_map(b)
                )
            })
        })
        .collect()
}

/// How `ic-backup load` runs.
pub struct LoadOptions<'a> {
    /// The image to load: a file, or a dump in a repository.
    pub input: &'a dyn Image,
    pub base: Option<&'a Path>,
    pub block: u64,
    /// Load even a file that is not an image, or whose maps differ.
    pub force: bool,
    /// Do not ask for confirmation.
    pub yes: bool,
    pub json: bool,
}

/// Checks the image against the canister: a `MemoryManager` image whose
/// maps match the canister's, unless forced.
fn check_image(
    target: &mut dyn Target,
    image: &dyn Image,
    live_size: u64,
    force: bool,
) -> Result<Option<Layout>> {
    let refuse = |why: String| {
        Error::Input(format!(
            "{}: {why}. Nothing was written; pass --force to load it anyway",
            image.name()
        ))
    };
    let head = image.read(0, HEADER_LEN as u64)?;
    let layout = match Layout::parse_header(&head, image.size()) {
        Ok(layout) => layout,
        Err(error) if force => {
            notice(
                false,
                &format!("warning (--force): {}: {error}", image.name()),
            );
            return Ok(None);
        }
        Err(error) => return Err(refuse(error.to_string())),
    };
    if live_size == 0 {
        return Ok(Some(layout));
    }
    let head = stable_read(target, 0, (HEADER_LEN as u64).min(live_size))?;
    let live_layout = match Layout::parse_header(&head, live_size) {
        Ok(live) => live,
        Err(error) if force => {
            notice(false, &format!("warning (--force): the canister's stable memory: {error}"));
            return Ok(Some(layout));
        }
        Err(error) => {
            return Err(refuse(format!(
                "the canister's stable memory is {error}, so there is nothing to check the image against"
            )))
        }
    };
    let live_maps = maps_of(&live_layout, &mut |offset, length| {
        stable_read(target, offset, length)
    })?;
    let image_maps = maps_of(&layout, &mut |offset, length| image.read(offset, length))?;
    let differences = map_differences(&live_maps, &image_maps);
    if !differences.is_empty() {
        if force {
            notice(
                false,
                &format!(
                    "warning (--force): the maps differ: {}",
                    differences.join("; ")
                ),
            );
        } else {
            return Err(refuse(format!(
                "its maps differ from the canister's: {}",
                differences.join("; ")
            )));
        }
    }
    Ok(Some(layout))
}

/// Which parts of the image the changed blocks fall in, with counts.
fn touched(layout: Option<&Layout>, changed: &[usize], block: u64) -> BTreeMap<String, usize> {
    let mut parts = BTreeMap::new();
    for &i in changed {
        let part = match layout.map(|layout| layout.owner_of(i as u64 * block)) {
            None => "unknown (not an image)".to_string(),
            Some(Region::Header) => "the MemoryManager header".to_string(),
            Some(Region::Memory(id)) => format!("memory {id}"),
            Some(Region::Unallocated) => "unallocated space".to_string(),
        };
        *parts.entry(part).or_insert(0) += 1;
    }
    parts
}

fn confirm(question: &str) -> Result<()> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return Err(Error::Input(format!(
            "{question} Pass --yes to confirm when not at a terminal; nothing was written"
        )));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| Error::io(Path::new("<stdin>"), source))?;
    match answer.trim().to_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Error::Input("not confirmed; nothing was written".into())),
    }
}

pub fn load(target: &mut dyn Target, options: LoadOptions) -> Result<()> {
    let LoadOptions {
        input,
        base,
        block,
        force,
        yes,
        json,
    } = options;
    if block < MIN_DIGEST_BLOCK || block > MAX_RAW_READ.min(INGRESS_LIMIT as u64 / 2) {
        return Err(Error::Input(format!(
            "expected --block-bytes between {MIN_DIGEST_BLOCK} and {}, found {block}",
            MAX_RAW_READ.min(INGRESS_LIMIT as u64 / 2)
        )));
    }
    let image = input;
    let live_size = stable_size(target)?;
    if image.size() < live_size {
        return Err(Error::Input(format!(
            "{} is {} bytes but stable memory is {live_size}: stable memory cannot shrink, so the image cannot replace it",
            image.name(),
            image.size()
        )));
    }
    let layout = check_image(target, image, live_size, force)?;
    let wanted = image.digests(block)?;
    let current = match base {
        Some(base) => ImageFile::open(base)?.digests(block)?,
        None => live_digests(target, live_size, block)?,
    };
    let changed: Vec<usize> = (0..wanted.len())
        .filter(|&i| current.get(i) != Some(&wanted[i]))
        .collect();
    let parts = touched(layout.as_ref(), &changed, block);
    let plan: Vec<String> = parts
        .iter()
        .map(|(part, blocks)| format!("{part} ({blocks} blocks)"))
        .collect();
    if !changed.is_empty() && !yes {
        confirm(&format!(
            "Write {} of {} blocks ({} bytes) of {} over the canister's stable memory, in {}?",
            changed.len(),
            wanted.len(),
            changed.len() as u64 * block,
            image.name(),
            plan.join(", ")
        ))?;
    }

    // Adjacent changed blocks travel together, up to what one ingress message
    // carries; in ascending order, so memory grows from its end, never with a hole.
    let per_call = (crate::target::CALL_BUDGET as u64 / block).max(1) as usize;
    let mut writes: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        match writes.last_mut() {
            Some((start, count)) if *start + *count == i && *count < per_call => *count += 1,
            _ => writes.push((i, 1)),
        }
    }
    let bar = progress::bar(Some(changed.len() as u64 * block), "load", true, json);
    let mut sent = 0u64;
    for (start, count) in &writes {
        let from = *start as u64 * block;
        let to = (from + *count as u64 * block).min(image.size());
        let data = serde_bytes::ByteBuf::from(image.read(from, to - from)?);
        target.update("stable_write", &candid::encode_args((from, data))?)?;
        sent += to - from;
        bar.inc(to - from);
    }
    bar.finish_and_clear();

    let after = live_digests(target, image.size(), block)?;
    if after != wanted {
        let differing = after.iter().zip(&wanted).filter(|(a, b)| a != b).count();
        return Err(Error::Mismatch(format!(
            "after the load {differing} blocks of stable memory still differ from {}",
            image.name()
        )));
    }
    output(
        json,
        json!({ "blocks": wanted.len(), "changed": changed.len(), "bytes_sent": sent, "calls": writes.len(), "touched": parts, "verified": true, "next_step": "upgrade the canister so that it reloads its heap from stable memory; its typed endpoints refuse until then" }),
        || {
            format!(
                "{} of {} blocks differed ({}); sent {sent} bytes in {} calls; stable memory now matches {}.\n\
                 Upgrade the canister now (for example `dfx canister install --mode upgrade`) so that it reloads its heap from the new stable memory; its typed endpoints refuse until then.",
                changed.len(),
                wanted.len(),
                if plan.is_empty() { "nothing".to_string() } else { plan.join(", ") },
                writes.len(),
                image.name()
            )
        },
    );
    Ok(())
}

pub fn verify(target: &mut dyn Target, manifest_path: &Path, json: bool) -> Result<()> {
    let manifest = Manifest::read(manifest_path)?;
    let (size, block) = (manifest.size, manifest.block_size);
    let live_size = stable_size(target)?;
    if live_size != size {
        return Err(Error::Mismatch(format!(
            "stable memory is {live_size} bytes, the manifest says {size}"
        )));
    }
    let live = live_digests(target, size, block)?;
    let differing: Vec<usize> = (0..manifest.blocks.len())
        .filter(|&i| {
            !manifest.blocks[i]
                .eq_ignore_ascii_case(&hex::encode(live.get(i).copied().unwrap_or_default()))
        })
        .collect();
    if !differing.is_empty() {
        let first: Vec<String> = differing
            .iter()
            .take(10)
            .map(|i| format!("{}", *i as u64 * block))
            .collect();
        return Err(Error::Mismatch(format!(
            "{} of {} blocks differ from the manifest (first at offsets {})",
            differing.len(),
            manifest.blocks.len(),
            first.join(", ")
        )));
    }
    output(
        json,
        json!({ "verified": true, "blocks": manifest.blocks.len(), "size": size }),
        || {
            format!(
                "stable memory matches {} ({} blocks)",
                manifest_path.display(),
                manifest.blocks.len()
            )
        },
    );
    Ok(())
}

/// The layout of the image file `image`, from its first bytes; a file that
/// is not an image is an error that names it.
fn read_layout(image: &ImageFile) -> Result<Layout> {
    let head = image.read(0, HEADER_LEN as u64)?;
    Layout::parse_header(&head, image.len)
        .map_err(|error| Error::Input(format!("{}: {error}", image.name())))
}

/// Which structure of ic-stable-structures (0.5 to 0.7) a virtual memory
/// starting with `head` holds, other than a map, with what its header says
/// of its size; null for anything else.
fn structure_of(head: &[u8]) -> Value {
    let u32_at = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        head.get(at..at + 8).map(|b| {
            let mut le = [0u8; 8];
            le.copy_from_slice(b);
            u64::from_le_bytes(le)
        })
    };
    let version = head.get(3).copied();
    match head.get(..3) {
        Some(b"SCL") => {
            json!({ "kind": "StableCell", "version": version, "value_bytes": u32_at(4) })
        }
        Some(magic @ (b"SVC" | b"SMH")) => json!({
            "kind": if magic == b"SVC" { "StableVec" } else { "StableMinHeap" },
            "version": version,
            "elements": u64_at(4),
            "max_element_bytes": u32_at(12),
            "fixed_size": head.get(16).map(|&b| b != 0),
        }),
        Some(b"GLI") => {
            json!({ "kind": "StableLog index", "version": version, "entries": u64_at(32) })
        }
        Some(b"GLD") => json!({ "kind": "StableLog data", "version": version }),
        _ => Value::Null,
    }
}

/// What `inspect` reports of the image file at `path`: its layout and what
/// each memory holds. Only the headers are read, so an image of any size is
/// described at once; a file that is not an image is an error naming it.
pub fn describe_image(path: &Path) -> Result<Value> {
    let image = ImageFile::open(path)?;
    let layout = read_layout(&image)?;
    let maps = maps_of(&layout, &mut |offset, length| image.read(offset, length))?;
    let mut memories = Vec::new();
    for memory in &layout.memories {
        let map = match maps.get(&memory.id) {
            Some(Ok(header)) => {
                let mut map = json!({ "version": header.version, "entries": header.len, "root": header.root_addr });
                if header.version == 1 {
                    let u32_at = |at: usize| {
                        u32::from_le_bytes([
                            header.layout[at],
                            header.layout[at + 1],
                            header.layout[at + 2],
                            header.layout[at + 3],
                        ])
                    };
                    map["v1_slots"] =
                        json!({ "max_key_size": u32_at(0), "max_value_size": u32_at(4) });
                }
                map
            }
            None => Value::Null,
            Some(Err(found)) => json!({ "not_a_map": found }),
        };
        // Another structure of ic-stable-structures, by its magic.
        let structure = match (&map, layout.memory_start(memory.id)) {
            (Value::Object(found), Some(start)) if found.contains_key("not_a_map") => {
                structure_of(&image.read(start, 40)?)
            }
            _ => Value::Null,
        };
        memories.push(json!({
            "id": memory.id,
            "pages": memory.size_pages,
            "bytes": memory.size_pages * 65536,
            "buckets": memory.buckets,
            "btreemap": map,
            "structure": structure,
        }));
    }
    Ok(json!({
        "image": path,
        "bytes": layout.image_len,
        "bucket_size_pages": layout.bucket_size_pages,
        "allocated_buckets": layout.allocated_buckets,
        "memories": memories,
    }))
}

/// `inspect`: what the image or snapshot folder at `path` holds, or with
/// `layout` a layout file proposed from it (the module, a snapshot
/// folder's or `wasm`, settles what a derived canister's carries).
pub fn inspect(path: &Path, layout: bool, wasm: Option<&Path>, json: bool) -> Result<()> {
    // A snapshot folder: its stable memory.
    let (stable, module);
    let (path, module_path) = if path.is_dir() {
        let snapshot = crate::snapshot::Snapshot::open(path)?;
        (stable, module) = (snapshot.stable_memory(), snapshot.wasm());
        (stable.as_path(), Some(module.as_path()))
    } else {
        (path, wasm)
    };
    let summary = describe_image(path)?;
    if layout {
        let module = module_path
            .map(|path| std::fs::read(path).map_err(|source| Error::io(path, source)))
            .transpose()?;
        let text = crate::layout::propose(&summary, module.as_deref())?;
        output(json, json!({ "layout": text }), || {
            text.trim_end().to_string()
        });
        return Ok(());
    }
    output(json, summary.clone(), || {
        let mut text = format!(
            "{}: {} bytes, MemoryManager v1, {} buckets of {} pages\n\n{:>4}  {:>10}  {:>8}  {}\n",
            path.display(),
            summary["bytes"],
            summary["allocated_buckets"],
            summary["bucket_size_pages"],
            "id",
            "bytes",
            "buckets",
            "contents"
        );
        for memory in summary["memories"].as_array().into_iter().flatten() {
            let structure = &memory["structure"];
            let contents = match &memory["btreemap"] {
                Value::Null => "empty".to_string(),
                _ if !structure.is_null() => match structure["kind"].as_str() {
                    Some("StableCell") => {
                        format!("StableCell, a value of {} bytes", structure["value_bytes"])
                    }
                    Some(kind @ ("StableVec" | "StableMinHeap")) => format!(
                        "{kind}, {} elements of at most {} bytes",
                        structure["elements"], structure["max_element_bytes"]
                    ),
                    Some("StableLog index") => {
                        format!("StableLog index, {} entries", structure["entries"])
                    }
                    Some(kind) => kind.to_string(),
                    None => "?".to_string(),
                },
                map if map.get("not_a_map").is_some() => {
                    format!("not a StableBTreeMap ({})", map["not_a_map"])
                }
                map if map.get("v1_slots").is_some() => format!(
                    "StableBTreeMap v1, {} entries; V1 slots: keys up to {} bytes, values up to {}",
                    map["entries"],
                    map["v1_slots"]["max_key_size"],
                    map["v1_slots"]["max_value_size"]
                ),
                map => format!(
                    "StableBTreeMap v{}, {} entries",
                    map["version"], map["entries"]
                ),
            };
            let buckets = memory["buckets"].as_array().map_or(0, Vec::len);
            let (id, bytes) = (
                memory["id"].as_u64().unwrap_or(0),
                memory["bytes"].as_u64().unwrap_or(0),
            );
            text.push_str(&format!("{id:>4}  {bytes:>10}  {buckets:>8}  {contents}\n"));
        }
        let v1: Vec<String> = summary["memories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|memory| memory["btreemap"].get("v1_slots").is_some())
            .map(|memory| memory["id"].to_string())
            .collect();
        if !v1.is_empty() {
            let (memories, holds) = if v1.len() == 1 {
                ("Memory", "holds a map")
            } else {
                ("Memories", "hold maps")
            };
            text.push_str(&format!(
                "\n{memories} {} {holds} in the V1 layout, which ic-stable-structures 0.5 and earlier wrote: each key and value has a slot of the size above. Reading and backing it up are safe, and so are writes that fit the slots (ic-backup's restore refuses any other). A larger key or value written by ic-stable-structures 0.6 or later, the canister's own updates included, overwrites what follows it: the map is corrupt. To lift the bounds, rewrite the map in the current layout: `ic-backup migrate <map>` (a verified backup, clear and restore).\n",
                v1.join(", ")
            ));
        }
        text.trim_end().to_string()
    });
    Ok(())
}

#[cfg(test)]
mod tests;
