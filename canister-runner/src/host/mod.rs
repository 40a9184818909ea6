//! The `ic0` system API, as Rust canisters built with ic-cdk 0.20 and
//! ic-stable-structures 0.7 import it. Each function checks its arguments the
//! way the IC does and traps (returns an error) where the IC would.
//!
//! The functions are grouped by concern, each a table of (name, how to link
//! it) in its own module: [`message`], [`stable`], [`system`], [`debug`].
//! What the runner implements is read off those tables, nowhere else.

mod call;
pub mod cost;
mod debug;
mod message;
mod stable;
mod system;

pub use call::{Callback, OutgoingCall};

use crate::stable::StableMemory;
use candid::Principal;
use wasmi::errors::LinkerError;
use wasmi::{AsContext, Caller, Error, ExternType, Linker, Module, Val};

/// The cycle balance every canister reports: the runner keeps no cycles.
pub const CYCLE_BALANCE: u128 = 100_000_000_000_000;

/// Which entry point is running: the system API differs between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The module's start function, before `canister_init` or
    /// `canister_post_upgrade`.
    Start,
    Init,
    PreUpgrade,
    PostUpgrade,
    Update,
    /// A query, not replicated (called as a query).
    Query,
    /// A query method called as an update: replicated, its changes discarded.
    ReplicatedQuery,
    /// The reply callback of a call the canister made.
    ReplyCallback,
    /// The reject callback of a call the canister made.
    RejectCallback,
    /// The cleanup callback, after a callback trapped.
    Cleanup,
}

impl Entry {
    fn can_reply(self) -> bool {
        matches!(
            self,
            Entry::Update
                | Entry::Query
                | Entry::ReplicatedQuery
                | Entry::ReplyCallback
                | Entry::RejectCallback
        )
    }

    /// A query method, replicated or not: nothing it changes is kept.
    pub fn is_query(self) -> bool {
        matches!(self, Entry::Query | Entry::ReplicatedQuery)
    }

    /// Where `ic0.certified_data_set` may be called: not in queries, not
    /// in cleanup.
    fn can_certify(self) -> bool {
        !matches!(
            self,
            Entry::Start | Entry::Query | Entry::ReplicatedQuery | Entry::Cleanup
        )
    }

    fn has_argument(self) -> bool {
        !matches!(
            self,
            Entry::Start | Entry::PreUpgrade | Entry::RejectCallback | Entry::Cleanup
        )
    }

    /// Only updates and their callbacks make calls (not queries, which
    /// are not replicated, nor the lifecycle hooks or cleanup).
    fn can_call(self) -> bool {
        matches!(
            self,
            Entry::Update | Entry::ReplyCallback | Entry::RejectCallback
        )
    }
}

/// What a method left behind: a reply, or its own reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Reply(Vec<u8>),
    Reject(String),
}

/// The message being executed.
pub struct Message {
    pub entry: Entry,
    pub method: String,
    pub caller: Principal,
    pub arg: Vec<u8>,
    pub reply: Vec<u8>,
    pub reply_limit: usize,
    pub response: Option<Response>,
    /// The instructions the message may execute.
    pub instruction_limit: u64,
    /// In a reject callback: the reject code and message.
    pub reject: Option<(u32, String)>,
    /// The call context was already answered by an earlier message.
    pub context_replied: bool,
}

/// The store's data: everything the system API reads and writes.
pub struct Env {
    pub stable: StableMemory,
    pub message: Option<Message>,
    pub canister_id: Principal,
    pub controllers: Vec<Principal>,
    pub time_nanos: u64,
    pub version: u64,
    pub certified_data: Vec<u8>,
    /// The certificate non-replicated queries see (`ic0.data_certificate_*`).
    pub data_certificate: Option<Vec<u8>>,
    pub memory: Option<wasmi::Memory>,
    /// The instructions the message may still execute, counted down by the
    /// module's metering and by [`charge`].
    pub counter: Option<wasmi::Global>,
    /// The write barrier's bytemap: the heap pages the message wrote.
    pub dirty: Option<wasmi::Memory>,
    pub log: Vec<String>,
    pub echo_debug: bool,
    /// The call between `ic0.call_new` and `ic0.call_perform`.
    pub building: Option<OutgoingCall>,
    /// Calls this message performed, delivered when it ends.
    pub performed: Vec<OutgoingCall>,
}

type Ctx<'a> = Caller<'a, Env>;

fn trap(message: impl Into<String>) -> Error {
    Error::new(message.into())
}

/// The trap of a message out of instructions; the runner tells it from
/// any other by the counter, below zero.
pub const OUT_OF_INSTRUCTIONS: &str = "out of instructions";

/// What the message's counter holds: the instructions it may still execute
/// (below zero once it ran out); `None` for a module without one.
pub fn instructions_left(ctx: impl AsContext<Data = Env>) -> Option<i64> {
    let ctx = ctx.as_context();
    match ctx.data().counter.map(|counter| counter.get(ctx)) {
        Some(Val::I64(left)) => Some(left),
        _ => None,
    }
}

/// Charges a system call's `instructions` (see [`cost`]) to the message, as
/// the IC does before the call does anything: past the limit, it traps.
fn charge(caller: &mut Ctx<'_>, instructions: u64) -> Result<(), Error> {
    let (Some(counter), Some(left)) = (caller.data().counter, instructions_left(&*caller)) else {
        return Ok(());
    };
    let left = left.saturating_sub(i64::try_from(instructions).unwrap_or(i64::MAX));
    counter
        .set(&mut *caller, Val::I64(left))
        .map_err(|error| trap(format!("setting the instruction counter: {error}")))?;
    if left < 0 {
        return Err(trap(OUT_OF_INSTRUCTIONS));
    }
    Ok(())
}

