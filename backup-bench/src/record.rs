//! Collecting figures, checking every call against the IC's limits, and
//! printing the table.

use canister_runner::CallStats;
use serde_json::{json, Value};
use std::time::Duration;

const INGRESS: f64 = 2.0 * 1024.0 * 1024.0;
const QUERY_REPLY: f64 = 3.0 * 1024.0 * 1024.0;
const UPDATE_REPLY: f64 = 2.0 * 1024.0 * 1024.0;
const QUERY_INSTRUCTIONS: f64 = 5e9;
const UPDATE_INSTRUCTIONS: f64 = 40e9;

/// One call, as measured.
#[derive(Clone, Copy)]
pub struct Call {
    pub query: bool,
    pub stats: CallStats,
}

/// A group of calls that did one job.
#[derive(Default)]
pub struct Run {
    pub calls: Vec<Call>,
    pub failed: Option<String>,
}

impl Run {
    pub fn instructions(&self) -> u64 {
        self.calls.iter().map(|c| c.stats.instructions).sum()
    }
    pub fn bytes_out(&self) -> u64 {
        self.calls.iter().map(|c| c.stats.bytes_out as u64).sum()
    }
    pub fn bytes_in(&self) -> u64 {
        self.calls.iter().map(|c| c.stats.bytes_in as u64).sum()
    }
    pub fn max_reply_fill(&self) -> f64 {
        self.calls
            .iter()
            .map(|c| c.stats.bytes_out as f64 / if c.query { QUERY_REPLY } else { UPDATE_REPLY })
            .fold(0.0, f64::max)
    }
}

#[derive(Default)]
pub struct Recorder {
    pub rows: Vec<Value>,
    pub near_limits: Vec<String>,
    pub notes: Vec<String>,
}

impl Recorder {
    /// Checks every call of `run` against the IC's limits (within 10% counts).
    pub fn check(&mut self, scenario: &str, run: &Run) {
        for (i, call) in run.calls.iter().enumerate() {
            let s = call.stats;
            let (reply, instructions) = if call.query {
                (QUERY_REPLY, QUERY_INSTRUCTIONS)
            } else {
                (UPDATE_REPLY, UPDATE_INSTRUCTIONS)
            };
            let checks = [
                ("reply", s.bytes_out as f64 / reply),
                ("ingress", s.bytes_in as f64 / INGRESS),
                ("instructions", s.instructions as f64 / instructions),
            ];
            for (what, fill) in checks {
                if fill >= 0.9 {
                    self.near_limits.push(format!(
                        "{scenario}, call {i}: {what} at {:.0}% of the limit",
                        fill * 100.0
                    ));
                }
            }
        }
    }

    pub fn backup_row(&mut self, scenario: &str, approach: &str, entries: u64, run: &Run) {
        self.check(&format!("{scenario} / {approach}"), run);
        let calls = run.calls.len() as u64;
        self.rows.push(json!({
            "table": "backup",
            "scenario": scenario,
            "approach": approach,
            "entries": entries,
            "calls": calls,
            "instructions": run.instructions(),
            "instructions_per_entry": run.instructions() as f64 / entries.max(1) as f64,
            "bytes_per_call": run.bytes_out() / calls.max(1),
            "bytes_out": run.bytes_out(),
            "max_reply_fill": run.max_reply_fill(),
            "failed": run.failed,
        }));
    }

    pub fn row(&mut self, value: Value) {
        self.rows.push(value);
    }

    pub fn print_and_save(&mut self, elapsed: Duration) {
        self.print_and_save_as(elapsed, "results.json")
    }

    /// [`Recorder::print_and_save`] into `target/bench/<name>` (a partial
    /// run keeps the full run's results).
    pub fn print_and_save_as(&mut self, elapsed: Duration, name: &str) {
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        let _ = std::fs::create_dir_all(&out);
        let document = json!({ "rows": self.rows, "goals": self.goals(), "near_limits": self.near_limits, "notes": self.notes, "seconds": elapsed.as_secs_f64() });
        // The tables as the book shows them, from the document written.
        println!("{}", crate::render::markdown(&document));
        let path = out.join(name);
        match std::fs::write(
            &path,
            serde_json::to_vec_pretty(&document).unwrap_or_default(),
        ) {
            Ok(()) => println!("figures written to {}", path.display()),
            Err(error) => eprintln!("could not write {}: {error}", path.display()),
        }
    }
}

