//! The second daily dump into a restic repository: the benchmark image
//! (256 MiB, and 4 GiB zero-extended) dumped live into a repository, then
//! 1% of its 64 KiB blocks changed and dumped again. Measured: the bytes
//! the second dump downloads and the repository's growth, each as a share
//! of the image (against 100% for a plain dump), and each command's peak
//! memory (RSS of the client alone, against `ic-backup serve`).

use crate::record::Recorder;
use crate::served::{copy_extended, peak_rss, serve};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

/// The share of blocks changed between the two dumps.
const CHANGED: f64 = 0.01;
const BLOCK: u64 = 64 * 1024;

/// `image` with 1% of its 64 KiB blocks changed (one byte each), spread
/// evenly over the whole image, zeros included.
fn edit(image: &Path, edited: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let len = std::fs::metadata(image)?.len();
    std::fs::copy(image, edited)?;
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(edited)?;
    let blocks = len / BLOCK;
    let changed = ((blocks as f64 * CHANGED).ceil() as u64).max(1);
    for k in 0..changed {
        // Block 0 holds the MemoryManager header, left as it is.
        let at = (1 + k * (blocks - 1) / changed) * BLOCK + 100;
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, at)?;
        file.write_all_at(&[byte[0] ^ 0xA5], at)?;
    }
    Ok(changed)
}

/// One `ic-backup` command against the served `image`: its JSON output and
/// its peak RSS in MiB. Served at `port` each time: the network a dump
/// names is where the next one finds it.
fn served_command(
    cli: &Path,
    wasm: &Path,
    image: &Path,
    (pem, client, port): (&Path, &str, u16),
    args: &[&str],
) -> Result<(Value, f64), String> {
    let port = port.to_string();
    let (mut server, url, canister) = serve(cli, wasm, image, client, &["--port", &port])?;
    let out = std::env::temp_dir().join(format!("bench-repo-{}.json", std::process::id()));
    let mut command = Command::new(cli);
    command
        .args(["--network", &url, "--canister", &canister, "--pem"])
        .arg(pem)
        .arg("--json")
        .args(args)
        .stdout(Stdio::from(
            std::fs::File::create(&out).map_err(|e| e.to_string())?,
        ))
        .stderr(Stdio::null());
    let measured = peak_rss(command);
    let _ = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let (peak_kib, succeeded) = measured?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    if !succeeded {
        return Err(format!("ic-backup {args:?} failed"));
    }
    let value = serde_json::from_str(text.trim()).map_err(|e| format!("{e}: {text:?}"))?;
    Ok((value, peak_kib as f64 / 1024.0))
}

/// The rows of one image size (`bench.dat` of `dir`, zero-extended).
pub fn second_daily_dump(
    cli: &Path,
    wasm: &Path,
    pem: &Path,
    client: &str,
    recorder: &mut Recorder,
    image_mib: u64,
) -> Result<(), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let image = dir.join(format!("repo-{image_mib}.bin"));
    let edited = dir.join(format!("repo-{image_mib}-edited.bin"));
    let repo = dir.join(format!("repo-{image_mib}"));
    let password = dir.join("repo-password");
    let _ = std::fs::remove_dir_all(&repo);
    copy_extended(&dir.join("bench.dat"), &image, image_mib << 20).map_err(|e| e.to_string())?;
    let changed = edit(&image, &edited).map_err(|e| e.to_string())?;
    std::fs::write(&password, "bench\n").map_err(|e| e.to_string())?;
    let repo_args = [
        "--repo",
        repo.to_str().unwrap_or_default(),
        "--repo-password-file",
        password.to_str().unwrap_or_default(),
    ];
    let init = Command::new(cli)
        .args(["repo", "init"])
        .args(repo_args)
        .output()
        .map_err(|e| e.to_string())?;
    if !init.status.success() {
        return Err(String::from_utf8_lossy(&init.stderr).into_owned());
    }
    let size = (image_mib << 20) as f64;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let key = (pem, client, port);
    let mut dump = vec!["dump"];
    dump.extend(repo_args);
    for (day, on) in [
        ("first dump", &image),
        ("second dump (1% of blocks changed)", &edited),
    ] {
        let (out, peak) = served_command(cli, wasm, on, key, &dump)?;
        let downloaded = out["downloaded"].as_u64().unwrap_or(0);
        let growth = out["repository_growth"].as_u64().unwrap_or(0);
        recorder.row(json!({
            "table": "repository",
            "command": format!("dump --repo: {day}"),
            "image_mib": image_mib,
            "changed_blocks": if on == &edited { changed } else { 0 },
            "downloaded_mib": downloaded as f64 / 1048576.0,
            "downloaded_share": format!("{:.2}%", downloaded as f64 * 100.0 / size),
            "repository_growth_mib": growth as f64 / 1048576.0,
            "growth_share": format!("{:.2}%", growth as f64 * 100.0 / size),
            "peak_rss_mib": peak,
        }));
    }
    // The first day's image loaded back from the repository onto the
    // second day's canister: the changed blocks travel, read from it.
    let mut load = vec!["load", "--repo-snapshot"];
    let listed = Command::new(cli)
        .args(["--json", "repo", "snapshots"])
        .args(repo_args)
        .output()
        .map_err(|e| e.to_string())?;
    let listed: Value = serde_json::from_slice(&listed.stdout).map_err(|e| e.to_string())?;
    let first = listed[0]["id"].as_str().unwrap_or_default().to_string();
    load.push(&first);
    load.extend(repo_args);
    load.push("--yes");
    let (out, peak) = served_command(cli, wasm, &edited, key, &load)?;
    recorder.row(json!({
        "table": "repository",
        "command": "load --repo: the first dump onto the second day's canister",
        "image_mib": image_mib,
        "changed_blocks": out["changed"],
        "downloaded_mib": 0.0,
        "downloaded_share": "-",
        "repository_growth_mib": 0.0,
        "growth_share": "-",
        "peak_rss_mib": peak,
    }));
    for path in [&image, &edited] {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(backup_client::wal::path_of(path));
        // The served subnet's keys and calls, beside the image.
        let _ = std::fs::remove_file(backup_client::durable::with_suffix(path, ".subnet"));
    }
    let _ = std::fs::remove_dir_all(&repo);
    Ok(())
}
