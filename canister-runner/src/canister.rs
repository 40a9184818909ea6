//! One canister: creating it (install, or over a stable memory image),
//! upgrading it, and its state (stable memory, certified data, controllers,
//! the module and its interface). Calls to it are in `calls`, and running
//! any one message, an entry point or a lifecycle hook, in `execute`.

mod calls;
mod install;
mod manage;
mod snapshot;

pub use manage::CanisterRecord;
pub use snapshot::{GlobalValue, HookStatus, SnapshotRecord, Timer};

use crate::error::RunnerError;
use crate::execute::Executor;
use crate::host::{Entry, Env};
use crate::instrument::START_EXPORT;
use crate::limits::Limits;
use crate::log::CanisterLog;
use crate::management::{Change, Mode, Randomness};
use crate::settings::Settings;
use crate::stable::{StableMemory, PAGE};
use candid::Principal;
use ic_management_canister_types::CanisterStatusType;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A SHA-256 digest: of a module, of a chunk, of a snapshot's piece.
pub use crate::pieces::Hash;

/// The module installed, as given (gzipped or not), and its SHA-256.
#[derive(Clone)]
pub(crate) struct Installed {
    bytes: Arc<[u8]>,
    hash: Hash,
}

impl Installed {
    fn new(bytes: Arc<[u8]>) -> Installed {
        let hash = sha256(&bytes);
        Installed { bytes, hash }
    }
}

/// How to create a canister.
#[derive(Clone, Debug)]
pub struct InstallArgs {
    /// The controllers, who always pass `ic0.is_controller`.
    pub controllers: Vec<Principal>,
    /// Who installs (and later upgrades) the canister: the caller of
    /// `canister_init` and of the upgrade hooks, as on the IC. By default
    /// the first controller (on the IC the installer is a controller), or
    /// the anonymous principal when there is none.
    pub installer: Option<Principal>,
    /// The canister's own id.
    pub canister_id: Principal,
    /// The argument of `canister_init` (or of `canister_post_upgrade` when
    /// starting from an image); Candid `()` by default.
    pub arg: Vec<u8>,
    /// The IC's limits; lower them to test how a canister behaves near one.
    pub limits: Limits,
    /// Echo the canister's `debug_print` to standard error.
    pub echo_debug: bool,
    /// The seed of the management canister's `raw_rand`: the same seed
    /// gives the same random bytes, run after run.
    pub seed: u64,
}

impl Default for InstallArgs {
    fn default() -> Self {
        InstallArgs {
            controllers: Vec::new(),
            installer: None,
            // rrkah-fqaaa-aaaaa-aaaaq-cai, the first canister id of a local replica.
            canister_id: Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
            arg: b"DIDL\x00\x00".to_vec(),
            limits: Limits::default(),
            echo_debug: std::env::var_os("RUNNER_DEBUG").is_some(),
            seed: 0,
        }
    }
}

/// One canister, its wasm instance and its stable memory.
pub struct Canister {
    /// The module as it runs, and the system API's state.
    exec: Executor,
    limits: Limits,
    /// The module's metadata sections (`icp:public` / `icp:private`).
    metadata: Vec<crate::module::Metadata>,
    /// The caller of the lifecycle hooks.
    installer: Principal,
    /// The installed module; `None` once uninstalled.
    module: Option<Installed>,
    /// The chunk store, by the chunks' SHA-256 (`upload_chunk`).
    chunks: BTreeMap<Hash, Arc<[u8]>>,
    /// The snapshots, oldest first, and the number the next one gets.
    snapshots: Vec<snapshot::Snapshot>,
    next_snapshot: u64,
    /// Running, stopping or stopped.
    status: CanisterStatusType,
    /// The settings besides the controllers.
    settings: Settings,
    /// What its updates printed and how they trapped.
    log: CanisterLog,
    /// How many of the lines `ic0.debug_print` gave (`Env::log`) are
    /// accounted for in `log` (or were a query's, not logged).
    flushed: usize,
    /// Creation and code deployments, for `canister_info`.
    history: Vec<Change>,
    randomness: Randomness,
}

impl Canister {
    /// Installs `wasm` on empty stable memory and runs `canister_init`.
    pub fn install(wasm: &[u8], args: InstallArgs) -> Result<Canister, RunnerError> {
        Self::create(wasm, args, Vec::new(), Entry::Init)
    }

