//! The Markdown tables of a results file (`target/bench/results.json`, or
//! the run checked in as `docs/bench/results.json`): what
//! `backup-bench --render <file>` prints, and what `docs/benchmarks.md`
//! shows between its markers. Built from the file alone, so the page and
//! the file cannot disagree (a test below holds them together).

use serde_json::Value;
use std::fmt::Write;

/// The tables other than the backup table, in the order they are shown,
/// with their headings. Their columns are the rows' keys, in file order.
const TABLES: [(&str, &str); 9] = [
    ("restore", "Restore"),
    ("dump", "Raw dump"),
    ("load", "Raw load"),
    ("typed_vs_raw", "Typed backup against raw dump"),
    ("consistent", "Paged, consistent and raw, side by side"),
    ("memory", "Peak memory"),
    (
        "repository",
        "The second daily dump into a restic repository (live, against ic-backup serve)",
    ),
    (
        "structures",
        "Each structure's pages (instructions as the IC counts them)",
    ),
    (
        "native_reader",
        "The native reader: backup --layout from the image (wall time on this machine)",
    ),
];

/// Every table of `document`, as Markdown: the app-level backup table, the
/// other tables, the goals, the calls near a limit, the notes, and how long
/// the run took.
pub fn markdown(document: &Value) -> String {
    let rows: &[Value] = document["rows"].as_array().map_or(&[], Vec::as_slice);
    let mut out = String::new();
    backup_table(&mut out, rows);
    for (table, heading) in TABLES {
        let rows: Vec<&Value> = rows.iter().filter(|r| r["table"] == table).collect();
        if !rows.is_empty() {
            generic_table(&mut out, heading, &rows);
        }
    }
    if let Some(goals) = document["goals"].as_array() {
        goals_table(&mut out, goals);
    }
    out.push_str("\n### Calls within 10% of an IC limit\n\n");
    let near: &[Value] = document["near_limits"]
        .as_array()
        .map_or(&[], Vec::as_slice);
    if near.is_empty() {
        out.push_str("none\n");
    }
    for line in near {
        let _ = writeln!(out, "- {}", line.as_str().unwrap_or(""));
    }
    for note in document["notes"].as_array().map_or(&[][..], Vec::as_slice) {
        let _ = writeln!(out, "\n{}", note.as_str().unwrap_or(""));
    }
    if let Some(seconds) = document["seconds"].as_f64() {
        let _ = writeln!(out, "\nThe run took {seconds:.0} s.");
    }
    out
}

fn backup_table(out: &mut String, rows: &[Value]) {
    out.push_str("### App-level backup (instructions as the IC counts them)\n\n");
    out.push_str("| scenario | approach | entries | calls | instructions | instr/entry | bytes/call | max reply fill | result |\n");
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for row in rows.iter().filter(|r| r["table"] == "backup") {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {:.0}% | {} |",
            row["scenario"].as_str().unwrap_or(""),
            row["approach"].as_str().unwrap_or(""),
            row["entries"],
            row["calls"],
            group(row["instructions"].as_u64().unwrap_or(0)),
            row["instructions_per_entry"].as_f64().unwrap_or(0.0),
            group(row["bytes_per_call"].as_u64().unwrap_or(0)),
            row["max_reply_fill"].as_f64().unwrap_or(0.0) * 100.0,
            row["failed"]
                .as_str()
                .map_or("ok".to_string(), |e| format!("FAILS: {e}")),
        );
    }
}

