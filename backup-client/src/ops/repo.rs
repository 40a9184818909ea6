//! Backups kept in a restic repository (`--repo`): dumps that download only
//! the blocks that changed since the repository's previous image of the
//! canister, images read back for `load`, files of a repository snapshot
//! fetched for `restore` and `snapshot upload`, folders saved whole.
//!
//! Each repository snapshot holds one canister's files under
//! `/<canister>`, its host is the network, and its tags say what it holds:
//! `ic-backup`, `kind=dump|backup|snapshot`, `canister=`, `network=`, `cut=`
//! (`consistent`, `paged` or `offline`), `module=` and, for a typed backup, `map=`.

use super::raw::{self, Manifest, MANIFEST_BLOCK};
use super::{notice, output};
use crate::durable;
use crate::error::{Error, Result};
use crate::progress;
use crate::resume::TargetId;
use crate::target::Target;
use backup_repo::{NewFile, NewSnapshot, Repo, Snapshot};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// A dump's image in its repository snapshot.
pub const IMAGE: &str = "stable_memory.dat";
/// Its manifest, beside it.
pub const MANIFEST: &str = "stable_memory.dat.sha256";

/// Which canister a repository snapshot holds, from which network, how cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub network: String,
    pub canister: String,
    pub cut: Cut,
    /// The SHA-256 of the canister's module, hex, where known.
    pub module: Option<String>,
}

/// How the data of a repository snapshot was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// From an IC snapshot of the running canister (`--consistent`).
    Consistent,
    /// From the running canister, page by page (or read by read): not one
    /// moment of it.
    Paged,
    /// From an image file or snapshot folder.
    Offline,
}

impl Origin {
    /// The origin of what a command reads from `id`: a live canister on
    /// `network`, or an image (named by its file's stem).
    pub fn of(id: &TargetId, network: &str, consistent: bool) -> Origin {
        match id {
            TargetId::Live { canister, .. } => Origin {
                network: network.to_string(),
                canister: canister.clone(),
                cut: if consistent {
                    Cut::Consistent
                } else {
                    Cut::Paged
                },
                module: None,
            },
            TargetId::Offline { image, .. } => {
                // The image of a snapshot folder is named by its folder.
                let folder = image
                    .parent()
                    .filter(|folder| folder.join("metadata.json").is_file());
                let named = match (image.file_name().and_then(|name| name.to_str()), folder) {
                    (Some("stable_memory.bin"), Some(folder)) => folder,
                    _ => image.as_path(),
                };
                let stem = named
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let canister = file_name_safe(&stem);
                Origin {
                    network: "offline".into(),
                    canister: if canister.is_empty() {
                        "image".into()
                    } else {
                        canister
                    },
                    cut: Cut::Offline,
                    module: None,
                }
            }
        }
    }

    /// The tags every snapshot of `kind` from this origin carries: the
    /// group an incremental dump finds its previous image in.
    pub fn group(&self, kind: &str) -> Vec<String> {
        vec![
            format!("kind={kind}"),
            format!("canister={}", self.canister),
            format!("network={}", self.network),
        ]
    }

    /// The same, with the module of the canister `target` runs (its hash
    /// tags the snapshots), where the target can tell it.
    pub fn with_module_of(mut self, target: &mut dyn Target) -> Result<Origin> {
        self.module = target.module_hash()?.map(hex::encode);
        Ok(self)
    }

    /// A new snapshot of `kind`, with `more` tags.
    fn snapshot(&self, kind: &str, more: &[String]) -> NewSnapshot {
        let cut = match self.cut {
            Cut::Consistent => "consistent",
            Cut::Paged => "paged",
            Cut::Offline => "offline",
        };
        let mut tags = vec!["ic-backup".to_string()];
        tags.extend(self.group(kind));
        tags.push(format!("cut={cut}"));
        if let Some(module) = &self.module {
            tags.push(format!("module={module}"));
        }
        tags.extend(more.iter().cloned());
        NewSnapshot {
            root: format!("/{}", self.canister),
            host: self.network.clone(),
            tags,
        }
    }
}

