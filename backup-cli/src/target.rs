//! Where commands send their calls: a live canister through ic-agent, or the
//! canister's wasm over a stable memory image in the embedded runner.

use crate::disk::{Disk, Opened};
use crate::error::{CliError, Result};
use crate::project::{Network, RootKey};
use crate::resume::TargetId;
use crate::subnet::Subnet;
use candid::Principal;
use canister_runner::{Canister, InstallArgs};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

/// The most a restore batch or a `stable_write` carries: 85% of the 2 MiB
/// ingress limit, so no call comes within 10% of it.
pub const CALL_BUDGET: usize = backup_runtime::limits::INGRESS_LIMIT / 100 * 85;

/// A canister that answers queries and updates with Candid bytes.
pub trait Target {
    /// Runs a query method.
    fn query(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>>;
    /// Runs an update method.
    fn update(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>>;
    /// Runs the queries `calls` yields, keeping up to `parallel` of them in
    /// flight at all times where the target can (a pipeline, not rounds),
    /// and hands each reply to `each` in the order of `calls`. Stops at the
    /// first error: a call's (after its retries), or one `each` returns.
    fn pipeline(
        &mut self,
        calls: &mut dyn Iterator<Item = Result<(String, Vec<u8>)>>,
        parallel: usize,
        each: &mut dyn FnMut(Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let _ = parallel;
        for call in calls {
            let (method, arg) = call?;
            each(self.query(&method, &arg)?)?;
        }
        Ok(())
    }
    /// Chains of queries, each call of a chain made from its previous reply:
    /// `starts[i]` is chain `i`'s first call; `step(i, reply)` takes a reply
    /// of chain `i` and gives its next call, or `None` when the chain is
    /// done. Live, `parallel` calls are in flight at all times while that
    /// many chains have calls to make; replies are taken one at a time, in
    /// the order they arrive. An error from a call or from `step` ends it.
    fn chains(
        &mut self,
        starts: Vec<(String, Vec<u8>)>,
        parallel: usize,
        step: &mut Step<'_>,
    ) -> Result<()> {
        in_waves(
            starts,
            parallel,
            &mut |method, arg| self.query(method, arg),
            step,
        )
        .map(|_| ())
    }
    /// The canister's Candid interface, if it publishes one.
    fn candid(&mut self) -> Result<Option<String>>;
    /// Which canister this is, and (offline) the state of its image on disk,
    /// for binding resume state to it.
    fn id(&self) -> TargetId;
    /// Makes the changes so far durable if that is cheap enough now, and
    /// says whether they all are: a command records progress only then.
    /// Live, an update that returned is already durable.
    fn checkpoint(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// Makes the command's changes durable (offline: writes the image).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// The command failed: what only its start did (offline, installing
    /// the canister on a new image) is not to be kept.
    fn failed(&mut self) {}
}

/// What [`Target::chains`] does with a reply of a chain: its next call.
pub type Step<'a> = dyn FnMut(usize, Vec<u8>) -> Result<Option<(String, Vec<u8>)>> + 'a;

/// One query: a method and its argument to the reply.
pub type Call<'a> = dyn FnMut(&str, &[u8]) -> Result<Vec<u8>> + 'a;

/// [`Target::chains`] one call at a time, in waves: each wave makes one call
/// of each of up to `parallel` chains (a chain that ends lets the next one
/// in). Returns the number of waves: the round trips the chains take when
/// the calls of a wave are in flight together.
pub fn in_waves(
    starts: Vec<(String, Vec<u8>)>,
    parallel: usize,
    call: &mut Call<'_>,
    step: &mut Step<'_>,
) -> Result<u64> {
    let mut waiting = starts.into_iter().enumerate();
    let mut active = Vec::new();
    let mut waves = 0;
    loop {
        let room = parallel.max(1).saturating_sub(active.len());
        active.extend(waiting.by_ref().take(room));
        if active.is_empty() {
            return Ok(waves);
        }
        waves += 1;
        let mut going_on = Vec::new();
        for (chain, (method, arg)) in active.drain(..) {
            let reply = call(&method, &arg)?;
            if let Some(next) = step(chain, reply)? {
                going_on.push((chain, next));
            }
        }
        active = going_on;
    }
}

/// [`Target::chains`] with `parallel` calls of `query` in flight at all
/// times while that many chains have calls to make: as a call returns, its
/// chain's next call (or the next chain's first) takes its place.
pub async fn in_flight<Q, F>(
    starts: Vec<(String, Vec<u8>)>,
    parallel: usize,
    query: Q,
    step: &mut Step<'_>,
) -> Result<()>
where
    Q: Fn(String, Vec<u8>) -> F,
    F: std::future::Future<Output = Result<Vec<u8>>>,
{
    use futures_util::stream::FuturesUnordered;
    use futures_util::StreamExt;
    let call = |chain: usize, (method, arg): (String, Vec<u8>)| {
        let reply = query(method, arg);
        async move { (chain, reply.await) }
    };
    let mut waiting = starts.into_iter().enumerate();
    let mut flight = FuturesUnordered::new();
    for (chain, first) in waiting.by_ref().take(parallel.max(1)) {
        flight.push(call(chain, first));
    }
    while let Some((chain, reply)) = flight.next().await {
        match step(chain, reply?)? {
            Some(next) => flight.push(call(chain, next)),
            None => {
                if let Some((chain, first)) = waiting.next() {
                    flight.push(call(chain, first));
                }
            }
        }
    }
    Ok(())
}

/// Offline, an image up to this size is written after every step that
/// records progress; a larger one at most every [`CHECKPOINT_INTERVAL`].
pub const CHECKPOINT_EVERY_STEP_BYTES: usize = 256 << 20;
/// How often a large offline image is written while a command records progress.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// `serve` folds its write-ahead log into the image when it grows this large…
pub const WAL_FOLD_BYTES: u64 = 256 << 20;
/// …or this long after the last fold.
pub const WAL_FOLD_INTERVAL: Duration = Duration::from_secs(30);

/// Who runs offline commands, and how the canister is set up for them.
#[derive(Clone, Debug)]
pub struct Operator {
    /// The caller of every call, and the installer.
    pub caller: Principal,
    /// Whether the caller is a controller.
    pub controller: bool,
    /// More controllers.
    pub others: Vec<Principal>,
    /// The seed of the management canister's `raw_rand`.
    pub seed: u64,
}

/// The offline target: the canister's wasm over an image file.
pub struct Offline {
    canister: Canister,
    /// The image on disk, held open (locked) for as long as this lives.
    disk: Disk,
    caller: Principal,
    /// The canister's stable memory generation the image on disk holds (0:
    /// as read, before install or upgrade hooks ran).
    saved_generation: u64,
    /// The SHA-256 of the image file as it is on disk; `None` before it
    /// exists (a new image counts as changed: its install is to be kept).
    digest: Option<String>,
    /// A new image: the generation its install left, while nothing else
    /// changed memory; a command that fails then leaves no file behind.
    install_only: Option<u64>,
    /// The command failed.
    forget_install: bool,
    saved_at: Instant,
    /// `serve`'s write-ahead log, and when it was last folded into the image.
    wal: Option<(crate::wal::Wal, Instant)>,
    /// Whether this run changed the snapshot's stable memory.
    wrote_snapshot: bool,
}

/// How `serve` folds its write-ahead log into the image: when the log
/// grows past `bytes`, or `every` after the last fold.
#[derive(Clone, Copy, Debug)]
pub struct Folding {
    pub bytes: u64,
    pub every: Duration,
}

impl Default for Folding {
    fn default() -> Self {
        Folding {
            bytes: WAL_FOLD_BYTES,
            every: WAL_FOLD_INTERVAL,
        }
    }
}

impl Offline {
    /// Loads `wasm` over the image at `image`, or installs it on empty
    /// stable memory when the file does not exist yet (the image is then
    /// created by the first checkpoint or by `finish`, whatever the command
    /// did: the install is kept). Any layout opens: this is the canister's
    /// own memory, not a file to load into it.
    pub fn open(wasm: &Path, image: &Path, operator: Operator) -> Result<Self> {
        Self::start(wasm, Disk::open_image(image)?, operator)
    }

    /// Loads a downloaded snapshot folder's module over its stable memory.
    pub fn open_snapshot(dir: &Path, operator: Operator) -> Result<Self> {
        let opened = Disk::open_snapshot(dir)?;
        Self::start(&dir.join("wasm_module.bin"), opened, operator)
    }

    fn start(wasm: &Path, opened: Opened, operator: Operator) -> Result<Self> {
        let Operator {
            caller,
            controller,
            others,
            seed,
        } = operator;
        let module = std::fs::read(wasm).map_err(|source| CliError::io(wasm, source))?;
        let mut controllers = if controller { vec![caller] } else { Vec::new() };
        controllers.extend(others);
        // The operator installs: `canister_init` and the upgrade hooks run as them.
        let args = InstallArgs {
            controllers,
            installer: Some(caller),
            seed,
            ..InstallArgs::default()
        };
        let Opened { disk, bytes } = opened;
        let new = bytes.is_none();
        let (canister, digest) = match bytes {
            Some(bytes) => {
                let digest = hex::encode(Sha256::digest(&bytes));
                (
                    Canister::from_image(&module, bytes, args).map_err(CliError::runner(wasm))?,
                    Some(digest),
                )
            }
            None => (
                Canister::install(&module, args).map_err(CliError::runner(wasm))?,
                None,
            ),
        };
        Ok(Offline {
            install_only: new.then(|| canister.stable_generation()),
            forget_install: false,
            // The image as read is stable memory before any message ran.
            saved_generation: 0,
            canister,
            disk,
            caller,
            digest,
            saved_at: Instant::now(),
            wrote_snapshot: false,
            wal: None,
        })
    }

    /// From now on, each call is made durable by appending the pages it
    /// wrote and `note`s of it to a write-ahead log beside the image
    /// ([`Offline::log_call`]), folded into the image by
    /// [`Offline::fold`]. The image is first brought up to date with the
    /// canister as it runs now, and `subnet` saved beside it.
    pub fn start_log(&mut self, subnet: &Subnet) -> Result<()> {
        self.save()?;
        subnet.save(&self.disk.image)?;
        // What the image holds now is not for the log.
        self.canister.take_written_pages();
        let wal = crate::wal::Wal::create(&self.disk.image)?;
        self.wal = Some((wal, Instant::now()));
        Ok(())
    }

    /// Makes the call that just ran durable: what its messages wrote, and
    /// `note`, appended to the write-ahead log and synced.
    pub fn log_call(&mut self, note: &[u8]) -> std::result::Result<(), crate::wal::AppendError> {
        let pages = self.canister.take_written_pages();
        match &mut self.wal {
            Some((wal, _)) => wal.append(self.canister.stable_memory(), &pages, note),
            None => self.save().map_err(|error| crate::wal::AppendError {
                error,
                undone: true,
            }),
        }
    }

    /// Whether the log is due to be folded into the image.
    pub fn fold_due(&self, folding: Folding) -> bool {
        self.wal.as_ref().is_some_and(|(wal, folded)| {
            wal.len() >= folding.bytes || (!wal.is_empty() && folded.elapsed() >= folding.every)
        })
    }

    /// Folds the log into the image: the image written, then `subnet`
    /// (the calls the log recorded), then the log emptied. A crash at any
    /// step leaves a log whose replay gives the same image.
    pub fn fold(&mut self, subnet: &Subnet) -> Result<()> {
        self.save()?;
        subnet.save(&self.disk.image)?;
        if let Some((wal, folded)) = &mut self.wal {
            wal.clear()?;
            *folded = Instant::now();
        }
        Ok(())
    }

    /// The image's path.
    pub fn image(&self) -> &Path {
        &self.disk.image
    }

    fn result(method: &str, result: canister_runner::CallResult) -> Result<Vec<u8>> {
        result.result.map_err(|reject| CliError::Rejected {
            method: method.to_string(),
            message: reject.message,
        })
    }

    /// The canister, for calls as other callers than the operator (`serve`).
    pub fn canister(&mut self) -> &mut Canister {
        &mut self.canister
    }

    /// Whether the image on disk holds the canister's stable memory as it is.
    fn is_saved(&self) -> bool {
        self.digest.is_some() && self.canister.stable_generation() == self.saved_generation
    }

    /// Writes the image atomically and durably, if it does not exist yet or
    /// a committed message (install and upgrade hooks included) changed
    /// stable memory since it was last written.
    pub fn save(&mut self) -> Result<()> {
        if self.is_saved() {
            return Ok(());
        }
        let bytes = self.canister.stable_memory();
        let digest = hex::encode(Sha256::digest(bytes));
        if self.digest.as_deref() != Some(digest.as_str()) {
            self.disk.write(bytes)?;
            self.wrote_snapshot = self.disk.snapshot_dir().is_some();
        }
        self.digest = Some(digest);
        self.saved_generation = self.canister.stable_generation();
        self.saved_at = Instant::now();
        Ok(())
    }
}

impl Target for Offline {
    fn query(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let result = self.canister.query(self.caller, method, arg);
        Self::result(method, result)
    }

    fn update(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let result = self.canister.update(self.caller, method, arg);
        Self::result(method, result)
    }

    fn candid(&mut self) -> Result<Option<String>> {
        Ok(self.canister.candid_interface())
    }

    fn id(&self) -> TargetId {
        TargetId::Offline {
            image: self.disk.image.clone(),
            sha256: self.digest.clone(),
        }
    }

    fn failed(&mut self) {
        self.forget_install = true;
    }

    fn checkpoint(&mut self) -> Result<bool> {
        if self.is_saved() {
            return Ok(true);
        }
        let small = self.canister.stable_memory().len() <= CHECKPOINT_EVERY_STEP_BYTES;
        if small || self.saved_at.elapsed() >= CHECKPOINT_INTERVAL {
            self.save()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes the image; a log (`serve`'s) must have been folded first,
    /// with its calls kept ([`Offline::fold`]): it is removed.
    fn finish(&mut self) -> Result<()> {
        let install_only = self.install_only == Some(self.canister.stable_generation());
        if !(install_only && self.forget_install) {
            self.save()?;
        }
        if let Some((wal, _)) = self.wal.take() {
            wal.remove()?;
        }
        if let (Some(dir), true) = (self.disk.snapshot_dir(), self.wrote_snapshot) {
            eprintln!(
                "warning: the stable memory of the snapshot in {} changed, its heap (wasm_memory.bin) did not: after `dfx canister snapshot upload` (or icp's) and loading the snapshot, upgrade the canister before anything else calls it, so its heap reads the new stable memory",
                dir.display()
            );
        }
        Ok(())
    }
}

/// The live target: a canister on a replica or on mainnet.
pub struct Live {
    agent: ic_agent::Agent,
    url: String,
    canister: Principal,
    runtime: tokio::runtime::Runtime,
    /// How long one query may take before it is tried again.
    timeout: Duration,
}

/// How many times a live query is tried before its failure is final.
pub const QUERY_ATTEMPTS: u32 = 6;

/// The wait before attempt `attempt` (from 1): 250 ms doubling, at most 8 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.saturating_sub(1).min(5))
}

/// A failure worth trying again: the network, an overloaded or failing
/// node or boundary node (429, 5xx), a timeout.
fn transient(error: &ic_agent::AgentError) -> bool {
    use ic_agent::AgentError;
    match error {
        AgentError::HttpError(payload) => payload.status == 429 || payload.status >= 500,
        AgentError::TransportError(_) | AgentError::TimeoutWaitingForResponse() => true,
        _ => false,
    }
}

/// One query, tried again with backoff on transient failures; each attempt
/// bounded by `timeout`.
async fn query_retrying(
    agent: &ic_agent::Agent,
    canister: Principal,
    method: &str,
    arg: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>> {
    let mut attempt = 0;
    loop {
        let call = agent.query(&canister, method).with_arg(arg.to_vec()).call();
        let failure = match tokio::time::timeout(timeout, call).await {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(error)) if !transient(&error) => return Err(Live::agent_error(method, error)),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {:.1} s", timeout.as_secs_f64()),
        };
        attempt += 1;
        if attempt >= QUERY_ATTEMPTS {
            return Err(CliError::Network(format!(
                "{method}: {failure} (tried {attempt} times)"
            )));
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
}

impl Live {
    /// Connects to `network` as `identity`, with the network's root key
    /// (fetched from it unless it is mainnet or the project states it).
    pub fn connect(
        network: &Network,
        identity: Box<dyn ic_agent::Identity>,
        canister: Principal,
        timeout: Duration,
    ) -> Result<Self> {
        let url = &network.url;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| {
                CliError::Input(format!("cannot start the async runtime: {source}"))
            })?;
        let agent = ic_agent::Agent::builder()
            .with_url(url)
            .with_boxed_identity(identity)
            .build()
            .map_err(|error| CliError::Network(format!("{url}: {error}")))?;
        match &network.root_key {
            RootKey::Mainnet => {}
            RootKey::Known(key) => agent.set_root_key(key.clone()),
            RootKey::Fetch => {
                runtime.block_on(agent.fetch_root_key()).map_err(|error| {
                    CliError::Network(format!(
                        "fetching the root key of {url} (from {}): {error}{}",
                        network.source,
                        if url.contains(":4943") {
                            "; if this is icp-cli's local network, it listens on 8000: run from its project, or give --network http://127.0.0.1:8000"
                        } else {
                            ""
                        }
                    ))
                })?;
            }
        }
        Ok(Live {
            agent,
            url: url.to_string(),
            canister,
            runtime,
            timeout,
        })
    }

    fn agent_error(method: &str, error: ic_agent::AgentError) -> CliError {
        match error {
            ic_agent::AgentError::CertifiedReject { reject, .. }
            | ic_agent::AgentError::UncertifiedReject { reject, .. } => CliError::Rejected {
                method: method.to_string(),
                message: reject.reject_message,
            },
            other => CliError::Network(format!("{method}: {other}")),
        }
    }
}

impl Target for Live {
    fn query(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let call = query_retrying(&self.agent, self.canister, method, arg, self.timeout);
        self.runtime.block_on(call)
    }

    fn update(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let call = self
            .agent
            .update(&self.canister, method)
            .with_arg(arg.to_vec())
            .call_and_wait();
        self.runtime
            .block_on(call)
            .map_err(|error| Self::agent_error(method, error))
    }

    fn pipeline(
        &mut self,
        calls: &mut dyn Iterator<Item = Result<(String, Vec<u8>)>>,
        parallel: usize,
        each: &mut dyn FnMut(Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        use futures_util::StreamExt;
        let (agent, canister, timeout) = (&self.agent, self.canister, self.timeout);
        // `buffered` starts the next query as soon as one is answered, and
        // yields the replies in order.
        let replies = futures_util::stream::iter(calls)
            .map(|call| async move {
                let (method, arg) = call?;
                query_retrying(agent, canister, &method, &arg, timeout).await
            })
            .buffered(parallel.max(1));
        self.runtime.block_on(async move {
            futures_util::pin_mut!(replies);
            while let Some(reply) = replies.next().await {
                each(reply?)?;
            }
            Ok(())
        })
    }

    fn chains(
        &mut self,
        starts: Vec<(String, Vec<u8>)>,
        parallel: usize,
        step: &mut Step<'_>,
    ) -> Result<()> {
        let (agent, canister, timeout) = (&self.agent, self.canister, self.timeout);
        let query = |method: String, arg: Vec<u8>| async move {
            query_retrying(agent, canister, &method, &arg, timeout).await
        };
        self.runtime
            .block_on(in_flight(starts, parallel, query, step))
    }

    fn id(&self) -> TargetId {
        TargetId::Live {
            url: self.url.clone(),
            canister: self.canister.to_text(),
        }
    }

    fn candid(&mut self) -> Result<Option<String>> {
        let read = self
            .agent
            .read_state_canister_metadata(self.canister, "candid:service");
        match self.runtime.block_on(read) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(ic_agent::AgentError::LookupPathAbsent(_)) => Ok(None),
            Err(error) => Err(CliError::Network(format!(
                "reading candid:service: {error}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// Chains of these lengths; each call's argument is `[chain, index]`.
    const LENGTHS: [u8; 9] = [3, 1, 2, 4, 1, 5, 2, 1, 3];

    fn starts() -> Vec<(String, Vec<u8>)> {
        (0..LENGTHS.len() as u8)
            .map(|chain| ("m".to_string(), vec![chain, 0]))
            .collect()
    }

    type Next = Result<Option<(String, Vec<u8>)>>;

    /// A step that checks each chain's replies come in order and asks for
    /// the chain's next call; it records every reply.
    fn checking_step(seen: &RefCell<Vec<(usize, u8)>>) -> impl FnMut(usize, Vec<u8>) -> Next + '_ {
        move |chain, reply| {
            let index = reply[1];
            assert_eq!(reply[0] as usize, chain, "a reply handed to its own chain");
            let before = seen.borrow().iter().filter(|(c, _)| *c == chain).count();
            assert_eq!(index as usize, before, "chain {chain} in order");
            seen.borrow_mut().push((chain, index));
            Ok((index + 1 < LENGTHS[chain])
                .then(|| ("m".to_string(), vec![chain as u8, index + 1])))
        }
    }

    #[test]
    fn waves_make_every_call_of_every_chain_in_order() {
        let seen = RefCell::new(Vec::new());
        let mut calls = 0;
        let waves = in_waves(
            starts(),
            2,
            &mut |_, arg| {
                calls += 1;
                Ok(arg.to_vec())
            },
            &mut checking_step(&seen),
        )
        .unwrap();
        let total: usize = LENGTHS.iter().map(|&n| n as usize).sum();
        assert_eq!((calls, seen.borrow().len()), (total, total));
        // Two chains at a time, a chain that ends letting the next one in.
        assert_eq!(waves, 12);
        // An error ends the chains.
        let error = in_waves(
            starts(),
            2,
            &mut |_, _| Err(CliError::Network("down".into())),
            &mut |_, _| Ok(None),
        );
        assert!(error.is_err());
    }

    /// Live, `parallel` calls are in flight whenever that many chains have
    /// calls left, never more, and each chain's calls go in order.
    #[test]
    fn calls_stay_in_flight_as_chains_go_on() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (flying, most, starved) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
        let remaining = RefCell::new(LENGTHS.map(|n| n as usize).to_vec());
        let seen = RefCell::new(Vec::new());
        let parallel = 3;
        let query = |_method: String, arg: Vec<u8>| {
            flying.set(flying.get() + 1);
            most.set(most.get().max(flying.get()));
            // Fewer in flight than could be: a chain with calls left waits.
            let left = remaining.borrow().iter().filter(|&&n| n > 0).count();
            if most.get() == parallel && flying.get() < parallel.min(left) {
                starved.set(starved.get() + 1);
            }
            let (flying, remaining) = (&flying, &remaining);
            async move {
                let pause = 1 + (arg[0] as u64 * 7 + arg[1] as u64 * 3) % 5;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                flying.set(flying.get() - 1);
                remaining.borrow_mut()[arg[0] as usize] -= 1;
                Ok(arg)
            }
        };
        let mut step = checking_step(&seen);
        runtime
            .block_on(in_flight(starts(), parallel, query, &mut step))
            .unwrap();
        let total: usize = LENGTHS.iter().map(|&n| n as usize).sum();
        assert_eq!(seen.borrow().len(), total);
        assert_eq!(most.get(), parallel);
        assert_eq!(
            starved.get(),
            0,
            "a call was not started as soon as it could be"
        );
    }
}
