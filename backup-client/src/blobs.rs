//! What a served canister's record names beyond its stable memory, kept
//! beside the image in `<image>.blobs/`: the module `install_code` put on
//! it, the chunks of its chunk store. One file per content, named by its
//! SHA-256 in lowercase hex, written atomically and synced (the folder
//! too) before any record that names it is written, so that a record on
//! disk never names bytes that are not; contents no record names any more
//! are removed once the record that dropped them is on disk.

use crate::durable;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A SHA-256 digest, the name of a content.
pub type Hash = [u8; 32];

/// The folder of one image's contents.
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// The folder of `image` (made when the first content is kept).
    pub fn of(image: &Path) -> Blobs {
        Blobs {
            dir: durable::with_suffix(image, ".blobs"),
        }
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        self.dir.join(hex::encode(hash))
    }

    /// Keeps `bytes`, whose SHA-256 is `hash`, durably; a content already
    /// kept is not written again.
    pub fn put(&self, hash: &Hash, bytes: &[u8]) -> Result<()> {
        let path = self.path(hash);
        if std::fs::metadata(&path).is_ok_and(|meta| meta.len() == bytes.len() as u64) {
            return Ok(());
        }
        if !self.dir.is_dir() {
            std::fs::create_dir_all(&self.dir).map_err(|source| Error::io(&self.dir, source))?;
            backup_common::durable::sync_dir(&self.dir).map_err(durable::cli_error)?;
        }
        durable::write_atomically(&path, bytes)
    }

    /// The content named `hash`, checked against its name.
    pub fn get(&self, hash: &Hash) -> Result<Vec<u8>> {
        let path = self.path(hash);
        let bytes = std::fs::read(&path).map_err(|source| {
            Error::file(
                &path,
                "a content the canister's record names (its module, a chunk)",
                source,
            )
        })?;
        let found: Hash = Sha256::digest(&bytes).into();
        if found != *hash {
            return Err(Error::Input(format!(
                "{}: damaged: its SHA-256 is {}, not the {} it is named by; the canister's record cannot be restored without it",
                path.display(),
                hex::encode(found),
                hex::encode(hash)
            )));
        }
        Ok(bytes)
    }

    /// Removes every content but those of `named` (what the record on disk
    /// names now).
    pub fn keep_only(&self, named: &[Hash]) -> Result<()> {
        let names: HashSet<String> = named.iter().map(hex::encode).collect();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(Error::io(&self.dir, source)),
        };
        for entry in entries {
            let entry = entry.map_err(|source| Error::io(&self.dir, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !names.contains(&name) {
                durable::remove(&entry.path())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_kept_by_name_checked_and_dropped_when_unnamed() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::of(&dir.path().join("image.bin"));
        let (a, b) = (b"module".to_vec(), b"chunk".to_vec());
        let hash = |bytes: &[u8]| -> Hash { Sha256::digest(bytes).into() };
        blobs.put(&hash(&a), &a).unwrap();
        blobs.put(&hash(&b), &b).unwrap();
        blobs.put(&hash(&b), &b).unwrap();
        assert_eq!(blobs.get(&hash(&a)).unwrap(), a);
        blobs.keep_only(&[hash(&b)]).unwrap();
        assert!(blobs.get(&hash(&a)).is_err());
        assert_eq!(blobs.get(&hash(&b)).unwrap(), b);
        // A damaged content is refused, saying so.
        std::fs::write(blobs.path(&hash(&b)), b"chunl").unwrap();
        let error = blobs.get(&hash(&b)).unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
    }
}
