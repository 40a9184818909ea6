//! Files that survive a crash: every file the CLI writes goes through a
//! temporary file that is synced, renamed over the target and followed by a
//! sync of its directory, so the target is the old file or the new one,
//! never a mix, even after `kill -9` or a power cut.

use crate::error::{CliError, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The temporary file `write_atomically` writes `path` through.
fn temporary_of(path: &Path) -> PathBuf {
    with_suffix(path, ".tmp")
}

/// Removes the temporary file an interrupted `write_atomically` of `path`
/// may have left; call it where a command takes `path` over.
pub fn clear_stale(path: &Path) -> Result<()> {
    remove_quietly(&temporary_of(path))
}

fn remove_quietly(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CliError::io(path, source)),
    }
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = temporary_of(path);
    let io = |source| CliError::io(&temporary, source);
    let result = (|| {
        let mut file = File::create(&temporary).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Renames `from` over `to` and syncs the directory, so the rename itself is
/// durable.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| CliError::io(to, source))?;
    sync_dir(to)
}

/// Removes `path` (and any temporary file of it) durably; a file that is
/// already gone is fine.
pub fn remove(path: &Path) -> Result<()> {
    remove_quietly(&temporary_of(path))?;
    remove_quietly(path)?;
    sync_dir(path)
}

/// Syncs the directory that holds `path`, making a rename or a new file
/// in it durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Directories cannot be opened for syncing on every platform; where they
    // can, a failure to sync is an error.
    if let Ok(handle) = File::open(dir) {
        handle.sync_all().map_err(|source| CliError::io(dir, source))?;
    }
    Ok(())
}

/// The SHA-256 of the first `len` bytes of `path`, and the hasher that
/// produced it (to go on hashing what is appended); `None` when the file is
/// missing or shorter than `len`.
pub fn prefix_digest(path: &Path, len: u64) -> Result<Option<(String, Sha256)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CliError::io(path, source)),
    };
    let actual = file
        .metadata()
        .map_err(|source| CliError::io(path, source))?
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
            .map_err(|source| CliError::io(path, source))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(Some((hex::encode(hasher.clone().finalize()), hasher)))
}

/// A hasher over the first `len` bytes of the partial file `path` when they
/// are intact (hash to `digest`), to go on with what is appended; otherwise
/// why the partial file cannot be extended.
pub fn intact_prefix(path: &Path, len: u64, digest: &str) -> Result<std::result::Result<Sha256, String>> {
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
    fn atomic_writes_replace_whole_files_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.json");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn prefix_digests_need_the_whole_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial");
        std::fs::write(&path, b"abcdef").unwrap();
        let (digest, _) = prefix_digest(&path, 3).unwrap().unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(b"abc")));
        assert!(prefix_digest(&path, 7).unwrap().is_none());
        assert!(prefix_digest(&dir.path().join("missing"), 0).unwrap().is_none());
    }
}
