//! Backups kept in a restic repository (see the README): [`Repo::save`]
//! streams files into one tagged snapshot, written only when all of them
//! arrived whole; [`Repo::find`] and [`Repo::open_file`] read them back.

mod error;
mod gate;
mod source;

pub use error::{Error, Kind, Result};

use gate::Gate;
use rustic_backend::BackendOptions;
use rustic_core::repofile::SnapshotFile;
use rustic_core::{
    BackupOptions, ConfigOptions, Credentials, IndexedFullStatus, KeyOptions, Repository,
    RepositoryBackends, RepositoryOptions, SnapshotOptions,
};
use std::io::PipeWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The chunk size of repositories `init` creates: a dump's block.
pub const CHUNK: u64 = 64 * 1024;

/// Where a repository is and its password.
#[derive(Clone)]
pub struct Access {
    pub location: String,
    password: String,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Access {
    pub fn new(location: String, password: String) -> Self {
        Access { location, password }
    }

    /// The repository the options name, else restic's environment:
    /// `RESTIC_REPOSITORY` (or the first line of `RESTIC_REPOSITORY_FILE`),
    /// the password from `password_file`, else `RESTIC_PASSWORD_FILE`,
    /// else `RESTIC_PASSWORD`, else `ask` (at a terminal).
    pub fn from_options(
        location: Option<&str>,
        password_file: Option<&Path>,
        ask: impl FnOnce() -> Option<String>,
    ) -> Result<Access> {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let location = match location {
            Some(location) => location.to_string(),
            None => match (env("RESTIC_REPOSITORY"), env("RESTIC_REPOSITORY_FILE")) {
                (Some(location), _) => location,
                (None, Some(file)) => first_line(Path::new(&file), "RESTIC_REPOSITORY_FILE")?,
                (None, None) => {
                    return Err(Error::input(
                        "expected a repository: --repo <location> or RESTIC_REPOSITORY",
                    ))
                }
            },
        };
        let password = match password_file {
            Some(file) => first_line(file, "--repo-password-file")?,
            None => match (env("RESTIC_PASSWORD_FILE"), env("RESTIC_PASSWORD")) {
                (Some(file), _) => first_line(Path::new(&file), "RESTIC_PASSWORD_FILE")?,
                (None, Some(password)) => password,
                (None, None) => ask().ok_or_else(|| {
                    Error::input(
                        "expected the repository's password: --repo-password-file <file>, RESTIC_PASSWORD_FILE or RESTIC_PASSWORD",
                    )
                })?,
            },
        };
        Ok(Access { location, password })
    }
}

/// The first line of a file (a password, a location), without its end of line.
fn first_line(path: &Path, what: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        Error::input(format!("{what}: cannot read {}: {error}", path.display()))
    })?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Error::input(format!(
            "{what}: expected a line in {}, found an empty file",
            path.display()
        )));
    }
    Ok(line.to_string())
}

/// How a new repository cuts files into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunker {
    /// Fixed 64 KiB chunks, the blocks of a dump's manifest: a changed block
    /// costs one chunk.
    Fixed,
    /// restic's content-defined chunks (Rabin, about 1 MiB), as `restic init`.
    Rabin,
}

/// One repository snapshot, as listed.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Its id, 64 hex digits (restic shows the first 8).
    pub id: String,
    /// When it was taken, RFC 3339.
    pub time: String,
    pub host: String,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    /// Bytes of new data it added to the repository (before compression), if recorded.
    pub data_added: Option<u64>,
    /// Bytes of new data it added, as stored (compressed, encrypted), if recorded.
    pub data_added_packed: Option<u64>,
    file: SnapshotFile,
}

impl Snapshot {
    fn of(file: SnapshotFile) -> Snapshot {
        Snapshot {
            id: file.id.to_string(),
            time: file.time.timestamp().to_string(),
            host: file.hostname.clone(),
            paths: file.paths.iter().cloned().collect(),
            tags: file.tags.iter().cloned().collect(),
            data_added: file.summary.as_ref().map(|summary| summary.data_added),
            data_added_packed: file
                .summary
                .as_ref()
                .map(|summary| summary.data_added_packed),
            file,
        }
    }

