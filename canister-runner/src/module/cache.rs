//! Metered modules, and their Candid interfaces, kept on disk between
//! processes.
//!
//! Checking and metering a canister's module ([`super::prepare`]) reads and
//! rewrites all of its code: for a 2 MB Rust canister that is most of what
//! a short offline command (`ic-backup call`, `inspect`, one page of a
//! backup) spends. Its result depends only on the module's bytes and on the
//! runner, so it is kept in a folder and read back by the next process that
//! loads the same module with the same build of the runner.
//!
//! The folder is `$CANISTER_RUNNER_CACHE` if set (`off` keeps nothing),
//! else `$XDG_CACHE_HOME/canister-runner`, else `~/.cache/canister-runner`.
//! An entry is named by the SHA-256 of the module as given and the runner's
//! build id (a hash of its sources, `build.rs`), and ends with the SHA-256
//! of its content: an entry that does not check out, or cannot be read or
//! written, is ignored and the module metered afresh. Entries are written
//! atomically (`backup_common::durable`) and the folder keeps the [`KEPT`]
//! newest of each kind. Modules under [`SMALLEST`] bytes are metered each
//! time: that is quicker than reading them back.
//!
//! A module without `candid:service` metadata (a test build, say) gives
//! its interface only when run (`get_candid_pointer`, which ic-cdk's
//! `export_candid!` exports): a tenth of a short `ic-backup call`. That text
//! is the module's own, so it is kept too, beside the metered module, under
//! the same name ending `.did`.

use super::Prepared;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Modules smaller than this are not kept.
pub const SMALLEST: usize = 128 << 10;

/// How many entries the folder keeps.
pub const KEPT: usize = 64;

const MAGIC: &[u8; 8] = b"CRMETER1";
const INTERFACE_MAGIC: &[u8; 8] = b"CRCANDI1";

/// The folder entries are kept in, if any.
fn folder() -> Option<PathBuf> {
    match std::env::var_os("CANISTER_RUNNER_CACHE") {
        Some(dir) if dir == "off" => None,
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => backup_common::dirs::user_cache_dir().map(|dir| dir.join("canister-runner")),
    }
}

/// The entry for `wasm` (as given), if the module is kept at all.
pub fn entry(wasm: &[u8]) -> Option<PathBuf> {
    named(&Sha256::digest(wasm).into(), wasm.len(), "metered")
}

/// The entry for the Candid interface of the module of SHA-256 `hash` (as
/// given) and `size` bytes, if it is kept at all.
pub fn interface_entry(hash: &[u8; 32], size: usize) -> Option<PathBuf> {
    named(hash, size, "did")
}

fn named(hash: &[u8; 32], size: usize, kind: &str) -> Option<PathBuf> {
    if size < SMALLEST {
        return None;
    }
    let name = format!("{}-{}.{kind}", hex(hash), env!("CANISTER_RUNNER_BUILD"));
    Some(folder()?.join(name))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The module kept in `entry`, if it is there and checks out.
pub fn read(entry: &Path) -> Option<Prepared> {
    let bytes = std::fs::read(entry).ok()?;
    decode(&bytes)
}

/// Keeps `prepared` in `entry`, written atomically and durably; a failure
/// only means it is not kept.
pub fn write(entry: &Path, prepared: &Prepared) {
    keep(entry, &encode(prepared));
}

/// The interface kept in `entry`, if it is there and checks out.
pub fn read_interface(entry: &Path) -> Option<String> {
    let bytes = std::fs::read(entry).ok()?;
    let text = unseal(&bytes)?.strip_prefix(INTERFACE_MAGIC)?;
    String::from_utf8(text.to_vec()).ok()
}

/// Keeps the interface `text` in `entry`, as [`write`] keeps a module.
pub fn write_interface(entry: &Path, text: &str) {
    keep(entry, &seal([INTERFACE_MAGIC, text.as_bytes()].concat()));
}

fn keep(entry: &Path, sealed: &[u8]) {
    let (Some(dir), Some(kind)) = (entry.parent(), entry.extension()) else {
        return;
    };
    if std::fs::create_dir_all(dir).is_ok()
        && backup_common::durable::write_atomically(entry, sealed).is_ok()
    {
        prune(dir, &format!(".{}", kind.to_string_lossy()));
    }
}

/// Removes all but the [`KEPT`] newest entries whose names end in `kind`.
fn prune(dir: &Path, kind: &str) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = listing
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(kind))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    if entries.len() <= KEPT {
        return;
    }
    entries.sort();
    for (_, path) in &entries[..entries.len() - KEPT] {
        let _ = std::fs::remove_file(path);
    }
}

