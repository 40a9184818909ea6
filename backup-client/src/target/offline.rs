//! The offline target: the canister's wasm over an image file (or a
//! snapshot folder), in the embedded runner; checkpoints, and the
//! write-ahead log `serve` keeps.

use super::Target;
use crate::disk::{Disk, Opened};
use crate::error::{Error, Result};
use crate::resume::TargetId;
use crate::subnet::Subnet;
use candid::Principal;
use canister_runner::{Canister, InstallArgs};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

/// Offline, an image up to this size is written after every step that
/// records progress; a larger one at most every [`CHECKPOINT_INTERVAL`].
pub const CHECKPOINT_EVERY_STEP_BYTES: usize = 256 << 20;
/// How often a large offline image is written while a command records progress.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// `serve` folds its write-ahead log into the image when it grows this large…
pub const WAL_FOLD_BYTES: u64 = 256 << 20;
/// …or this long after the last fold.
pub const WAL_FOLD_INTERVAL: Duration = Duration::from_secs(30);

/// Who runs offline commands, and how the canister is set up for them.
#[derive(Clone, Debug)]
pub struct Operator {
    /// The caller of every call, and the installer.
    pub caller: Principal,
    /// Whether the caller is a controller.
    pub controller: bool,
    /// More controllers.
    pub others: Vec<Principal>,
    /// The seed of the management canister's `raw_rand`.
    pub seed: u64,
}

/// The offline target: the canister's wasm over an image file.
pub struct Offline {
    canister: Canister,
    /// The image on disk, held open (locked) for as long as this lives.
    disk: Disk,
    caller: Principal,
    /// The canister's stable memory generation the image on disk holds (0:
    /// as read, before install or upgrade hooks ran).
    saved_generation: u64,
    /// The SHA-256 of the image file as it is on disk; `None` before it
    /// exists (a new image counts as changed: its install is to be kept).
    digest: Option<String>,
    /// A new image: the generation its install left, while nothing else
    /// changed memory; a command that fails then leaves no file behind.
    install_only: Option<u64>,
    /// The command failed.
    forget_install: bool,
    saved_at: Instant,
    /// `serve`'s write-ahead log, and when it was last folded into the image.
    wal: Option<(crate::wal::Wal, Instant)>,
    /// Whether this run changed the snapshot's stable memory.
    wrote_snapshot: bool,
}

/// The module a canister runs, once opened.
enum Kept {
    Module(Vec<u8>),
    /// `uninstall_code` took it off: the canister answers nothing.
    Uninstalled,
}

/// The module the canister of `image` runs: the one given (`wasm`,
/// `given`), unless `install_code` or `uninstall_code` changed it while it
/// was served (the record kept in `<image>.subnet` says so, and the
/// module is kept in `<image>.blobs/`).
fn kept_module(image: &Path, wasm: &Path, given: &[u8]) -> Result<Kept> {
    let Some(record) = Subnet::load(image)?.canister else {
        return Ok(Kept::Module(given.to_vec()));
    };
    let Some(hash) = record.module else {
        eprintln!(
            "note: the canister of {} was uninstalled (`uninstall_code`) while it was served: it runs no module until one is installed, and {} is not used",
            image.display(),
            wasm.display()
        );
        return Ok(Kept::Uninstalled);
    };
    let given_hash: [u8; 32] = Sha256::digest(given).into();
    if hash == given_hash {
        return Ok(Kept::Module(given.to_vec()));
    }
    let blobs = crate::blobs::Blobs::of(image);
    let module = blobs.get(&hash)?;
    eprintln!(
        "note: the canister of {} runs the module `install_code` put on it while it was served (SHA-256 {}, kept beside the image), not {}",
        image.display(),
        hex::encode(hash),
        wasm.display()
    );
    Ok(Kept::Module(module))
}

/// How `serve` folds its write-ahead log into the image: when the log
/// grows past `bytes`, or `every` after the last fold.
#[derive(Clone, Copy, Debug)]
pub struct Folding {
    pub bytes: u64,
    pub every: Duration,
}

