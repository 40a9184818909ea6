//! One writer per image: whoever opens an image offline (a command, or
//! `serve`) holds an exclusive lock on `<image>.lock` for as long as it has
//! the image open, so that no one else replays or deletes its write-ahead
//! log, writes the image under it, or folds their memory over its changes.
//!
//! The lock is the operating system's (`flock`), so it is released when
//! the holder exits, however it exits; the file names the holder, for the
//! message the next opener gets, and is removed when the holder lets go.

use crate::durable;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The lock file of `image`.
pub fn path_of(image: &Path) -> PathBuf {
    durable::with_suffix(image, ".lock")
}

/// An image held open by this process.
#[derive(Debug)]
pub struct ImageLock {
    path: PathBuf,
    file: File,
}

impl ImageLock {
    /// Takes the lock of `image` for `doing` (e.g. "ic-backup serve"), or
    /// refuses, naming the process that holds it, having touched nothing.
    pub fn acquire(image: &Path, doing: &str) -> Result<ImageLock> {
        let path = path_of(image);
        let io = |source| Error::io(&path, source);
        loop {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(Error::Input(format!(
                        "{} is in use by {}: one process at a time may open an image. Stop that one (Ctrl-C stops `serve`; the image keeps every update it replied to), or talk to it (a served image: --network <its url>), then run this again; nothing was read or changed",
                        image.display(),
                        if holder.is_empty() {
                            "another process".to_string()
                        } else {
                            holder.to_string()
                        }
                    )));
                }
                Err(TryLockError::Error(source)) => return Err(io(source)),
            }
            // The holder before us may have removed the file between our
            // open and our lock: a lock on a file no longer at `path` is
            // no one's, so take it again.
            if !same_file(&file, &path) {
                continue;
            }
            let about = format!(
                "process {} ({doing}, started at {} s since 1970)",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_secs())
                    .unwrap_or(0)
            );
            file.set_len(0).map_err(io)?;
            file.write_all(about.as_bytes()).map_err(io)?;
            return Ok(ImageLock { path, file });
        }
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

impl Drop for ImageLock {
    fn drop(&mut self) {
        // Removed while still held, so the next opener makes a new one.
        if same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_opener_is_refused_with_the_holder_named_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.bin");
        let first = ImageLock::acquire(&image, "ic-backup serve").unwrap();
        let error = ImageLock::acquire(&image, "ic-backup dump")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("process {} (ic-backup serve", std::process::id()))
                && error.contains("nothing was read or changed"),
            "{error}"
        );
        drop(first);
        assert!(!path_of(&image).exists(), "the lock file is removed");
        let second = ImageLock::acquire(&image, "ic-backup dump").unwrap();
        assert!(path_of(&image).exists());
        drop(second);
    }

    /// A lock file left by a process that was killed is taken over.
    #[test]
    fn a_stale_lock_file_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.bin");
        std::fs::write(path_of(&image), "process 1 (ic-backup serve)").unwrap();
        let lock = ImageLock::acquire(&image, "ic-backup call").unwrap();
        let text = std::fs::read_to_string(path_of(&image)).unwrap();
        assert!(text.contains("ic-backup call"), "{text}");
        drop(lock);
    }
}
