//! One canister: install, calls with the IC's rollback semantics, upgrades,
//! and its stable memory image.

use crate::call::{CallResult, CallStats, Reject, RejectCode};
use crate::error::RunnerError;
use crate::heap::Shadow;
use crate::host::{self, Callback, Entry, Env, Message, OutgoingCall, Response};
use crate::instrument::{BYTEMAP_EXPORT, COUNTER_EXPORT, HEAP_PAGES_EXPORT, START_EXPORT};
use crate::limits::Limits;
use crate::management::{self, Change, Mode, Randomness};
use crate::module::{global_export_name, prepare};
use crate::stable::{StableMemory, PAGE};
use candid::Principal;
use std::path::Path;
use wasmi::{Config, Engine, Global, Instance, Linker, Module, Store, Val};

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

/// One entry point to run: which, for whom, with what, under which limits.
struct Run<'a> {
    entry: Entry,
    method: &'a str,
    caller: Principal,
    arg: &'a [u8],
    reply_limit: usize,
    instructions: u64,
    /// In a reject callback: the reject it got.
    reject: Option<(u32, String)>,
    /// The call context was already answered by an earlier message.
    context_replied: bool,
}

/// One canister, its wasm instance and its stable memory.
pub struct Canister {
    engine: Engine,
    store: Store<Env>,
    instance: Instance,
    /// The module's mutable globals, saved and restored around messages.
    globals: Vec<Global>,
    limits: Limits,
    /// What a message may undo.
    shadow: Shadow,
    /// The module's metadata sections (`icp:public` / `icp:private`).
    metadata: Vec<crate::module::Metadata>,
    /// The caller of the lifecycle hooks.
    installer: Principal,
    /// SHA-256 of the installed module, as given.
    module_hash: [u8; 32],
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
        if image.len() as u64 % PAGE != 0 {
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
        let engine = Engine::new(&engine_config());
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
        let mut store = Store::new(&engine, env);
        let (instance, globals) = instantiate(&engine, &mut store, wasm)?;
        let mut canister = Canister {
            engine,
            store,
            instance,
            globals,
            limits: args.limits,
            shadow: Shadow::default(),
            metadata: crate::module::metadata(wasm),
            installer,
            module_hash: sha256(wasm),
            history: Vec::new(),
            randomness: Randomness::new(args.seed),
        };
        let now = canister.store.data().time_nanos;
        let controllers = canister.store.data().controllers.clone();
        canister
            .history
            .push(Change::creation(now, installer, &controllers));
        canister.history.push(Change::deployment(
            now,
            0,
            installer,
            Mode::install,
            canister.module_hash,
        ));
        canister.store.data_mut().stable.begin();
        let limits = canister.limits;
        canister
            .store
            .data_mut()
            .stable
            .start_message(limits.upgrade_stable_access);
        canister.start_module(entry, &args.arg, limits.upgrade_instructions)?;
        canister.store.data_mut().stable.commit();
        canister.shadow.resync(&mut canister.store);
        Ok(canister)
    }

    /// Runs a query method: every change it makes is thrown away.
    pub fn query(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        self.call(Entry::Query, caller, method, arg)
    }

    /// Runs a query method as an update call runs it: replicated (so
    /// `in_replicated_execution` is 1, and the reply at most 2 MiB), its
    /// changes thrown away.
    pub fn query_replicated(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        self.call(Entry::ReplicatedQuery, caller, method, arg)
    }

    /// Runs an update method: its changes are kept if it replies or rejects,
    /// and rolled back if it traps.
    pub fn update(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        self.call(Entry::Update, caller, method, arg)
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
        let installer = std::mem::replace(&mut self.installer, caller);
        let result = self.upgrade_steps(wasm, arg);
        if result.is_err() {
            self.installer = installer;
        }
        result
    }

