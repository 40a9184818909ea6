//! The heap's size as the canister sees it. Wasm memory cannot shrink, but
//! on the IC a message that is undone (a trap, any query) leaves the heap
//! its old size: the next message's `memory.size` is what it was, and its
//! `memory.grow` returns that old size. Allocators depend on it (dlmalloc
//! treats memory it did not grow as a separate segment and takes another
//! path), so the runner keeps the size the canister sees in a global of its
//! own, restored with the other globals, and rewrites `memory.size` to read
//! it and `memory.grow` to call [`add_grow_function`]'s function, which
//! grows the real memory only past what it already has (pages an undone
//! message grew are zeroed on rollback, as new pages are). Like the IC's
//! own `memory.grow` handling, this costs no instructions: the metering
//! charged the original instruction.
//!
//! One difference stays: an access past the size the canister sees but
//! within what memory once grew to does not trap.

use wasm_encoder::{BlockType, CodeSection, Function, InstructionSink, ValType};
use wasmparser::Operator;

/// The largest heap of a wasm32 module, in 64 KiB pages.
const MAX_PAGES: i32 = 65536;

/// Emits what replaces `op` if it reads or grows the heap's size, and says
/// whether it did.
pub fn rewrite(sink: &mut InstructionSink, op: &Operator, pages: u32, grow: u32) -> bool {
    match op {
        Operator::MemorySize { mem: 0 } => {
            sink.global_get(pages);
        }
        Operator::MemoryGrow { mem: 0 } => {
            sink.call(grow);
        }
        _ => return false,
    }
    true
}

/// The function `memory.grow` becomes: `(param $more i32) (result i32)`,
/// the old size or -1.
pub fn add_grow_function(code: &mut CodeSection, pages: u32) {
    let (more, old) = (0, 1);
    let mut function = Function::new([(1, ValType::I32)]);
    function
        .instructions()
        .global_get(pages)
        .local_set(old)
        // Past the 4 GiB of wasm32 (the sum could wrap): -1.
        .local_get(more)
        .i32_const(MAX_PAGES)
        .local_get(old)
        .i32_sub()
        .i32_gt_u()
        .if_(BlockType::Empty)
        .i32_const(-1)
        .return_()
        .end()
        // Past the real memory: grow it by the difference, or fail.
        .local_get(old)
        .local_get(more)
        .i32_add()
        .memory_size(0)
        .i32_gt_u()
        .if_(BlockType::Empty)
        .local_get(old)
        .local_get(more)
        .i32_add()
        .memory_size(0)
        .i32_sub()
        .memory_grow(0)
        .i32_const(-1)
        .i32_eq()
        .if_(BlockType::Empty)
        .i32_const(-1)
        .return_()
        .end()
        .end()
        .local_get(old)
        .local_get(more)
        .i32_add()
        .global_set(pages)
        .local_get(old)
        .end();
    code.function(&function);
}
