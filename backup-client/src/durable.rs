//! Files that survive a crash: every file the CLI writes goes through
//! `backup-common`'s atomic, synced writes (the same the runtime and the
//! runner save images with); here they report errors the CLI's way, with
//! the checks of partial files a resume relies on.

use crate::error::{Error, Result};
use backup_common::durable;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use backup_common::durable::with_suffix;

pub fn cli_error(error: durable::FileError) -> Error {
    Error::Io {
        path: error.path.display().to_string(),
        source: error.source,
    }
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_atomically(path, bytes).map_err(cli_error)
}

/// Writes `bytes` to `path` atomically and durably, readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_atomically_private(path, bytes).map_err(cli_error)
}

/// Renames `from` over `to`, durably.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    durable::rename(from, to).map_err(cli_error)
}

/// Removes `path` (and any temporary file of it) durably.
pub fn remove(path: &Path) -> Result<()> {
    durable::remove(path).map_err(cli_error)
}

/// Syncs the directory that holds `path`, making a new file in it durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    durable::sync_dir(path).map_err(cli_error)
}

/// Removes the temporary file an interrupted write of `path` may have left.
pub fn clear_stale(path: &Path) -> Result<()> {
    durable::clear_stale(path).map_err(cli_error)
}

/// The SHA-256 of the first `len` bytes of `path`, and the hasher that
/// produced it (to go on hashing what is appended); `None` when the file is
/// missing or shorter than `len`.
pub fn prefix_digest(path: &Path, len: u64) -> Result<Option<(String, Sha256)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::io(path, source)),
    };
    let actual = file
        .metadata()
        .map_err(|source| Error::io(path, source))?
        .len();
    if actual < len {
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file.take(len));
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|source| Error::io(path, source))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(Some((hex::encode(hasher.clone().finalize()), hasher)))
}

/// Opens the partial file `path` to go on writing after its first `len`
/// bytes (the ones a resume proved intact): anything after them is dropped.
pub fn open_partial(path: &Path, len: u64) -> Result<File> {
    use std::io::{Seek, SeekFrom};
    let io = |source| Error::io(path, source);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    file.set_len(len).map_err(io)?;
    file.seek(SeekFrom::End(0)).map_err(io)?;
    Ok(file)
}

/// A hasher over the first `len` bytes of the partial file `path` when they
/// are intact (hash to `digest`), to go on with what is appended; otherwise
/// why the partial file cannot be extended.
pub fn intact_prefix(
    path: &Path,
    len: u64,
    digest: &str,
) -> Result<std::result::Result<Sha256, String>> {
    Ok(match prefix_digest(path, len)? {
        Some((found, hasher)) if found == digest => Ok(hasher),
        found => Err(format!(
            "{} {}; starting over",
            path.display(),
            if found.is_some() {
                "differs from what was recorded"
            } else {
                "is missing or shorter than recorded"
            }
        )),
    })
}

/// The absolute form of `path`, for recording where a file is: its
/// directory resolved (the file itself may not exist yet).
pub fn absolute(path: &Path) -> PathBuf {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::canonicalize(&dir) {
        Ok(dir) => dir.join(name),
        Err(_) => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_digests_need_the_whole_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial");
        std::fs::write(&path, b"abcdef").unwrap();
        let (digest, _) = prefix_digest(&path, 3).unwrap().unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(b"abc")));
        assert!(prefix_digest(&path, 7).unwrap().is_none());
        assert!(prefix_digest(&dir.path().join("missing"), 0)
            .unwrap()
            .is_none());
    }
}