    /// Installs `wasm` over an existing stable memory image (a dump, or the
    /// `stable_memory.bin` of a snapshot) and runs `canister_post_upgrade`, as
    /// an upgrade would: the heap starts empty, stable memory is the image.
    pub fn from_image(
        wasm: &[u8],
        image: Vec<u8>,
        args: InstallArgs,
    ) -> Result<Canister, RunnerError> {
        if !(image.len() as u64).is_multiple_of(PAGE) {
            return Err(RunnerError::BadImage(format!(
                "expected a whole number of 64 KiB pages, found {} bytes",
                image.len()
            )));
        }
        if image.len() as u64 / PAGE > args.limits.max_stable_pages {
            return Err(RunnerError::BadImage(format!(
                "{} bytes is over the runner's stable memory limit of {} bytes",
                image.len(),
                args.limits.max_stable_pages * PAGE
            )));
        }
        Self::create(wasm, args, image, Entry::PostUpgrade)
    }

    /// A canister without a module, as `uninstall_code` leaves one: it
    /// answers no message until code is installed. For whoever puts back
    /// the record of an uninstalled canister.
    pub fn empty(args: InstallArgs) -> Result<Canister, RunnerError> {
        let mut canister = Self::create(install::NO_MODULE, args, Vec::new(), Entry::Init)?;
        canister.module = None;
        canister.history.pop();
        Ok(canister)
    }

