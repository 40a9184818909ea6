//! The write barrier: before each instruction that writes the heap (memory
//! 0), the pages it writes are marked in a bytemap, one byte per 4 KiB page
//! (memory [`Meter::bytemap`](super) of 1 MiB, for a 4 GiB heap). The runner
//! rolls a message back, or keeps it, by copying only the pages marked;
//! the host marks what it writes itself. The IC has the same barrier as an
//! option (`inject_mem_barrier`); like the IC's, it is added after the
//! metering and costs no instructions.

use wasm_encoder::{BlockType, InstructionSink, MemArg, ValType};
use wasmparser::Operator;

/// The heap's page size for rollback: the IC's (an OS page).
pub const PAGE_SHIFT: u32 = 12;

/// Wasm pages of the bytemap: one byte per 4 KiB page of a 4 GiB heap.
pub const BYTEMAP_WASM_PAGES: u64 = (1 << (32 - PAGE_SHIFT)) >> 16;

/// The locals a function's barriers use, added after its own.
pub struct Scratch {
    address: u32,
    middle: u32,
    length: u32,
    /// One local for each type of value the function stores.
    values: [Option<u32>; 5],
}

impl Scratch {
    /// Scratch locals from index `first`, and their declarations: only
    /// what the function's writes need (every local costs each call its
    /// zeroing; a `v128` one would not even validate without SIMD).
    pub fn new(first: u32, ops: &[Operator]) -> (Scratch, Vec<(u32, ValType)>) {
        let mut locals = Vec::new();
        let mut next = first;
        if ops.iter().any(|op| store(op).is_some() || bulk(op)) {
            locals.push((3, ValType::I32));
            next += 3;
        }
        let mut values = [None; 5];
        for (slot, (value, ty)) in values.iter_mut().zip(Value::ALL) {
            if ops
                .iter()
                .any(|op| matches!(store(op), Some((_, stored, _)) if stored == value))
            {
                *slot = Some(next);
                locals.push((1, ty));
                next += 1;
            }
        }
        let scratch = Scratch {
            address: first,
            middle: first + 1,
            length: first + 2,
            values,
        };
        (scratch, locals)
    }

    /// The local for a stored value; declared whenever the function stores
    /// one of its type.
    fn value(&self, value: Value) -> u32 {
        self.values[value as usize].unwrap_or(self.middle)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    I32,
    I64,
    F32,
    F64,
    V128,
}

impl Value {
    const ALL: [(Value, ValType); 5] = [
        (Value::I32, ValType::I32),
        (Value::I64, ValType::I64),
        (Value::F32, ValType::F32),
        (Value::F64, ValType::F64),
        (Value::V128, ValType::V128),
    ];
}

/// A store to the heap: its static offset, the type of the value it
/// stores, and how many bytes it writes.
fn store(op: &Operator) -> Option<(u64, Value, u64)> {
    use Operator::*;
    let (memarg, value, width) = match op {
        I32Store { memarg } => (memarg, Value::I32, 4),
        I32Store8 { memarg } => (memarg, Value::I32, 1),
        I32Store16 { memarg } => (memarg, Value::I32, 2),
        I64Store { memarg } => (memarg, Value::I64, 8),
        I64Store8 { memarg } => (memarg, Value::I64, 1),
        I64Store16 { memarg } => (memarg, Value::I64, 2),
        I64Store32 { memarg } => (memarg, Value::I64, 4),
        F32Store { memarg } => (memarg, Value::F32, 4),
        F64Store { memarg } => (memarg, Value::F64, 8),
        V128Store { memarg } => (memarg, Value::V128, 16),
        V128Store8Lane { memarg, .. } => (memarg, Value::V128, 1),
        V128Store16Lane { memarg, .. } => (memarg, Value::V128, 2),
        V128Store32Lane { memarg, .. } => (memarg, Value::V128, 4),
        V128Store64Lane { memarg, .. } => (memarg, Value::V128, 8),
        _ => return None,
    };
    (memarg.memory == 0).then_some((memarg.offset, value, width))
}

/// Whether `op` is a bulk write to the heap: (destination, _, length) on
/// the stack.
fn bulk(op: &Operator) -> bool {
    use Operator::*;
    matches!(
        op,
        MemoryFill { mem: 0 } | MemoryCopy { dst_mem: 0, .. } | MemoryInit { mem: 0, .. }
    )
}

/// Emits, just before `op`, what marks the heap pages `op` writes, leaving
/// the stack as `op` expects it.
pub fn mark(sink: &mut InstructionSink, op: &Operator, scratch: &Scratch, bytemap: u32) {
    let byte = MemArg {
        offset: 0,
        align: 0,
        memory_index: bytemap,
    };
    if let Some((offset, value, width)) = store(op) {
        // Stack: address, value.
        let value = scratch.value(value);
        sink.local_set(value).local_tee(scratch.address);
        // The first byte's page, then the last byte's (a store may cross
        // a page). An address past 4 GiB wraps here, but the store itself
        // then traps and the message is rolled back.
        sink.i32_const(offset as u32 as i32)
            .i32_add()
            .i32_const(PAGE_SHIFT as i32)
            .i32_shr_u()
            .i32_const(1)
            .i32_store8(byte);
        if width > 1 {
            sink.local_get(scratch.address)
                .i32_const((offset + width - 1) as u32 as i32)
                .i32_add()
                .i32_const(PAGE_SHIFT as i32)
                .i32_shr_u()
                .i32_const(1)
                .i32_store8(byte);
        }
        sink.local_get(scratch.address).local_get(value);
    } else if bulk(op) {
        // Stack: destination, source or value, length. Marks the pages
        // from the destination's to its last byte's, if it writes any.
        let (start, middle, length) = (scratch.address, scratch.middle, scratch.length);
        sink.local_set(length)
            .local_set(middle)
            .local_tee(start)
            .local_get(length)
            .if_(BlockType::Empty)
            .local_get(start)
            .i32_const(PAGE_SHIFT as i32)
            .i32_shr_u()
            .i32_const(1)
            .local_get(start)
            .local_get(length)
            .i32_add()
            .i32_const(1)
            .i32_sub()
            .i32_const(PAGE_SHIFT as i32)
            .i32_shr_u()
            .i32_const(1)
            .i32_add()
            .local_get(start)
            .i32_const(PAGE_SHIFT as i32)
            .i32_shr_u()
            .i32_sub()
            .memory_fill(bytemap)
            .end()
            .local_get(middle)
            .local_get(length);
    }
}
