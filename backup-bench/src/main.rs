#![doc = include_str!("../README.md")]

mod record;
mod render;
mod repository;
mod scenarios;
mod served;
mod structures;

use record::Recorder;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--render <results.json>`: the tables of an earlier run, as Markdown
    // (what docs/benchmarks.md shows of docs/bench/results.json).
    if let Some(path) = args.iter().skip_while(|arg| *arg != "--render").nth(1) {
        let document = std::fs::read(path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string())
            });
        match document {
            Ok(document) => print!("{}", render::markdown(&document)),
            Err(error) => {
                eprintln!("error: {path}: {error}");
                std::process::exit(2);
            }
        }
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    let started = std::time::Instant::now();
    let wasm_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-unknown-unknown/release/profiles.wasm");
    let wasm = match std::fs::read(&wasm_path) {
        Ok(wasm) => wasm,
        Err(error) => {
            eprintln!(
                "error: {}: {error}; build it first (scripts/bench.sh does)",
                wasm_path.display()
            );
            std::process::exit(2);
        }
    };
    backup_client::ops::set_quiet(true);
    let mut recorder = Recorder::default();
    // `--restore`: the restore rows alone, at 10,000 and 100,000 entries.
    if args.iter().any(|arg| arg == "--restore") {
        scenarios::restore_only(&wasm, &mut recorder, &[10_000, 100_000]);
        recorder.print_and_save_as(started.elapsed(), "results-restore.json");
        return;
    }
    // `--consistent`: the paged, consistent and raw rows alone, at 1,000,000
    // entries (100,000 with --quick).
    if args.iter().any(|arg| arg == "--consistent") {
        let n = if quick { 100_000 } else { 1_000_000 };
        scenarios::app_backup(&wasm, &mut recorder, &[], &[n]);
        recorder.print_and_save_as(started.elapsed(), "results-consistent.json");
        return;
    }
    // `--repository`: the raw dump (it writes the benchmark image), then
    // the second daily dump into a restic repository at 256 MiB and 4 GiB
    // (32 MiB alone with --quick).
    if args.iter().any(|arg| arg == "--repository") {
        let mib = if quick { 32 } else { 256 };
        scenarios::raw(&wasm, &mut recorder, mib, 0.100);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        let cli = std::env::current_exe()
            .map(|exe| exe.with_file_name("ic-backup"))
            .unwrap_or_default();
        match served::client_key(&dir) {
            Some((pem, client)) => {
                let sizes = if quick { vec![mib] } else { vec![mib, 4096] };
                for size in sizes {
                    let measured = repository::second_daily_dump(
                        &cli,
                        &wasm_path,
                        &pem,
                        &client.to_text(),
                        &mut recorder,
                        size,
                    );
                    if let Err(error) = measured {
                        recorder
                            .notes
                            .push(format!("repository ({size} MiB): {error}"));
                    }
                }
            }
            None => recorder
                .notes
                .push("repository: cannot set up the client's key".into()),
        }
        recorder.print_and_save_as(started.elapsed(), "results-repository.json");
        return;
    }
    // `--structures`: the club's structures alone.
    let club = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-unknown-unknown/release/club.wasm");
    // canbench's vec benchmarks, where scripts/bench.sh built them.
    let canbench_vec =
        std::env::var_os("CANBENCH_VEC_WASM").and_then(|path| std::fs::read(path).ok());
    let club_n = if quick { 2_000 } else { 20_000 };
    if args.iter().any(|arg| arg == "--structures") {
        structures::structures(&club, canbench_vec.as_deref(), &mut recorder, club_n);
        recorder.print_and_save_as(started.elapsed(), "results-structures.json");
        return;
    }
    let sizes: &[u64] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let cursor_only: &[u64] = if quick { &[] } else { &[1_000_000] };
    scenarios::app_backup(&wasm, &mut recorder, sizes, cursor_only);
    scenarios::large_values(&wasm, &mut recorder);
    let image_mib = if quick { 32 } else { 256 };
    scenarios::raw(&wasm, &mut recorder, image_mib, 0.100);
    let large_mib = (!quick).then_some(4096);
    scenarios::memory(&wasm_path, &mut recorder, image_mib, large_mib);
    structures::structures(&club, canbench_vec.as_deref(), &mut recorder, club_n);
    recorder.print_and_save(started.elapsed());
}
