//! The measured jobs.

use crate::record::{Call, Recorder, Run};
use crate::served::{client_key, copy_extended, peak_rss, serve};
use backup_client::error::{Error, Result as CliResult};
use backup_client::target::Target;
use candid::{CandidType, Deserialize, Principal};
use canister_runner::{Canister, InstallArgs};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, CandidType, Deserialize)]
struct Profile {
    updated_time_msecs: Option<u64>,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
}

const OPERATOR: [u8; 29] = [1; 29];

fn operator() -> Principal {
    Principal::from_slice(&OPERATOR)
}

fn install(wasm: &[u8]) -> Canister {
    let args = InstallArgs {
        controllers: vec![operator()],
        ..InstallArgs::default()
    };
    Canister::install(wasm, args).expect("the profiles wasm installs")
}

/// The principal of user `i`, spread over the key space so inserts are not in order.
fn user(i: u64) -> String {
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut bytes = [0u8; 29];
    bytes[..8].copy_from_slice(&mixed.to_be_bytes());
    bytes[8..16].copy_from_slice(&i.to_be_bytes());
    Principal::from_slice(&bytes).to_text()
}

/// A profile whose Candid encoding is about `size` bytes.
fn profile(i: u64, size: usize) -> Profile {
    let filler = size.saturating_sub(60);
    Profile {
        updated_time_msecs: Some(1_700_000_000_000 + i),
        username: Some(format!("user{i:08}")),
        password: Some("p".repeat(filler / 2)),
        email: Some(format!("{}@example.org", "e".repeat(filler - filler / 2))),
    }
}

fn call(
    canister: &mut Canister,
    run: &mut Run,
    query: bool,
    method: &str,
    arg: &[u8],
) -> Result<Vec<u8>, String> {
    let result = if query {
        canister.query(operator(), method, arg)
    } else {
        canister.update(operator(), method, arg)
    };
    run.calls.push(Call {
        query,
        stats: result.stats,
    });
    result.result.map_err(|reject| reject.message)
}

/// Fills the map through `restore_profiles` in batches of at most 85% of the
/// ingress limit, as `ic-backup restore` sends them.
fn seed(canister: &mut Canister, n: u64, size: usize) -> Run {
    let mut run = Run::default();
    let budget = backup_client::target::CALL_BUDGET;
    let mut batch: Vec<(String, Profile)> = Vec::new();
    let mut bytes = 0;
    let mut flush = |batch: &mut Vec<(String, Profile)>, run: &mut Run| {
        let arg = candid::encode_one(&*batch).expect("encodes");
        let reply = call(canister, run, false, "restore_profiles", &arg).expect("restore succeeds");
        let restored: Result<u64, String> = candid::decode_one(&reply).expect("decodes");
        assert_eq!(restored, Ok(batch.len() as u64));
        batch.clear();
    };
    for i in 0..n {
        let entry = (user(i), profile(i, size));
        let entry_bytes = size + 70;
        if bytes + entry_bytes > budget - 1024 && !batch.is_empty() {
            flush(&mut batch, &mut run);
            bytes = 0;
        }
        bytes += entry_bytes;
        batch.push(entry);
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut run);
    }
    run
}

/// The article's client: `backup(offset, 1000)` until an empty page.
fn article_backup(canister: &mut Canister) -> (u64, Run) {
    let mut run = Run::default();
    let mut offset = 0u64;
    loop {
        let arg = candid::encode_args((offset, 1000u64)).expect("encodes");
        match call(canister, &mut run, true, "backup", &arg) {
            Ok(reply) => {
                let page: Vec<(String, Profile)> = candid::decode_one(&reply).expect("decodes");
                if page.is_empty() {
                    return (offset, run);
                }
                offset += page.len() as u64;
            }
            Err(message) => {
                run.failed = Some(message.chars().take(80).collect());
                return (offset, run);
            }
        }
    }
}

/// Our offset endpoint, letting the byte budget size each page.
fn offset_backup(canister: &mut Canister) -> (u64, Run) {
    let mut run = Run::default();
    let mut offset = 0u64;
    loop {
        let arg = candid::encode_args((offset, u64::MAX)).expect("encodes");
        let reply = call(canister, &mut run, true, "backup_profiles", &arg)
            .expect("backup_profiles succeeds");
        let page: Vec<(String, Profile)> = candid::decode_one(&reply).expect("decodes");
        if page.is_empty() {
            return (offset, run);
        }
        offset += page.len() as u64;
    }
}