    fn upgrade_steps(&mut self, wasm: &[u8], arg: &[u8]) -> Result<(), RunnerError> {
        self.save_heap();
        let (old_instance, old_globals, old_memory, old_counter, old_bytemap) = (
            self.instance,
            self.globals.clone(),
            self.store.data().memory,
            self.store.data().counter,
            self.store.data().dirty,
        );
        self.store.data_mut().stable.begin();
        match self.replace_module(wasm, arg) {
            Ok(()) => {
                self.store.data_mut().stable.commit();
                self.shadow.resync(&mut self.store);
                self.store.data_mut().version += 1;
                self.metadata = crate::module::metadata(wasm);
                self.module_hash = sha256(wasm);
                let (now, version) = (self.store.data().time_nanos, self.store.data().version);
                self.history.push(Change::deployment(
                    now,
                    version,
                    self.installer,
                    Mode::upgrade,
                    self.module_hash,
                ));
                Ok(())
            }
            Err(error) => {
                self.instance = old_instance;
                self.globals = old_globals;
                let env = self.store.data_mut();
                (env.memory, env.counter, env.dirty) = (old_memory, old_counter, old_bytemap);
                self.restore_saved_heap();
                self.store.data_mut().stable.rollback();
                Err(error)
            }
        }
    }

    /// The steps of an upgrade; `upgrade` undoes them all if one fails. As
    /// on the IC, the upgrade is one message: its hooks share one
    /// instruction limit and one stable memory access limit.
    fn replace_module(&mut self, wasm: &[u8], arg: &[u8]) -> Result<(), RunnerError> {
        let failed = |stage| move |message| RunnerError::Lifecycle { stage, message };
        let limits = self.limits;
        self.store
            .data_mut()
            .stable
            .start_message(limits.upgrade_stable_access);
        let used = self
            .run_lifecycle(
                Entry::PreUpgrade,
                "canister_pre_upgrade",
                &[],
                limits.upgrade_instructions,
            )
            .map_err(failed("canister_pre_upgrade"))?;
        let (instance, globals) = instantiate(&self.engine, &mut self.store, wasm)?;
        self.instance = instance;
        self.globals = globals;
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
            .run_lifecycle(Entry::Start, START_EXPORT, &[], instructions)
            .map_err(failed("the module's start function"))?;
        let stage = match hook {
            Entry::PostUpgrade => "canister_post_upgrade",
            _ => "canister_init",
        };
        let left = instructions.saturating_sub(started);
        self.run_lifecycle(hook, stage, arg, left)
            .map(|used| started + used)
            .map_err(failed(stage))
    }

    /// The data the canister last certified (`ic0.certified_data_set`).
    pub fn certified_data(&self) -> &[u8] {
        &self.store.data().certified_data
    }

    /// The stable memory, as an image.
    pub fn stable_memory(&self) -> &[u8] {
        self.store.data().stable.bytes()
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
        &self.store.data().log
    }

    /// The certificate of the canister's certified data that non-replicated
    /// queries see from now on (`ic0.data_certificate_present/size/copy`),
    /// as the IC gives one: signed over `/time` and
    /// `/canister/<id>/certified_data`. Without one, they see none.
    pub fn set_data_certificate(&mut self, certificate: Option<Vec<u8>>) {
        self.store.data_mut().data_certificate = certificate;
    }

    /// Changes whenever a committed message (or upgrade) changed stable
    /// memory, so a caller can tell whether its copy of the image is current.
    pub fn stable_generation(&self) -> u64 {
        self.store.data().stable.generation()
    }

    /// The 4 KiB pages of stable memory written by the messages (and
    /// upgrades) committed since the last call, ascending, every message
    /// of a call included (callbacks, calls to itself): with
    /// [`Canister::stable_memory`]'s length, all a write-ahead log needs to
    /// redo them. Taking them starts a new set.
    pub fn take_written_pages(&mut self) -> Vec<u64> {
        self.store.data_mut().stable.take_written()
    }

    /// SHA-256 of the installed module, as given (gzipped or not).
    pub fn module_hash(&self) -> [u8; 32] {
        self.module_hash
    }

    /// The installed module's metadata sections (`icp:public <name>` and
    /// `icp:private <name>`), as the IC certifies them.
    pub fn metadata(&self) -> &[crate::module::Metadata] {
        &self.metadata
    }

    /// The canister's controllers.
    pub fn controllers(&self) -> Vec<Principal> {
        self.store.data().controllers.clone()
    }

    /// Whether `principal` controls the canister.
    pub fn is_controller(&self, principal: &Principal) -> bool {
        self.store.data().controllers.contains(principal)
    }

    /// The canister's id.
    pub fn canister_id(&self) -> Principal {
        self.store.data().canister_id
    }

