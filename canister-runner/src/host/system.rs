//! The canister and the system: its id, controllers, cycles, status and
//! version, time, instruction counters, certified data and timers.

use super::{
    charge, copy_out, cost, instructions_left, message, read_in, trap, Ctx, Define, Entry,
    CYCLE_BALANCE,
};
use candid::Principal;
use wasmi::Error;

pub(super) const IMPORTS: &[(&str, Define)] = &[
    ("canister_self_size", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::CANISTER_SELF_SIZE)?;
                    Ok(caller.data().canister_id.as_slice().len() as i32)
                },
            )
            .map(drop)
    }),
    ("canister_self_copy", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::CANISTER_SELF_COPY + size as u32 as u64)?;
                    let id = caller.data().canister_id;
                    copy_out(&mut caller, name, id.as_slice(), dst, offset, size)
                },
            )
            .map(drop)
    }),
    ("canister_cycle_balance128", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::CANISTER_CYCLE_BALANCE128)?;
                    balance_out(&mut caller, name, dst)
                },
            )
            .map(drop)
    }),
    ("cost_call", |linker, name| {
        // What an application subnet of 13 nodes charges: the call fee and
        // a fee per byte of method name and argument.
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>,
                      method_name_size: i64,
                      payload_size: i64,
                      dst: i32|
                      -> Result<(), Error> {
                    charge(&mut caller, cost::COST_CALL)?;
                    let bytes = (method_name_size as u64).saturating_add(payload_size as u64);
                    let cost = 260_000u128 + 1_000 * u128::from(bytes);
                    copy_out(&mut caller, name, &cost.to_le_bytes(), dst, 0, 16)
                },
            )
            .map(drop)
    }),
    ("canister_liquid_cycle_balance128", |linker, name| {
        // No cycles are reserved or frozen in the runner: all are liquid.
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::CANISTER_LIQUID_CYCLE_BALANCE128)?;
                    balance_out(&mut caller, name, dst)
                },
            )
            .map(drop)
    }),
    ("canister_status", |linker, name| {
        // 1: running.
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::CANISTER_STATUS)?;
                    Ok(1)
                },
            )
            .map(drop)
    }),
    ("canister_version", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i64, Error> {
                    charge(&mut caller, cost::CANISTER_VERSION)?;
                    Ok(caller.data().version as i64)
                },
            )
            .map(drop)
    }),
    ("is_controller", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<i32, Error> {
                    charge(&mut caller, cost::IS_CONTROLLER + size as u32 as u64)?;
                    let bytes = read_in(&caller, name, src, size)?;
                    let principal = Principal::try_from_slice(&bytes)
                        .map_err(|error| trap(format!("ic0.{name}: not a principal: {error}")))?;
                    Ok(i32::from(caller.data().controllers.contains(&principal)))
                },
            )
            .map(drop)
    }),
    ("in_replicated_execution", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::IN_REPLICATED_EXECUTION)?;
                    Ok(i32::from(message(&caller, name)?.entry != Entry::Query))
                },
            )
            .map(drop)
    }),
    ("time", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i64, Error> {
                    charge(&mut caller, cost::TIME)?;
                    Ok(caller.data().time_nanos as i64)
                },
            )
            .map(drop)
    }),
    ("performance_counter", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, kind: i32| -> Result<i64, Error> {
                    charge(&mut caller, cost::PERFORMANCE_COUNTER)?;
                    let limit = message(&caller, name)?.instruction_limit;
                    let left = instructions_left(&caller)
                        .ok_or_else(|| trap("the module has no instruction counter"))?;
                    match kind {
                        // 0: this message's instructions; 1: the call context's, the same here.
                        0 | 1 => Ok((limit as i64).saturating_sub(left)),
                        other => Err(trap(format!("ic0.{name}: unknown counter type {other}"))),
                    }
                },
            )
            .map(drop)
    }),
    ("certified_data_set", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::CERTIFIED_DATA_SET + size as u32 as u64)?;
                    let entry = message(&caller, name)?.entry;
                    if !entry.can_certify() {
                        return Err(trap(format!(
                            "ic0.{name} cannot be called in {entry:?}: queries cannot certify data"
                        )));
                    }
                    if size > 32 {
                        return Err(trap(format!("ic0.{name}: at most 32 bytes, found {size}")));
                    }
                    let bytes = read_in(&caller, name, src, size)?;
                    caller.data_mut().certified_data = bytes;
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("data_certificate_present", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::DATA_CERTIFICATE_PRESENT)?;
                    Ok(i32::from(data_certificate(&caller, name)?.is_some()))
                },
            )
            .map(drop)
    }),
    ("data_certificate_size", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::DATA_CERTIFICATE_SIZE)?;
                    match data_certificate(&caller, name)? {
                        Some(certificate) => Ok(certificate.len() as i32),
                        None => Err(trap(format!("ic0.{name}: no data certificate is present"))),
                    }
                },
            )
            .map(drop)
    }),
    ("data_certificate_copy", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    charge(
                        &mut caller,
                        cost::DATA_CERTIFICATE_COPY + size as u32 as u64,
                    )?;
                    let Some(certificate) = data_certificate(&caller, name)?.cloned() else {
                        return Err(trap(format!("ic0.{name}: no data certificate is present")));
                    };
                    copy_out(&mut caller, name, &certificate, dst, offset, size)
                },
            )
            .map(drop)
    }),
    ("global_timer_set", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, _timestamp: i64| -> Result<i64, Error> {
                    charge(&mut caller, cost::GLOBAL_TIMER_SET)?;
                    Ok(0)
                },
            )
            .map(drop)
    }),
];

/// The data certificate, present only in a non-replicated query.
fn data_certificate<'a>(caller: &'a Ctx<'_>, name: &str) -> Result<Option<&'a Vec<u8>>, Error> {
    let entry = message(caller, name)?.entry;
    Ok(match entry {
        Entry::Query => caller.data().data_certificate.as_ref(),
        _ => None,
    })
}

/// Writes the cycle balance, a u128, to the canister's memory at `dst`.
fn balance_out(caller: &mut Ctx<'_>, name: &str, dst: i32) -> Result<(), Error> {
    copy_out(caller, name, &CYCLE_BALANCE.to_le_bytes(), dst, 0, 16)
}