fn generic_table(out: &mut String, heading: &str, rows: &[&Value]) {
    let _ = writeln!(out, "\n### {heading}\n");
    let keys: Vec<&String> = rows[0]
        .as_object()
        .map(|o| o.keys().filter(|k| *k != "table").collect())
        .unwrap_or_default();
    let names: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    let _ = writeln!(out, "| {} |", names.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(keys.len()));
    for row in rows {
        let cells: Vec<String> = keys.iter().map(|k| cell(&row[k.as_str()])).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

fn goals_table(out: &mut String, goals: &[Value]) {
    out.push_str("\n### Goals\n\n");
    out.push_str("| goal | measured | target | met |\n");
    out.push_str("| --- | --- | --- | --- |\n");
    for goal in goals {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            goal["goal"].as_str().unwrap_or(""),
            goal["measured"].as_str().unwrap_or(""),
            goal["target"].as_str().unwrap_or(""),
            match goal["met"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "not measured",
            }
        );
    }
}

/// A figure as a table shows it: counts grouped by thousands, other
/// measures to two places, `-` for none.
fn cell(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_u64() => group(n.as_u64().unwrap_or(0)),
        // A large whole number is a count, whatever type recorded it.
        Value::Number(n) => match n.as_f64().unwrap_or(0.0) {
            x if x.fract() == 0.0 && (1e4..9e15).contains(&x) => group(x as u64),
            x => format!("{x:.2}"),
        },
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// 1234567 as "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    /// The line before the rendered tables in `docs/benchmarks.md`.
    const BEGIN: &str = "<!-- rendered from docs/bench/results.json: do not edit -->";
    /// The line after them.
    const END: &str = "<!-- end -->";

    /// Where the text between [`BEGIN`] and [`END`] stands in `page`
    /// (after the first marker's line, before the second's).
    fn rendered_range(page: &str) -> Option<std::ops::Range<usize>> {
        let start = page.find(BEGIN)? + BEGIN.len();
        let end = start + page[start..].find(END)?;
        Some(start..end)
    }

    /// The text between [`BEGIN`] and [`END`] in `page`, without the lines of
    /// the markers themselves.
    fn rendered_part(page: &str) -> Option<&str> {
        rendered_range(page).map(|range| page[range].trim_matches('\n'))
    }

    /// `docs/benchmarks.md` shows exactly the tables of the checked-in
    /// `docs/bench/results.json`. With `UPDATE_BENCH_DOCS=1`, the page's
    /// rendered part is written anew instead.
    #[test]
    fn the_book_shows_the_checked_in_results() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let results = root.join("docs/bench/results.json");
        let page_path = root.join("docs/benchmarks.md");
        let document: Value =
            serde_json::from_slice(&std::fs::read(&results).expect("docs/bench/results.json"))
                .expect("docs/bench/results.json is JSON");
        let page = std::fs::read_to_string(&page_path).expect("docs/benchmarks.md");
        let rendered = markdown(&document);
        let shown = rendered_part(&page).unwrap_or_else(|| {
            panic!("docs/benchmarks.md: expected the markers `{BEGIN}` and `{END}`, found none")
        });
        if shown == rendered.trim_matches('\n') {
            return;
        }
        if std::env::var_os("UPDATE_BENCH_DOCS").is_some() {
            let range = rendered_range(&page).expect("the markers were found above");
            let updated = format!(
                "{}\n\n{}\n\n{}",
                &page[..range.start],
                rendered.trim_matches('\n'),
                &page[range.end..]
            );
            std::fs::write(&page_path, updated).expect("docs/benchmarks.md written");
            return;
        }
        let first = shown
            .lines()
            .zip(rendered.lines())
            .position(|(shown, rendered)| shown != rendered)
            .unwrap_or_else(|| shown.lines().count().min(rendered.lines().count()));
        panic!(
            "docs/benchmarks.md does not show the tables of docs/bench/results.json; they differ at line {} of the rendered part:\n  page:     {:?}\n  rendered: {:?}\nRender them again with `UPDATE_BENCH_DOCS=1 cargo test -p backup-bench` (or `backup-bench --render docs/bench/results.json`)",
            first + 1,
            shown.lines().nth(first).unwrap_or("(the end)"),
            rendered.lines().nth(first).unwrap_or("(the end)"),
        );
    }

    #[test]
    fn tables_show_counts_grouped_measures_to_two_places_and_none_as_a_dash() {
        let document = json!({
            "rows": [
                {"table": "backup", "scenario": "N = 10", "approach": "(c) cursor", "entries": 10,
                 "calls": 1, "instructions": 2_050_685_058u64, "instructions_per_entry": 205068505.8,
                 "bytes_per_call": 1430084, "max_reply_fill": 0.45, "failed": null},
                {"table": "memory", "command": "dump", "image_mib": 256, "peak_rss_mib": 279.456,
                 "x_image": null},
            ],
            "goals": [{"goal": "g", "measured": "m", "target": "t", "met": null}],
            "near_limits": [],
            "notes": ["A note."],
            "seconds": 12.4,
        });
        let text = markdown(&document);
        assert!(text.contains("| N = 10 | (c) cursor | 10 | 1 | 2,050,685,058 | 205068506 | 1,430,084 | 45% | ok |"), "{text}");
        assert!(
            text.contains("| `command` | `image_mib` | `peak_rss_mib` | `x_image` |"),
            "{text}"
        );
        assert!(text.contains("| dump | 256 | 279.46 | - |"), "{text}");
        assert!(text.contains("| g | m | t | not measured |"), "{text}");
        assert!(
            text.contains("### Calls within 10% of an IC limit\n\nnone\n"),
            "{text}"
        );
        assert!(text.contains("\nA note.\n"), "{text}");
        assert!(text.ends_with("The run took 12 s.\n"), "{text}");
    }

    #[test]
    fn the_rendered_part_is_what_stands_between_the_markers() {
        let page = format!("before\n{BEGIN}\n\n| a |\n\n{END}\nafter");
        assert_eq!(rendered_part(&page), Some("| a |"));
        assert_eq!(rendered_part("no markers"), None);
    }

    #[test]
    fn cells_show_counts_grouped_and_measures_to_two_places() {
        assert_eq!(cell(&json!(2050685058u64)), "2,050,685,058");
        assert_eq!(cell(&json!(2050685058.0)), "2,050,685,058");
        assert_eq!(cell(&json!(94864.6)), "94864.60");
        assert_eq!(cell(&json!(100.0)), "100.00");
        assert_eq!(cell(&json!(1.01)), "1.01");
        assert_eq!(cell(&json!("ok")), "ok");
        assert_eq!(cell(&Value::Null), "-");
    }
}