    /// Sets the time `ic0.time` returns, in nanoseconds since 1970.
    pub fn set_time(&mut self, nanos: u64) {
        self.store.data_mut().time_nanos = nanos;
    }

    /// The canister's Candid interface: the `candid:service` metadata section
    /// if the module has one (dfx adds it), otherwise what the module's
    /// `get_candid_pointer` export (from ic-cdk's `export_candid!`) returns.
    pub fn candid_interface(&mut self) -> Option<String> {
        let section = self
            .metadata
            .iter()
            .find(|section| section.name == "candid:service");
        if let Some(service) =
            section.and_then(|section| String::from_utf8(section.bytes.clone()).ok())
        {
            return Some(service);
        }
        let function = self
            .instance
            .get_typed_func::<(), i32>(&self.store, "get_candid_pointer")
            .ok()?;
        self.save_heap();
        self.set_counter(self.limits.query_instructions);
        let text = function.call(&mut self.store, ()).ok().and_then(|pointer| {
            let memory = self.store.data().memory?;
            let data = memory.data(&self.store);
            let start = usize::try_from(pointer).ok()?;
            let end = start + data.get(start..)?.iter().position(|&b| b == 0)?;
            String::from_utf8(data[start..end].to_vec()).ok()
        });
        self.restore_saved_heap();
        text
    }

    /// The exported method names, by kind: `("query", "backup_profiles")`, ...
    pub fn methods(&self) -> Vec<(&'static str, String)> {
        let mut methods = Vec::new();
        for export in self.instance.exports(&self.store) {
            let name = export.name();
            if let Some(method) = name.strip_prefix("canister_query ") {
                methods.push(("query", method.to_string()));
            } else if let Some(method) = name.strip_prefix("canister_update ") {
                methods.push(("update", method.to_string()));
            }
        }
        methods
    }

    fn call(&mut self, entry: Entry, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        let mut stats = CallStats {
            bytes_in: arg.len(),
            ..CallStats::default()
        };
        let reject = |code, message: String| Err(Reject { code, message });
        if arg.len() > self.limits.ingress_bytes {
            let message = format!(
                "the argument of {} bytes is over the ingress limit of {} bytes",
                arg.len(),
                self.limits.ingress_bytes
            );
            return CallResult {
                result: reject(RejectCode::SysFatal, message),
                stats,
            };
        }
        let kind = if entry.is_query() { "query" } else { "update" };
        let export = format!("canister_{kind} {method}");
        let Some(function) = self.instance.get_func(&self.store, &export) else {
            let message = format!("the canister has no {kind} method `{method}`");
            return CallResult {
                result: reject(RejectCode::DestinationInvalid, message),
                stats,
            };
        };
        // A query called as an update (replicated) replies at most what
        // an update may, 2 MiB.
        let (limit, reply_limit) = match entry {
            Entry::Query => (
                self.limits.query_instructions,
                self.limits.query_reply_bytes,
            ),
            Entry::ReplicatedQuery => (
                self.limits.query_instructions,
                self.limits.update_reply_bytes,
            ),
            _ => (
                self.limits.update_instructions,
                self.limits.update_reply_bytes,
            ),
        };
        self.begin_message(if entry.is_query() {
            self.limits.query_stable_access
        } else {
            self.limits.update_stable_access
        });
        let run = Run {
            entry,
            method,
            caller,
            arg,
            reply_limit,
            instructions: limit,
            reject: None,
            context_replied: false,
        };
        let outcome = self.execute(run, |store| function.call(store, &[], &mut []));
        stats.instructions = outcome.1;
        let kept = outcome.0.is_ok() && !entry.is_query();
        let performed = self.end_message(kept);
        let mut response = match outcome.0 {
            Err(message) => {
                return CallResult {
                    result: reject(RejectCode::CanisterError, message),
                    stats,
                }
            }
            Ok(response) => response,
        };
        // The message's state is committed (as at an `await`); the calls it
        // performed are delivered, and their callbacks run, one message each.
        let mut trapped = None;
        if !performed.is_empty() {
            let (used, trap) = self.deliver(caller, reply_limit, performed, &mut response);
            stats.instructions += used;
            trapped = trap;
        }
        let result = match response {
            Some(Response::Reply(bytes)) => {
                stats.bytes_out = bytes.len();
                Ok(bytes)
            }
            Some(Response::Reject(message)) => reject(RejectCode::CanisterReject, message),
            // A callback that trapped closes the call context with its error.
            None => reject(
                RejectCode::CanisterError,
                match trapped {
                    Some(trap) => format!("a callback of `{method}` trapped: {trap}"),
                    None => format!("the canister did not reply to `{method}`"),
                },
            ),
        };
        CallResult { result, stats }
    }