/// Instructions the IC counted per byte for stable-structures to read every
/// value of a map (canbench `btreemap_v2_scan_values_1k_10kib`: 56,782,402
/// for 1,000 values of 10 KiB, in `../shared/reference`'s results).
const CANBENCH_READ_PER_BYTE: f64 = 56_782_402.0 / (1_000.0 * 10_240.0);

/// What the IC charges per byte of a reply (`msg_reply_data_append`).
const PER_BYTE_SENT: f64 = 50.0;

impl Recorder {
    /// The performance goals, each next to what this run measured.
    fn goals(&self) -> Vec<Value> {
        let table = |name: &'static str| self.rows.iter().filter(move |r| r["table"] == name);
        let number = |row: &Value, key: &str| row[key].as_f64().unwrap_or(0.0);
        // The cursor row of the largest map of `values`.
        let cursor = |values: &str| {
            table("backup")
                .filter(|r| {
                    r["approach"].as_str().unwrap_or("").starts_with("(c)")
                        && r["scenario"].as_str().unwrap_or("").contains(values)
                })
                .max_by_key(|r| r["entries"].as_u64().unwrap_or(0))
        };
        let goal = |goal: &str, measured: String, target: String, met: Option<bool>| json!({ "goal": goal, "measured": measured, "target": target, "met": met });
        let mut goals = Vec::new();
        if let Some(row) = cursor("~100 B") {
            let per_entry = number(row, "instructions_per_entry");
            goals.push(goal(
                "cursor backup, ~100 B values: instructions per entry",
                format!("{per_entry:.0} (N = {})", row["entries"]),
                "at most 30,000".into(),
                Some(per_entry <= 30_000.0),
            ));
        }
        if let Some(row) = cursor("~4 KiB") {
            let entries = number(row, "entries").max(1.0);
            let total = number(row, "instructions_per_entry");
            let bytes = number(row, "bytes_out") / entries;
            let fee = PER_BYTE_SENT * bytes;
            let target = 2.0 * CANBENCH_READ_PER_BYTE * bytes;
            goals.push(goal(
                "cursor backup, ~4 KiB values: instructions per entry, less the IC's 50 per reply byte",
                format!("{:.0} ({total:.0} in all, {fee:.0} of them the reply's {bytes:.0} bytes)", total - fee),
                format!("at most {target:.0} (2x canbench's {:.2} per byte read)", CANBENCH_READ_PER_BYTE),
                Some(total - fee <= target),
            ));
        }
        if let Some(row) = table("restore").next_back() {
            let per_entry = number(row, "instructions_per_entry");
            goals.push(goal(
                "restore, ~100 B values: instructions per entry",
                format!("{per_entry:.0} (N = {})", row["entries"]),
                "at most 100,000".into(),
                Some(per_entry <= 100_000.0),
            ));
        }
        if let Some(row) = table("typed_vs_raw").next_back() {
            let ratio = number(row, "modeled_1gib_ratio");
            goals.push(goal(
                "typed backup of 1 GiB of ~100 B values, modeled wall time / raw dump's",
                format!(
                    "{ratio:.1}x ({:.1} s / {:.1} s, modeled from {} entries)",
                    number(row, "modeled_1gib_backup_s"),
                    number(row, "modeled_1gib_dump_s"),
                    row["entries"]
                ),
                "at most 3x".into(),
                Some(ratio <= 3.0),
            ));
        }
        let memory: Vec<&Value> = table("memory").collect();
        let command = |row: &Value| row["command"].as_str().unwrap_or("").to_string();
        let live = |row: &&Value| row["mode"].as_str().unwrap_or("").starts_with("live");
        fn worst<'a>(rows: Vec<&'a Value>, key: &str) -> Option<&'a Value> {
            let number = |row: &Value| row[key].as_f64().unwrap_or(0.0);
            rows.into_iter()
                .max_by(|a, b| number(a).total_cmp(&number(b)))
        }
        // Backup and restore of many entries, named `... (N entries)`.
        let entries = |row: &Value| {
            command(row)
                .split_once(" (")
                .and_then(|(_, n)| n.strip_suffix(" entries)"))
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(row) = worst(
            memory
                .iter()
                .copied()
                .filter(live)
                .filter(|r| entries(r).is_some())
                .collect(),
            "peak_rss_mib",
        ) {
            let peak = number(row, "peak_rss_mib");
            let n = entries(row).unwrap_or(0);
            goals.push(goal(
                "live CLI peak RSS (client only), backup or restore",
                format!("{peak:.0} MiB ({})", command(row)),
                "under 256 MiB at 1,000,000 entries".into(),
                (n >= 1_000_000).then_some(peak < 256.0),
            ));
        }
        // What moves the whole image, on the largest image measured.
        let largest = memory
            .iter()
            .map(|row| number(row, "image_mib"))
            .fold(0.0, f64::max);
        let whole = |row: &&Value| {
            ["dump", "verify", "load"]
                .iter()
                .any(|c| command(row).starts_with(c))
                && number(row, "image_mib") >= largest
        };
        if let Some(row) = worst(
            memory.iter().copied().filter(live).filter(whole).collect(),
            "peak_rss_mib",
        ) {
            let (peak, image) = (number(row, "peak_rss_mib"), number(row, "image_mib"));
            goals.push(goal(
                "live CLI peak RSS (client only), dump, verify, load",
                format!("{peak:.0} MiB ({}, {image:.0} MiB image)", command(row)),
                "under 256 MiB at 4 GiB".into(),
                (image >= 4096.0).then_some(peak < 256.0),
            ));
        }
        if let Some(row) = worst(
            memory
                .iter()
                .copied()
                .filter(|r| !live(r))
                .filter(whole)
                .collect(),
            "x_image",
        ) {
            let (ratio, image) = (number(row, "x_image"), number(row, "image_mib"));
            goals.push(goal(
                "offline CLI and runner, peak RSS / image size",
                format!("{ratio:.2}x ({}, {image:.0} MiB image)", command(row)),
                "under 1.5x at 4 GiB".into(),
                (image >= 4096.0).then_some(ratio < 1.5),
            ));
        }
        if let Some(row) = table("consistent").find(|r| !r["offline_s"].is_null()) {
            let (offline, download) = (
                number(row, "projected_1gib_offline_s"),
                number(row, "modeled_1gib_download_s"),
            );
            goals.push(goal(
                "consistent backup: the offline step against the modeled snapshot download, at 1 GiB",
                format!(
                    "{offline:.0} s offline (projected from {:.0} MiB at {:.1} MiB/s, read natively; {:.1} MiB/s through the wasm) against {download:.0} s of download",
                    number(row, "stable_mib"),
                    number(row, "offline_mib_per_s"),
                    number(row, "offline_wasm_mib_per_s")
                ),
                "the offline step at most the download".into(),
                Some(offline <= download),
            ));
        }
        // The second daily dump into a repository, at each size.
        let share = |row: &Value, key: &str| {
            row[key]
                .as_str()
                .and_then(|text| text.trim_end_matches('%').parse::<f64>().ok())
        };
        for row in table("repository")
            .filter(|r| r["command"].as_str().unwrap_or("").contains("second dump"))
        {
            let image = number(row, "image_mib");
            if let (Some(downloaded), Some(growth)) =
                (share(row, "downloaded_share"), share(row, "growth_share"))
            {
                goals.push(goal(
                    &format!("second daily dump into a repository, 1% of blocks changed, {image:.0} MiB: downloaded and repository growth"),
                    format!("{downloaded:.2}% downloaded, {growth:.2}% growth"),
                    "at most 2% each (a plain dump: 100%)".into(),
                    Some(downloaded <= 2.0 && growth <= 2.0),
                ));
            }
        }
        let largest = table("repository")
            .map(|r| number(r, "image_mib"))
            .fold(0.0, f64::max);
        if largest >= 4096.0 {
            let peak = table("repository")
                .filter(|r| number(r, "image_mib") == largest)
                .map(|r| number(r, "peak_rss_mib"))
                .fold(0.0, f64::max);
            goals.push(goal(
                "repository commands (dump --repo, load --repo), peak RSS at 4 GiB",
                format!("{peak:.0} MiB"),
                "under 256 MiB".into(),
                Some(peak < 256.0),
            ));
        }
        goals
    }
}
