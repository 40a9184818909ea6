//! The IC's instruction metering, done to the module the way the IC does it
//! (`rs/embedders/src/wasm_utils/instrumentation.rs` in dfinity/ic, metering
//! type "new"), so that a count is what the IC would count.
//!
//! Every function body is cut into blocks at `loop`, `if`, `else`, `br`,
//! `br_if`, `br_table`, `end`, `return` and `unreachable`. At the start of
//! each block an exported counter is decreased by the summed cost of the
//! block's instructions (the IC's cost table, [`cost`]); the function's
//! first block costs one more. Where a block can be entered again (a
//! function's start, a loop body) a negative counter traps. Before
//! `memory.fill`, `memory.copy`, `memory.init`, `table.fill` and
//! `table.copy` the counter is decreased by their size operand as well.
//!
//! Two things differ from the IC's output, neither in what is counted: the
//! trap on a negative counter is an `unreachable` (the IC calls an import;
//! the runner tells the two apart by the counter), and no imports are added,
//! so no function index moves.

mod barrier;
mod cost;
mod size;

use crate::error::RunnerError;
use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ExportKind, ExportSection, Function, FunctionSection,
    GlobalSection, GlobalType, Instruction, MemorySection, MemoryType, Module, SectionId,
    TypeSection, ValType,
};
use wasmparser::{Operator, Parser, Payload, TypeRef};

/// The export of the instruction counter: the IC's own name for it.
pub const COUNTER_EXPORT: &str = "canister counter_instructions";

/// The export the module's start function becomes, as on the IC: the
/// runner calls it under the instruction limit of the install or upgrade.
pub const START_EXPORT: &str = "canister_start";

/// The export of the write barrier's bytemap: one byte per 4 KiB page of
/// the heap, set when the page is written (see [`barrier`]).
pub const BYTEMAP_EXPORT: &str = "canister_runner dirty pages";

/// The export of the heap's size as the canister sees it, in 64 KiB pages
/// (see [`size`]).
pub const HEAP_PAGES_EXPORT: &str = "canister_runner heap pages";

pub use barrier::PAGE_SHIFT;

/// Where the counter is decreased, and by what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Charge {
    /// The static cost of the block that starts here; `reentrant` blocks
    /// also check the counter.
    Block { cost: u64, reentrant: bool },
    /// The size operand on the stack (a bulk memory instruction follows).
    Size,
}

/// The charges of a function body: (position in `ops`, charge), in the
/// order the IC inserts them.
fn charges(ops: &[Operator]) -> Vec<(usize, Charge)> {
    use Operator::*;
    let mut points = Vec::new();
    let (mut start, mut cost, mut reentrant) = (0, 1u64, true);
    for (position, op) in ops.iter().enumerate() {
        cost += cost::cost(op);
        let next = match op {
            Loop { .. } => Some(true),
            If { .. }
            | Else
            | Br { .. }
            | BrIf { .. }
            | BrTable { .. }
            | End
            | Return
            | Unreachable
            | ReturnCall { .. }
            | ReturnCallIndirect { .. } => Some(false),
            MemoryFill { .. }
            | MemoryCopy { .. }
            | TableCopy { .. }
            | TableFill { .. }
            | MemoryInit { .. }
            | TableInit { .. } => {
                points.push((position, Charge::Size));
                None
            }
            _ => None,
        };
        if let Some(next_reentrant) = next {
            if reentrant || cost > 0 {
                points.push((start, Charge::Block { cost, reentrant }));
            }
            (start, cost, reentrant) = (position + 1, 0, next_reentrant);
        }
    }
    // Stable: at one position, a size charge pushed first stays first.
    points.sort_by_key(|(position, _)| *position);
    points
}

/// The module's counts, read before it is rewritten.
#[derive(Default)]
struct Shape {
    types: u32,
    imported_functions: u32,
    defined_functions: u32,
    imported_globals: u32,
    defined_globals: u32,
    memories: u32,
    /// Memory 0's initial size in pages, if it is a 32-bit memory.
    heap_pages: Option<u64>,
    /// The parameter count of each type (0 for a type that is not a
    /// function's).
    type_params: Vec<u32>,
    /// The type of each defined function.
    function_types: Vec<u32>,
}

