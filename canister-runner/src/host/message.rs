//! The message: its argument, caller and method name, and its reply or reject.

use super::{
    charge, copy_out, cost, message, read_in, replying_message, trap, Ctx, Define, Response,
};
use wasmi::Error;

pub(super) const IMPORTS: &[(&str, Define)] = &[
    ("msg_arg_data_size", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::MSG_ARG_DATA_SIZE)?;
                    let message = message(&caller, name)?;
                    if !message.entry.has_argument() {
                        return Err(trap(format!(
                            "ic0.{name} is not available in canister_pre_upgrade"
                        )));
                    }
                    Ok(message.arg.len() as i32)
                },
            )
            .map(drop)
    }),
    ("msg_arg_data_copy", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::MSG_ARG_DATA_COPY + size as u32 as u64)?;
                    let arg = message(&caller, name)?.arg.clone();
                    copy_out(&mut caller, name, &arg, dst, offset, size)
                },
            )
            .map(drop)
    }),
    ("msg_caller_size", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::MSG_CALLER_SIZE)?;
                    Ok(message(&caller, name)?.caller.as_slice().len() as i32)
                },
            )
            .map(drop)
    }),
    ("msg_caller_copy", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::MSG_CALLER_COPY + size as u32 as u64)?;
                    let principal = message(&caller, name)?.caller;
                    copy_out(&mut caller, name, principal.as_slice(), dst, offset, size)
                },
            )
            .map(drop)
    }),
    ("msg_reply_data_append", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
                    charge(
                        &mut caller,
                        cost::MSG_REPLY_DATA_APPEND + cost::PER_BYTE_SENT * (size as u32 as u64),
                    )?;
                    let bytes = read_in(&caller, name, src, size)?;
                    let message = replying_message(&mut caller, name)?;
                    if message.reply.len() + bytes.len() > message.reply_limit {
                        return Err(trap(format!(
                            "the reply exceeds the limit of {} bytes for a {}",
                            message.reply_limit,
                            if message.entry.is_query() {
                                "query"
                            } else {
                                "update"
                            }
                        )));
                    }
                    message.reply.extend_from_slice(&bytes);
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("msg_reply", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<(), Error> {
                    charge(&mut caller, cost::MSG_REPLY)?;
                    let message = replying_message(&mut caller, name)?;
                    message.response = Some(Response::Reply(std::mem::take(&mut message.reply)));
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("msg_reject", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
                    charge(
                        &mut caller,
                        cost::MSG_REJECT + cost::PER_BYTE_SENT * (size as u32 as u64),
                    )?;
                    let text = read_in(&caller, name, src, size)?;
                    let message = replying_message(&mut caller, name)?;
                    message.response = Some(Response::Reject(
                        String::from_utf8_lossy(&text).into_owned(),
                    ));
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("msg_method_name_size", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::MSG_METHOD_NAME_SIZE)?;
                    Ok(message(&caller, name)?.method.len() as i32)
                },
            )
            .map(drop)
    }),
    ("msg_method_name_copy", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::MSG_METHOD_NAME_COPY + size as u32 as u64)?;
                    let method = message(&caller, name)?.method.clone();
                    copy_out(&mut caller, name, method.as_bytes(), dst, offset, size)
                },
            )
            .map(drop)
    }),
    ("msg_cycles_available128", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::MSG_CYCLES_AVAILABLE128)?;
                    copy_out(&mut caller, name, &0u128.to_le_bytes(), dst, 0, 16)
                },
            )
            .map(drop)
    }),
    ("msg_deadline", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i64, Error> {
                    charge(&mut caller, cost::MSG_DEADLINE)?;
                    Ok(0)
                },
            )
            .map(drop)
    }),
];