/// `text` with every character but ASCII letters, digits, `-`, `_` and `.`
/// replaced by `_`: a file name, a tag value.
pub fn file_name_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A dump of a repository snapshot: its image, opened, and its manifest,
/// which must be of the image's size.
fn open_dump(repo: &Repo, snapshot: &Snapshot) -> Result<(backup_repo::File, Manifest)> {
    let file = repo.open_file(snapshot, IMAGE)?;
    let manifest = read_manifest(repo, snapshot)?;
    if manifest.size != file.size {
        return Err(Error::Input(format!(
            "snapshot {}: its image is {} bytes, its manifest says {}",
            backup_repo::short(&snapshot.id),
            file.size,
            manifest.size
        )));
    }
    Ok((file, manifest))
}

/// The previous image of a canister in the repository, for an incremental
/// dump: its file and its manifest's block digests.
struct Base<'r> {
    repo: &'r Repo,
    snapshot: Snapshot,
    file: backup_repo::File,
    blocks: Vec<String>,
}

impl<'r> Base<'r> {
    /// The latest dump of the group, if it has one whose manifest is of
    /// `MANIFEST_BLOCK` blocks.
    fn latest(repo: &'r Repo, group: &[String], json: bool) -> Result<Option<Base<'r>>> {
        let Some(snapshot) = repo.snapshots(group)?.pop() else {
            return Ok(None);
        };
        let (file, manifest) = open_dump(repo, &snapshot)?;
        if manifest.block_size != MANIFEST_BLOCK {
            notice(
                json,
                &format!(
                    "snapshot {}'s manifest has blocks of {} bytes, not {MANIFEST_BLOCK}: every block is downloaded",
                    backup_repo::short(&snapshot.id),
                    manifest.block_size
                ),
            );
            return Ok(None);
        }
        Ok(Some(Base {
            repo,
            snapshot,
            file,
            blocks: manifest.blocks,
        }))
    }

    /// Whether block `i` of the base has the digest `digest`.
    fn has(&self, i: usize, digest: &[u8; 32]) -> bool {
        self.blocks
            .get(i)
            .is_some_and(|block| block.eq_ignore_ascii_case(&hex::encode(digest)))
    }
}

/// The manifest of a dump's repository snapshot.
pub fn read_manifest(repo: &Repo, snapshot: &Snapshot) -> Result<Manifest> {
    let file = repo.open_file(snapshot, MANIFEST)?;
    if file.size > 64 << 20 {
        return Err(Error::Input(format!(
            "snapshot {}: expected a manifest of at most 64 MiB, found {} bytes",
            backup_repo::short(&snapshot.id),
            file.size
        )));
    }
    let bytes = repo.read_at(&file, 0, file.size)?;
    let what = format!("snapshot {}:{MANIFEST}", backup_repo::short(&snapshot.id));
    Manifest::parse(&bytes, &what)
}

/// The image stream of an incremental dump: blocks checked against the
/// canister's digests, in order, into the archiver's pipe.
struct ImageStream<'a> {
    pipe: &'a mut std::io::PipeWriter,
    digests: &'a [[u8; 32]],
    size: u64,
    /// The next block to write.
    next: usize,
    whole: Sha256,
    downloaded: u64,
    reused: u64,
    bar: indicatif::ProgressBar,
}

impl ImageStream<'_> {
    /// Writes block `next`, after checking it is the block the canister's
    /// digest names.
    fn block(&mut self, bytes: &[u8], from: &str) -> Result<()> {
        let i = self.next;
        if Sha256::digest(bytes).as_slice() != self.digests[i] {
            return Err(Error::Mismatch(format!(
                "block {i} (offset {}) {from} does not have the digest the canister gave for it{}; nothing was saved",
                i as u64 * MANIFEST_BLOCK,
                if from == "as read" {
                    ": the canister changed it while it was dumped (dump with --consistent, or run again)"
                } else {
                    ""
                }
            )));
        }
        self.whole.update(bytes);
        self.pipe
            .write_all(bytes)
            .map_err(|source| Error::system("the repository's archiver stopped reading", source))?;
        self.next += 1;
        self.bar.inc(bytes.len() as u64);
        Ok(())
    }

    /// Writes the blocks up to `end` (not included) from the base.
    fn reuse_until(&mut self, base: Option<&Base>, end: usize) -> Result<()> {
        // Up to 16 blocks per read.
        while self.next < end {
            let base = base.ok_or_else(|| {
                Error::Mismatch("a block to reuse without a previous image".into())
            })?;
            let first = self.next;
            let count = (end - first).min(16);
            let from = first as u64 * MANIFEST_BLOCK;
            let to = ((first + count) as u64 * MANIFEST_BLOCK).min(self.size);
            let bytes = base.repo.read_at(&base.file, from, to - from)?;
            let from_what = format!("from snapshot {}", backup_repo::short(&base.snapshot.id));
            for block in bytes.chunks(MANIFEST_BLOCK as usize) {
                self.block(block, &from_what)?;
            }
            self.reused += to - from;
        }
        Ok(())
    }
}

