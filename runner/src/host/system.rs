//! The canister and the system: its id, controllers, cycles, status and
//! version, time, instruction counters, certified data and timers.

use super::{copy_out, message, read_in, trap, Ctx, Define, Entry, CYCLE_BALANCE};
use candid::Principal;
use wasmi::Error;

pub(super) const IMPORTS: &[(&str, Define)] = &[
    ("canister_self_size", |linker, name| {
        linker
            .func_wrap("ic0", name, |caller: Ctx<'_>| -> i32 {
                caller.data().canister_id.as_slice().len() as i32
            })
            .map(drop)
    }),
    ("canister_self_copy", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    let id = caller.data().canister_id;
                    copy_out(&mut caller, name, id.as_slice(), dst, offset, size)
                },
            )
            .map(drop)
    }),
    ("canister_cycle_balance128", |linker, name| {
        linker
            .func_wrap("ic0", name, move |mut caller: Ctx<'_>, dst: i32| {
                balance_out(&mut caller, name, dst)
            })
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
            .func_wrap("ic0", name, move |mut caller: Ctx<'_>, dst: i32| {
                balance_out(&mut caller, name, dst)
            })
            .map(drop)
    }),
    ("canister_status", |linker, name| {
        // 1: running.
        linker
            .func_wrap("ic0", name, |_: Ctx<'_>| -> i32 { 1 })
            .map(drop)
    }),
    ("canister_version", |linker, name| {
        linker
            .func_wrap("ic0", name, |caller: Ctx<'_>| -> i64 {
                caller.data().version as i64
            })
            .map(drop)
    }),
    ("is_controller", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |caller: Ctx<'_>, src: i32, size: i32| -> Result<i32, Error> {
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
            .func_wrap("ic0", name, move |caller: Ctx<'_>| -> Result<i32, Error> {
                Ok(i32::from(message(&caller, name)?.entry != Entry::Query))
            })
            .map(drop)
    }),
    ("time", |linker, name| {
        linker
            .func_wrap("ic0", name, |caller: Ctx<'_>| -> i64 {
                caller.data().time_nanos as i64
            })
            .map(drop)
    }),
    ("performance_counter", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |caller: Ctx<'_>, kind: i32| -> Result<i64, Error> {
                    let start = message(&caller, name)?.fuel_at_start;
                    match kind {
                        // 0: this message's instructions; 1: the call context's, the same here.
                        0 | 1 => Ok(start.saturating_sub(caller.get_fuel().unwrap_or(0)) as i64),
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
            .func_wrap("ic0", name, |_: Ctx<'_>| -> i32 { 0 })
            .map(drop)
    }),
    ("global_timer_set", |linker, name| {
        linker
            .func_wrap("ic0", name, |_: Ctx<'_>, _timestamp: i64| -> i64 { 0 })
            .map(drop)
    }),
];

/// Writes the cycle balance, a u128, to the canister's memory at `dst`.
fn balance_out(caller: &mut Ctx<'_>, name: &str, dst: i32) -> Result<(), Error> {
    copy_out(caller, name, &CYCLE_BALANCE.to_le_bytes(), dst, 0, 16)
}