    /// Delivers `calls` and runs their callbacks (and the calls those make)
    /// in the call context of `caller`, whose answer, once given, goes to
    /// `response`. Returns the instructions the callbacks used, and the
    /// last trap of a callback, if one trapped.
    fn deliver(
        &mut self,
        caller: Principal,
        reply_limit: usize,
        calls: Vec<OutgoingCall>,
        response: &mut Option<Response>,
    ) -> (u64, Option<String>) {
        let mut used = 0;
        let mut trapped = None;
        let mut queue: std::collections::VecDeque<OutgoingCall> = calls.into();
        while let Some(call) = queue.pop_front() {
            let outcome = self.answer(&call);
            let (entry, arg, rejected, callback) = match outcome {
                Ok(reply) => (Entry::ReplyCallback, reply, None, call.reply),
                Err((code, message)) => (
                    Entry::RejectCallback,
                    Vec::new(),
                    Some((code as u32, message)),
                    call.reject,
                ),
            };
            let run = Run {
                entry,
                method: "",
                caller,
                arg: &arg,
                reply_limit,
                instructions: self.limits.update_instructions,
                reject: rejected,
                context_replied: response.is_some(),
            };
            match self.run_callback(run, callback) {
                (Ok(answer), spent, calls) => {
                    used += spent;
                    if response.is_none() {
                        *response = answer;
                    }
                    queue.extend(calls);
                }
                (Err(trap), spent, _) => {
                    used += spent;
                    trapped = Some(trap);
                    if let Some(cleanup) = call.cleanup {
                        let run = Run {
                            entry: Entry::Cleanup,
                            method: "",
                            caller,
                            arg: &[],
                            reply_limit: 0,
                            instructions: self.limits.update_instructions,
                            reject: None,
                            context_replied: true,
                        };
                        used += self.run_callback(run, cleanup).1;
                    }
                }
            }
        }
        (used, trapped)
    }