/// Our cursor endpoint.
fn cursor_backup(canister: &mut Canister) -> (u64, Run) {
    let mut run = Run::default();
    let mut after: Option<String> = None;
    let mut entries = 0;
    loop {
        let arg = candid::encode_args((after.clone(), None::<u64>)).expect("encodes");
        let reply = call(canister, &mut run, true, "backup_profiles_page", &arg)
            .expect("the cursor page succeeds");
        let page: backup_runtime::BackupPage<String, Profile> =
            candid::decode_one(&reply).expect("decodes");
        entries += page.entries.len() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => return (entries, run),
        }
    }
}

/// The restore rows alone (`--restore`): `restore_profiles` of `n` ~100 B
/// profiles in batches as `ic-backup restore` sends them, for each `n`.
pub fn restore_only(wasm: &[u8], recorder: &mut Recorder, sizes: &[u64]) {
    for &n in sizes {
        let mut canister = install(wasm);
        let seeded = seed(&mut canister, n, 100);
        restore_row(recorder, n, &seeded);
    }
}

/// The restore table's row of `n` entries seeded by `seeded`.
fn restore_row(recorder: &mut Recorder, n: u64, seeded: &Run) {
    recorder.check(&format!("restore N = {n}"), seeded);
    recorder.row(json!({
        "table": "restore",
        "entries": n,
        "calls": seeded.calls.len(),
        "instructions_per_entry": seeded.instructions() as f64 / n as f64,
        "bytes_per_call": seeded.bytes_in() / seeded.calls.len().max(1) as u64,
        "max_call_instructions": seeded.calls.iter().map(|c| c.stats.instructions).max().unwrap_or(0),
    }));
}

pub fn app_backup(wasm: &[u8], recorder: &mut Recorder, sizes: &[u64], cursor_only: &[u64]) {
    for &n in sizes.iter().chain(cursor_only) {
        let started = Instant::now();
        let mut canister = install(wasm);
        let seeded = seed(&mut canister, n, 100);
        let scenario = format!("N = {n}, ~100 B values");
        if !cursor_only.contains(&n) {
            let (entries, run) = article_backup(&mut canister);
            recorder.backup_row(&scenario, "(a) article: skip/take 1000", entries, &run);
            let (entries, run) = offset_backup(&mut canister);
            recorder.backup_row(&scenario, "(b) backup_profiles (offset)", entries, &run);
        }
        let (entries, run) = cursor_backup(&mut canister);
        assert_eq!(entries, n, "the cursor backup covers the map");
        recorder.backup_row(
            &scenario,
            "(c) backup_profiles_page (cursor)",
            entries,
            &run,
        );
        if n == 100_000 || (sizes.len() < 3 && n == *sizes.last().unwrap_or(&0)) {
            restore_row(recorder, n, &seeded);
        }
        if Some(&n) == sizes.iter().chain(cursor_only).max() {
            typed_vs_raw(&mut canister, recorder, n, 0.100);
        }
        eprintln!("backup N = {n}: {:.1} s", started.elapsed().as_secs_f64());
    }
}

pub fn large_values(wasm: &[u8], recorder: &mut Recorder) {
    for (size, n) in [(4 * 1024, 1_500u64), (100 * 1024, 60)] {
        let mut canister = install(wasm);
        seed(&mut canister, n, size);
        let scenario = format!("N = {n}, ~{} KiB values", size / 1024);
        let (entries, run) = article_backup(&mut canister);
        recorder.backup_row(&scenario, "(a) article: skip/take 1000", entries, &run);
        let (entries, run) = cursor_backup(&mut canister);
        recorder.backup_row(
            &scenario,
            "(c) backup_profiles_page (cursor)",
            entries,
            &run,
        );
    }
}

/// A target over the runner that models the network: every round of calls
/// (one call, or one batch of concurrent queries) costs `latency`. The
/// runner's own execution time is not added: an interpreter's speed says
/// nothing about a replica's, and each call's instructions are reported.
struct Modeled<'a> {
    canister: &'a mut Canister,
    latency: Duration,
    rounds: u64,
    run: Run,
    /// The instructions of the `backup_<map>_splits` queries among them.
    splits: u64,
}