fn message<'a>(caller: &'a Ctx<'_>, api: &str) -> Result<&'a Message, Error> {
    caller
        .data()
        .message
        .as_ref()
        .ok_or_else(|| trap(format!("ic0.{api} called outside a message")))
}

fn message_mut<'a>(caller: &'a mut Ctx<'_>, api: &str) -> Result<&'a mut Message, Error> {
    caller
        .data_mut()
        .message
        .as_mut()
        .ok_or_else(|| trap(format!("ic0.{api} called outside a message")))
}

/// The message, if it may still reply or reject: only a query or an update
/// may, and only once.
fn replying_message<'a>(caller: &'a mut Ctx<'_>, api: &str) -> Result<&'a mut Message, Error> {
    let message = message_mut(caller, api)?;
    if !message.entry.can_reply() || message.response.is_some() || message.context_replied {
        return Err(trap(format!(
            "ic0.{api}: this message cannot reply (already replied, or not a call)"
        )));
    }
    Ok(message)
}

fn memory(caller: &Ctx<'_>) -> Result<wasmi::Memory, Error> {
    caller
        .data()
        .memory
        .ok_or_else(|| trap("the canister has no exported memory"))
}

/// Copies `bytes[offset..offset + size]` to the canister's memory at `dst`,
/// trapping as the IC does when either range is out of bounds.
fn copy_out(
    caller: &mut Ctx<'_>,
    api: &str,
    bytes: &[u8],
    dst: i32,
    offset: i32,
    size: i32,
) -> Result<(), Error> {
    let (dst, offset, size) = (
        dst as u32 as usize,
        offset as u32 as usize,
        size as u32 as usize,
    );
    let source = offset
        .checked_add(size)
        .and_then(|end| bytes.get(offset..end))
        .ok_or_else(|| {
            trap(format!(
                "ic0.{api}: offset {offset} + size {size} is past the {} bytes available",
                bytes.len()
            ))
        })?;
    memory(caller)?
        .write(&mut *caller, dst, source)
        .map_err(|_| {
            trap(format!(
                "ic0.{api}: destination {dst}..+{size} is outside the canister's memory"
            ))
        })?;
    mark_written(caller, dst as u64, size as u64);
    Ok(())
}

/// Marks heap bytes `dst..dst + size` written, for the message's rollback
/// (the module's own writes are marked by its write barrier).
fn mark_written(caller: &mut Ctx<'_>, dst: u64, size: u64) {
    let Some(bytemap) = caller.data().dirty.filter(|_| size > 0) else {
        return;
    };
    let shift = crate::instrument::PAGE_SHIFT;
    let (first, last) = (dst >> shift, (dst + size - 1) >> shift);
    if let Some(marks) = bytemap
        .data_mut(&mut *caller)
        .get_mut(first as usize..=last as usize)
    {
        marks.fill(1);
    }
}

/// Copies `size` bytes at `src` out of the canister's memory. The range is
/// checked before anything is allocated: a canister asking for `size = -1`
/// gets a trap, not a 4 GiB buffer.
fn read_in(caller: &Ctx<'_>, api: &str, src: i32, size: i32) -> Result<Vec<u8>, Error> {
    let (src, size) = (src as u32 as usize, size as u32 as usize);
    let heap = memory(caller)?.data(caller);
    let bytes = src
        .checked_add(size)
        .and_then(|end| heap.get(src..end))
        .ok_or_else(|| {
            trap(format!(
                "ic0.{api}: source {src}..+{size} is outside the canister's memory ({} bytes)",
                heap.len()
            ))
        })?;
    Ok(bytes.to_vec())
}

/// How one `ic0` function is linked: given the linker and the function's
/// name, it registers the implementation under that name.
type Define = fn(&mut Linker<Env>, &'static str) -> Result<(), LinkerError>;

/// Every implemented function, by concern.
const TABLES: [&[(&str, Define)]; 5] = [
    message::IMPORTS,
    call::IMPORTS,
    stable::IMPORTS,
    system::IMPORTS,
    debug::IMPORTS,
];

/// The `ic0` functions this runner implements, by name.
pub fn implemented() -> impl Iterator<Item = &'static str> {
    TABLES
        .into_iter()
        .flat_map(|table| table.iter().map(|(name, _)| *name))
}

/// Links every import of `module`: the `ic0` functions of the tables, and for
/// any other import a function that traps with the import's name when
/// called, so a canister that uses it fails clearly instead of failing to load.
pub fn link(linker: &mut Linker<Env>, module: &Module) -> Result<(), crate::RunnerError> {
    let bad = |error: LinkerError| crate::RunnerError::BadModule(error.to_string());
    for (name, define) in TABLES.into_iter().flatten() {
        define(linker, name).map_err(bad)?;
    }
    for import in module.imports() {
        let (namespace, name) = (import.module(), import.name());
        if namespace == "ic0" && implemented().any(|implemented| implemented == name) {
            continue;
        }
        let ExternType::Func(ty) = import.ty() else {
            return Err(crate::RunnerError::BadModule(format!(
                "imports `{namespace}.{name}`, which is not a function; a canister can only import ic0 functions"
            )));
        };
        let what = format!("{namespace}.{name}");
        linker
            .func_new(
                namespace,
                name,
                ty.clone(),
                move |_: Ctx<'_>, _: &[Val], _: &mut [Val]| {
                    Err(trap(format!(
                        "{what} is not implemented by the embedded runner"
                    )))
                },
            )
            .map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_function_is_defined_once() {
        let mut names: Vec<&str> = implemented().collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a function is in two tables");
        for name in [
            "msg_reply",
            "stable64_write",
            "is_controller",
            "debug_print",
        ] {
            assert!(names.contains(&name), "{name}");
        }
    }
}