/// `ic-backup dump --repo`: the canister's stable memory as one repository
/// snapshot (the image and its manifest), downloading only the blocks
/// whose digest differs from the repository's previous image of the same
/// canister and network; every block checked against the canister's digest.
pub fn dump_into(
    target: &mut dyn Target,
    repo: &Repo,
    origin: &Origin,
    parallel: usize,
    chunk: u64,
    json: bool,
) -> Result<()> {
    if !(MANIFEST_BLOCK..=backup_runtime::limits::MAX_RAW_READ).contains(&chunk) {
        return Err(Error::Input(format!(
            "expected --chunk-bytes between {MANIFEST_BLOCK} and {} with --repo, found {chunk}",
            backup_runtime::limits::MAX_RAW_READ
        )));
    }
    let origin = &origin.clone().with_module_of(target)?;
    let size = raw::stable_size(target)?;
    let digests = raw::live_digests(target, size, MANIFEST_BLOCK)?;
    let blocks = size.div_ceil(MANIFEST_BLOCK) as usize;
    if digests.len() != blocks {
        return Err(Error::Mismatch(format!(
            "expected {blocks} block digests of {size} bytes, the canister gave {}",
            digests.len()
        )));
    }
    let group = origin.group("dump");
    let base = Base::latest(repo, &group, json)?;
    let reuse: Vec<bool> = (0..blocks)
        .map(|i| base.as_ref().is_some_and(|base| base.has(i, &digests[i])))
        .collect();

    // Runs of blocks to download, each one `stable_read`.
    let per_read = (chunk / MANIFEST_BLOCK) as usize;
    let mut reads: Vec<(usize, usize)> = Vec::new();
    for i in (0..blocks).filter(|&i| !reuse[i]) {
        match reads.last_mut() {
            Some((first, count)) if *first + *count == i && *count < per_read => *count += 1,
            _ => reads.push((i, 1)),
        }
    }

    let mut manifest = Manifest {
        image: Some(IMAGE.into()),
        size,
        sha256: "0".repeat(64),
        block_size: MANIFEST_BLOCK,
        blocks: digests.iter().map(hex::encode).collect(),
    };
    let manifest_len = manifest_bytes(&manifest)?.len() as u64;
    let files = [
        NewFile {
            path: IMAGE.into(),
            size,
        },
        NewFile {
            path: MANIFEST.into(),
            size: manifest_len,
        },
    ];
    let mut counts = (0, 0);
    let saved = repo.save(&origin.snapshot("dump", &[]), &files, |pipes| {
        let Ok([mut image, mut manifest_pipe]) = <[std::io::PipeWriter; 2]>::try_from(pipes) else {
            return Err(Error::Input("expected two streams".into()));
        };
        let mut stream = ImageStream {
            pipe: &mut image,
            digests: &digests,
            size,
            next: 0,
            whole: Sha256::new(),
            downloaded: 0,
            reused: 0,
            bar: progress::bar(Some(size), "dump", true, json),
        };
        let mut calls = reads.iter().map(|&(first, count)| {
            let offset = first as u64 * MANIFEST_BLOCK;
            let length = ((first + count) as u64 * MANIFEST_BLOCK).min(size) - offset;
            Ok((
                "stable_read".to_string(),
                candid::encode_args((offset, length))?,
            ))
        });
        let mut pending = reads.iter();
        target.pipeline(&mut calls, parallel.max(1), &mut |reply| {
            let Some(&(first, count)) = pending.next() else {
                return Err(Error::Mismatch("a reply to no read".into()));
            };
            stream.reuse_until(base.as_ref(), first)?;
            let offset = first as u64 * MANIFEST_BLOCK;
            let length = ((first + count) as u64 * MANIFEST_BLOCK).min(size) - offset;
            let bytes = raw::read_reply(&reply, offset, length)?;
            for block in bytes.chunks(MANIFEST_BLOCK as usize) {
                stream.block(block, "as read")?;
            }
            stream.downloaded += length;
            Ok(())
        })?;
        stream.reuse_until(base.as_ref(), blocks)?;
        stream.bar.finish_and_clear();
        let whole = stream.whole.clone();
        counts = (stream.downloaded, stream.reused);
        // The image is whole: its end, before the manifest.
        drop(image);
        manifest.sha256 = hex::encode(whole.finalize());
        let text = manifest_bytes(&manifest)?;
        if text.len() as u64 != manifest_len {
            return Err(Error::Mismatch(format!(
                "the manifest came to {} bytes, {manifest_len} were announced",
                text.len()
            )));
        }
        manifest_pipe
            .write_all(&text)
            .map_err(|source| Error::system("the repository's archiver stopped reading", source))?;
        Ok(())
    })?;
    let (downloaded, reused) = counts;
    let added = saved.data_added_packed.unwrap_or(0);
    let share = |n: u64| {
        if size == 0 {
            0.0
        } else {
            n as f64 * 100.0 / size as f64
        }
    };
    let previous = base.as_ref().map(|base| base.snapshot.id.clone());
    output(
        json,
        json!({
            "repository": repo.location,
            "snapshot": saved.id,
            "bytes": size,
            "downloaded": downloaded,
            "reused": reused,
            "previous": previous,
            "repository_growth": added,
            "tags": saved.tags,
        }),
        || {
            format!(
                "{size} bytes -> snapshot {} of {}: {downloaded} bytes downloaded ({:.1}%), {reused} taken from {}; the repository grew by {added} bytes ({:.1}%)",
                backup_repo::short(&saved.id),
                repo.location,
                share(downloaded),
                previous
                    .as_deref()
                    .map_or("no earlier dump".to_string(), |id| format!("snapshot {}", backup_repo::short(id))),
                share(added)
            )
        },
    );
    Ok(())
}

