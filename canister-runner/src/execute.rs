//! Running one message: the module instantiated in its store, entered at
//! one entry point with the context the system API reads, under an
//! instruction limit counted by the metering, and then what the message did
//! kept or undone. It knows nothing of the canister around it: which
//! message to run, for whom and under which limits is the caller's choice.

use crate::error::RunnerError;
use crate::heap::Shadow;
use crate::host::{self, Callback, Entry, Env, Message, OutgoingCall, Response};
use crate::instrument::{BYTEMAP_EXPORT, COUNTER_EXPORT, HEAP_PAGES_EXPORT};
use crate::module::{global_export_name, prepare, TABLE_EXPORT};
use candid::Principal;
use wasmi::{
    CompilationMode, Config, Engine, Func, Global, Instance, Linker, Memory, Module, Store, Val,
};

/// One entry point to run: which, for whom, with what, under which limits.
pub struct Run<'a> {
    pub entry: Entry,
    pub method: &'a str,
    pub caller: Principal,
    pub arg: &'a [u8],
    pub reply_limit: usize,
    pub instructions: u64,
    /// In a reject callback: the reject it got.
    pub reject: Option<(u32, String)>,
    /// The call context was already answered by an earlier message.
    pub context_replied: bool,
}

/// A module as it runs: the interpreter, the instance and its store (all
/// that the system API reads and writes), and what a message may undo.
pub struct Executor {
    engine: Engine,
    store: Store<Env>,
    instance: Instance,
    /// The module's mutable globals, saved and restored around messages.
    globals: Vec<Global>,
    /// What a message may undo.
    shadow: Shadow,
}

/// The module an upgrade replaces, to put back if the upgrade fails.
pub struct Loaded {
    instance: Instance,
    globals: Vec<Global>,
    memory: Option<Memory>,
    counter: Option<Global>,
    dirty: Option<Memory>,
}

impl Executor {
    /// Instantiates `wasm` in a store of its own holding `env`. The start
    /// function, exported by the metering, runs later, under the install's
    /// limits.
    pub fn new(wasm: &[u8], env: Env) -> Result<Executor, RunnerError> {
        let engine = Engine::new(&engine_config());
        let mut store = Store::new(&engine, env);
        let (instance, globals) = instantiate(&engine, &mut store, wasm)?;
        Ok(Executor {
            engine,
            store,
            instance,
            globals,
            shadow: Shadow::default(),
        })
    }

    /// Instantiates `wasm` in place of the module, in the same store (the
    /// same stable memory); its start function runs later, as in
    /// [`Executor::new`].
    pub fn load(&mut self, wasm: &[u8]) -> Result<(), RunnerError> {
        let (instance, globals) = instantiate(&self.engine, &mut self.store, wasm)?;
        self.instance = instance;
        self.globals = globals;
        Ok(())
    }

    /// The module as it is, to put back with [`Executor::put_back`].
    pub fn loaded(&self) -> Loaded {
        let env = self.store.data();
        Loaded {
            instance: self.instance,
            globals: self.globals.clone(),
            memory: env.memory,
            counter: env.counter,
            dirty: env.dirty,
        }
    }

    /// Puts back a module that [`Executor::load`] replaced.
    pub fn put_back(&mut self, loaded: Loaded) {
        self.instance = loaded.instance;
        self.globals = loaded.globals;
        let env = self.store.data_mut();
        (env.memory, env.counter, env.dirty) = (loaded.memory, loaded.counter, loaded.dirty);
    }

    /// The state the system API reads.
    pub fn env(&self) -> &Env {
        self.store.data()
    }

    /// The state the system API writes.
    pub fn env_mut(&mut self) -> &mut Env {
        self.store.data_mut()
    }

    /// The module's exported function `name`, if it has one.
    pub fn export(&self, name: &str) -> Option<Func> {
        self.instance.get_func(&self.store, name)
    }

    /// The names of the module's exports.
    pub fn export_names(&self) -> impl Iterator<Item = &str> {
        self.instance
            .exports(&self.store)
            .map(|export| export.name())
    }

    /// Starts a message: what it may undo (the heap, a stable memory
    /// journal), the stable memory it may touch, and the clock.
    pub fn begin_message(&mut self, stable_access: u64) {
        self.save_heap();
        let env = self.store.data_mut();
        env.stable.begin();
        env.stable.start_message(stable_access);
        env.time_nanos += 1_000_000;
    }

