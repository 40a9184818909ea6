//! What the commands tell people and scripts: notices on standard error,
//! results on standard output (as JSON for scripts), and the switch that
//! silences both for programs that drive the commands as a library.

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences command output, for programs that drive the commands as a
/// library (the benchmarks).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Tells a person (on standard error) what happened along the way; quiet
/// when output is for scripts.
pub fn notice(json: bool, message: &str) {
    if !json && !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{message}");
    }
}

/// Prints `value` as JSON for scripts, or `text` for people.
pub fn output(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}
