//! One process at a time: whoever opens an image offline (a command, or
//! `serve`) holds an exclusive lock on `<image>.lock` for as long as it has
//! the image open, so that no one else replays or deletes its write-ahead
//! log, writes the image under it, or folds their memory over its changes;
//! and a command that keeps resume state (`backup`, `restore`, `dump`,
//! `migrate`, a consistent run's cut) holds `<state>.lock` for as long as
//! it runs, so that a second run on the same file (a cron job that
//! overlaps the last one, the same backup restored into two canisters at
//! once) neither removes the first run's temporary files nor writes its
//! progress over the first one's.
//!
//! The lock is the operating system's (`flock`), so it is released when
//! the holder exits, however it exits; the file names the holder, for the
//! message the next opener gets, and is removed when the holder lets go.

use crate::durable;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The lock file of `image` (or of a resume state).
pub fn path_of(image: &Path) -> PathBuf {
    durable::with_suffix(image, ".lock")
}

/// A lock held by this process, released when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    file: File,
}

impl Lock {
    /// Takes the lock of `image` for `doing` (e.g. "ic-backup serve"), or
    /// refuses, naming the process that holds it, having touched nothing.
    pub fn image(image: &Path, doing: &str) -> Result<Lock> {
        Self::acquire(path_of(image), doing, |holder| {
            format!(
                "{} is in use by {holder}: one process at a time may open an image. Stop that one (Ctrl-C stops `serve`; the image keeps every update it replied to), or talk to it (a served image: --network <its url>), then run this again; nothing was read or changed",
                image.display(),
            )
        })
    }

    /// Takes the lock of the state file `state` a `run` (e.g. "`restore`")
    /// keeps, or refuses, naming the process that holds it, having touched
    /// nothing.
    pub fn state(state: &Path, run: &str) -> Result<Lock> {
        Self::acquire(path_of(state), &command_line(), |holder| {
            format!(
                "{} is in use by {holder}: another {run} on the same file is running, and keeps its state there. Let it finish, or stop it (run again, it goes on where it stopped), then run this again; nothing was changed",
                state.display(),
            )
        })
    }

    fn acquire(path: PathBuf, doing: &str, refusal: impl FnOnce(&str) -> String) -> Result<Lock> {
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
                    let holder = match holder.trim() {
                        "" => "another process",
                        holder => holder,
                    };
                    return Err(Error::Input(refusal(holder)));
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
            return Ok(Lock { path, file });
        }
    }
}

/// Who holds a lock, for the message another opener gets: this process's
/// command line, programs and files by their names.
pub fn command_line() -> String {
    let mut line: String = std::env::args()
        .map(|arg| {
            Path::new(&arg)
                .file_name()
                .filter(|_| arg.contains('/'))
                .map_or(arg.clone(), |name| name.to_string_lossy().into_owned())
        })
        .collect::<Vec<_>>()
        .join(" ");
    if line.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|&at| line.is_char_boundary(at))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

impl Drop for Lock {
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
        let first = Lock::image(&image, "ic-backup serve").unwrap();
        let error = Lock::image(&image, "ic-backup dump")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("process {} (ic-backup serve", std::process::id()))
                && error.contains("nothing was read or changed"),
            "{error}"
        );
        drop(first);
        assert!(!path_of(&image).exists(), "the lock file is removed");
        let second = Lock::image(&image, "ic-backup dump").unwrap();
        assert!(path_of(&image).exists());
        drop(second);
    }

    /// A lock file left by a process that was killed is taken over.
    #[test]
    fn a_stale_lock_file_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.bin");
        std::fs::write(path_of(&image), "process 1 (ic-backup serve)").unwrap();
        let lock = Lock::image(&image, "ic-backup call").unwrap();
        let text = std::fs::read_to_string(path_of(&image)).unwrap();
        assert!(text.contains("ic-backup call"), "{text}");
        drop(lock);
    }
}