fn manifest_bytes(manifest: &Manifest) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(manifest).map_err(|error| Error::system("writing a manifest", error))
}

/// A dump's image in a repository snapshot, read piece by piece for `load`.
pub struct RepoImage<'r> {
    repo: &'r Repo,
    file: backup_repo::File,
    name: String,
    manifest: Option<Manifest>,
}

impl<'r> RepoImage<'r> {
    /// The image of the dump `snapshot`.
    pub fn open(repo: &'r Repo, snapshot: &Snapshot) -> Result<Self> {
        let (file, manifest) = open_dump(repo, snapshot)?;
        Ok(RepoImage {
            repo,
            file,
            name: format!(
                "snapshot {}:{IMAGE} of {}",
                backup_repo::short(&snapshot.id),
                repo.location
            ),
            manifest: Some(manifest),
        })
    }
}

impl raw::Image for RepoImage<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn size(&self) -> u64 {
        self.file.size
    }

    fn read(&self, offset: u64, length: u64) -> Result<Vec<u8>> {
        let end = offset.saturating_add(length).min(self.file.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        Ok(self.repo.read_at(&self.file, offset, end - offset)?)
    }

    fn digests(&self, block: u64) -> Result<Vec<[u8; 32]>> {
        // The manifest's, when its blocks are these: each block read later
        // is checked by the repository (its chunks are content-addressed),
        // and the load verifies stable memory against them at its end.
        if let Some(manifest) = self.manifest.as_ref().filter(|m| m.block_size == block) {
            return manifest
                .blocks
                .iter()
                .map(|digest| {
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(digest, &mut bytes)
                        .map_err(|error| Error::Input(format!("a manifest digest: {error}")))?;
                    Ok(bytes)
                })
                .collect();
        }
        raw::digests_of(self, block)
    }
}

/// Writes the file `path` of a repository snapshot to `to`, atomically
/// (a temporary file, synced, renamed), reading 1 MiB at a time.
pub fn fetch(repo: &Repo, snapshot: &Snapshot, path: &str, to: &Path) -> Result<()> {
    let file = repo.open_file(snapshot, path)?;
    let partial = durable::with_suffix(to, ".partial");
    let mut out = std::fs::File::create(&partial).map_err(|source| Error::io(&partial, source))?;
    let mut offset = 0;
    while offset < file.size {
        let length = (file.size - offset).min(1 << 20);
        let bytes = repo.read_at(&file, offset, length)?;
        out.write_all(&bytes)
            .map_err(|source| Error::io(&partial, source))?;
        offset += length;
    }
    out.sync_all()
        .map_err(|source| Error::io(&partial, source))?;
    drop(out);
    durable::rename(&partial, to)
}