    /// The management canister's answer to `caller` about this canister.
    fn management(
        &mut self,
        caller: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, (RejectCode, String)> {
        let heap_bytes = self.heap_bytes();
        let data = self.store.data();
        let view = management::View {
            canister_id: data.canister_id,
            controllers: &data.controllers,
            module_hash: self.module_hash,
            stable_bytes: data.stable.bytes().len() as u64,
            heap_bytes,
            history: &self.history,
        };
        management::call(&view, &mut self.randomness, caller, method, arg)
    }

    /// A user's ingress message to the management canister (`aaaaa-aa`)
    /// about this canister: `canister_status`, which the IC answers to the
    /// canister's controllers; the methods only canisters may call, and
    /// those that would change the canister (installing code, settings,
    /// stopping), are refused.
    pub fn management_ingress(
        &mut self,
        caller: Principal,
        method: &str,
        arg: &[u8],
    ) -> CallResult {
        let stats = CallStats {
            bytes_in: arg.len(),
            ..CallStats::default()
        };
        let controls = self.store.data().controllers.contains(&caller);
        let result = match method {
            // Who may ask is checked before the argument is read, as the
            // IC's ingress filter does: a stranger's argument costs nothing.
            "canister_status" if !controls => Err(management::not_a_controller(
                &self.store.data().controllers,
                self.store.data().canister_id,
                caller,
            )),
            "canister_status" => self.management(caller, method, arg),
            "raw_rand" | "canister_info" | "http_request" | "sign_with_ecdsa" => Err((
                RejectCode::CanisterReject,
                format!("IC0509: {method} can only be called by canisters, not by users"),
            )),
            _ => Err((
                RejectCode::CanisterReject,
                format!(
                    "the management canister's {method} is not run here: the runner keeps one canister as it was installed"
                ),
            )),
        };
        CallResult {
            result: result.map_err(|(code, message)| Reject { code, message }),
            stats,
        }
    }

    /// The answer to a call the canister made: the management canister's,
    /// its own (a call to itself runs as an update), or, as the IC answers
    /// for a canister that does not exist, a reject.
    fn answer(&mut self, call: &OutgoingCall) -> Result<Vec<u8>, (RejectCode, String)> {
        let own_id = self.store.data().canister_id;
        if call.callee == Principal::management_canister() {
            return self.management(own_id, &call.method, &call.arg);
        }
        if call.callee == own_id {
            return self
                .update(own_id, &call.method, &call.arg)
                .result
                .map_err(|reject| (reject.code, reject.message));
        }
        Err((
            RejectCode::DestinationInvalid,
            format!("Canister {} not found", call.callee),
        ))
    }

    /// Runs one callback (`fun(env)` from the module's table) as its own
    /// message: kept if it returns, rolled back (with any calls it made)
    /// if it traps. Returns its outcome, the instructions it used, and the
    /// calls it made.
    fn run_callback(
        &mut self,
        run: Run<'_>,
        callback: Callback,
    ) -> (Result<Option<Response>, String>, u64, Vec<OutgoingCall>) {
        self.begin_message(self.limits.update_stable_access);
        let table = self
            .instance
            .get_table(&self.store, crate::module::TABLE_EXPORT);
        let outcome = self.execute(run, |store| {
            let table = table.ok_or_else(|| {
                wasmi::Error::new("a callback, but the module has no function table")
            })?;
            let function = table
                .get(&*store, u64::from(callback.fun))
                .and_then(|value| match value {
                    wasmi::Ref::Func(wasmi::Nullable::Val(function)) => Some(function),
                    _ => None,
                })
                .ok_or_else(|| {
                    wasmi::Error::new(format!(
                        "the callback {} is not a function of the table",
                        callback.fun
                    ))
                })?;
            function.call(store, &[Val::I32(callback.env as i32)], &mut [])
        });
        let calls = self.end_message(outcome.0.is_ok());
        (outcome.0, outcome.1, calls)
    }

    /// Starts a message: what it may undo (the heap, a stable memory
    /// journal), the stable memory it may touch, and the clock.
    fn begin_message(&mut self, stable_access: u64) {
        self.save_heap();
        let env = self.store.data_mut();
        env.stable.begin();
        env.stable.start_message(stable_access);
        env.time_nanos += 1_000_000;
    }

    /// Ends a message: keeps what it did and returns the calls it made, or
    /// undoes it all, its calls included.
    fn end_message(&mut self, keep: bool) -> Vec<OutgoingCall> {
        let performed = std::mem::take(&mut self.store.data_mut().performed);
        if keep {
            self.store.data_mut().stable.commit();
            self.shadow.keep(&mut self.store);
            performed
        } else {
            self.restore_saved_heap();
            self.store.data_mut().stable.rollback();
            Vec::new()
        }
    }

    /// Runs `canister_init`, `canister_pre_upgrade` or `canister_post_upgrade`
    /// if the module exports it, with at most `instructions`; returns the
    /// instructions it used.
    fn run_lifecycle(
        &mut self,
        entry: Entry,
        export: &str,
        arg: &[u8],
        instructions: u64,
    ) -> Result<u64, String> {
        let Some(function) = self.instance.get_func(&self.store, export) else {
            return Ok(0);
        };
        let run = Run {
            entry,
            method: export,
            caller: self.installer,
            arg,
            reply_limit: 0,
            instructions,
            reject: None,
            context_replied: false,
        };
        let (result, used) = self.execute(run, |store| function.call(store, &[], &mut []));
        result.map(|_| used)
    }

    /// Runs one entry point under `run`'s limits; returns its response or
    /// the trap message, and the instructions it used.
    fn execute(
        &mut self,
        run: Run<'_>,
        call: impl FnOnce(&mut Store<Env>) -> Result<(), wasmi::Error>,
    ) -> (Result<Option<Response>, String>, u64) {
        let limit = run.instructions;
        self.set_counter(limit);
        self.store.data_mut().message = Some(Message {
            entry: run.entry,
            method: run.method.to_string(),
            caller: run.caller,
            arg: run.arg.to_vec(),
            reply: Vec::new(),
            reply_limit: run.reply_limit,
            response: None,
            instruction_limit: limit,
            reject: run.reject,
            context_replied: run.context_replied,
        });
        let result = call(&mut self.store);
        let left = host::instructions_left(&self.store).unwrap_or(0);
        // The metering traps with `unreachable`, a system call with its
        // own message: either way, the counter below zero says why.
        let result = result.map_err(|error| {
            if left < 0 {
                format!("the call exceeded the instruction limit of {limit}")
            } else {
                error.to_string()
            }
        });
        let used = limit.min((limit as i64).saturating_sub(left).max(0) as u64);
        let message = self.store.data_mut().message.take();
        // A call built and not performed goes nowhere.
        self.store.data_mut().building = None;
        (result.map(|()| message.and_then(|m| m.response)), used)
    }

    /// Sets the instructions the next message may execute.
    fn set_counter(&mut self, instructions: u64) {
        if let Some(counter) = self.store.data().counter {
            let value = Val::I64(i64::try_from(instructions).unwrap_or(i64::MAX));
            // The counter is the metering's own i64 global.
            let _ = counter.set(&mut self.store, value);
        }
    }

    /// The heap's size as the canister sees it: on the IC, an undone
    /// message's growth is undone too.
    fn heap_bytes(&self) -> u64 {
        match self
            .instance
            .get_global(&self.store, HEAP_PAGES_EXPORT)
            .map(|pages| pages.get(&self.store))
        {
            Some(Val::I32(pages)) => u64::from(pages as u32) * 65536,
            _ => self
                .store
                .data()
                .memory
                .map_or(0, |memory| memory.data(&self.store).len() as u64),
        }
    }

    /// Saves what a message may undo besides the pages it writes.
    fn save_heap(&mut self) {
        self.shadow.begin(&self.store, &self.globals);
    }

    /// Undoes what the message did to the heap.
    fn restore_saved_heap(&mut self) {
        self.shadow.undo(&mut self.store, &self.globals);
    }
}

/// Instantiates a module: its start function, exported by the metering,
/// runs later, under the install's limits.
fn instantiate(
    engine: &Engine,
    store: &mut Store<Env>,
    wasm: &[u8],
) -> Result<(Instance, Vec<Global>), RunnerError> {
    let prepared = prepare(wasm)?;
    let module = Module::new(engine, &prepared.bytes)
        .map_err(|error| RunnerError::BadModule(error.to_string()))?;
    let mut linker = Linker::new(engine);
    host::link(&mut linker, &module)?;
    let instance = linker
        .instantiate_and_start(&mut *store, &module)
        .map_err(|error| RunnerError::BadModule(format!("instantiation failed: {error}")))?;
    let memory = instance
        .get_memory(&*store, "memory")
        .ok_or_else(|| RunnerError::MissingExport("its linear memory as `memory`".into()))?;
    store.data_mut().memory = Some(memory);
    store.data_mut().counter = instance.get_global(&*store, COUNTER_EXPORT);
    store.data_mut().dirty = instance.get_memory(&*store, BYTEMAP_EXPORT);
    let globals = prepared
        .mutable_globals
        .iter()
        .filter_map(|&index| instance.get_global(&*store, &global_export_name(index)))
        .collect();
    Ok((instance, globals))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The interpreter's limits on a canister's recursion, near the IC's: the IC
/// stops a canister that uses more than 5 MiB of native stack (wasmtime's
/// `max_wasm_stack`, `MAX_WASM_STACK_SIZE` in the replica's embedders) and
/// counts no frames. wasmi's defaults (1,000 frames, 1 MB of values) would
/// trap a canister at a tenth of the depth the IC runs it to (a Candid value
/// a few hundred levels deep); here the frames are not counted either and
/// the values and registers of the frames in use may take 5 MiB. Frames of
/// the interpreter and of compiled code differ in size, so the depth at which
/// each stops differs too: near, not equal.
fn engine_config() -> Config {
    let mut config = Config::default();
    config.set_max_recursion_depth(MAX_RECURSION_DEPTH);
    config.set_max_stack_height(WASM_STACK_BYTES);
    config
}

/// The IC's `MAX_WASM_STACK_SIZE`.
const WASM_STACK_BYTES: usize = 5 << 20;

/// No count of frames on the IC: far more than the stack above can hold.
const MAX_RECURSION_DEPTH: usize = 1 << 20;