impl Modeled<'_> {
    fn one(&mut self, query: bool, method: &str, arg: &[u8]) -> CliResult<Vec<u8>> {
        let result = call(self.canister, &mut self.run, query, method, arg);
        result.map_err(|message| Error::Rejected {
            method: method.to_string(),
            message,
        })
    }

    fn wall(&self) -> Duration {
        self.latency * self.rounds as u32
    }
}

impl Target for Modeled<'_> {
    fn query(&mut self, method: &str, arg: &[u8]) -> CliResult<Vec<u8>> {
        self.rounds += 1;
        let reply = self.one(true, method, arg);
        if method.ends_with("_splits") {
            self.splits += self.run.calls.last().map_or(0, |c| c.stats.instructions);
        }
        reply
    }

    fn update(&mut self, method: &str, arg: &[u8]) -> CliResult<Vec<u8>> {
        self.rounds += 1;
        self.one(false, method, arg)
    }

    /// A pipeline of `parallel` queries of equal latency: one latency per
    /// `parallel` queries.
    fn pipeline(
        &mut self,
        calls: &mut dyn Iterator<Item = CliResult<(String, Vec<u8>)>>,
        parallel: usize,
        each: &mut dyn FnMut(Vec<u8>) -> CliResult<()>,
    ) -> CliResult<()> {
        for (index, call) in calls.enumerate() {
            let (method, arg) = call?;
            if index % parallel.max(1) == 0 {
                self.rounds += 1;
            }
            each(self.one(true, &method, &arg)?)?;
        }
        Ok(())
    }

    /// The chains in waves of `parallel` queries of equal latency: one
    /// latency per wave.
    fn chains(
        &mut self,
        starts: Vec<(String, Vec<u8>)>,
        parallel: usize,
        step: &mut backup_client::target::Step<'_>,
    ) -> CliResult<()> {
        let (canister, run) = (&mut *self.canister, &mut self.run);
        let waves = backup_client::target::in_waves(
            starts,
            parallel,
            &mut |method, arg| {
                call(canister, run, true, method, arg).map_err(|message| Error::Rejected {
                    method: method.to_string(),
                    message,
                })
            },
            step,
        )?;
        self.rounds += waves;
        Ok(())
    }

    fn candid(&mut self) -> CliResult<Option<String>> {
        Ok(self.canister.candid_interface())
    }

    fn metadata(&mut self, name: &str) -> CliResult<Option<Vec<u8>>> {
        Ok(self.canister.metadata_section(name).map(<[u8]>::to_vec))
    }

    fn id(&self) -> backup_client::resume::TargetId {
        backup_client::resume::TargetId::Live {
            url: "modeled".into(),
            canister: self.canister.canister_id().to_text(),
        }
    }
}

