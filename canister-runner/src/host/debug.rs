//! What a canister says about itself: debug output and traps.

use super::{charge, cost, read_in, trap, Ctx, Define};
use wasmi::Error;

pub(super) const IMPORTS: &[(&str, Define)] = &[
    ("debug_print", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::debug_print(size as u32 as u64))?;
                    let text =
                        String::from_utf8_lossy(&read_in(&caller, name, src, size)?).into_owned();
                    if caller.data().echo_debug {
                        eprintln!("[canister] {text}");
                    }
                    caller.data_mut().log.push(text);
                    Ok(())
                },
            )
            .map(drop)
    }),
    ("trap", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, src: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::TRAP + size as u32 as u64)?;
                    let text = read_in(&caller, name, src, size)?;
                    Err(trap(format!(
                        "the canister trapped: {}",
                        String::from_utf8_lossy(&text)
                    )))
                },
            )
            .map(drop)
    }),
];
