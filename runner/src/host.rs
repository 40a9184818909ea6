//! The `ic0` system API, as Rust canisters built with ic-cdk 0.20 and
//! ic-stable-structures 0.7 import it. Each function checks its arguments the
//! way the IC does and traps (returns an error) where the IC would.

use crate::stable::StableMemory;
use candid::Principal;
use wasmi::{Caller, Error, ExternType, Linker, Module, Val};

/// Which entry point is running: the system API differs between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Init,
    PreUpgrade,
    PostUpgrade,
    Update,
    Query,
}

impl Entry {
    fn can_reply(self) -> bool {
        matches!(self, Entry::Update | Entry::Query)
    }

    fn has_argument(self) -> bool {
        !matches!(self, Entry::PreUpgrade)
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
    pub fuel_at_start: u64,
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
    pub memory: Option<wasmi::Memory>,
    pub log: Vec<String>,
    pub echo_debug: bool,
}

type Ctx<'a> = Caller<'a, Env>;

fn trap(message: impl Into<String>) -> Error {
    Error::new(message.into())
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
    if !message.entry.can_reply() || message.response.is_some() {
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
        })
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

fn write_u128(caller: &mut Ctx<'_>, api: &str, dst: i32, value: u128) -> Result<(), Error> {
    let bytes = value.to_le_bytes();
    copy_out(caller, api, &bytes, dst, 0, 16)
}

/// The functions this runner implements, by name.
pub const IMPLEMENTED: &[&str] = &[
    "msg_arg_data_size",
    "msg_arg_data_copy",
    "msg_caller_size",
    "msg_caller_copy",
    "msg_reply_data_append",
    "msg_reply",
    "msg_reject",
    "msg_method_name_size",
    "msg_method_name_copy",
    "msg_cycles_available128",
    "msg_deadline",
    "canister_self_size",
    "canister_self_copy",
    "canister_cycle_balance128",
    "canister_status",
    "canister_version",
    "is_controller",
    "in_replicated_execution",
    "stable64_size",
    "stable64_grow",
    "stable64_read",
    "stable64_write",
    "time",
    "performance_counter",
    "certified_data_set",
    "data_certificate_present",
    "global_timer_set",
    "debug_print",
    "trap",
];

/// Links every import of `module`: the `ic0` functions above, and for any
/// other import a function that traps with the import's name when called, so
/// a canister that uses it fails clearly instead of failing to load.
pub fn link(linker: &mut Linker<Env>, module: &Module) -> Result<(), crate::RunnerError> {
    define_ic0(linker).map_err(|error| crate::RunnerError::BadModule(error.to_string()))?;
    for import in module.imports() {
        let (namespace, name) = (import.module(), import.name());
        if namespace == "ic0" && IMPLEMENTED.contains(&name) {
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
            .map_err(|error| crate::RunnerError::BadModule(error.to_string()))?;
    }
    Ok(())
}

fn define_ic0(linker: &mut Linker<Env>) -> Result<(), wasmi::errors::LinkerError> {
    linker.func_wrap(
        "ic0",
        "msg_arg_data_size",
        |caller: Ctx<'_>| -> Result<i32, Error> {
            let message = message(&caller, "msg_arg_data_size")?;
            if !message.entry.has_argument() {
                return Err(trap(
                    "ic0.msg_arg_data_size is not available in canister_pre_upgrade",
                ));
            }
            Ok(message.arg.len() as i32)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_arg_data_copy",
        |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
            let arg = message(&caller, "msg_arg_data_copy")?.arg.clone();
            copy_out(&mut caller, "msg_arg_data_copy", &arg, dst, offset, size)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_caller_size",
        |caller: Ctx<'_>| -> Result<i32, Error> {
            Ok(message(&caller, "msg_caller_size")?.caller.as_slice().len() as i32)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_caller_copy",
        |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
            let principal = message(&caller, "msg_caller_copy")?.caller;
            copy_out(
                &mut caller,
                "msg_caller_copy",
                principal.as_slice(),
                dst,
                offset,
                size,
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_reply_data_append",
        |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
            let bytes = read_in(&caller, "msg_reply_data_append", src, size)?;
            let message = replying_message(&mut caller, "msg_reply_data_append")?;
            if message.reply.len() + bytes.len() > message.reply_limit {
                return Err(trap(format!(
                    "the reply exceeds the limit of {} bytes for a {}",
                    message.reply_limit,
                    if message.entry == Entry::Query {
                        "query"
                    } else {
                        "update"
                    }
                )));
            }
            message.reply.extend_from_slice(&bytes);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_reply",
        |mut caller: Ctx<'_>| -> Result<(), Error> {
            let message = replying_message(&mut caller, "msg_reply")?;
            message.response = Some(Response::Reply(std::mem::take(&mut message.reply)));
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_reject",
        |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
            let text = read_in(&caller, "msg_reject", src, size)?;
            let message = replying_message(&mut caller, "msg_reject")?;
            message.response = Some(Response::Reject(
                String::from_utf8_lossy(&text).into_owned(),
            ));
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_method_name_size",
        |caller: Ctx<'_>| -> Result<i32, Error> {
            Ok(message(&caller, "msg_method_name_size")?.method.len() as i32)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_method_name_copy",
        |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
            let name = message(&caller, "msg_method_name_copy")?.method.clone();
            copy_out(
                &mut caller,
                "msg_method_name_copy",
                name.as_bytes(),
                dst,
                offset,
                size,
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_cycles_available128",
        |mut caller: Ctx<'_>, dst: i32| -> Result<(), Error> {
            write_u128(&mut caller, "msg_cycles_available128", dst, 0)
        },
    )?;
    linker.func_wrap("ic0", "msg_deadline", |_: Ctx<'_>| -> i64 { 0 })?;
    linker.func_wrap("ic0", "canister_self_size", |caller: Ctx<'_>| -> i32 {
        caller.data().canister_id.as_slice().len() as i32
    })?;
    linker.func_wrap(
        "ic0",
        "canister_self_copy",
        |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
            let id = caller.data().canister_id;
            copy_out(
                &mut caller,
                "canister_self_copy",
                id.as_slice(),
                dst,
                offset,
                size,
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        "canister_cycle_balance128",
        |mut caller: Ctx<'_>, dst: i32| -> Result<(), Error> {
            write_u128(
                &mut caller,
                "canister_cycle_balance128",
                dst,
                100_000_000_000_000,
            )
        },
    )?;
    linker.func_wrap("ic0", "canister_status", |_: Ctx<'_>| -> i32 { 1 })?;
    linker.func_wrap("ic0", "canister_version", |caller: Ctx<'_>| -> i64 {
        caller.data().version as i64
    })?;
    linker.func_wrap(
        "ic0",
        "is_controller",
        |caller: Ctx<'_>, src: i32, size: i32| -> Result<i32, Error> {
            let bytes = read_in(&caller, "is_controller", src, size)?;
            let principal = Principal::try_from_slice(&bytes)
                .map_err(|error| trap(format!("ic0.is_controller: not a principal: {error}")))?;
            Ok(i32::from(caller.data().controllers.contains(&principal)))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "in_replicated_execution",
        |caller: Ctx<'_>| -> Result<i32, Error> {
            Ok(i32::from(
                message(&caller, "in_replicated_execution")?.entry != Entry::Query,
            ))
        },
    )?;
    linker.func_wrap("ic0", "stable64_size", |caller: Ctx<'_>| -> i64 {
        caller.data().stable.pages() as i64
    })?;
    linker.func_wrap(
        "ic0",
        "stable64_grow",
        |mut caller: Ctx<'_>, pages: i64| -> i64 {
            caller
                .data_mut()
                .stable
                .grow(pages as u64)
                .map_or(-1, |old| old as i64)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_read",
        |mut caller: Ctx<'_>, dst: i64, offset: i64, size: i64| -> Result<(), Error> {
            let memory = memory(&caller)?;
            let (heap, env) = memory.data_and_store_mut(&mut caller);
            let (dst, offset, size) = (dst as u64, offset as u64, size as u64);
            let source = env.stable.read(offset, size).ok_or_else(|| {
                trap(format!(
                    "ic0.stable64_read: {size} bytes at offset {offset} are past the end of stable memory ({} bytes)",
                    env.stable.bytes().len()
                ))
            })?;
            let target = dst
                .checked_add(size)
                .and_then(|end| heap.get_mut(dst as usize..end as usize))
                .ok_or_else(|| trap(format!("ic0.stable64_read: destination {dst}..+{size} is outside the canister's memory")))?;
            target.copy_from_slice(source);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_write",
        |mut caller: Ctx<'_>, offset: i64, src: i64, size: i64| -> Result<(), Error> {
            let memory = memory(&caller)?;
            let (heap, env) = memory.data_and_store_mut(&mut caller);
            let (offset, src, size) = (offset as u64, src as u64, size as u64);
            let source = src
                .checked_add(size)
                .and_then(|end| heap.get(src as usize..end as usize))
                .ok_or_else(|| trap(format!("ic0.stable64_write: source {src}..+{size} is outside the canister's memory")))?;
            let stable_len = env.stable.bytes().len();
            env.stable.write(offset, source).ok_or_else(|| {
                trap(format!(
                    "ic0.stable64_write: {size} bytes at offset {offset} are past the end of stable memory ({stable_len} bytes)"
                ))
            })
        },
    )?;
    linker.func_wrap("ic0", "time", |caller: Ctx<'_>| -> i64 {
        caller.data().time_nanos as i64
    })?;
    linker.func_wrap(
        "ic0",
        "performance_counter",
        |caller: Ctx<'_>, kind: i32| -> Result<i64, Error> {
            let start = message(&caller, "performance_counter")?.fuel_at_start;
            match kind {
                // 0: this message's instructions; 1: the call context's, the same here.
                0 | 1 => Ok(start.saturating_sub(caller.get_fuel().unwrap_or(0)) as i64),
                other => Err(trap(format!(
                    "ic0.performance_counter: unknown counter type {other}"
                ))),
            }
        },
    )?;
    linker.func_wrap(
        "ic0",
        "certified_data_set",
        |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
            if size > 32 {
                return Err(trap(format!(
                    "ic0.certified_data_set: at most 32 bytes, found {size}"
                )));
            }
            let bytes = read_in(&caller, "certified_data_set", src, size)?;
            caller.data_mut().certified_data = bytes;
            Ok(())
        },
    )?;
    linker.func_wrap("ic0", "data_certificate_present", |_: Ctx<'_>| -> i32 { 0 })?;
    linker.func_wrap(
        "ic0",
        "global_timer_set",
        |_: Ctx<'_>, _timestamp: i64| -> i64 { 0 },
    )?;
    linker.func_wrap(
        "ic0",
        "debug_print",
        |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
            let text =
                String::from_utf8_lossy(&read_in(&caller, "debug_print", src, size)?).into_owned();
            if caller.data().echo_debug {
                eprintln!("[canister] {text}");
            }
            caller.data_mut().log.push(text);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "trap",
        |caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
            let text = read_in(&caller, "trap", src, size)?;
            Err(trap(format!(
                "the canister trapped: {}",
                String::from_utf8_lossy(&text)
            )))
        },
    )?;
    Ok(())
}