pub fn raw(wasm: &[u8], recorder: &mut Recorder, image_mib: u64, latency_seconds: f64) {
    let latency = Duration::from_secs_f64(latency_seconds);
    let mut canister = install(wasm);
    seed(&mut canister, 20_000, 100);
    // Grow stable memory to the image size, writing from its end (a write
    // may not start past it).
    let size = image_mib * 1024 * 1024;
    loop {
        let reply = canister
            .query(operator(), "stable_size", b"DIDL\x00\x00")
            .result
            .expect("stable_size");
        let end: u64 = candid::decode_one(&reply).expect("a size");
        if end >= size {
            break;
        }
        let chunk = serde_bytes::ByteBuf::from(vec![7u8; (size - end).min(1 << 20) as usize]);
        let arg = candid::encode_args((end, chunk)).expect("encodes");
        canister
            .update(operator(), "stable_write", &arg)
            .result
            .expect("stable memory grows");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");

    // The article's raw client: sequential 1 MiB stable_read calls.
    let mut article = Modeled {
        canister: &mut canister,
        latency,
        rounds: 0,
        run: Run::default(),
        splits: 0,
    };
    let mut offset = 0;
    while offset < size {
        let arg = candid::encode_args((offset, (1u64 << 20).min(size - offset))).expect("encodes");
        article
            .query("stable_read", &arg)
            .expect("stable_read succeeds");
        offset += 1 << 20;
    }
    let (article_wall, article_calls) = (article.wall(), article.run.calls.len());
    recorder.check("dump / article", &article.run);

    // Ours: `ic-backup dump` with its defaults.
    let image = dir.join("bench.dat");
    let _ = std::fs::remove_file(&image);
    let mut ours = Modeled {
        canister: &mut canister,
        latency,
        rounds: 0,
        run: Run::default(),
        splits: 0,
    };
    backup_client::ops::raw::dump(
        &mut ours,
        &image,
        16,
        backup_runtime::limits::MAX_RAW_READ,
        None,
        true,
    )
    .expect("the dump succeeds");
    let (ours_wall, ours_calls, ours_rounds) = (ours.wall(), ours.run.calls.len(), ours.rounds);
    recorder.check("dump / ic-backup", &ours.run);
    let mib = size as f64 / (1024.0 * 1024.0);
    for (approach, wall, calls, rounds) in [
        (
            "article: sequential 1 MiB reads",
            article_wall,
            article_calls,
            article_calls as u64,
        ),
        (
            "ic-backup dump (16 x 1.94 MiB in flight)",
            ours_wall,
            ours_calls,
            ours_rounds,
        ),
    ] {
        recorder.row(json!({
            "table": "dump",
            "approach": approach,
            "image_mib": image_mib,
            "latency_ms": latency_seconds * 1000.0,
            "calls": calls,
            "round_trips": rounds,
            "modeled_wall_s": wall.as_secs_f64(),
            "mib_per_s": mib / wall.as_secs_f64(),
        }));
    }
    recorder.notes.push(format!(
        "Dump throughput: ic-backup {:.1}x the article's at {:.0} ms per round trip (modeled wall time = round trips x latency).",
        article_wall.as_secs_f64() / ours_wall.as_secs_f64(),
        latency_seconds * 1000.0
    ));

    // Load with 1% of the 64 KiB blocks changed.
    let mut bytes = std::fs::read(&image).expect("the dump is on disk");
    let blocks = bytes.len() / 65536;
    let changed = blocks.div_ceil(100);
    for k in 0..changed {
        // Block 0 holds the MemoryManager header, which a repair leaves alone.
        let block = 1 + k * (blocks - 1) / changed;
        bytes[block * 65536 + 100] ^= 0xFF;
    }
    let edited = dir.join("bench-edited.dat");
    std::fs::write(&edited, &bytes).expect("writes the edited image");
    let mut load = Modeled {
        canister: &mut canister,
        latency,
        rounds: 0,
        run: Run::default(),
        splits: 0,
    };
    let edited = backup_client::ops::raw::ImageFile::open(&edited).expect("opens the edited image");
    let options = backup_client::ops::raw::LoadOptions {
        input: &edited,
        base: None,
        block: 65536,
        force: false,
        yes: true,
        json: true,
    };
    backup_client::ops::raw::load(&mut load, options).expect("the load succeeds and verifies");
    recorder.check("load / ic-backup", &load.run);
    let sent = load.run.bytes_in();
    let whole_calls = size.div_ceil(backup_client::target::CALL_BUDGET as u64);
    let digest_instructions = load
        .run
        .calls
        .iter()
        .filter(|c| c.query)
        .map(|c| c.stats.instructions)
        .max()
        .unwrap_or(0);
    recorder.row(json!({
        "table": "load",
        "approach": "ic-backup load (1% of blocks changed)",
        "max_query_instructions": digest_instructions,
        "image_bytes": size,
        "changed_blocks": changed,
        "calls": load.run.calls.len(),
        "bytes_sent": sent,
        "percent_of_image": sent as f64 * 100.0 / size as f64,
        "modeled_wall_s": load.wall().as_secs_f64(),
    }));
    recorder.row(json!({
        "table": "load",
        "approach": "send the whole image",
        "max_query_instructions": 0,
        "image_bytes": size,
        "changed_blocks": changed,
        "calls": whole_calls,
        "bytes_sent": size,
        "percent_of_image": 100.0,
        "modeled_wall_s": (latency * whole_calls as u32).as_secs_f64(),
    }));
    // `memory` runs the CLI on these files, then removes them.
}

/// Peak resident memory of the `ic-backup` binary beside this one, run
/// offline on the image `raw` dumped (`target/bench/bench.dat`): the CLI
/// and its embedded runner together.
/// `large_mib`: also dump and verify an image of that size (the benchmark's
/// image with zeros after it), offline and live.
pub fn memory(
    wasm_path: &std::path::Path,
    recorder: &mut Recorder,
    image_mib: u64,
    large_mib: Option<u64>,
) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let cli = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("ic-backup"),
        Err(error) => {
            recorder
                .notes
                .push(format!("memory: no path to ic-backup: {error}"));
            return;
        }
    };
    if !cli.exists() {
        recorder.notes.push(format!(
            "memory: {} is missing (scripts/bench.sh builds it)",
            cli.display()
        ));
        return;
    }
    let Some((pem, client)) = client_key(&dir) else {
        recorder
            .notes
            .push("memory: cannot set up the client's key".into());
        return;
    };
    let mut runs = vec![("offline", image_mib), ("live", image_mib)];
    runs.extend(
        large_mib
            .iter()
            .flat_map(|&mib| [("offline", mib), ("live", mib)]),
    );
    for (mode, image_mib) in runs {
        let large = Some(image_mib) == large_mib;
        let image = dir.join(format!("mem-{mode}.bin"));
        // A larger image: the same canister, zeros after its memory (sparse).
        if let Err(error) = copy_extended(&dir.join("bench.dat"), &image, image_mib << 20) {
            recorder.notes.push(format!(
                "memory: no image to run on (target/bench/bench.dat: {error}); run `raw` first"
            ));
            return;
        }
        let path = |name: &str| dir.join(format!("mem-{mode}-{name}")).display().to_string();
        // What `load` writes: the edited image, zero-extended as the image is.
        let edited = if large {
            let edited = dir.join("bench-edited-large.dat");
            let extended = copy_extended(&dir.join("bench-edited.dat"), &edited, image_mib << 20);
            if let Err(error) = extended {
                recorder
                    .notes
                    .push(format!("memory: no edited image: {error}"));
            }
            edited
        } else {
            dir.join("bench-edited.dat")
        };
        for name in ["dump.dat", "dump.dat.sha256", "profiles.json"] {
            let _ = std::fs::remove_file(path(name));
        }
        // Live: the release ic-backup serves the image, and the client's
        // memory alone is measured.
        let mut server = None;
        let target: Vec<String> = if mode == "offline" {
            vec![
                "--wasm".into(),
                wasm_path.display().to_string(),
                "--image".into(),
                image.display().to_string(),
            ]
        } else {
            match serve(&cli, wasm_path, &image, &client.to_text(), &[]) {
                Ok((child, url, canister)) => {
                    server = Some(child);
                    vec![
                        "--network".into(),
                        url,
                        "--canister".into(),
                        canister,
                        "--pem".into(),
                        pem.display().to_string(),
                    ]
                }
                Err(error) => {
                    recorder.notes.push(format!("memory: serve: {error}"));
                    continue;
                }
            }
        };
        let commands: [(&str, Vec<String>); 5] = [
            ("dump", vec!["dump".into(), "-o".into(), path("dump.dat")]),
            (
                "verify",
                vec![
                    "verify".into(),
                    "--manifest".into(),
                    path("dump.dat.sha256"),
                ],
            ),
            (
                "backup profiles",
                vec![
                    "backup".into(),
                    "profiles".into(),
                    "-o".into(),
                    path("profiles.json"),
                ],
            ),
            // The backup just written, back over the same entries.
            (
                "restore profiles",
                vec![
                    "restore".into(),
                    "profiles".into(),
                    "-i".into(),
                    path("profiles.json"),
                ],
            ),
            (
                if large {
                    "load (the blocks changed at the smaller size)"
                } else {
                    "load (1% of blocks changed)"
                },
                vec![
                    "load".into(),
                    "-i".into(),
                    edited.display().to_string(),
                    "--yes".into(),
                ],
            ),
        ];
        // At the large size, what moves the whole image: dump, verify, load.
        let commands = commands.into_iter().filter(|(what, _)| {
            !large || !what.starts_with("backup") && !what.starts_with("restore")
        });
        for (what, args) in commands {
            let mut command = std::process::Command::new(&cli);
            command
                .args(&target)
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let (peak_kib, succeeded) = match peak_rss(command) {
                Ok(measured) => measured,
                Err(error) => {
                    recorder.notes.push(format!("memory: {what}: {error}"));
                    continue;
                }
            };
            let peak_mib = peak_kib as f64 / 1024.0;
            recorder.row(json!({
                "table": "memory",
                "command": what,
                "mode": if mode == "live" { "live, against ic-backup serve (client only)" } else { "offline (CLI and runner)" },
                "image_mib": image_mib,
                "peak_rss_mib": peak_mib,
                "x_image": peak_mib / image_mib as f64,
                "result": if succeeded { "ok" } else { "FAILED" },
            }));
        }
        if let Some(mut child) = server {
            // Ctrl-C: the server folds its log into the image and stops.
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        for name in ["dump.dat", "dump.dat.sha256", "profiles.json"] {
            let _ = std::fs::remove_file(path(name));
        }
        let _ = std::fs::remove_file(&image);
        let _ = std::fs::remove_file(backup_client::wal::path_of(&image));
    }
    // The canister of `typed_vs_raw` (its entries, dumped): backed up live,
    // then restored live into a canister of its own.
    let entries = recorder
        .rows
        .iter()
        .filter(|r| r["table"] == "typed_vs_raw")
        .find_map(|r| r["entries"].as_u64());
    if let Some(n) = entries {
        live_entries(&cli, wasm_path, recorder, &pem, &client.to_text(), n);
    }
    // The second daily dump into a restic repository, at each size.
    for mib in std::iter::once(image_mib).chain(large_mib) {
        let measured = crate::repository::second_daily_dump(
            &cli,
            wasm_path,
            &pem,
            &client.to_text(),
            recorder,
            mib,
        );
        if let Err(error) = measured {
            recorder
                .notes
                .push(format!("repository ({mib} MiB): {error}"));
        }
    }
    for name in [
        "bench.dat",
        "bench.dat.sha256",
        "bench-edited.dat",
        "bench-edited-large.dat",
        "mem-client.pem",
        "typed-vs-raw.dat",
        "typed-vs-raw.dat.sha256",
        "typed-backup.json",
    ] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// Peak RSS of the live client backing up `n` entries from the image
/// `typed_vs_raw` dumped, and restoring that file into a fresh canister.
fn live_entries(
    cli: &std::path::Path,
    wasm_path: &std::path::Path,
    recorder: &mut Recorder,
    pem: &std::path::Path,
    client: &str,
    n: u64,
) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let file = dir.join("mem-entries.json");
    let fresh = dir.join("mem-fresh.bin");
    for stale in [&file, &fresh] {
        let _ = std::fs::remove_file(stale);
        let _ = std::fs::remove_file(backup_client::wal::path_of(stale));
    }
    let runs = [
        (
            "backup profiles",
            dir.join("typed-vs-raw.dat"),
            vec!["backup", "profiles", "-o"],
        ),
        (
            "restore profiles",
            fresh.clone(),
            vec!["restore", "profiles", "-i"],
        ),
    ];
    for (what, image, args) in runs {
        let (mut child, url, canister) = match serve(cli, wasm_path, &image, client, &[]) {
            Ok(served) => served,
            Err(error) => {
                recorder.notes.push(format!("memory: serve: {error}"));
                return;
            }
        };
        let mut command = std::process::Command::new(cli);
        command
            .args(["--network", &url, "--canister", &canister, "--pem"])
            .arg(pem)
            .args(args)
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let measured = peak_rss(command);
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
        match measured {
            Ok((peak_kib, succeeded)) => recorder.row(json!({
                "table": "memory",
                "command": format!("{what} ({n} entries)"),
                "mode": "live, against ic-backup serve (client only)",
                "image_mib": std::fs::metadata(&image).map(|m| m.len() >> 20).unwrap_or(0),
                "peak_rss_mib": peak_kib as f64 / 1024.0,
                "x_image": Value::Null,
                "result": if succeeded { "ok" } else { "FAILED" },
            })),
            Err(error) => recorder.notes.push(format!("memory: {what}: {error}")),
        }
    }
    for stale in [&file, &fresh] {
        let _ = std::fs::remove_file(stale);
        let _ = std::fs::remove_file(backup_client::wal::path_of(stale));
    }
}