    /// The value of its tag `key=value`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find_map(|tag| {
            tag.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
        })
    }
}

/// A snapshot to save: the folder its files go in, its host and tags.
#[derive(Clone, Debug)]
pub struct NewSnapshot {
    /// An absolute path, the snapshot's one path (`/<canister id>`).
    pub root: String,
    pub host: String,
    /// Tags, `key=value` by convention; no commas.
    pub tags: Vec<String>,
}

/// A file of a snapshot to save: its path under the root and its size,
/// which the stream written for it must have.
#[derive(Clone, Debug)]
pub struct NewFile {
    pub path: String,
    pub size: u64,
}

/// A file of a snapshot, opened for reading at any offset.
pub struct File {
    open: rustic_core::vfs::OpenFile,
    pub size: u64,
}

/// An open repository.
pub struct Repo {
    repo: Repository<IndexedFullStatus>,
    gate: Arc<Gate>,
    pub location: String,
}

impl Repo {
    fn backends(access: &Access) -> Result<(RepositoryBackends, Arc<Gate>)> {
        let backends = BackendOptions::default()
            .repository(&access.location)
            .to_backends()
            .map_err(|error| Error::rustic(&access.location, &error))?;
        let gate = Arc::new(Gate::new(backends.repository()));
        Ok((RepositoryBackends::new(gate.clone(), None), gate))
    }

    fn options() -> RepositoryOptions {
        let mut options = RepositoryOptions::default();
        // Nothing of a repository is kept outside it.
        options.no_cache = true;
        options
    }

    /// Creates a repository at `access.location`, which must not hold one.
    pub fn init(access: &Access, chunker: Chunker) -> Result<()> {
        let (backends, _) = Self::backends(access)?;
        let repo = Repository::new(&Self::options(), &backends)
            .map_err(|error| Error::rustic(&access.location, &error))?;
        if repo
            .config_id()
            .map_err(|error| Error::rustic(&access.location, &error))?
            .is_some()
        {
            return Err(Error::input(format!(
                "{}: expected no repository there, found one (it was left as it is)",
                access.location
            )));
        }
        let mut config = ConfigOptions::default();
        if chunker == Chunker::Fixed {
            config.set_chunker = Some("fixed_size".parse().map_err(Error::internal)?);
            config.set_chunk_size = Some(bytesize(CHUNK).parse().map_err(Error::internal)?);
        }
        repo.init(
            &Credentials::Password(access.password.clone()),
            &KeyOptions::default(),
            &config,
        )
        .map_err(|error| Error::rustic(&access.location, &error))?;
        Ok(())
    }

    /// Opens the repository at `access.location` with its password, and
    /// reads its index.
    pub fn open(access: &Access) -> Result<Repo> {
        let (backends, gate) = Self::backends(access)?;
        let fail = |error: Box<rustic_core::RusticError>| Error::rustic(&access.location, &error);
        let repo = Repository::new(&Self::options(), &backends).map_err(fail)?;
        if repo.config_id().map_err(fail)?.is_none() {
            return Err(Error::new(
                Kind::Missing,
                format!(
                    "{}: expected a restic repository, found none (create one with `ic-backup repo init --repo {}`)",
                    access.location, access.location
                ),
            ));
        }
        let repo = repo
            .open(&Credentials::Password(access.password.clone()))
            .map_err(fail)?
            .to_indexed()
            .map_err(fail)?;
        Ok(Repo {
            repo,
            gate,
            location: access.location.clone(),
        })
    }

