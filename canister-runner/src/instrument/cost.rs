//! The IC's cost of each wasm instruction (Wasm32), from
//! `instruction_to_cost` in dfinity/ic
//! `rs/embedders/src/wasm_utils/instrumentation.rs`.

use wasmparser::Operator;

/// What one instruction costs on the IC (Wasm32), statically; bulk memory
/// instructions also cost their size, charged when they run.
pub fn cost(op: &Operator) -> u64 {
    use Operator::*;
    match op {
        Block { .. } | Else | End | Loop { .. } => 0,
        I32DivS | I32DivU | I32RemS | I32RemU | I64DivS | I64DivU | I64RemS | I64RemU => 10,
        F32Add | F32Sub | F32Mul | F32Ceil | F32Floor | F32Trunc | F32Nearest | F64Add | F64Sub
        | F64Mul | F64Ceil | F64Floor | F64Trunc | F64Nearest => 2,
        F32Div => 3,
        F64Div => 5,
        F32Min | F32Max | F64Min | F64Max => 18,
        F32Copysign => 2,
        F64Copysign => 3,
        F32Sqrt => 5,
        F64Sqrt => 8,
        F32Eq | F32Ne | F32Lt | F32Gt | F32Le | F32Ge | F64Eq | F64Ne | F64Lt | F64Gt | F64Le
        | F64Ge => 3,
        F32ConvertI32S | F64ConvertI64S | F32ConvertI64S | F64ConvertI32S => 3,
        F64ConvertI32U | F32ConvertI64U | F32ConvertI32U | F64ConvertI64U => 16,
        I64TruncSatF32S | I64TruncSatF32U | I64TruncSatF64S | I64TruncSatF64U | I32TruncSatF32S
        | I32TruncSatF32U | I32TruncSatF64S | I32TruncSatF64U => 20,
        I32TruncF32S | I32TruncF32U | I32TruncF64S | I32TruncF64U | I64TruncF32S | I64TruncF32U
        | I64TruncF64S | I64TruncF64U => 20,
        GlobalGet { .. } | GlobalSet { .. } => 2,
        TableGet { .. } | TableSet { .. } => 5,
        TableGrow { .. } | MemoryGrow { .. } => 300,
        MemorySize { .. } => 20,
        TableSize { .. } => 100,
        MemoryFill { .. }
        | MemoryCopy { .. }
        | TableFill { .. }
        | TableCopy { .. }
        | MemoryInit { .. }
        | TableInit { .. } => 100,
        DataDrop { .. } | ElemDrop { .. } => 300,
        Call { .. } => 5,
        CallIndirect { .. } => 10,
        ReturnCall { .. } => 3,
        ReturnCallIndirect { .. } => 60,
        If { .. } | Br { .. } | BrIf { .. } | BrTable { .. } => 2,
        RefIsNull => 5,
        RefFunc { .. } => 130,
        // Constants, integer arithmetic and comparisons, loads and stores,
        // locals, select, conversions, drop, nop, return, unreachable: 1
        // (and the IC's default for any other instruction).
        _ => 1,
    }
}