/// The same canister backed up typed (`ic-backup backup`, cursor pages) and
/// raw (`ic-backup dump`, 16 reads in flight), both through the CLI's own
/// code with every round trip costing `latency`; and the two modeled for a
/// canister of 1 GiB of stable memory holding the same kind of entries
/// (round trips grow with the bytes to move: pages with the entries, reads
/// with the memory).
fn typed_vs_raw(canister: &mut Canister, recorder: &mut Recorder, n: u64, latency_seconds: f64) {
    /// Queries in flight, for both (the dump's default).
    const PARALLEL: usize = 16;
    use backup_client::ops::backup::{backup, BackupOptions};
    let latency = Duration::from_secs_f64(latency_seconds);
    let stable = canister.stable_memory().len() as u64;
    let interface = canister
        .candid_interface()
        .ok_or_else(|| "the canister publishes no interface".to_string())
        .and_then(|text| {
            backup_client::interface::Interface::parse(&text).map_err(|error| error.to_string())
        })
        .expect("the profiles interface parses");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let file = dir.join("typed-backup.json");
    for stale in ["", ".partial", ".progress"] {
        let _ = std::fs::remove_file(format!("{}{stale}", file.display()));
    }
    let mut typed = Modeled {
        canister,
        latency,
        rounds: 0,
        run: Run::default(),
        splits: 0,
    };
    let options = BackupOptions {
        map: "profiles",
        output: &file,
        format: backup_client::json::Format::Lossless,
        max_bytes: None,
        parallel: PARALLEL,
        stop_after: None,
        through_wasm: false,
        layout: None,
        json: true,
    };
    backup(&mut typed, &interface, options).expect("the typed backup succeeds");
    recorder.check("typed vs raw / backup", &typed.run);
    let (typed_rounds, typed_calls) = (typed.rounds, typed.run.calls.len());
    let paged = (
        typed_calls as u64,
        typed.run.bytes_out(),
        typed.wall().as_secs_f64(),
    );
    let splits_instructions = typed.splits;
    // Spans of a small map make small pages; at 1 GiB the pages are full:
    // the canister's default budget of entries each.
    let (page, bytes_out) = (
        backup_runtime::limits::DEFAULT_PAGE_BYTES as f64,
        typed.run.bytes_out() as f64,
    );
    let image = dir.join("typed-vs-raw.dat");
    let mut raw = Modeled {
        canister,
        latency,
        rounds: 0,
        run: Run::default(),
        splits: 0,
    };
    let read = backup_runtime::limits::MAX_RAW_READ;
    backup_client::ops::raw::dump(&mut raw, &image, PARALLEL, read, None, true)
        .expect("the dump succeeds");
    recorder.check("typed vs raw / dump", &raw.run);
    // Kept for the memory table: a live backup and restore of these entries.
    // Pages carry the entries' bytes: a canister of 1 GiB holds
    // proportionally more entries, in full pages. The backup cut the map
    // into `4 x PARALLEL` spans (`backup_profiles_splits` walks every key,
    // one query, one round trip, per `SPLIT_INSTRUCTIONS` it spends); each
    // span ends in one page that is not full, and the pages go `PARALLEL`
    // at a time.
    let gib = 1u64 << 30;
    let splits = (splits_instructions as f64 * gib as f64
        / stable as f64
        / backup_runtime::limits::SPLIT_INSTRUCTIONS as f64)
        .ceil()
        .max(1.0);
    let spans = (PARALLEL * 4) as f64;
    let typed_gib =
        ((bytes_out * gib as f64 / stable as f64 / page).ceil() + spans) / PARALLEL as f64;
    let typed_gib = typed_gib.ceil() + splits;
    let dump_gib = gib.div_ceil(read).div_ceil(PARALLEL as u64) as f64;
    let dump = (
        raw.run.calls.len() as u64,
        raw.run.bytes_out(),
        raw.wall().as_secs_f64(),
    );
    let dump_rounds = raw.rounds;
    recorder.row(json!({
        "table": "typed_vs_raw",
        "entries": n,
        "stable_mib": stable as f64 / (1 << 20) as f64,
        "latency_ms": latency_seconds * 1000.0,
        "parallel": PARALLEL,
        "backup_calls": typed_calls,
        "backup_round_trips": typed_rounds,
        "splits_instructions": splits_instructions,
        "dump_calls": dump.0,
        "dump_round_trips": dump_rounds,
        "modeled_1gib_backup_s": typed_gib * latency_seconds,
        "modeled_1gib_dump_s": dump_gib * latency_seconds,
        "modeled_1gib_ratio": typed_gib / dump_gib,
    }));
    consistent_rows(canister, recorder, n, &dir, paged, dump, &image);
}

