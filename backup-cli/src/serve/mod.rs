//! `ic-backup serve`: one canister (its wasm over a stable memory image, in
//! the runner) behind the IC's HTTP interface, so that unmodified clients
//! (ic-agent, agent-js, dfx, icp-cli) can call it as on a local replica.
//!
//! Requests are verified as the IC verifies them, certificates are signed
//! by a root key drawn at start (agents fetch it from `/api/v2/status`, as
//! for any local network), query responses by a node key. Updates are
//! written to the image before their status is certified.

mod auth;
mod http;
mod node;
mod state;

use crate::error::{CliError, Result};
use crate::target::Offline;
use node::{Job, Node};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

pub use http::Faults;

/// Serves `target` on 127.0.0.1:`port` (0: a free
/// port) until Ctrl-C or SIGTERM, then writes the image.
pub fn serve(target: Offline, describe: &str, port: u16, faults: Faults, json: bool) -> Result<()> {
    let keys = Arc::new(
        state::Keys::generate()
            .map_err(|error| CliError::Input(format!("cannot draw the server's keys: {error}")))?,
    );
    let mut target = target;
    // Each update is durable once its pages are in the log beside the image.
    target.log_updates()?;
    let mut node = Node::new(target, keys.clone());
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .map_err(|error| CliError::Input(format!("cannot listen on 127.0.0.1:{port}: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| CliError::Input(format!("the listening address: {error}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|error| CliError::Input(format!("the listening socket: {error}")))?;
    let url = format!("http://{address}");
    let canister = node.canister_id;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "url": url,
                "canister_id": canister.to_text(),
                "root_key": hex::encode(&keys.root_der),
            })
        );
    } else {
        println!("Serving canister {canister} ({describe}) at {url}");
        println!("  root key: {}", hex::encode(&keys.root_der));
        println!("  try: dfx canister call --network {url} {canister} <method> '(<args>)'");
        println!(
            "       icp canister call -n {url} -k {} {canister} <method> '(<args>)'",
            hex::encode(&keys.root_der)
        );
        println!("       ic-backup --network {url} --canister {canister} auth list");
        println!("Ctrl-C stops the server; every committed update is already in the image.");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let (jobs, inbox) = std::sync::mpsc::channel::<Job>();
    let server = Arc::new(http::Server {
        jobs: jobs.clone(),
        keys,
        canister_id: canister,
        faults,
        queries: Default::default(),
    });
    let stop = jobs;
    let http = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || listen(listener, server, stop))
        .map_err(|error| CliError::Input(format!("cannot start the HTTP thread: {error}")))?;
    // The node runs here, one job at a time, until the stop job.
    while let Ok(job) = inbox.recv() {
        job(&mut node);
        if node.stopping {
            break;
        }
    }
    let saved = node.finish();
    drop(inbox);
    let listened = http
        .join()
        .unwrap_or_else(|_| Err("the HTTP thread panicked".into()));
    saved?;
    if let Some(message) = node.failed {
        return Err(CliError::Input(message));
    }
    listened.map_err(CliError::Network)?;
    if !json {
        println!("Stopped; the image is saved.");
    }
    Ok(())
}

/// Accepts connections until Ctrl-C or SIGTERM, then asks the node to stop.
fn listen(
    listener: TcpListener,
    server: Arc<http::Server>,
    stop: std::sync::mpsc::Sender<Job>,
) -> std::result::Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|error| format!("the listening socket: {error}"))?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|error| format!("cannot catch SIGTERM: {error}"))?;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let server = server.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            server.clone().handle(request)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
            }
        }
        Ok(())
    });
    let _ = stop.send(Box::new(|node: &mut Node| node.stopping = true));
    result
}