    /// [`Canister::from_image`] with the image read from `path`.
    pub fn from_image_file(
        wasm: &[u8],
        path: &Path,
        args: InstallArgs,
    ) -> Result<Canister, RunnerError> {
        let image = std::fs::read(path).map_err(|source| RunnerError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_image(wasm, image, args)
    }

    fn create(
        wasm: &[u8],
        args: InstallArgs,
        stable: Vec<u8>,
        entry: Entry,
    ) -> Result<Canister, RunnerError> {
        let installer = args
            .installer
            .or_else(|| args.controllers.first().copied())
            .unwrap_or_else(Principal::anonymous);
        let env = Env {
            stable: StableMemory::new(stable, args.limits.max_stable_pages),
            message: None,
            canister_id: args.canister_id,
            controllers: args.controllers,
            time_nanos: 1_700_000_000_000_000_000,
            version: 0,
            certified_data: Vec::new(),
            data_certificate: None,
            memory: None,
            counter: None,
            dirty: None,
            log: Vec::new(),
            echo_debug: args.echo_debug,
            building: None,
            performed: Vec::new(),
        };
        let mut canister = Canister {
            exec: Executor::new(wasm, env)?,
            limits: args.limits,
            metadata: crate::module::metadata(wasm),
            installer,
            module: Some(Installed::new(wasm.into())),
            chunks: BTreeMap::new(),
            snapshots: Vec::new(),
            next_snapshot: 0,
            status: CanisterStatusType::Running,
            settings: Settings::default(),
            log: CanisterLog::default(),
            flushed: 0,
            history: Vec::new(),
            randomness: Randomness::new(args.seed),
        };
        let now = canister.exec.env().time_nanos;
        let controllers = canister.exec.env().controllers.clone();
        canister
            .history
            .push(Change::creation(now, installer, &controllers));
        canister.history.push(Change::deployment(
            now,
            0,
            installer,
            Mode::install,
            sha256(wasm),
        ));
        canister.exec.env_mut().stable.begin();
        let limits = canister.limits;
        canister
            .exec
            .env_mut()
            .stable
            .start_message(limits.upgrade_stable_access);
        canister.start_module(entry, &args.arg, limits.upgrade_instructions)?;
        canister.exec.env_mut().stable.commit();
        canister.exec.resync_heap();
        Ok(canister)
    }

    /// Upgrades to `wasm` as the installer: `canister_pre_upgrade` on the
    /// old module, then the new module on an empty heap and the same stable
    /// memory, then `canister_post_upgrade(arg)`. If any step fails, the
    /// canister is as it was before.
    pub fn upgrade(&mut self, wasm: &[u8], arg: &[u8]) -> Result<(), RunnerError> {
        self.upgrade_as(self.installer, wasm, arg)
    }

    /// [`Canister::upgrade`] by `caller`, who runs the hooks (and installs
    /// later upgrades).
    pub fn upgrade_as(
        &mut self,
        caller: Principal,
        wasm: &[u8],
        arg: &[u8],
    ) -> Result<(), RunnerError> {
        if self.module.is_none() {
            return Err(RunnerError::BadModule(
                "the canister is empty (uninstalled): install a module, not an upgrade".into(),
            ));
        }
        self.upgrade_to(caller, wasm.into(), arg, false)
    }

    /// Upgrades to `wasm` as `caller`, running `canister_pre_upgrade` unless
    /// `skip_pre_upgrade`; a failure changes nothing.
    fn upgrade_to(
        &mut self,
        caller: Principal,
        wasm: Arc<[u8]>,
        arg: &[u8],
        skip_pre_upgrade: bool,
    ) -> Result<(), RunnerError> {
        let installer = std::mem::replace(&mut self.installer, caller);
        self.exec.save_heap();
        let old = self.exec.loaded();
        // The hooks see the version the upgrade makes.
        self.exec.env_mut().version += 1;
        self.exec.env_mut().stable.begin();
        match self.replace_module(&wasm, arg, skip_pre_upgrade) {
            Ok(()) => {
                self.exec.env_mut().stable.commit();
                self.exec.resync_heap();
                self.deployed(Mode::upgrade, Installed::new(wasm));
                Ok(())
            }
            Err(error) => {
                self.exec.put_back(old);
                self.exec.restore_saved_heap();
                self.exec.env_mut().stable.rollback();
                self.exec.env_mut().version -= 1;
                self.installer = installer;
                self.log_failure(&error);
                Err(error)
            }
        }
    }

    /// The steps of an upgrade; `upgrade` undoes them all if one fails. As
    /// on the IC, the upgrade is one message: its hooks share one
    /// instruction limit and one stable memory access limit.
    fn replace_module(
        &mut self,
        wasm: &[u8],
        arg: &[u8],
        skip_pre_upgrade: bool,
    ) -> Result<(), RunnerError> {
        let failed = |stage| move |message| RunnerError::Lifecycle { stage, message };
        let limits = self.limits;
        self.exec
            .env_mut()
            .stable
            .start_message(limits.upgrade_stable_access);
        let used = if skip_pre_upgrade {
            0
        } else {
            self.exec
                .run_lifecycle(
                    Entry::PreUpgrade,
                    "canister_pre_upgrade",
                    self.installer,
                    &[],
                    limits.upgrade_instructions,
                )
                .map_err(failed("canister_pre_upgrade"))?
        };
        self.exec.load(wasm)?;
        let left = limits.upgrade_instructions.saturating_sub(used);
        self.start_module(Entry::PostUpgrade, arg, left).map(drop)
    }

    /// Runs a new module's start function, then `canister_init` or
    /// `canister_post_upgrade` (`hook`), sharing `instructions`; returns
    /// the instructions they used.
    fn start_module(
        &mut self,
        hook: Entry,
        arg: &[u8],
        instructions: u64,
    ) -> Result<u64, RunnerError> {
        let failed = |stage| move |message| RunnerError::Lifecycle { stage, message };
        let started = self
            .exec
            .run_lifecycle(
                Entry::Start,
                START_EXPORT,
                self.installer,
                &[],
                instructions,
            )
            .map_err(failed("the module's start function"))?;
        let stage = match hook {
            Entry::PostUpgrade => "canister_post_upgrade",
            _ => "canister_init",
        };
        let left = instructions.saturating_sub(started);
        self.exec
            .run_lifecycle(hook, stage, self.installer, arg, left)
            .map(|used| started + used)
            .map_err(failed(stage))
    }

    /// The data the canister last certified (`ic0.certified_data_set`).
    pub fn certified_data(&self) -> &[u8] {
        &self.exec.env().certified_data
    }

    /// The stable memory, as an image.
    pub fn stable_memory(&self) -> &[u8] {
        self.exec.env().stable.bytes()
    }

    /// Writes the stable memory image to `path` atomically and durably (a
    /// synced temporary file renamed over it), so that a failure or a crash
    /// leaves any earlier file whole.
    pub fn save_image(&self, path: &Path) -> Result<(), RunnerError> {
        backup_common::durable::write_atomically(path, self.stable_memory()).map_err(|error| {
            RunnerError::Io {
                path: error.path,
                source: error.source,
            }
        })
    }

    /// What the canister printed with `ic0.debug_print`, oldest first.
    pub fn debug_log(&self) -> &[String] {
        &self.exec.env().log
    }

    /// The certificate of the canister's certified data that non-replicated
    /// queries see from now on (`ic0.data_certificate_present/size/copy`),
    /// as the IC gives one: signed over `/time` and
    /// `/canister/<id>/certified_data`. Without one, they see none.
    pub fn set_data_certificate(&mut self, certificate: Option<Vec<u8>>) {
        self.exec.env_mut().data_certificate = certificate;
    }

    /// Changes whenever a committed message (or upgrade) changed stable
    /// memory, so a caller can tell whether its copy of the image is current.
    pub fn stable_generation(&self) -> u64 {
        self.exec.env().stable.generation()
    }

    /// The 4 KiB pages of stable memory written by the messages (and
    /// upgrades) committed since the last call, ascending, every message
    /// of a call included (callbacks, calls to itself): with
    /// [`Canister::stable_memory`]'s length, all a write-ahead log needs to
    /// redo them. When the memory was replaced whole (a reinstall, an
    /// uninstall, a snapshot loaded), every page of it, and the length may
    /// be shorter than before. Taking them starts a new set.
    pub fn take_written_pages(&mut self) -> Vec<u64> {
        self.exec.env_mut().stable.take_written()
    }

    /// SHA-256 of the installed module, as given (gzipped or not); `None`
    /// once uninstalled.
    pub fn module_hash(&self) -> Option<Hash> {
        self.module.as_ref().map(|module| module.hash)
    }

    /// The installed module, as given; `None` once uninstalled.
    pub fn module(&self) -> Option<&[u8]> {
        self.module.as_ref().map(|module| &*module.bytes)
    }

    /// The installed module's metadata sections (`icp:public <name>` and
    /// `icp:private <name>`), as the IC certifies them.
    pub fn metadata(&self) -> &[crate::module::Metadata] {
        &self.metadata
    }

    /// The bytes of the module's metadata section `name` (public or
    /// private), if it has one.
    pub fn metadata_section(&self, name: &str) -> Option<&[u8]> {
        self.metadata
            .iter()
            .find(|section| section.name == name)
            .map(|section| &section.bytes[..])
    }

    /// The canister's controllers.
    pub fn controllers(&self) -> Vec<Principal> {
        self.exec.env().controllers.clone()
    }

    /// The settings in effect besides the controllers.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The canister's log, as `fetch_canister_logs` gives it.
    pub fn canister_log(&self) -> &CanisterLog {
        &self.log
    }

    /// Puts back a log [`Canister::canister_log`] gave (kept between runs).
    pub fn restore_log(&mut self, log: CanisterLog) {
        self.log = log;
    }

    /// Moves what `ic0.debug_print` printed since the last time into the
    /// canister's log (`keep`), or drops it (a query's).
    fn flush_prints(&mut self, keep: bool) {
        let env = self.exec.env();
        let (time, printed) = (env.time_nanos, env.log.len());
        if keep {
            let limit = self.settings.log_limit();
            for line in &env.log[self.flushed.min(printed)..] {
                self.log.push(time, line.clone().into_bytes(), limit);
            }
        }
        self.flushed = printed;
    }

    /// Logs a trap of an update's message, after what it printed.
    fn log_trap(&mut self, message: &str) {
        self.flush_prints(true);
        let text = message
            .strip_prefix("the canister trapped: ")
            .unwrap_or(message);
        let time = self.exec.env().time_nanos;
        let limit = self.settings.log_limit();
        self.log
            .push(time, format!("[TRAP]: {text}").into_bytes(), limit);
    }

    /// Whether `principal` controls the canister.
    pub fn is_controller(&self, principal: &Principal) -> bool {
        self.exec.env().controllers.contains(principal)
    }

    /// The canister's id.
    pub fn canister_id(&self) -> Principal {
        self.exec.env().canister_id
    }

    /// Sets the time `ic0.time` returns, in nanoseconds since 1970.
    pub fn set_time(&mut self, nanos: u64) {
        self.exec.env_mut().time_nanos = nanos;
    }

    /// The canister's Candid interface: the `candid:service` metadata section
    /// if the module has one (dfx adds it), otherwise what the module's
    /// `get_candid_pointer` export (from ic-cdk's `export_candid!`) returns,
    /// kept in the runner's cache for the next process (`module::cache`).
    pub fn candid_interface(&mut self) -> Option<String> {
        if let Some(service) = self
            .metadata_section("candid:service")
            .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        {
            return Some(service);
        }
        // The text is the module's own: kept beside its metered form.
        let entry = self.module.as_ref().and_then(|module| {
            crate::module::cache::interface_entry(&module.hash, module.bytes.len())
        });
        if let Some(text) = entry
            .as_deref()
            .and_then(crate::module::cache::read_interface)
        {
            return Some(text);
        }
        let text = self
            .exec
            .candid_pointer_text(self.limits.query_instructions)?;
        if let Some(entry) = &entry {
            crate::module::cache::write_interface(entry, &text);
        }
        Some(text)
    }

    /// The exported method names, by kind: `("query", "backup_profiles")`, ...
    pub fn methods(&self) -> Vec<(&'static str, String)> {
        let mut methods = Vec::new();
        for name in self.exec.export_names() {
            if let Some(method) = name.strip_prefix("canister_query ") {
                methods.push(("query", method.to_string()));
            } else if let Some(method) = name.strip_prefix("canister_update ") {
                methods.push(("update", method.to_string()));
            }
        }
        methods
    }
}

pub(super) fn sha256(bytes: &[u8]) -> Hash {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
