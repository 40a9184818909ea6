//! An offline canister's stable memory on disk: a plain image file, or the
//! `stable_memory.bin` of a snapshot folder with its `metadata.json`.
//!
//! Opening it takes its lock (one writer per image), finishes or forgets a
//! write a crash cut short, and replays the write-ahead log a stopped
//! `serve` left (the calls it recorded kept in `<image>.subnet`); writing
//! it replaces it whole, atomically.

use crate::durable;
use crate::error::Result;
use crate::lock::{self, Lock};
use crate::snapshot::Snapshot;
use crate::{subnet, wal};
use std::path::{Path, PathBuf};

/// The image, held open.
pub struct Disk {
    /// Its absolute path.
    pub image: PathBuf,
    snapshot: Option<Snapshot>,
    _lock: Lock,
}

/// What opening found.
pub struct Opened {
    pub disk: Disk,
    /// The stable memory; `None` when there is no image yet (a canister
    /// to install). A snapshot without `stable_memory.bin` has an empty one.
    pub bytes: Option<Vec<u8>>,
}

impl Disk {
    /// Opens the image file `image` (which may not exist yet).
    pub fn open_image(image: &Path) -> Result<Opened> {
        Self::open(image, None)
    }

    /// Opens the stable memory of the snapshot folder `dir`.
    pub fn open_snapshot(dir: &Path) -> Result<Opened> {
        Self::open(&dir.join("stable_memory.bin"), Some(dir))
    }

    fn open(image: &Path, snapshot_dir: Option<&Path>) -> Result<Opened> {
        if let Some(dir) = snapshot_dir.filter(|dir| !dir.is_dir()) {
            // Not a folder: refused as no snapshot, before any lock file is made.
            Snapshot::open(dir)?;
        }
        let image = durable::absolute(image);
        // Nothing is read, replayed or removed before the lock is ours.
        let lock = Lock::image(&image, &lock::command_line())?;
        if let Some(dir) = snapshot_dir {
            Snapshot::recover(dir)?;
        }
        durable::clear_stale(&image)?;
        let snapshot = snapshot_dir.map(Snapshot::open).transpose()?;
        let mut disk = Disk {
            image,
            snapshot,
            _lock: lock,
        };
        let mut bytes = match std::fs::read(&disk.image) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                disk.snapshot.as_ref().map(|_| Vec::new())
            }
            Err(source) => return Err(crate::error::Error::io(&disk.image, source)),
        };
        disk.replay_log(&mut bytes)?;
        Ok(Opened { disk, bytes })
    }

    /// Folds a write-ahead log a crashed `serve` left into the image, keeps
    /// the calls it recorded, then removes it.
    fn replay_log(&mut self, bytes: &mut Option<Vec<u8>>) -> Result<()> {
        // Most opens find no log: the image is not copied for them.
        if !wal::path_of(&self.image).exists() {
            return Ok(());
        }
        let existed = bytes.is_some();
        let mut memory = bytes.take().unwrap_or_default();
        let replayed = wal::replay(&self.image, &mut memory)?.unwrap_or_default();
        if replayed.records > 0 {
            self.write(&memory)?;
            *bytes = Some(memory);
            eprintln!(
                "{}: replayed {} call(s) from the write-ahead log a stopped `serve` left",
                self.image.display(),
                replayed.records
            );
        } else if existed {
            *bytes = Some(memory);
        }
        subnet::keep_notes(&self.image, &replayed.notes, subnet::now())?;
        durable::remove(&wal::path_of(&self.image))
    }

    /// The snapshot folder, if the image is one's.
    pub fn snapshot_dir(&self) -> Option<&Path> {
        self.snapshot
            .as_ref()
            .map(|snapshot| snapshot.dir.as_path())
    }

    /// Replaces the image with `bytes`, atomically (a snapshot's stable
    /// memory and metadata together).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.snapshot {
            Some(snapshot) => snapshot.write_stable_memory(bytes),
            None => durable::write_atomically(&self.image, bytes),
        }
    }
}