/// The repository `location` names (else `RESTIC_REPOSITORY`), with the
/// password of `password_file` (else `RESTIC_PASSWORD_FILE`, else
/// `RESTIC_PASSWORD`, else asked for at a terminal).
pub fn access(location: Option<&str>, password_file: Option<&Path>) -> Result<backup_repo::Access> {
    let location = location.filter(|location| !location.is_empty());
    Ok(backup_repo::Access::from_options(
        location,
        password_file,
        || {
            if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return None;
            }
            rpassword::prompt_password("Password of the repository: ").ok()
        },
    )?)
}

/// Opens the repository of [`access`].
pub fn open(location: Option<&str>, password_file: Option<&Path>) -> Result<Repo> {
    Ok(Repo::open(&access(location, password_file)?)?)
}

/// Every file under `dir` (recursively), by its path relative to `dir`
/// with `/` between folders, in order.
fn files_under(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut files = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|source| Error::io(&folder, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::io(&folder, source))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry
                .file_type()
                .map_err(|source| Error::io(&path, source))?;
            if kind.is_dir() {
                stack.push((format!("{prefix}{name}/"), path));
            } else if kind.is_file() {
                files.push((format!("{prefix}{name}"), path));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Saves files on disk (`(path in the snapshot, path on disk)`, any order)
/// as one repository snapshot of `kind` from `origin`, with `more` tags,
/// streamed from disk; prints what it saved.
pub fn save_files(
    repo: &Repo,
    origin: &Origin,
    kind: &str,
    more: &[String],
    files: &[(String, std::path::PathBuf)],
    json: bool,
) -> Result<Snapshot> {
    let mut files = files.to_vec();
    files.sort();
    let mut announced = Vec::new();
    for (name, path) in &files {
        let size = std::fs::metadata(path)
            .map_err(|source| Error::io(path, source))?
            .len();
        announced.push(NewFile {
            path: name.clone(),
            size,
        });
    }
    let total: u64 = announced.iter().map(|file| file.size).sum();
    let bar = progress::bar(Some(total), "saving", true, json);
    let saved = repo.save(&origin.snapshot(kind, more), &announced, |pipes| {
        for ((_, path), (mut pipe, file)) in files.iter().zip(pipes.into_iter().zip(&announced)) {
            let mut from = std::fs::File::open(path).map_err(|source| Error::io(path, source))?;
            let copied = std::io::copy(&mut (&mut from).take(file.size + 1), &mut pipe)
                .map_err(|source| Error::io(path, source))?;
            if copied != file.size {
                return Err(Error::Input(format!(
                    "{} changed while it was saved: {copied} bytes instead of {}; nothing was saved",
                    path.display(),
                    file.size
                )));
            }
            bar.inc(copied);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    output(
        json,
        json!({
            "repository": repo.location,
            "snapshot": saved.id,
            "files": announced.iter().map(|file| json!({ "path": file.path, "bytes": file.size })).collect::<Vec<_>>(),
            "bytes": total,
            "repository_growth": saved.data_added_packed,
            "tags": saved.tags,
        }),
        || {
            format!(
                "{total} bytes in {} files -> snapshot {} of {}; the repository grew by {} bytes",
                announced.len(),
                backup_repo::short(&saved.id),
                repo.location,
                saved.data_added_packed.unwrap_or(0)
            )
        },
    );
    Ok(saved)
}

/// Saves every file under `dir` as one repository snapshot (see [`save_files`]).
pub fn save_folder(
    repo: &Repo,
    origin: &Origin,
    kind: &str,
    more: &[String],
    dir: &Path,
    json: bool,
) -> Result<Snapshot> {
    save_files(repo, origin, kind, more, &files_under(dir)?, json)
}

/// Writes every file of a repository snapshot into the folder `to`
/// (created; each file written atomically), as it was under the snapshot's
/// root.
pub fn fetch_all(repo: &Repo, snapshot: &Snapshot, to: &Path) -> Result<()> {
    for file in repo.files(snapshot)? {
        if file
            .path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(Error::Input(format!(
                "snapshot {}: expected relative file names, found `{}`",
                backup_repo::short(&snapshot.id),
                file.path
            )));
        }
        let path = to.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::io(parent, source))?;
        }
        fetch(repo, snapshot, &file.path, &path)?;
    }
    Ok(())
}