impl Default for Folding {
    fn default() -> Self {
        Folding {
            bytes: WAL_FOLD_BYTES,
            every: WAL_FOLD_INTERVAL,
        }
    }
}

impl Offline {
    /// Loads `wasm` over the image at `image`, or installs it on empty
    /// stable memory when the file does not exist yet (the image is then
    /// created by the first checkpoint or by `finish`, whatever the command
    /// did: the install is kept). Any layout opens: this is the canister's
    /// own memory, not a file to load into it.
    pub fn open(wasm: &Path, image: &Path, operator: Operator) -> Result<Self> {
        Self::start(wasm, Disk::open_image(image)?, operator)
    }

    /// Loads a downloaded snapshot folder's module over its stable memory.
    pub fn open_snapshot(dir: &Path, operator: Operator) -> Result<Self> {
        let opened = Disk::open_snapshot(dir)?;
        Self::start(&dir.join("wasm_module.bin"), opened, operator)
    }

    fn start(wasm: &Path, opened: Opened, operator: Operator) -> Result<Self> {
        let Operator {
            caller,
            controller,
            others,
            seed,
        } = operator;
        let given = std::fs::read(wasm).map_err(|source| Error::io(wasm, source))?;
        let mut controllers = if controller { vec![caller] } else { Vec::new() };
        controllers.extend(others);
        // The operator installs: `canister_init` and the upgrade hooks run as them.
        let args = InstallArgs {
            controllers,
            installer: Some(caller),
            seed,
            ..InstallArgs::default()
        };
        let Opened { disk, bytes } = opened;
        let new = bytes.is_none();
        let digest = bytes
            .as_ref()
            .map(|bytes| hex::encode(Sha256::digest(bytes)));
        let canister = match (kept_module(&disk.image, wasm, &given)?, bytes) {
            (Kept::Uninstalled, _) => Canister::empty(args).map_err(Error::runner(wasm))?,
            (Kept::Module(module), Some(bytes)) => {
                Canister::from_image(&module, bytes, args).map_err(Error::runner(wasm))?
            }
            (Kept::Module(module), None) => {
                Canister::install(&module, args).map_err(Error::runner(wasm))?
            }
        };
        Ok(Offline {
            install_only: new.then(|| canister.stable_generation()),
            forget_install: false,
            // The image as read is stable memory before any message ran.
            saved_generation: 0,
            canister,
            disk,
            caller,
            digest,
            saved_at: Instant::now(),
            wrote_snapshot: false,
            wal: None,
        })
    }

    /// From now on, each call is made durable by appending the pages it
    /// wrote and `note`s of it to a write-ahead log beside the image
    /// ([`Offline::log_call`]), folded into the image by
    /// [`Offline::fold`]. The image is first brought up to date with the
    /// canister as it runs now, and `subnet` saved beside it.
    pub fn start_log(&mut self, subnet: &Subnet) -> Result<()> {
        self.save()?;
        subnet.save(&self.disk.image)?;
        // What the image holds now is not for the log.
        self.canister.take_written_pages();
        let wal = crate::wal::Wal::create(&self.disk.image)?;
        self.wal = Some((wal, Instant::now()));
        Ok(())
    }

    /// Makes the call that just ran durable: what its messages wrote, and
    /// `note`, appended to the write-ahead log and synced.
    pub fn log_call(&mut self, note: &[u8]) -> std::result::Result<(), crate::wal::AppendError> {
        let pages = self.canister.take_written_pages();
        match &mut self.wal {
            Some((wal, _)) => wal.append(self.canister.stable_memory(), &pages, note),
            None => self.save().map_err(|error| crate::wal::AppendError {
                error,
                undone: true,
            }),
        }
    }

    /// Whether the log is due to be folded into the image.
    pub fn fold_due(&self, folding: Folding) -> bool {
        self.wal.as_ref().is_some_and(|(wal, folded)| {
            wal.len() >= folding.bytes || (!wal.is_empty() && folded.elapsed() >= folding.every)
        })
    }