/// `content`, then its SHA-256.
fn seal(mut content: Vec<u8>) -> Vec<u8> {
    let digest = Sha256::digest(&content);
    content.extend_from_slice(&digest);
    content
}

/// The content of a sealed entry, if its SHA-256 checks out.
fn unseal(bytes: &[u8]) -> Option<&[u8]> {
    let (content, digest) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    (Sha256::digest(content).as_slice() == digest).then_some(content)
}

/// `MAGIC`, the mutable globals (a count, then each, u32 little-endian),
/// the module, then the SHA-256 of all that.
fn encode(prepared: &Prepared) -> Vec<u8> {
    let mut out = Vec::with_capacity(prepared.bytes.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(prepared.mutable_globals.len() as u32).to_le_bytes());
    for index in &prepared.mutable_globals {
        out.extend_from_slice(&index.to_le_bytes());
    }
    out.extend_from_slice(&prepared.bytes);
    seal(out)
}

fn decode(bytes: &[u8]) -> Option<Prepared> {
    let rest = unseal(bytes)?.strip_prefix(MAGIC)?;
    let (count, mut rest) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    let mut mutable_globals = Vec::with_capacity(count.min(rest.len() / 4));
    for _ in 0..count {
        let (index, after) = rest.split_first_chunk::<4>()?;
        mutable_globals.push(u32::from_le_bytes(*index));
        rest = after;
    }
    Some(Prepared {
        bytes: rest.to_vec(),
        mutable_globals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared() -> Prepared {
        Prepared {
            bytes: b"\0asm\x01\0\0\0 and the rest".to_vec(),
            mutable_globals: vec![0, 3, 7],
        }
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let back = decode(&encode(&prepared())).unwrap();
        assert_eq!(back.bytes, prepared().bytes);
        assert_eq!(back.mutable_globals, prepared().mutable_globals);
    }

    #[test]
    fn a_damaged_or_cut_entry_is_not_read() {
        let bytes = encode(&prepared());
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 1;
            assert!(decode(&damaged).is_none(), "a flipped bit at {at} was read");
            assert!(decode(&bytes[..at]).is_none(), "a cut at {at} was read");
        }
    }

    #[test]
    fn an_interface_reads_back_and_a_damaged_one_is_not_read() {
        let dir = std::env::temp_dir().join(format!("runner-cache-did-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let entry = dir.join("module.did");
        write_interface(&entry, "service : { go : () -> () }");
        assert_eq!(
            read_interface(&entry).as_deref(),
            Some("service : { go : () -> () }")
        );
        let mut bytes = std::fs::read(&entry).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&entry, &bytes).unwrap();
        assert_eq!(read_interface(&entry), None);
        // A metered module's entry is not an interface, nor the reverse.
        write(&entry, &prepared());
        assert_eq!(read_interface(&entry), None);
        write_interface(&entry, "service : {}");
        assert!(read(&entry).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_folder_keeps_the_newest_entries() {
        let dir = std::env::temp_dir().join(format!("runner-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for n in 0..KEPT + 3 {
            write(&dir.join(format!("{n:03}.metered")), &prepared());
        }
        let left = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(left, KEPT, "entries left");
        assert!(read(&dir.join(format!("{:03}.metered", KEPT + 2))).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