    fn fail(&self) -> impl Fn(Box<rustic_core::RusticError>) -> Error + '_ {
        |error| Error::rustic(&self.location, &error)
    }

    /// The snapshots that carry every tag of `tags`, oldest first.
    pub fn snapshots(&self, tags: &[String]) -> Result<Vec<Snapshot>> {
        let mut snapshots = self
            .repo
            .get_matching_snapshots(|snapshot| tags.iter().all(|tag| snapshot.tags.contains(tag)))
            .map_err(self.fail())?;
        snapshots.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
        Ok(snapshots.into_iter().map(Snapshot::of).collect())
    }

    /// The snapshot `spec` names among those that carry every tag of
    /// `tags`: `latest`, or an id or the start of one (at least 4 hex
    /// digits, naming one snapshot).
    pub fn find(&self, spec: &str, tags: &[String]) -> Result<Snapshot> {
        let snapshots = self.snapshots(tags)?;
        let wanted = || {
            if tags.is_empty() {
                String::new()
            } else {
                format!(" tagged {}", tags.join(", "))
            }
        };
        if spec == "latest" {
            return snapshots.into_iter().next_back().ok_or_else(|| {
                Error::new(
                    Kind::Missing,
                    format!(
                        "{}: expected a snapshot{}, found none",
                        self.location,
                        wanted()
                    ),
                )
            });
        }
        if spec.len() < 4 || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::input(format!(
                "expected `latest` or a snapshot id (at least 4 hex digits), found `{spec}`"
            )));
        }
        let spec = spec.to_ascii_lowercase();
        let mut found: Vec<Snapshot> = snapshots
            .into_iter()
            .filter(|snapshot| snapshot.id.starts_with(&spec))
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::new(
                Kind::Missing,
                format!(
                    "{}: expected a snapshot {spec}{}, found none",
                    self.location,
                    wanted()
                ),
            )),
            n => Err(Error::input(format!(
                "expected one snapshot starting with {spec}, found {n}: give more of its id"
            ))),
        }
    }

    /// The files of a snapshot under its root, with their sizes, in order.
    pub fn files(&self, snapshot: &Snapshot) -> Result<Vec<NewFile>> {
        let root = snapshot.paths.first().cloned().unwrap_or_default();
        let tree = self
            .repo
            .node_from_snapshot_and_path(&snapshot.file, &root)
            .map_err(self.fail())?;
        let mut files = Vec::new();
        let Some(subtree) = tree.subtree else {
            return Ok(files);
        };
        let mut stack = vec![(String::new(), subtree)];
        while let Some((prefix, id)) = stack.pop() {
            let tree = self.repo.get_tree(&id).map_err(self.fail())?;
            for node in tree.nodes {
                let path = format!("{prefix}{}", node.name().to_string_lossy());
                if let Some(subtree) = node.subtree {
                    stack.push((format!("{path}/"), subtree));
                } else if node.is_file() {
                    files.push(NewFile {
                        path,
                        size: node.meta.size,
                    });
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The file at `path` (under the snapshot's root) of a snapshot.
    pub fn open_file(&self, snapshot: &Snapshot, path: &str) -> Result<File> {
        let root = snapshot.paths.first().cloned().unwrap_or_default();
        let full = format!("{}/{path}", root.trim_end_matches('/'));
        let node = self
            .repo
            .node_from_snapshot_and_path(&snapshot.file, &full)
            .map_err(|error| {
                Error::new(
                    Kind::Missing,
                    format!(
                        "{}: snapshot {}: expected a file {full}, found none ({})",
                        self.location,
                        short(&snapshot.id),
                        error.display_log()
                    ),
                )
            })?;
        if !node.is_file() {
            return Err(Error::input(format!(
                "{}: snapshot {}: expected {full} to be a file, found a {:?}",
                self.location,
                short(&snapshot.id),
                node.node_type
            )));
        }
        let size = node.meta.size;
        let open = self.repo.open_file(&node).map_err(self.fail())?;
        Ok(File { open, size })
    }

    /// The bytes of `file` at `[offset, offset + length)`, all of them.
    pub fn read_at(&self, file: &File, offset: u64, length: u64) -> Result<Vec<u8>> {
        let end = offset.saturating_add(length);
        if end > file.size {
            return Err(Error::input(format!(
                "expected to read within the file's {} bytes, asked for bytes {offset} to {end}",
                file.size
            )));
        }
        let bytes = self
            .repo
            .read_file_at(&file.open, offset as usize, length as usize)
            .map_err(self.fail())?;
        if bytes.len() as u64 != length {
            return Err(Error::new(
                Kind::Damaged,
                format!(
                    "{}: expected {length} bytes at offset {offset}, found {} (the file's chunks are shorter than its recorded size)",
                    self.location,
                    bytes.len()
                ),
            ));
        }
        Ok(bytes.to_vec())
    }

    /// Saves one snapshot of `files` (sorted by path), whose bytes
    /// `produce` writes into the writer of each, in their order, while the
    /// archiver reads the other end; `produce` drops each writer when its
    /// file is whole (the archiver takes the end of a stream as the end of
    /// the file, and may wait for it before reading the next). What it
    /// saved is read through a `Repo` opened after it (this one's index is
    /// the one it was opened with). The snapshot is written only if
    /// `produce` succeeded and every file arrived with its size; otherwise
    /// the repository holds data no snapshot refers to, and the error is
    /// `produce`'s (or the archiver's).
    pub fn save<E: From<Error>>(
        &self,
        new: &NewSnapshot,
        files: &[NewFile],
        produce: impl FnOnce(Vec<PipeWriter>) -> std::result::Result<(), E>,
    ) -> std::result::Result<Snapshot, E> {
        if let Some(tag) = new
            .tags
            .iter()
            .find(|tag| tag.contains(',') || tag.is_empty())
        {
            return Err(
                Error::input(format!("expected tags without commas, found `{tag}`")).into(),
            );
        }
        if !files.windows(2).all(|pair| pair[0].path < pair[1].path) {
            return Err(Error::internal("the files of a snapshot are saved sorted by path").into());
        }
        let root = PathBuf::from(&new.root);
        let (source, writers) = source::Streams::new(&root, files).map_err(E::from)?;
        let mut options = SnapshotOptions::default().host(Some(new.host.clone()));
        if !new.tags.is_empty() {
            options = options.add_tags(&new.tags.join(",")).map_err(self.fail())?;
        }
        let snapshot = options.to_snapshot().map_err(self.fail())?;
        let mut backup = BackupOptions::default();
        // The streams are new content each time: never taken from a parent
        // snapshot because their metadata looks the same.
        backup.parent_opts.force = true;

        self.gate.close();
        let (archived, produced) = std::thread::scope(|scope| {
            let archiving = scope.spawn(|| {
                self.repo
                    .archive(&backup, &source, snapshot, std::slice::from_ref(&root))
            });
            // The writers are dropped when `produce` returns, whatever it
            // did: the archiver sees the end of every stream.
            let produced = produce(writers);
            (archiving.join(), produced)
        });
        let held = self.gate.open();
        let archived = match archived {
            Ok(Ok(archived)) => archived,
            Ok(Err(error)) => return Err(self.fail()(error).into()),
            Err(_) => return Err(Error::internal("the archiver's thread panicked").into()),
        };
        produced?;
        let summary = archived.summary.clone().unwrap_or_default();
        let expected: u64 = files.iter().map(|file| file.size).sum();
        if summary.total_files_processed != files.len() as u64
            || summary.total_bytes_processed != expected
            || source.failed()
        {
            return Err(Error::internal(format!(
                "expected {} files of {expected} bytes in the snapshot, the archiver took {} files of {} bytes; the snapshot was not saved",
                files.len(),
                summary.total_files_processed,
                summary.total_bytes_processed
            ))
            .into());
        }
        if held.len() != 1 {
            return Err(Error::internal(format!(
                "expected the archiver to write one snapshot file, found {}",
                held.len()
            ))
            .into());
        }
        for held in held {
            self.gate.write(held).map_err(self.fail())?;
        }
        Ok(Snapshot::of(archived))
    }
}

/// The first 8 hex digits of an id, as restic shows it.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// `n` bytes as rustic_core's size parser reads it.
fn bytesize(n: u64) -> String {
    format!("{n}B")
}

#[cfg(test)]
mod tests;
