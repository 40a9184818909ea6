//! What the benchmarks that run the real `ic-backup` binary share: the
//! client's key, images zero-extended, `ic-backup serve` started, and the
//! peak memory of a command.

use candid::Principal;
use serde_json::Value;
use std::time::Duration;

/// The client's key (written into `dir`), a controller of the canisters
/// the benchmarks serve, and its principal.
pub fn client_key(dir: &std::path::Path) -> Option<(std::path::PathBuf, Principal)> {
    const CLIENT: &str = "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n";
    let pem = dir.join("mem-client.pem");
    let client = backup_client::identity::parse_pem(CLIENT.as_bytes())
        .and_then(|identity| identity.sender())
        .ok()?;
    std::fs::write(&pem, CLIENT).ok()?;
    Some((pem, client))
}

/// `from` copied to `to`, then made `len` bytes long (zeros after it, sparse).
pub fn copy_extended(
    from: &std::path::Path,
    to: &std::path::Path,
    len: u64,
) -> std::io::Result<()> {
    std::fs::copy(from, to)?;
    std::fs::File::options().write(true).open(to)?.set_len(len)
}

/// Starts `ic-backup serve` on `image` with `controller` (and `extra`
/// options); returns it, its URL and the canister id from its first line.
pub fn serve(
    cli: &std::path::Path,
    wasm: &std::path::Path,
    image: &std::path::Path,
    controller: &str,
    extra: &[&str],
) -> Result<(std::process::Child, String, String), String> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(cli)
        .arg("--wasm")
        .arg(wasm)
        .arg("--image")
        .arg(image)
        .args(["--json", "serve", "--controller", controller])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|error| error.to_string())?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no standard output")?;
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|error| error.to_string())?;
    let banner: Value =
        serde_json::from_str(&line).map_err(|error| format!("{error}: {line:?}"))?;
    match (banner["url"].as_str(), banner["canister_id"].as_str()) {
        (Some(url), Some(canister)) => Ok((child, url.to_string(), canister.to_string())),
        _ => Err(format!("unexpected banner {line:?}")),
    }
}

/// Runs `command` and returns its peak resident set size in KiB and
/// whether it succeeded. The peak is the kernel's high-water mark of the
/// program's own memory (`VmHWM` in `/proc/<pid>/status`), read every 5 ms
/// while it runs: `wait4`'s `ru_maxrss` would also count this benchmark's
/// own memory, which the child shares until it execs.
pub fn peak_rss(mut command: std::process::Command) -> Result<(u64, bool), String> {
    let mut child = command.spawn().map_err(|error| error.to_string())?;
    let status_file = format!("/proc/{}/status", child.id());
    let program = command
        .get_program()
        .to_string_lossy()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .take(15) // the kernel keeps 15 characters of a name
        .collect::<String>();
    let mut peak = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
            };
            // Before the exec, the process is still a copy of this one.
            if field("Name:") == Some(program.as_str()) {
                if let Some(kib) = field("VmHWM:")
                    .and_then(|value| value.trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak = peak.max(kib);
                }
            }
        }
        match child.try_wait().map_err(|error| error.to_string())? {
            Some(status) => return Ok((peak, status.success())),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
