//! Preparing a canister module: the runner must read and restore every
//! mutable global to roll a call back, but Rust canisters do not export them
//! (`__stack_pointer` above all), so the module is rewritten to export each
//! one under a name of the runner's own.

pub(crate) mod cache;

use crate::error::RunnerError;
use wasmparser::{Parser, Payload, TypeRef};

/// The export name given to mutable global `index`.
pub fn global_export_name(index: u32) -> String {
    format!("__canister_runner_global_{index}")
}

/// A module whose mutable globals are all exported.
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub mutable_globals: Vec<u32>,
}

fn read_leb_u32(bytes: &[u8], at: &mut usize) -> Result<u32, RunnerError> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| RunnerError::BadModule("truncated LEB128 number".into()))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value)
                .map_err(|_| RunnerError::BadModule("LEB128 number over 32 bits".into()));
        }
    }
    Err(RunnerError::BadModule("LEB128 number too long".into()))
}

fn push_leb_u32(out: &mut Vec<u8>, value: u32) {
    backup_common::leb128::push(out, u64::from(value));
}

/// The largest module the IC installs once decompressed (100 MiB).
pub const MAX_MODULE_BYTES: u64 = 100 << 20;

/// The module itself: as the IC does, a gzip-compressed module (what dfx
/// and icp-cli build with `gzip: true`, and what a snapshot download holds)
/// is decompressed first.
pub fn decompress(wasm: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, RunnerError> {
    use std::io::Read;
    if !wasm.starts_with(&[0x1f, 0x8b]) {
        return Ok(std::borrow::Cow::Borrowed(wasm));
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(wasm)
        .take(MAX_MODULE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|error| {
            RunnerError::BadModule(format!(
                "a gzip-compressed module that does not decompress: {error}"
            ))
        })?;
    if out.len() as u64 > MAX_MODULE_BYTES {
        return Err(RunnerError::BadModule(format!(
            "a gzip-compressed module over {MAX_MODULE_BYTES} bytes once decompressed, the IC's limit"
        )));
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// The export the runner adds for the module's function table, through
/// which it calls the callbacks of inter-canister calls.
pub const TABLE_EXPORT: &str = "canister_runner table";

/// The sections of a module after its header: (id, content).
fn sections(wasm: &[u8]) -> Result<Vec<(u8, &[u8])>, RunnerError> {
    let mut sections = Vec::new();
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = read_leb_u32(wasm, &mut at)? as usize;
        let content = at
            .checked_add(size)
            .and_then(|end| wasm.get(at..end))
            .ok_or_else(|| {
                RunnerError::BadModule(format!("section {id} runs past the end of the module"))
            })?;
        at += size;
        sections.push((id, content));
    }
    Ok(sections)
}

fn push_section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    push_leb_u32(out, content.len() as u32);
    out.extend_from_slice(content);
}

const START_SECTION: u8 = 8;
const EXPORT_SECTION: u8 = 7;

/// The module without its start section, and the start function: as on the
/// IC, it runs as part of the install or upgrade, under its limits.
fn take_start(wasm: &[u8]) -> Result<(Vec<u8>, Option<u32>), RunnerError> {
    let mut out = wasm[..8].to_vec();
    let mut start = None;
    for (id, content) in sections(wasm)? {
        if id == START_SECTION {
            start = Some(read_leb_u32(content, &mut 0)?);
        } else {
            push_section(&mut out, id, content);
        }
    }
    Ok((out, start))
}

/// Checks the module, meters it as the IC does ([`crate::instrument`]),
/// and adds an export for each mutable global and one for its function
/// table; or reads back what an earlier process made of the same module
/// ([`cache`]).
pub fn prepare(wasm: &[u8]) -> Result<Prepared, RunnerError> {
    let entry = cache::entry(wasm);
    if let Some(prepared) = entry.as_deref().and_then(cache::read) {
        return Ok(prepared);
    }
    let prepared = prepare_afresh(wasm)?;
    if let Some(entry) = &entry {
        cache::write(entry, &prepared);
    }
    Ok(prepared)
}

fn prepare_afresh(wasm: &[u8]) -> Result<Prepared, RunnerError> {
    let wasm = decompress(wasm)?;
    let wasm = wasm.as_ref();
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(RunnerError::BadModule(format!(
            "expected a wasm module (magic `\\0asm`), found {} bytes starting {:02x?}",
            wasm.len(),
            &wasm[..wasm.len().min(4)]
        )));
    }
    wasmparser::Validator::new()
        .validate_all(wasm)
        .map_err(|error| RunnerError::BadModule(format!("an invalid module: {error}")))?;
    // Judged on the module as given: the rewrite adds exports of its own.
    let exports_something = Parser::new(0).parse_all(wasm).any(
        |payload| matches!(payload, Ok(Payload::ExportSection(exports)) if exports.count() > 0),
    );
    if !exports_something {
        return Err(RunnerError::BadModule(
            "the module exports nothing: expected canister methods".into(),
        ));
    }
    let (without_start, start) = take_start(wasm)?;
    let metered = crate::instrument::instrument(&without_start, start)?;
    let wasm = metered.bytes.as_slice();
    let mut mutable_globals = Vec::new();
    let mut global_index = 0u32;
    let mut has_table = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|error| RunnerError::BadModule(error.to_string()))? {
            Payload::ImportSection(imports) => {
                for import in imports {
                    let import =
                        import.map_err(|error| RunnerError::BadModule(error.to_string()))?;
                    if let TypeRef::Table(_) = import.ty {
                        has_table = true;
                    }
                    if let TypeRef::Global(ty) = import.ty {
                        if ty.mutable {
                            mutable_globals.push(global_index);
                        }
                        global_index += 1;
                    }
                }
            }
            Payload::TableSection(tables) => has_table |= tables.count() > 0,
            Payload::GlobalSection(globals) => {
                for global in globals {
                    let global =
                        global.map_err(|error| RunnerError::BadModule(error.to_string()))?;
                    // The instruction counter is set before every message,
                    // not rolled back.
                    if global.ty.mutable && global_index != metered.counter {
                        mutable_globals.push(global_index);
                    }
                    global_index += 1;
                }
            }
            _ => {}
        }
    }

    let mut out = wasm[..8].to_vec();
    for (id, content) in sections(wasm)? {
        if id != EXPORT_SECTION {
            push_section(&mut out, id, content);
            continue;
        }
        let mut inner = 0;
        let count = read_leb_u32(content, &mut inner)?;
        let mut section = Vec::with_capacity(content.len() + 40 * mutable_globals.len());
        push_leb_u32(
            &mut section,
            count + mutable_globals.len() as u32 + u32::from(has_table),
        );
        section.extend_from_slice(&content[inner..]);
        // Callbacks of inter-canister calls are entries of table 0.
        if has_table {
            push_leb_u32(&mut section, TABLE_EXPORT.len() as u32);
            section.extend_from_slice(TABLE_EXPORT.as_bytes());
            section.push(0x01);
            push_leb_u32(&mut section, 0);
        }
        for &index in &mutable_globals {
            let name = global_export_name(index);
            push_leb_u32(&mut section, name.len() as u32);
            section.extend_from_slice(name.as_bytes());
            section.push(0x03);
            push_leb_u32(&mut section, index);
        }
        push_section(&mut out, EXPORT_SECTION, &section);
    }
    Ok(Prepared {
        bytes: out,
        mutable_globals,
    })
}

/// One `icp:public <name>` or `icp:private <name>` custom section: the
/// canister metadata the IC certifies under `/canister/<id>/metadata/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    /// Readable by anyone (`icp:public`), else only by controllers.
    pub public: bool,
    pub bytes: Vec<u8>,
}

/// The module's metadata sections (gzipped modules are read inside).
pub fn metadata(wasm: &[u8]) -> Vec<Metadata> {
    let Ok(wasm) = decompress(wasm) else {
        return Vec::new();
    };
    let mut sections = Vec::new();
    for payload in Parser::new(0).parse_all(&wasm) {
        if let Ok(Payload::CustomSection(section)) = payload {
            let (public, name) = match section.name().split_once(' ') {
                Some(("icp:public", name)) => (true, name),
                Some(("icp:private", name)) => (false, name),
                _ => continue,
            };
            sections.push(Metadata {
                name: name.to_string(),
                public,
                bytes: section.data().to_vec(),
            });
        }
    }
    sections
}