    /// Folds the log into the image: the image written, then `subnet`
    /// (the calls the log recorded), then the log emptied. A crash at any
    /// step leaves a log whose replay gives the same image.
    pub fn fold(&mut self, subnet: &Subnet) -> Result<()> {
        self.save()?;
        subnet.save(&self.disk.image)?;
        if let Some((wal, folded)) = &mut self.wal {
            wal.clear()?;
            *folded = Instant::now();
        }
        // What no record on disk names any more (a module upgraded away, a
        // chunk store cleared) goes.
        if let Some(record) = &subnet.canister {
            crate::blobs::Blobs::of(&self.disk.image).keep_only(&record.blobs())?;
        }
        Ok(())
    }

    /// The image's path.
    pub fn image(&self) -> &Path {
        &self.disk.image
    }

    fn result(method: &str, result: canister_runner::CallResult) -> Result<Vec<u8>> {
        result.result.map_err(|reject| Error::Rejected {
            method: method.to_string(),
            message: reject.message,
        })
    }

    /// The canister, for calls as other callers than the operator (`serve`).
    pub fn canister(&mut self) -> &mut Canister {
        &mut self.canister
    }

    /// Whether the image on disk holds the canister's stable memory as it is.
    fn is_saved(&self) -> bool {
        self.digest.is_some() && self.canister.stable_generation() == self.saved_generation
    }

    /// Writes the image atomically and durably, if it does not exist yet or
    /// a committed message (install and upgrade hooks included) changed
    /// stable memory since it was last written.
    pub fn save(&mut self) -> Result<()> {
        if self.is_saved() {
            return Ok(());
        }
        let bytes = self.canister.stable_memory();
        let digest = hex::encode(Sha256::digest(bytes));
        if self.digest.as_deref() != Some(digest.as_str()) {
            self.disk.write(bytes)?;
            self.wrote_snapshot = self.disk.snapshot_dir().is_some();
        }
        self.digest = Some(digest);
        self.saved_generation = self.canister.stable_generation();
        self.saved_at = Instant::now();
        Ok(())
    }
}

impl Target for Offline {
    fn query(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let result = self.canister.query(self.caller, method, arg);
        Self::result(method, result)
    }

    fn update(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let result = self.canister.update(self.caller, method, arg);
        Self::result(method, result)
    }

    fn candid(&mut self) -> Result<Option<String>> {
        Ok(self.canister.candid_interface())
    }

    fn metadata(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.canister.metadata_section(name).map(<[u8]>::to_vec))
    }

    fn stable_memory(&self) -> Option<&[u8]> {
        Some(self.canister.stable_memory())
    }

    fn module_hash(&mut self) -> Result<Option<[u8; 32]>> {
        Ok(self.canister.module_hash())
    }

    fn id(&self) -> TargetId {
        TargetId::Offline {
            image: self.disk.image.clone(),
            sha256: self.digest.clone(),
        }
    }

    fn failed(&mut self) {
        self.forget_install = true;
    }

    fn checkpoint(&mut self) -> Result<bool> {
        if self.is_saved() {
            return Ok(true);
        }
        let small = self.canister.stable_memory().len() <= CHECKPOINT_EVERY_STEP_BYTES;
        if small || self.saved_at.elapsed() >= CHECKPOINT_INTERVAL {
            self.save()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes the image; a log (`serve`'s) must have been folded first,
    /// with its calls kept ([`Offline::fold`]): it is removed.
    fn finish(&mut self) -> Result<()> {
        let install_only = self.install_only == Some(self.canister.stable_generation());
        if !(install_only && self.forget_install) {
            self.save()?;
        }
        if let Some((wal, _)) = self.wal.take() {
            wal.remove()?;
        }
        if let (Some(dir), true) = (self.disk.snapshot_dir(), self.wrote_snapshot) {
            eprintln!(
                "warning: the stable memory of the snapshot in {} changed, its heap (wasm_memory.bin) did not: after `dfx canister snapshot upload` (or icp's) and loading the snapshot, upgrade the canister before anything else calls it, so its heap reads the new stable memory",
                dir.display()
            );
        }
        Ok(())
    }
}
