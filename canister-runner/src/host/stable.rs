//! Stable memory: its size, growth, reads and writes.

use super::{charge, cost, mark_written, memory, trap, Ctx, Define};
use wasmi::Error;

/// Stable memory the 32-bit API can address: 4 GiB, in pages.
const MAX_32_BIT_PAGES: u64 = 65536;

pub(super) const IMPORTS: &[(&str, Define)] = &[
    // The 32-bit API of older canisters (ic-cdk before 0.11, the article's):
    // the same memory, addressed below 4 GiB.
    ("stable_size", |linker, name| {
        linker
            .func_wrap("ic0", name, move |mut caller: Ctx<'_>| -> Result<i32, Error> {
                    charge(&mut caller, cost::STABLE_SIZE)?;
                let pages = caller.data().stable.pages();
                if pages > MAX_32_BIT_PAGES {
                    return Err(trap(format!(
                        "ic0.{name}: stable memory is over 4 GiB ({pages} pages); use ic0.stable64_size"
                    )));
                }
                Ok(pages as i32)
            })
            .map(drop)
    }),
    ("stable_grow", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, pages: i32| -> Result<i32, Error> {
                    charge(&mut caller, cost::STABLE_GROW)?;
                    let stable = &mut caller.data_mut().stable;
                    if stable.pages() > MAX_32_BIT_PAGES {
                        return Err(trap(format!(
                            "ic0.{name}: stable memory is over 4 GiB; use ic0.stable64_grow"
                        )));
                    }
                    let pages = pages as u32 as u64;
                    if stable.pages() + pages > MAX_32_BIT_PAGES {
                        return Ok(-1);
                    }
                    Ok(stable.grow(pages).map_or(-1, |old| old as i32))
                },
            )
            .map(drop)
    }),
    ("stable_read", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i32, offset: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::STABLE_READ + size as u32 as u64)?;
                    let (dst, offset, size) =
                        (dst as u32 as u64, offset as u32 as u64, size as u32 as u64);
                    stable_read(&mut caller, name, dst, offset, size)
                },
            )
            .map(drop)
    }),
    ("stable_write", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, offset: i32, src: i32, size: i32| -> Result<(), Error> {
                    charge(&mut caller, cost::STABLE_WRITE + size as u32 as u64)?;
                    let (offset, src, size) =
                        (offset as u32 as u64, src as u32 as u64, size as u32 as u64);
                    stable_write(&mut caller, name, offset, src, size)
                },
            )
            .map(drop)
    }),
    ("stable64_size", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>| -> Result<i64, Error> {
                    charge(&mut caller, cost::STABLE_SIZE)?;
                    Ok(caller.data().stable.pages() as i64)
                },
            )
            .map(drop)
    }),
    ("stable64_grow", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, pages: i64| -> Result<i64, Error> {
                    charge(&mut caller, cost::STABLE_GROW)?;
                    Ok(caller
                        .data_mut()
                        .stable
                        .grow(pages as u64)
                        .map_or(-1, |old| old as i64))
                },
            )
            .map(drop)
    }),
    ("stable64_read", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i64, offset: i64, size: i64| -> Result<(), Error> {
                    charge(&mut caller, cost::STABLE_READ.saturating_add(size as u64))?;
                    stable_read(&mut caller, name, dst as u64, offset as u64, size as u64)
                },
            )
            .map(drop)
    }),
    ("stable64_write", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, offset: i64, src: i64, size: i64| -> Result<(), Error> {
                    charge(&mut caller, cost::STABLE_WRITE.saturating_add(size as u64))?;
                    stable_write(&mut caller, name, offset as u64, src as u64, size as u64)
                },
            )
            .map(drop)
    }),
];

/// Copies `size` bytes of stable memory at `offset` to the heap at `dst`,
/// trapping as the IC does on a range out of bounds or past the message's
/// access limit.
fn stable_read(
    caller: &mut Ctx<'_>,
    name: &str,
    dst: u64,
    offset: u64,
    size: u64,
) -> Result<(), Error> {
    let memory = memory(caller)?;
    let (heap, env) = memory.data_and_store_mut(&mut *caller);
    if env.stable.read(offset, size).is_some() {
        env.stable.access(offset, size, false).map_err(trap)?;
    }
    let source = env.stable.read(offset, size).ok_or_else(|| {
        trap(format!(
            "ic0.{name}: {size} bytes at offset {offset} are past the end of stable memory ({} bytes)",
            env.stable.bytes().len()
        ))
    })?;
    let target = dst
        .checked_add(size)
        .and_then(|end| heap.get_mut(dst as usize..end as usize))
        .ok_or_else(|| {
            trap(format!(
                "ic0.{name}: destination {dst}..+{size} is outside the canister's memory"
            ))
        })?;
    target.copy_from_slice(source);
    mark_written(caller, dst, size);
    Ok(())
}

/// Copies `size` bytes of the heap at `src` to stable memory at `offset`.
fn stable_write(
    caller: &mut Ctx<'_>,
    name: &str,
    offset: u64,
    src: u64,
    size: u64,
) -> Result<(), Error> {
    // Each page the message writes for the first time costs more (the IC's
    // dirty page overhead), charged before the copy as the IC charges it.
    if caller.data().stable.read(offset, size).is_some() {
        let first_written = caller
            .data_mut()
            .stable
            .access(offset, size, true)
            .map_err(trap)?;
        charge(caller, cost::STABLE_DIRTY_PAGE * first_written)?;
    }
    let memory = memory(caller)?;
    let (heap, env) = memory.data_and_store_mut(caller);
    let source = src
        .checked_add(size)
        .and_then(|end| heap.get(src as usize..end as usize))
        .ok_or_else(|| {
            trap(format!(
                "ic0.{name}: source {src}..+{size} is outside the canister's memory"
            ))
        })?;
    let stable_len = env.stable.bytes().len();
    env.stable.write(offset, source).ok_or_else(|| {
        trap(format!(
            "ic0.{name}: {size} bytes at offset {offset} are past the end of stable memory ({stable_len} bytes)"
        ))
    })
}
