//! The club canister's six structures (a cell, a set, a map, a vec, a log,
//! a min-heap): the instructions per entry of each kind's cursor pages, as
//! the IC counts them, against canbench's own figure for reading a
//! `StableVec` element through a `MemoryManager` (the floor: a page reads
//! each element once, then encodes it); and the native reader's speed, a
//! backup through the layout file straight from the image's bytes, in MiB
//! of the structure's memory per second on this machine.

use crate::record::{Call, Recorder, Run};
use backup_client::interface::Interface;
use backup_client::json::Format;
use backup_client::layout::Layout;
use backup_client::ops::backup::{backup, BackupOptions};
use candid::types::value::IDLValue;
use candid::{IDLArgs, Principal};
use canister_runner::{Canister, InstallArgs, Limits};
use serde_json::json;
use std::time::Instant;

fn operator() -> Principal {
    Principal::from_slice(&[1; 29])
}

/// The figures of the club seeded with `n` of everything; the floor from
/// canbench's vec benchmark canister if `canbench_vec` is its wasm.
pub fn structures(
    club_wasm: &std::path::Path,
    canbench_vec: Option<&[u8]>,
    recorder: &mut Recorder,
    n: u64,
) {
    let started = Instant::now();
    let wasm = match std::fs::read(club_wasm) {
        Ok(wasm) => wasm,
        Err(error) => {
            recorder
                .notes
                .push(format!("structures: {}: {error}", club_wasm.display()));
            return;
        }
    };
    let args = InstallArgs {
        controllers: vec![operator()],
        ..InstallArgs::default()
    };
    let mut club = match Canister::install(&wasm, args) {
        Ok(club) => club,
        Err(error) => {
            recorder
                .notes
                .push(format!("structures: the club: {error}"));
            return;
        }
    };
    // Seeded in updates of 1,000 (each well under the instruction limit).
    for _ in 0..n.div_ceil(1000) {
        let arg = candid::encode_one(1000u64.min(n)).unwrap_or_default();
        let result = club.update(operator(), "seed", &arg).result;
        if let Err(reject) = result {
            recorder
                .notes
                .push(format!("structures: seeding the club: {}", reject.message));
            return;
        }
    }
    let floor = canbench_vec.and_then(vec_get_floor);
    if let Some(floor) = floor {
        recorder.notes.push(format!(
            "The floor of the structures' pages: canbench's `vec_get_blob_64_mem_manager` (ic-stable-structures 0.7.2, 10,000 `StableVec::get` of 64-byte elements through a MemoryManager), run in the runner: {floor:.0} instructions per element. canbench has no benchmark of `StableLog`; its reads are those of a vec's."
        ));
    }
    for (name, kind) in [
        ("config", "cell"),
        ("members", "set"),
        ("dues", "map"),
        ("posts", "vec"),
        ("audit", "log"),
        ("jobs", "min-heap"),
    ] {
        let (entries, run) = pages(&mut club, name);
        recorder.check(&format!("structures / {name}"), &run);
        let per_entry = run.instructions() as f64 / entries.max(1) as f64;
        let calls = run.calls.len() as u64;
        recorder.row(json!({
            "table": "structures",
            "structure": format!("{name} ({kind})"),
            "entries": entries,
            "calls": calls,
            "instr/entry": per_entry,
            "canbench floor/entry": floor,
            "x floor": floor.map(|floor| per_entry / floor),
            "bytes/call": run.bytes_out() / calls.max(1),
            "max reply fill": run.max_reply_fill(),
            "failed": run.failed,
        }));
    }
    native_reader(&wasm, club.stable_memory(), recorder);
    eprintln!(
        "structures, N = {n}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Every cursor page of `backup_<name>_page`, at the canister's default
/// size; the entries and the calls.
fn pages(club: &mut Canister, name: &str) -> (u64, Run) {
    let mut run = Run::default();
    let mut after = IDLValue::None;
    let mut entries = 0;
    let method = format!("backup_{name}_page");
    loop {
        let arg = IDLArgs::new(&[after.clone(), IDLValue::None, IDLValue::None]).to_bytes();
        let Ok(arg) = arg else {
            run.failed = Some("the page request does not encode".into());
            return (entries, run);
        };
        let result = club.query(operator(), &method, &arg);
        run.calls.push(Call {
            query: true,
            stats: result.stats,
        });
        let reply = match result.result {
            Ok(reply) => reply,
            Err(reject) => {
                run.failed = Some(reject.message);
                return (entries, run);
            }
        };
        let Some(IDLValue::Record(fields)) = IDLArgs::from_bytes(&reply)
            .ok()
            .and_then(|mut args| args.args.pop())
        else {
            run.failed = Some("a page that is not a record".into());
            return (entries, run);
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|field| field.id.get_id() == candid::idl_hash(name))
                .map(|field| field.val.clone())
        };
        if let Some(IDLValue::Vec(page)) = field("entries") {
            entries += page.len() as u64;
        }
        match field("next") {
            Some(IDLValue::Opt(next)) => after = IDLValue::Opt(next),
            _ => return (entries, run),
        }
    }
}

/// canbench's `vec_get_blob_64_mem_manager` in the runner (limits lifted,
/// as canbench runs it): instructions per `StableVec::get`.
fn vec_get_floor(wasm: &[u8]) -> Option<f64> {
    #[derive(candid::CandidType, candid::Deserialize)]
    struct BenchResult {
        total: Measurement,
    }
    #[derive(candid::CandidType, candid::Deserialize)]
    struct Measurement {
        instructions: u64,
    }
    let args = InstallArgs {
        limits: Limits::lifted(),
        ..InstallArgs::default()
    };
    let mut canister = Canister::install(wasm, args).ok()?;
    let reply = canister
        .query(
            Principal::anonymous(),
            "__canbench__vec_get_blob_64_mem_manager",
            b"DIDL\x00\x01\x7f",
        )
        .result
        .ok()?;
    let result: BenchResult = candid::decode_one(&reply).ok()?;
    Some(result.total.instructions as f64 / 10_000.0)
}

/// The vec, the log, the heap and the map backed up through the shipped
/// layout file straight from the image's bytes (`backup --layout`, as
/// `ic-backup` runs it, the file written), timed: MiB of each structure's
/// memories per second.
fn native_reader(wasm: &[u8], image: &[u8], recorder: &mut Recorder) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let layout_path = root.join("examples/club-plain/club.toml");
    let dir = root.join("target/bench/structures");
    let _ = std::fs::create_dir_all(&dir);
    let (wasm_path, image_path) = (dir.join("club.wasm"), dir.join("club.bin"));
    let written =
        std::fs::write(&wasm_path, wasm).and_then(|()| std::fs::write(&image_path, image));
    let layout = std::fs::read_to_string(&layout_path)
        .map_err(|error| error.to_string())
        .and_then(|text| {
            Layout::parse(&text, &layout_path.display().to_string()).map_err(|e| e.to_string())
        });
    let (Ok(()), Ok(layout)) = (written, layout) else {
        recorder
            .notes
            .push("structures: the native reader was not measured (files)".into());
        return;
    };
    let Ok(manager) = backup_runtime::image::Layout::parse_header(image, image.len() as u64) else {
        return;
    };
    let Ok(interface) = Interface::parse(&layout.interface_source()) else {
        return;
    };
    let connection = backup_client::connect::Connection {
        wasm: Some(wasm_path),
        image: Some(image_path),
        ..Default::default()
    };
    for name in ["dues", "posts", "audit", "jobs"] {
        let Some(structure) = layout.get(name) else {
            continue;
        };
        let bytes: u64 = structure
            .memory_ids()
            .iter()
            .filter_map(|&id| manager.memory(id))
            .map(|memory| memory.size_pages * 65536)
            .sum();
        let output = dir.join(format!("{name}.json"));
        let _ = std::fs::remove_file(&output);
        let started = Instant::now();
        let result = backup_client::connect::with_target(&connection, |target| {
            backup(
                target,
                &interface,
                BackupOptions {
                    map: name,
                    output: &output,
                    format: Format::Lossless,
                    max_bytes: None,
                    parallel: 1,
                    stop_after: None,
                    through_wasm: false,
                    layout: Some(structure),
                    json: true,
                },
            )
        });
        let seconds = started.elapsed().as_secs_f64();
        let file = std::fs::metadata(&output).map_or(0, |m| m.len());
        recorder.row(json!({
            "table": "native_reader",
            "structure": format!("{name} ({})", structure.kind),
            "memory bytes": bytes,
            "file bytes": file,
            "seconds": seconds,
            "MiB of memory/s": bytes as f64 / 1048576.0 / seconds,
            "failed": result.err().map(|error| error.to_string()),
        }));
    }
}
