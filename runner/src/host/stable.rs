//! Stable memory: its size, growth, reads and writes.

use super::{memory, trap, Ctx, Define};
use wasmi::Error;

pub(super) const IMPORTS: &[(&str, Define)] = &[
    ("stable64_size", |linker, name| {
        linker
            .func_wrap("ic0", name, |caller: Ctx<'_>| -> i64 {
                caller.data().stable.pages() as i64
            })
            .map(drop)
    }),
    ("stable64_grow", |linker, name| {
        linker
            .func_wrap("ic0", name, |mut caller: Ctx<'_>, pages: i64| -> i64 {
                caller
                    .data_mut()
                    .stable
                    .grow(pages as u64)
                    .map_or(-1, |old| old as i64)
            })
            .map(drop)
    }),
    ("stable64_read", |linker, name| {
        linker
            .func_wrap(
                "ic0",
                name,
                move |mut caller: Ctx<'_>, dst: i64, offset: i64, size: i64| -> Result<(), Error> {
                    let memory = memory(&caller)?;
                    let (heap, env) = memory.data_and_store_mut(&mut caller);
                    let (dst, offset, size) = (dst as u64, offset as u64, size as u64);
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
                    Ok(())
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
                    let memory = memory(&caller)?;
                    let (heap, env) = memory.data_and_store_mut(&mut caller);
                    let (offset, src, size) = (offset as u64, src as u64, size as u64);
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
                },
            )
            .map(drop)
    }),
];