impl Shape {
    fn of(wasm: &[u8]) -> Result<Shape, RunnerError> {
        let bad = |error: wasmparser::BinaryReaderError| RunnerError::BadModule(error.to_string());
        let mut shape = Shape::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(bad)? {
                Payload::TypeSection(types) => {
                    for group in types {
                        for ty in group.map_err(bad)?.types() {
                            shape.types += 1;
                            let params = match &ty.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(func) => {
                                    func.params().len() as u32
                                }
                                _ => 0,
                            };
                            shape.type_params.push(params);
                        }
                    }
                }
                Payload::ImportSection(imports) => {
                    for import in imports {
                        match import.map_err(bad)?.ty {
                            TypeRef::Func(_) => shape.imported_functions += 1,
                            TypeRef::Global(_) => shape.imported_globals += 1,
                            TypeRef::Memory(memory) => {
                                if shape.memories == 0 && !memory.memory64 {
                                    shape.heap_pages = Some(memory.initial);
                                }
                                shape.memories += 1;
                            }
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(functions) => {
                    shape.defined_functions = functions.count();
                    for ty in functions {
                        shape.function_types.push(ty.map_err(bad)?);
                    }
                }
                Payload::MemorySection(memories) => {
                    for memory in memories {
                        let memory = memory.map_err(bad)?;
                        if shape.memories == 0 && !memory.memory64 {
                            shape.heap_pages = Some(memory.initial);
                        }
                        shape.memories += 1;
                    }
                }
                Payload::GlobalSection(globals) => shape.defined_globals = globals.count(),
                _ => {}
            }
        }
        Ok(shape)
    }
}

/// Rewrites a module with the metering, and adds the counter (exported as
/// [`COUNTER_EXPORT`]) and the function that charges a size.
struct Meter {
    /// The type `(i64) -> (i64)` of the charging function.
    charge_type: u32,
    /// The charging function.
    charge_function: u32,
    /// The counter global.
    counter: u32,
    /// The heap's size as the canister sees it (see [`size`]), if the heap
    /// is a 32-bit memory 0: the global, its initial value, and the
    /// function `memory.grow` becomes.
    heap_size: Option<(u32, u64, u32)>,
    /// The module's start function, exported as [`START_EXPORT`] instead.
    start: Option<u32>,
    /// The write barrier's bytemap memory.
    bytemap: u32,
    /// The parameter count of each type, and the type of each defined
    /// function.
    type_params: Vec<u32>,
    function_types: Vec<u32>,
    /// The sections this module has had, of those the metering adds to.
    seen: Vec<SectionId>,
}

/// The order of the non-custom sections in a module.
const SECTION_ORDER: [SectionId; 13] = [
    SectionId::Type,
    SectionId::Import,
    SectionId::Function,
    SectionId::Table,
    SectionId::Memory,
    SectionId::Tag,
    SectionId::Global,
    SectionId::Export,
    SectionId::Start,
    SectionId::Element,
    SectionId::DataCount,
    SectionId::Code,
    SectionId::Data,
];

fn rank(id: SectionId) -> usize {
    SECTION_ORDER
        .iter()
        .position(|&other| other == id)
        .unwrap_or(SECTION_ORDER.len())
}

type Reencoded<T> = Result<T, ReencodeError<std::convert::Infallible>>;

impl Meter {
    fn add_type(&self, types: &mut TypeSection) {
        types.ty().function([ValType::I64], [ValType::I64]);
        types.ty().function([ValType::I32], [ValType::I32]);
    }

    fn add_function(&self, functions: &mut FunctionSection) {
        functions.function(self.charge_type);
        if self.heap_size.is_some() {
            functions.function(self.charge_type + 1);
        }
    }

