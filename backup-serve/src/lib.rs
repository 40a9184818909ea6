#![doc = include_str!("../README.md")]

/// A line on standard error, for whoever watches the server; a failure to
/// write it (a full disk, a file size limit, a closed terminal) is not the
/// server's: it goes on (`eprintln!` would panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod auth;
mod http;
mod node;
mod state;

use backup_client::error::{Error, Result};
use backup_client::subnet::Subnet;
use backup_client::target::{Folding, Offline};
use node::{Job, Node};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use http::Faults;

/// How `serve` runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The port on 127.0.0.1 (0: a free one).
    pub port: u16,
    /// Draw new subnet keys instead of those kept beside the image.
    pub new_keys: bool,
    pub folding: Folding,
    pub faults: Faults,
    /// The banner as one JSON line.
    pub json: bool,
}

/// Connections open at once; past it, a new one is answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 256;
/// Requests waiting for the node; past it, a request is answered 429.
pub const MAX_QUEUED: usize = 128;
/// How long a client may take to send a request's headers…
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// …and its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether the server is stopping, shared by its threads.
#[derive(Default)]
pub struct Control {
    stop: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Control {
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Serves `target` on 127.0.0.1 until Ctrl-C or SIGTERM (or a failure to
/// write the image), then folds the log into the image.
pub fn serve(target: Offline, describe: &str, options: Options) -> Result<()> {
    let mut target = target;
    let mut subnet = Subnet::load(target.image())?;
    let keys = match (&subnet.keys, options.new_keys) {
        (Some(kept), false) => state::Keys::from_kept(kept).map_err(|why| {
            Error::Input(format!(
                "{}: {why}; `serve --new-keys` draws new ones (clients must then be given the new root key)",
                backup_client::subnet::path_of(target.image()).display()
            ))
        })?,
        _ => state::Keys::generate()
            .map_err(|error| Error::system("cannot draw the server's keys", error))?,
    };
    subnet.keys = Some(keys.kept());
    // What management calls changed (controllers, settings, a stop) holds
    // over what the command line says.
    if let Some(record) = subnet.canister.clone() {
        let kept_in = backup_client::subnet::path_of(target.image());
        let canister = target.canister();
        let given = canister.controllers();
        if given
            .iter()
            .any(|principal| !record.controllers.contains(principal))
        {
            say!(
                "note: the canister's controllers are those its management calls set, kept in {}: {}; the controllers the command line gives are not all among them",
                kept_in.display(),
                record
                    .controllers
                    .iter()
                    .map(candid::Principal::to_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let blobs = backup_client::blobs::Blobs::of(target.image());
        let blob = |hash: &[u8; 32]| blobs.get(hash).map_err(|error| error.to_string());
        target
            .canister()
            .restore_record(record, &blob)
            .map_err(|why| {
                Error::Input(format!(
                    "{}: the canister's record cannot be put back: {why}",
                    kept_in.display()
                ))
            })?;
    }
    if let Some(log) = subnet.log.clone() {
        target.canister().restore_log(log);
    }
    let keys = Arc::new(keys);
    // Each call is durable once it is in the log beside the image.
    target.start_log(&subnet)?;
    let mut node = Node::new(target, keys.clone(), &subnet, options.folding);
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, options.port)))
        .map_err(|error| {
            Error::system(
                format!("cannot listen on 127.0.0.1:{}", options.port),
                error,
            )
        })?;
    let address = listener
        .local_addr()
        .map_err(|error| Error::system("the listening address", error))?;
    listener
        .set_nonblocking(true)
        .map_err(|error| Error::system("the listening socket", error))?;
    let url = format!("http://{address}");
    let canister = node.canister_id;
    // Ctrl-C and SIGTERM are caught before the banner is printed: a client
    // that reads it and stops the server at once stops it properly.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::system("cannot start the async runtime", error))?;
    let signals = {
        let _entered = runtime.enter();
        Signals::catch().map_err(|error| Error::system("cannot catch SIGINT and SIGTERM", error))?
    };
    if options.json {
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
        println!(
            "  root key: {} (kept beside the image: the same after a restart)",
            hex::encode(&keys.root_der)
        );
        println!("  try: dfx canister call --network {url} {canister} <method> '(<args>)'");
        println!(
            "       icp canister call -n {url} -k {} {canister} <method> '(<args>)'",
            hex::encode(&keys.root_der)
        );
        println!("       ic-backup --network {url} --canister {canister} auth list");
        println!("Ctrl-C stops the server; every call it replied to is already on disk.");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let (jobs, inbox) = std::sync::mpsc::sync_channel::<Job>(MAX_QUEUED);
    let control = Arc::new(Control::default());
    let server = Arc::new(http::Server {
        jobs,
        keys,
        canister_id: canister,
        faults: options.faults,
        queries: Default::default(),
    });
    let http = {
        let control = control.clone();
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || listen(runtime, signals, listener, server, &control))
            .map_err(|error| Error::system("cannot start the HTTP thread", error))?
    };
    // The node runs here, one job at a time, until the server stops: what
    // is still queued then is dropped (its requests are answered 503).
    while !control.stopping() {
        match inbox.recv_timeout(Duration::from_millis(50)) {
            Ok(job) => job(&mut node),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if node.failed.is_some() {
            break;
        }
    }
    control.stop();
    drop(inbox);
    let saved = node.finish();
    let listened = http
        .join()
        .unwrap_or_else(|_| Err("the HTTP thread panicked".into()));
    saved?;
    if let Some(message) = node.failed {
        return Err(Error::Input(message));
    }
    listened.map_err(Error::Network)?;
    if !options.json {
        println!("Stopped; the image is saved.");
    }
    Ok(())
}

/// Returns once `shutting_down` says true.
async fn stopped(shutting_down: &mut tokio::sync::watch::Receiver<bool>) {
    while !*shutting_down.borrow_and_update() {
        if shutting_down.changed().await.is_err() {
            return;
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, caught.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Catches both, from now on; within a runtime's context.
    fn catch() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
}

/// Accepts connections until Ctrl-C or SIGTERM, or until the node stops;
/// a second signal ends the process at once (the log keeps every reply).
fn listen(
    runtime: tokio::runtime::Runtime,
    signals: Signals,
    listener: TcpListener,
    server: Arc<http::Server>,
    control: &Control,
) -> std::result::Result<(), String> {
    let Signals {
        mut interrupt,
        mut terminate,
    } = signals;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|error| format!("the listening socket: {error}"))?;
        let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let (shutdown, shutting_down) = tokio::sync::watch::channel(false);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            // Out of file descriptors, say: wait rather than spin.
                            say!("warning: accepting a connection: {error}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = connections.clone().try_acquire_owned() else {
                        tokio::spawn(http::turn_away(stream));
                        continue;
                    };
                    let server = server.clone();
                    let mut shutting_down = shutting_down.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            server.clone().handle(request)
                        });
                        let connection = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                        tokio::pin!(connection);
                        tokio::select! {
                            _ = connection.as_mut() => {}
                            _ = stopped(&mut shutting_down) => {
                                // The request in hand is answered, then the connection closed.
                                connection.as_mut().graceful_shutdown();
                                let _ = connection.await;
                            }
                        }
                        drop(permit);
                    });
                }
                _ = interrupt.recv() => {
                    say!("serve: SIGINT (Ctrl-C): stopping after the call in hand");
                    break;
                }
                _ = terminate.recv() => {
                    say!("serve: SIGTERM: stopping after the call in hand");
                    break;
                }
                _ = control.wake.notified() => break,
            }
        }
        // No new connections; the node stops after the call it runs (the
        // requests still queued are answered 503), and every request in
        // hand is answered before its connection closes.
        control.stop();
        let _ = shutdown.send(true);
        let all = MAX_CONNECTIONS as u32;
        let _ = tokio::time::timeout(Duration::from_secs(10), connections.acquire_many(all)).await;
        Ok(())
    });
    control.stop();
    // The node finishes the call it runs, then folds the log; a second
    // signal does not wait for that.
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let Ok(mut terminate) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        });
        say!("stopped at once: the write-ahead log beside the image keeps every call replied to, and the next opener replays it");
        std::process::exit(130);
    });
    result
}