    /// Ends a message: keeps what it did and returns the calls it made, or
    /// undoes it all, its calls included.
    pub fn end_message(&mut self, keep: bool) -> Vec<OutgoingCall> {
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

    /// Runs one callback (`fun(env)` from the module's table) as its own
    /// message, touching at most `stable_access` bytes of stable memory:
    /// kept if it returns, rolled back (with any calls it made) if it
    /// traps. Returns its outcome, the instructions it used, and the calls
    /// it made.
    pub fn run_callback(
        &mut self,
        run: Run<'_>,
        callback: Callback,
        stable_access: u64,
    ) -> (Result<Option<Response>, String>, u64, Vec<OutgoingCall>) {
        self.begin_message(stable_access);
        let table = self.instance.get_table(&self.store, TABLE_EXPORT);
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

    /// Runs `canister_init`, `canister_pre_upgrade` or `canister_post_upgrade`
    /// if the module exports it, as `caller`, with at most `instructions`;
    /// returns the instructions it used.
    pub fn run_lifecycle(
        &mut self,
        entry: Entry,
        export: &str,
        caller: Principal,
        arg: &[u8],
        instructions: u64,
    ) -> Result<u64, String> {
        let Some(function) = self.instance.get_func(&self.store, export) else {
            return Ok(0);
        };
        let run = Run {
            entry,
            method: export,
            caller,
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
    pub fn execute(
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

    /// What the module's `get_candid_pointer` export (from ic-cdk's
    /// `export_candid!`) returns, run with at most `instructions`; nothing
    /// it does is kept.
    pub fn candid_pointer_text(&mut self, instructions: u64) -> Option<String> {
        let function = self
            .instance
            .get_typed_func::<(), i32>(&self.store, "get_candid_pointer")
            .ok()?;
        self.save_heap();
        self.set_counter(instructions);
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

    /// Sets the instructions the next message may execute.
    fn set_counter(&mut self, instructions: u64) {
        if let Some(counter) = self.store.data().counter {
            let value = Val::I64(i64::try_from(instructions).unwrap_or(i64::MAX));
            // The counter is the metering's own i64 global.
            let _ = counter.set(&mut self.store, value);
        }
    }

    /// How many mutable globals the module has (those a message may change).
    pub fn global_count(&self) -> usize {
        self.globals.len()
    }

    /// The heap's size as the canister sees it: on the IC, an undone
    /// message's growth is undone too.
    pub fn heap_bytes(&self) -> u64 {
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

    /// The heap as the canister sees it: its linear memory, as long as
    /// [`Executor::heap_bytes`] says.
    pub fn heap(&self) -> Vec<u8> {
        let Some(memory) = self.store.data().memory else {
            return Vec::new();
        };
        let data = memory.data(&self.store);
        let len = (self.heap_bytes() as usize).min(data.len());
        data[..len].to_vec()
    }

    /// Makes the heap `bytes` (a snapshot's): memory grown to hold them,
    /// the rest zero, and the heap's size theirs. Refused, changing
    /// nothing, when memory cannot grow to them or is already larger (a
    /// heap never shrinks).
    pub fn set_heap(&mut self, bytes: &[u8]) -> Result<(), String> {
        let memory = self
            .store
            .data()
            .memory
            .ok_or("the module has no linear memory")?;
        let page = 65536;
        if !bytes.len().is_multiple_of(page) {
            return Err(format!(
                "a heap of {} bytes is not a whole number of 64 KiB pages",
                bytes.len()
            ));
        }
        let have = memory.data(&self.store).len();
        if bytes.len() < have {
            return Err(format!(
                "the module's memory starts at {have} bytes, more than the {} bytes of the heap",
                bytes.len()
            ));
        }
        let grow = ((bytes.len() - have) / page) as u64;
        memory
            .grow(&mut self.store, grow)
            .map_err(|error| format!("the heap cannot grow to {} bytes: {error}", bytes.len()))?;
        memory.data_mut(&mut self.store)[..bytes.len()].copy_from_slice(bytes);
        if let Some(pages) = self.instance.get_global(&self.store, HEAP_PAGES_EXPORT) {
            let _ = pages.set(&mut self.store, Val::I32((bytes.len() / page) as i32));
        }
        Ok(())
    }

    /// The values of the module's mutable globals, in order.
    pub fn global_values(&self) -> Vec<Val> {
        self.globals
            .iter()
            .map(|global| global.get(&self.store))
            .collect()
    }

    /// Sets the module's mutable globals to `values` (a snapshot's):
    /// refused, changing nothing, unless they are as many and of the same
    /// types.
    pub fn set_globals(&mut self, values: &[Val]) -> Result<(), String> {
        let current = self.global_values();
        let same = current.len() == values.len()
            && current
                .iter()
                .zip(values)
                .all(|(have, given)| have.ty() == given.ty());
        if !same {
            return Err(
                "Wasm exported globals of canister module and snapshot metadata do not match."
                    .into(),
            );
        }
        for (global, value) in self.globals.iter().zip(values) {
            global
                .set(&mut self.store, value.clone())
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// Saves what a message may undo besides the pages it writes.
    pub fn save_heap(&mut self) {
        self.shadow.begin(&self.store, &self.globals);
    }

    /// Undoes what the message did to the heap.
    pub fn restore_saved_heap(&mut self) {
        self.shadow.undo(&mut self.store, &self.globals);
    }

    /// Takes the heap whole as what a message may return to, as it is
    /// after an install or an upgrade.
    pub fn resync_heap(&mut self) {
        self.shadow.resync(&mut self.store);
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
    // Each function is validated and translated when it is first called:
    // a command that runs a few methods of a 2 MB canister does not pay for
    // all of its code. The module as given was validated whole before it
    // was metered (`module::prepare`).
    config.compilation_mode(CompilationMode::Lazy);
    config.set_max_recursion_depth(MAX_RECURSION_DEPTH);
    config.set_max_stack_height(WASM_STACK_BYTES);
    config
}

/// The IC's `MAX_WASM_STACK_SIZE`.
const WASM_STACK_BYTES: usize = 5 << 20;

/// No count of frames on the IC: far more than the stack above can hold.
const MAX_RECURSION_DEPTH: usize = 1 << 20;
