//! Inter-canister calls: building one (`call_new`, `call_data_append`,
//! `call_on_cleanup`, ...), sending it (`call_perform`), and, in its
//! callbacks, the reject it got (`msg_reject_code`, `msg_reject_msg_*`).
//! The runner delivers performed calls once the message that made them has
//! ended, as the IC does (see `Canister::deliver`).

use super::{charge, copy_out, cost, message, message_mut, read_in, trap, Ctx, Define, Entry};
use candid::Principal;
use wasmi::Error;

/// A function of the module's table and the `env` it is called with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Callback {
    pub fun: u32,
    pub env: u32,
}

/// A call the canister made.
#[derive(Clone, Debug)]
pub struct OutgoingCall {
    pub callee: Principal,
    pub method: String,
    pub arg: Vec<u8>,
    pub reply: Callback,
    pub reject: Callback,
    pub cleanup: Option<Callback>,
}

/// The call being built between `call_new` and `call_perform`.
fn building<'a>(caller: &'a mut Ctx<'_>, api: &str) -> Result<&'a mut OutgoingCall, Error> {
    caller.data_mut().building.as_mut().ok_or_else(|| {
        trap(format!(
            "ic0.{api}: no call is being built (ic0.call_new first)"
        ))
    })
}

pub(super) const IMPORTS: &[(&str, Define)] = &[
    ("call_new", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>,
                      callee_src: i32,
                      callee_size: i32,
                      name_src: i32,
                      name_size: i32,
                      reply_fun: i32,
                      reply_env: i32,
                      reject_fun: i32,
                      reject_env: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::CALL_NEW + callee_size as u32 as u64 + name_size as u32 as u64)?;
                    let entry = message(&caller, name)?.entry;
                    if !entry.can_call() {
                        return Err(trap(format!(
                            "ic0.{name} cannot be called in {entry:?}: only updates and their callbacks make calls"
                        )));
                    }
                    let callee = read_in(&caller, name, callee_src, callee_size)?;
                    let callee = Principal::try_from_slice(&callee)
                        .map_err(|error| trap(format!("ic0.{name}: the callee is not a principal: {error}")))?;
                    let method = String::from_utf8(read_in(&caller, name, name_src, name_size)?)
                        .map_err(|_| trap(format!("ic0.{name}: the method name is not UTF-8")))?;
                    // A call being built and not performed is discarded.
                    caller.data_mut().building = Some(OutgoingCall {
                        callee,
                        method,
                        arg: Vec::new(),
                        reply: Callback { fun: reply_fun as u32, env: reply_env as u32 },
                        reject: Callback { fun: reject_fun as u32, env: reject_env as u32 },
                        cleanup: None,
                    });
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("call_data_append", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
                    charge(
                        &mut caller,
                        cost::CALL_DATA_APPEND + cost::PER_BYTE_SENT * (size as u32 as u64),
                    )?;
                    let bytes = read_in(&caller, name, src, size)?;
                    building(&mut caller, name)?.arg.extend_from_slice(&bytes);
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("call_on_cleanup", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, fun: i32, env: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::CALL_ON_CLEANUP)?;
                    let call = building(&mut caller, name)?;
                    if call.cleanup.is_some() {
                        return Err(trap(format!(
                            "ic0.{name}: the cleanup callback is already set"
                        )));
                    }
                    call.cleanup = Some(Callback {
                        fun: fun as u32,
                        env: env as u32,
                    });
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("call_cycles_add128", |linker, name| {
        // The runner keeps no cycles: attached cycles are accepted and dropped.
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, _high: i64, _low: i64| -> Result<(), Error> {
                    charge(&mut caller, cost::CALL_CYCLES_ADD128)?;
                    building(&mut caller, name).map(drop)
                },
            )
            .map(drop)
    }),
    ("call_with_best_effort_response", |linker, name| {
        // Every call gets its response in the runner, before any timeout.
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, _timeout_seconds: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::CALL_WITH_BEST_EFFORT_RESPONSE)?;
                    building(&mut caller, name).map(drop)
                },
            )
            .map(drop)
    }),
    ("call_perform", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::CALL_PERFORM)?;
                    let call = caller.data_mut().building.take().ok_or_else(|| {
                        trap(format!(
                            "ic0.{name}: no call is being built (ic0.call_new first)"
                        ))
                    })?;
                    caller.data_mut().performed.push(call);
                    Ok(0)
                },
            )
            .map(drop)
    }),
    ("msg_reject_code", |linker, name| {
        // In a reply callback the code is 0: one callback may serve both.
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::MSG_REJECT_CODE)?;
                    let message = message(&caller, name)?;
                    match (&message.reject, message.entry) {
                        (Some((code, _)), _) => Ok(*code as i32),
                        (None, Entry::ReplyCallback) => Ok(0),
                        _ => Err(trap(format!("ic0.{name} is only available in a callback"))),
                    }
                },
            )
            .map(drop)
    }),
    ("msg_reject_msg_size", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::MSG_REJECT_MSG_SIZE)?;
                    match &message(&caller, name)?.reject {
                        Some((_, text)) => Ok(text.len() as i32),
                        None => Err(trap(format!(
                            "ic0.{name} is only available in a reject callback"
                        ))),
                    }
                },
            )
            .map(drop)
    }),
    ("msg_reject_msg_copy", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::MSG_REJECT_MSG_COPY + size as u32 as u64)?;
                    let text = match &message_mut(&mut caller, name)?.reject {
                        Some((_, text)) => text.clone(),
                        None => {
                            return Err(trap(format!(
                                "ic0.{name} is only available in a reject callback"
                            )))
                        }
                    };
                    copy_out(&mut caller, name, text.as_bytes(), dst, offset, size)
                },
            )
            .map(drop)
    }),
];
