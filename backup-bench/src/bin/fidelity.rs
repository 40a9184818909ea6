//! How close the runner's instruction counts are to the IC's: runs the
//! canbench benchmarks of a canister (its `__canbench__<name>` queries) in
//! the runner, and compares each `total.instructions` with the count the IC
//! measured, recorded in that suite's `canbench_results.yml`.
//!
//! Run it with `scripts/fidelity.sh`, which builds dfinity/stable-structures'
//! `btreemap` benchmarks with that project's pinned toolchain. Exits 1 if the
//! median ratio is outside 0.97..=1.03, a benchmark outside 0.90..=1.10, or
//! one fails; 2 on bad input.

use candid::{CandidType, Decode, Deserialize, Principal};
use canister_runner::{Canister, InstallArgs, Limits};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

const USAGE: &str = "\
usage: fidelity --wasm <benchmarks.wasm> --results <canbench_results.yml> [options]

Runs each `__canbench__<name>` query of the wasm in the runner (instruction
and stable memory access limits lifted, as canbench runs them) and compares
its total.instructions with the IC's count in the results file.

options:
  --every N        run every Nth benchmark of the file (default 1: all)
  --filter TEXT    run only benchmarks whose name contains TEXT
  --markdown       print the table as Markdown (for the README)
";

/// What a canbench benchmark returns (canbench-rs 0.2 `BenchResult`).
#[derive(CandidType, Deserialize)]
struct BenchResult {
    total: Measurement,
}

#[derive(CandidType, Deserialize)]
struct Measurement {
    instructions: u64,
}

struct Options {
    wasm: PathBuf,
    results: PathBuf,
    every: usize,
    filter: Option<String>,
    markdown: bool,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut wasm, mut results, mut every, mut filter, mut markdown) = (None, None, 1, None, false);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} expects a value"));
        match arg.as_str() {
            "--wasm" => wasm = Some(PathBuf::from(value("--wasm")?)),
            "--results" => results = Some(PathBuf::from(value("--results")?)),
            "--every" => {
                let text = value("--every")?;
                every =
                    text.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("--every expects a positive number, found `{text}`")
                    })?;
            }
            "--filter" => filter = Some(value("--filter")?),
            "--markdown" => markdown = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Ok(Options {
        wasm: wasm.ok_or("--wasm is required")?,
        results: results.ok_or("--results is required")?,
        every,
        filter,
        markdown,
    })
}

/// `total.instructions` of each benchmark in a canbench results file, in
/// the file's order. The file is canbench's own YAML: `benches:`, then each
/// benchmark's name indented by two spaces, its `total:` by four and the
/// counts by six.
fn recorded(text: &str) -> Result<Vec<(String, u64)>, String> {
    let mut counts = Vec::new();
    let (mut name, mut in_total) = (None::<String>, false);
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let line = line.trim();
        match indent {
            2 if line.ends_with(':') => {
                name = Some(line.trim_end_matches(':').to_string());
                in_total = false;
            }
            4 => in_total = line == "total:",
            6 if in_total => {
                if let Some(count) = line.strip_prefix("instructions:") {
                    let count = count.trim().parse().map_err(|_| {
                        format!(
                            "line {}: expected a number of instructions, found `{}`",
                            number + 1,
                            count.trim()
                        )
                    })?;
                    let name = name.clone().ok_or_else(|| {
                        format!("line {}: instructions outside a benchmark", number + 1)
                    })?;
                    counts.push((name, count));
                }
            }
            _ => {}
        }
    }
    if counts.is_empty() {
        return Err("no benchmark with total.instructions in it".into());
    }
    Ok(counts)
}

