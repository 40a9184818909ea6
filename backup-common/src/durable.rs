//! Files that survive a crash: written to a temporary file beside the target,
//! synced, renamed over it, and the directory synced, so the target is the
//! old file or the new one, never a mix, even after `kill -9` or a power cut.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file operation that failed, and on which file.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn on(path: &Path) -> impl Fn(std::io::Error) -> FileError + '_ {
    move |source| FileError {
        path: path.to_path_buf(),
        source,
    }
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The temporary file [`write_atomically`] writes `path` through.
pub fn temporary_of(path: &Path) -> PathBuf {
    with_suffix(path, ".tmp")
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_with(path, bytes, std::fs::OpenOptions::new())
}

/// [`write_atomically`], the file readable and writable by its owner only
/// (it holds secrets).
pub fn write_atomically_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    write_with(path, bytes, options)
}

fn write_with(
    path: &Path,
    bytes: &[u8],
    mut options: std::fs::OpenOptions,
) -> Result<(), FileError> {
    let temporary = temporary_of(path);
    // A temporary file left by a crash may have other permissions: start anew.
    let _ = std::fs::remove_file(&temporary);
    let result = (|| {
        let mut file = options
            .write(true)
            .create_new(true)
            .open(&temporary)
            .map_err(on(&temporary))?;
        write_sparse(&mut file, bytes).map_err(on(&temporary))?;
        file.sync_all().map_err(on(&temporary))?;
        drop(file);
        rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// The size of the blocks of zeros [`write_atomically`] leaves as holes: the
/// IC's page of stable memory.
const HOLE: usize = 64 << 10;

/// Writes `bytes` into the new (or emptied) `file`, leaving a hole where a
/// whole 64 KiB block (at a multiple of 64 KiB, `HOLE`) is zeros: a stable
/// memory image is mostly pages never written (a MemoryManager's buckets are
/// 8 MiB), and a hole costs neither the disk nor the kernel's page cache; it
/// reads back as the same zeros. Not synced.
pub fn write_sparse(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    static ZEROS: [u8; HOLE] = [0; HOLE];
    // `bytes[..written]` is in the file (as data or as holes).
    let mut written = 0;
    for (index, block) in bytes.chunks(HOLE).enumerate() {
        if block != ZEROS.as_slice() {
            continue;
        }
        let at = index * HOLE;
        file.write_all(&bytes[written..at])?;
        written = at + HOLE;
        file.seek(SeekFrom::Start(written as u64))?;
    }
    file.write_all(&bytes[written..])?;
    // Holes at the end, which no write reached.
    file.set_len(bytes.len() as u64)
}

/// Renames `from` over `to` and syncs the directory, so the rename itself is
/// durable.
pub fn rename(from: &Path, to: &Path) -> Result<(), FileError> {
    std::fs::rename(from, to).map_err(on(to))?;
    sync_dir(to)
}

/// Removes `path` (and any temporary file of it) durably; a file that is
/// already gone is fine.
pub fn remove(path: &Path) -> Result<(), FileError> {
    remove_quietly(&temporary_of(path))?;
    remove_quietly(path)?;
    sync_dir(path)
}

/// Removes the temporary file an interrupted [`write_atomically`] of `path`
/// may have left; call it where a program takes `path` over.
pub fn clear_stale(path: &Path) -> Result<(), FileError> {
    remove_quietly(&temporary_of(path))
}

fn remove_quietly(path: &Path) -> Result<(), FileError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(on(path)(source)),
    }
}

/// Syncs the directory that holds `path`, making a rename or a new file in
/// it durable.
pub fn sync_dir(path: &Path) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Directories cannot be opened for syncing on every platform; where they
    // can, a failure to sync is an error.
    if let Ok(handle) = File::open(dir) {
        handle.sync_all().map_err(on(dir))?;
    }
    Ok(())
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
        std::fs::write(temporary_of(&path), b"half").unwrap();
        remove(&path).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// Blocks of zeros become holes; the file reads back byte for byte, at
    /// its length, whatever its ends are.
    #[test]
    fn blocks_of_zeros_are_holes_and_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        let data = |len: usize| (0..len).map(|i| (i % 251) as u8 + 1).collect::<Vec<u8>>();
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0; 10],
            vec![0; HOLE],
            vec![0; 3 * HOLE + 5],
            data(HOLE + 7),
        ];
        // Data, zeros, data, zeros at the end; a block with one byte set.
        let mut mixed = vec![0; 8 * HOLE];
        mixed[..HOLE].copy_from_slice(&data(HOLE));
        mixed[3 * HOLE..4 * HOLE].copy_from_slice(&data(HOLE));
        mixed[5 * HOLE + 100] = 9;
        cases.push(mixed.clone());
        for bytes in &cases {
            write_atomically(&path, bytes).unwrap();
            assert_eq!(&std::fs::read(&path).unwrap(), bytes);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            write_atomically(&path, &mixed).unwrap();
            let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
            // Three blocks hold data; the five others are holes, where the
            // file system makes them (every Linux one the tests run on does).
            assert!(
                allocated <= 4 * HOLE as u64,
                "{allocated} bytes allocated for {} with 3 blocks of data",
                mixed.len()
            );
        }
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("file");
        let error = write_atomically(&path, b"x").unwrap_err();
        assert!(error.to_string().contains("missing-dir"), "{error}");
    }
}