/// A snapshot read: at most this many bytes per call.
const SNAPSHOT_SLICE: u64 = 2_000_000;
/// A management canister update: one round of consensus.
const UPDATE_ROUND_S: f64 = 2.0;

/// The paged typed backup, the consistent one and the raw dump side by side
/// (`paged`, `dump`: their calls, bytes and modeled seconds): calls to the
/// live canister, bytes moved, the modeled wall time (queries `latency` per
/// round of `parallel` in flight; the consistent backup's
/// snapshot calls are management updates, one round of consensus each round
/// of `parallel` in flight: a list and a take before, a delete after), and,
/// for the consistent backup, its offline step measured on this machine (the
/// CLI's own offline path) both ways: the map read from the cut's stable
/// memory natively (the default), and every page through the canister's
/// wasm in the runner (`--through-wasm`), the two files compared byte for
/// byte.
fn consistent_rows(
    canister: &mut Canister,
    recorder: &mut Recorder,
    n: u64,
    dir: &std::path::Path,
    paged: (u64, u64, f64),
    dump: (u64, u64, f64),
    image: &std::path::Path,
) {
    const PARALLEL: u64 = 16;
    let stable = canister.stable_memory().len() as u64;
    let module = canister.module().map_or(0, <[u8]>::len) as u64;
    let wasm = dir.join("profiles.wasm");
    std::fs::write(&wasm, canister.module().unwrap_or_default())
        .expect("target/bench/profiles.wasm");
    let interface = canister
        .candid_interface()
        .and_then(|text| backup_client::interface::Interface::parse(&text).ok())
        .expect("the profiles interface parses");
    let operator = backup_client::target::Operator {
        caller: operator(),
        controller: true,
        others: Vec::new(),
        seed: 0,
    };
    // The offline step both ways: the map read from the image's bytes
    // (the default), and every page through the canister's wasm; the files
    // must be byte for byte the same.
    let offline_step = |through_wasm: bool| {
        let file = dir.join(if through_wasm {
            "consistent-backup-wasm.json"
        } else {
            "consistent-backup.json"
        });
        for stale in ["", ".partial", ".progress"] {
            let _ = std::fs::remove_file(format!("{}{stale}", file.display()));
        }
        let began = Instant::now();
        let mut offline = backup_client::target::Offline::open(&wasm, image, operator.clone())
            .expect("the cut opens");
        let options = backup_client::ops::backup::BackupOptions {
            map: "profiles",
            output: &file,
            format: backup_client::json::Format::Lossless,
            max_bytes: None,
            parallel: PARALLEL as usize,
            stop_after: None,
            through_wasm,
            layout: None,
            json: true,
        };
        backup_client::ops::backup::backup(&mut offline, &interface, options)
            .expect("the offline backup of the cut succeeds");
        offline.finish().expect("the cut's image closes");
        (began.elapsed().as_secs_f64(), file)
    };
    let (offline_s, native_file) = offline_step(false);
    let (wasm_s, wasm_file) = offline_step(true);
    let same = std::fs::read(&native_file).ok() == std::fs::read(&wasm_file).ok();
    assert!(
        same,
        "the offline backup read from the image differs from the one through the wasm: {} {}",
        native_file.display(),
        wasm_file.display()
    );
    let _ = std::fs::remove_file(&wasm_file);
    let reads = |bytes: u64| module.div_ceil(SNAPSHOT_SLICE) + bytes.div_ceil(SNAPSHOT_SLICE);
    let download_s = |bytes: u64| (3 + reads(bytes).div_ceil(PARALLEL)) as f64 * UPDATE_ROUND_S;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let rows = [
        (
            "paged typed backup (--parallel 16)",
            paged.0,
            paged.1,
            paged.2,
            None,
        ),
        (
            "consistent typed backup (--consistent)",
            3 + reads(stable),
            module + stable,
            download_s(stable),
            Some(offline_s),
        ),
        ("raw dump (--parallel 16)", dump.0, dump.1, dump.2, None),
    ];
    for (method, calls, bytes, wall, offline) in rows {
        recorder.row(json!({
            "table": "consistent",
            "method": method,
            "entries": n,
            "stable_mib": mib(stable),
            "live_calls": calls,
            "moved_mib": mib(bytes),
            "modeled_wall_s": wall,
            "offline_s": offline,
            "offline_mib_per_s": offline.map(|s| mib(stable) / s),
            "modeled_download_mib_per_s": offline.map(|_| mib(stable) / download_s(stable)),
            "modeled_1gib_download_s": offline.map(|_| download_s(1 << 30)),
            "projected_1gib_offline_s": offline.map(|s| s * (1u64 << 30) as f64 / stable as f64),
            "offline_wasm_s": offline.map(|_| wasm_s),
            "offline_wasm_mib_per_s": offline.map(|_| mib(stable) / wasm_s),
        }));
    }
}