    fn add_global(&self, globals: &mut GlobalSection) {
        // Set by the runner before every message; until then (a start
        // function) nothing runs out.
        globals.global(
            GlobalType {
                val_type: ValType::I64,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i64_const(i64::MAX),
        );
        if let Some((_, initial, _)) = self.heap_size {
            globals.global(
                GlobalType {
                    val_type: ValType::I32,
                    mutable: true,
                    shared: false,
                },
                &ConstExpr::i32_const(initial as i32),
            );
        }
    }

    /// The functions the rewrite adds, after the module's own.
    fn add_functions(&self, code: &mut CodeSection) {
        self.add_charge_function(code);
        if let Some((pages, _, _)) = self.heap_size {
            size::add_grow_function(code, pages);
        }
    }

    fn add_memory(&self, memories: &mut MemorySection) {
        let pages = barrier::BYTEMAP_WASM_PAGES;
        memories.memory(MemoryType {
            minimum: pages,
            maximum: Some(pages),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }

    fn add_export(&self, exports: &mut ExportSection) {
        exports.export(COUNTER_EXPORT, ExportKind::Global, self.counter);
        exports.export(BYTEMAP_EXPORT, ExportKind::Memory, self.bytemap);
        if let Some((pages, _, _)) = self.heap_size {
            exports.export(HEAP_PAGES_EXPORT, ExportKind::Global, pages);
        }
        if let Some(start) = self.start {
            exports.export(START_EXPORT, ExportKind::Func, start);
        }
    }

    /// The IC's charging function: takes the size, decreases the counter by
    /// it (to `i64::MIN` at most), traps if it went negative, returns the size.
    fn add_charge_function(&self, code: &mut CodeSection) {
        let mut function = Function::new([(1, ValType::I64)]);
        let counter = self.counter;
        function
            .instructions()
            .global_get(counter)
            .local_get(0)
            .i64_sub()
            .local_tee(1)
            .global_get(counter)
            .i64_gt_s()
            .if_(BlockType::Result(ValType::I64))
            .i64_const(i64::MIN)
            .else_()
            .local_get(1)
            .end()
            .global_set(counter)
            .global_get(counter)
            .i64_const(0)
            .i64_lt_s()
            .if_(BlockType::Empty)
            .unreachable()
            .end()
            .local_get(0)
            .end();
        code.function(&function);
    }

    fn charge(&self, function: &mut Function, charge: Charge) {
        let counter = self.counter;
        let mut sink = function.instructions();
        match charge {
            Charge::Block { cost, reentrant } => {
                sink.global_get(counter)
                    .i64_const(cost as i64)
                    .i64_sub()
                    .global_set(counter);
                if reentrant {
                    sink.global_get(counter)
                        .i64_const(0)
                        .i64_lt_s()
                        .if_(BlockType::Empty)
                        .unreachable()
                        .end();
                }
            }
            Charge::Size => {
                sink.i64_extend_i32_u()
                    .call(self.charge_function)
                    .i32_wrap_i64();
            }
        }
    }

    /// Emits the sections the module lacks, between `after` and `before`.
    fn missing_sections(
        &mut self,
        module: &mut Module,
        after: Option<SectionId>,
        before: Option<SectionId>,
    ) {
        let (low, high) = (
            after.map_or(0, |id| rank(id) + 1),
            before.map_or(SECTION_ORDER.len(), rank),
        );
        for id in [
            SectionId::Type,
            SectionId::Function,
            SectionId::Memory,
            SectionId::Global,
            SectionId::Export,
            SectionId::Code,
        ] {
            if self.seen.contains(&id) || !(low..high).contains(&rank(id)) {
                continue;
            }
            self.seen.push(id);
            match id {
                SectionId::Type => {
                    let mut types = TypeSection::new();
                    self.add_type(&mut types);
                    module.section(&types);
                }
                SectionId::Function => {
                    let mut functions = FunctionSection::new();
                    self.add_function(&mut functions);
                    module.section(&functions);
                }
                SectionId::Memory => {
                    let mut memories = MemorySection::new();
                    self.add_memory(&mut memories);
                    module.section(&memories);
                }
                SectionId::Global => {
                    let mut globals = GlobalSection::new();
                    self.add_global(&mut globals);
                    module.section(&globals);
                }
                SectionId::Export => {
                    let mut exports = ExportSection::new();
                    self.add_export(&mut exports);
                    module.section(&exports);
                }
                _ => {
                    let mut code = CodeSection::new();
                    self.add_functions(&mut code);
                    module.section(&code);
                }
            }
        }
    }
}

impl Reencode for Meter {
    type Error = std::convert::Infallible;

    fn parse_type_section(
        &mut self,
        types: &mut TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Reencoded<()> {
        self.seen.push(SectionId::Type);
        wasm_encoder::reencode::utils::parse_type_section(self, types, section)?;
        self.add_type(types);
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Reencoded<()> {
        self.seen.push(SectionId::Function);
        wasm_encoder::reencode::utils::parse_function_section(self, functions, section)?;
        self.add_function(functions);
        Ok(())
    }

    fn parse_memory_section(
        &mut self,
        memories: &mut MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Reencoded<()> {
        self.seen.push(SectionId::Memory);
        wasm_encoder::reencode::utils::parse_memory_section(self, memories, section)?;
        self.add_memory(memories);
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Reencoded<()> {
        self.seen.push(SectionId::Global);
        wasm_encoder::reencode::utils::parse_global_section(self, globals, section)?;
        self.add_global(globals);
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Reencoded<()> {
        self.seen.push(SectionId::Export);
        wasm_encoder::reencode::utils::parse_export_section(self, exports, section)?;
        self.add_export(exports);
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Reencoded<()> {
        self.seen.push(SectionId::Code);
        for (defined, body) in section.into_iter().enumerate() {
            let body = body?;
            let ops = body
                .get_operators_reader()?
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            let mut locals = Vec::new();
            let mut count = self
                .function_types
                .get(defined)
                .and_then(|&ty| self.type_params.get(ty as usize))
                .copied()
                .unwrap_or(0);
            for local in body.get_locals_reader()? {
                let (n, ty) = local?;
                count += n;
                locals.push((n, self.val_type(ty)?));
            }
            let (scratch, scratch_locals) = barrier::Scratch::new(count, &ops);
            locals.extend(scratch_locals);
            let mut function = Function::new(locals);
            let mut charges = charges(&ops).into_iter().peekable();
            for (position, op) in ops.into_iter().enumerate() {
                while let Some((_, charge)) = charges.next_if(|(at, _)| *at == position) {
                    self.charge(&mut function, charge);
                }
                barrier::mark(&mut function.instructions(), &op, &scratch, self.bytemap);
                if let Some((pages, _, grow)) = self.heap_size {
                    if size::rewrite(&mut function.instructions(), &op, pages, grow) {
                        continue;
                    }
                }
                let instruction: Instruction = self.instruction(op)?;
                function.instruction(&instruction);
            }
            code.function(&function);
        }
        self.add_functions(code);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Reencoded<()> {
        self.missing_sections(module, after, before);
        Ok(())
    }
}

/// A module with the IC's instruction metering.
pub struct Metered {
    pub bytes: Vec<u8>,
    /// The index of the counter global.
    pub counter: u32,
}

/// `wasm` with the IC's instruction metering. `wasm` must have no start
/// section; its start function, `start`, is exported as [`START_EXPORT`].
pub fn instrument(wasm: &[u8], start: Option<u32>) -> Result<Metered, RunnerError> {
    let shape = Shape::of(wasm)?;
    let (functions, globals) = (
        shape.imported_functions + shape.defined_functions,
        shape.imported_globals + shape.defined_globals,
    );
    let mut meter = Meter {
        charge_type: shape.types,
        charge_function: functions,
        counter: globals,
        heap_size: shape
            .heap_pages
            .map(|initial| (globals + 1, initial, functions + 1)),
        start,
        bytemap: shape.memories,
        type_params: shape.type_params,
        function_types: shape.function_types,
        seen: Vec::new(),
    };
    let mut module = Module::new();
    meter
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|error| RunnerError::BadModule(format!("instrumenting the module: {error}")))?;
    Ok(Metered {
        bytes: module.finish(),
        counter: meter.counter,
    })
}

#[cfg(test)]
mod tests;