fn median(sorted: &[f64]) -> f64 {
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprint!("error: {error}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let read = |path: &PathBuf| {
        std::fs::read(path).unwrap_or_else(|error| {
            eprintln!("error: {}: {error}", path.display());
            std::process::exit(2);
        })
    };
    let wasm = read(&options.wasm);
    let text = String::from_utf8_lossy(&read(&options.results)).into_owned();
    let counts = recorded(&text).unwrap_or_else(|error| {
        eprintln!("error: {}: {error}", options.results.display());
        std::process::exit(2);
    });
    let selected: Vec<(String, u64)> = counts
        .into_iter()
        .filter(|(name, _)| options.filter.as_ref().is_none_or(|f| name.contains(f)))
        .step_by(options.every)
        .collect();
    let mut canister = Canister::install(
        &wasm,
        InstallArgs {
            limits: Limits::lifted(),
            ..InstallArgs::default()
        },
    )
    .unwrap_or_else(|error| {
        eprintln!("error: {}: {error}", options.wasm.display());
        std::process::exit(2);
    });

    let started = Instant::now();
    let mut rows: BTreeMap<usize, (String, u64, Result<u64, String>)> = BTreeMap::new();
    for (index, (name, ic)) in selected.iter().enumerate() {
        // canbench's own argument, `Encode!(&())`: one `null`. Its size
        // moves what the allocator does next, so counts depend on it.
        let call = canister.query(
            Principal::anonymous(),
            &format!("__canbench__{name}"),
            b"DIDL\x00\x01\x7f",
        );
        let ours = call
            .result
            .map_err(|reject| reject.message)
            .and_then(|reply| {
                Decode!(&reply, BenchResult)
                    .map(|result| result.total.instructions)
                    .map_err(|error| format!("not a canbench result: {error}"))
            });
        if !options.markdown {
            match &ours {
                Ok(ours) => eprintln!(
                    "[{}/{}] {name}: {ours} / {ic} = {:.3}",
                    index + 1,
                    selected.len(),
                    *ours as f64 / *ic as f64
                ),
                Err(error) => {
                    eprintln!("[{}/{}] {name}: FAILED {error}", index + 1, selected.len())
                }
            }
        }
        rows.insert(index, (name.clone(), *ic, ours));
    }

    let mut ratios: Vec<f64> = rows
        .values()
        .filter_map(|(_, ic, ours)| ours.as_ref().ok().map(|&ours| ours as f64 / *ic as f64))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let failed = rows.values().filter(|(_, _, ours)| ours.is_err()).count();
    let outside = ratios
        .iter()
        .filter(|r| !(0.90..=1.10).contains(*r))
        .count();
    let (median, low, high) = if ratios.is_empty() {
        (f64::NAN, f64::NAN, f64::NAN)
    } else {
        (median(&ratios), ratios[0], ratios[ratios.len() - 1])
    };

    if options.markdown {
        println!("| benchmark | IC | runner | runner / IC |");
        println!("|---|---:|---:|---:|");
    }
    for (name, ic, ours) in rows.values() {
        let (count, ratio) = match ours {
            Ok(ours) => (
                ours.to_string(),
                format!("{:.3}", *ours as f64 / *ic as f64),
            ),
            Err(_) => ("failed".to_string(), "-".to_string()),
        };
        if options.markdown {
            println!("| `{name}` | {ic} | {count} | {ratio} |");
        } else {
            println!("{name:<55} {ic:>14} {count:>14} {ratio:>7}");
        }
    }
    let summary = format!(
        "{} benchmarks in {:.0} s: median runner / IC {median:.3} (goal 0.97..=1.03), \
         range {low:.3}..={high:.3}, {outside} outside 0.90..=1.10, {failed} failed",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    println!("\n{summary}");
    let good = failed == 0 && outside == 0 && (0.97..=1.03).contains(&median);
    std::process::exit(if good { 0 } else { 1 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_canbench_results() {
        let text = "benches:\n  a_b:\n    total:\n      calls: 1\n      instructions: 42\n      heap_increase: 0\n    scopes: {}\n  c:\n    total:\n      instructions: 7\n    scopes:\n      inner:\n        instructions: 3\nversion: 0.2.0\n";
        assert_eq!(
            recorded(text).unwrap(),
            vec![("a_b".to_string(), 42), ("c".to_string(), 7)]
        );
        assert!(recorded("benches:\n").is_err());
        assert!(recorded("benches:\n  a:\n    total:\n      instructions: x\n").is_err());
    }
}
