//! The live target: a canister on a replica or on mainnet, through
//! ic-agent; queries tried again with backoff on transient failures.

use super::{in_flight, Step, Target};
use crate::error::{Error, Result};
use crate::project::{Network, RootKey};
use crate::resume::TargetId;
use candid::Principal;
use std::time::Duration;

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

/// How one attempt at a call failed.
enum Failure {
    /// Not worth trying again.
    Final(Error),
    /// Worth trying again: what went wrong.
    Transient(String),
}

/// Runs `attempt` until it answers, fails for good, or has failed
/// [`QUERY_ATTEMPTS`] times, with [`backoff`] between attempts.
async fn retrying<F, A>(method: &str, mut attempt: A) -> Result<Vec<u8>>
where
    A: FnMut() -> F,
    F: std::future::Future<Output = std::result::Result<Vec<u8>, Failure>>,
{
    let mut tried = 0;
    loop {
        let failure = match attempt().await {
            Ok(reply) => return Ok(reply),
            Err(Failure::Final(error)) => return Err(error),
            Err(Failure::Transient(failure)) => failure,
        };
        tried += 1;
        if tried >= QUERY_ATTEMPTS {
            return Err(Error::Network(format!(
                "{method}: {failure} (tried {tried} times)"
            )));
        }
        tokio::time::sleep(backoff(tried)).await;
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
    retrying(method, || async move {
        let call = agent.query(&canister, method).with_arg(arg.to_vec()).call();
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) if !transient(&error) => {
                Err(Failure::Final(Live::agent_error(method, error)))
            }
            Ok(Err(error)) => Err(Failure::Transient(error.to_string())),
            Err(_) => Err(Failure::Transient(format!(
                "no answer within {:.1} s",
                timeout.as_secs_f64()
            ))),
        }
    })
    .await
}

/// One update to the management canister about `canister` (its effective
/// canister id); if `retry`, tried again with backoff on transient failures
/// (for calls that may run twice: reads, and writes of bytes at an offset).
async fn manage_retrying(
    agent: &ic_agent::Agent,
    canister: Principal,
    method: &str,
    arg: &[u8],
    retry: bool,
) -> Result<Vec<u8>> {
    retrying(method, || async move {
        let call = agent
            .update(&Principal::management_canister(), method)
            .with_effective_canister_id(canister)
            .with_arg(arg.to_vec())
            .call_and_wait();
        match call.await {
            Ok(reply) => Ok(reply),
            Err(error) if !retry || !transient(&error) => {
                Err(Failure::Final(Live::agent_error(method, error)))
            }
            Err(error) => Err(Failure::Transient(error.to_string())),
        }
    })
    .await
}

impl Live {
    /// The canister's id.
    pub fn canister_id(&self) -> Principal {
        self.canister
    }

    /// The network's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls the management canister's `method` about the canister (an
    /// update); `retry`: tried again with backoff on transient failures, for
    /// calls that may run twice (reads, writes of bytes at an offset).
    pub fn manage(&mut self, method: &str, arg: &[u8], retry: bool) -> Result<Vec<u8>> {
        let call = manage_retrying(&self.agent, self.canister, method, arg, retry);
        self.runtime.block_on(call)
    }

    /// The management calls `calls` yields (each one that may run twice),
    /// up to `parallel` in flight at all times; each reply goes to `each`
    /// with the call's index, in the order the replies come. Stops at the
    /// first error, a call's or one `each` returns.
    pub fn manage_many(
        &mut self,
        calls: &mut dyn Iterator<Item = Result<(String, Vec<u8>)>>,
        parallel: usize,
        each: &mut dyn FnMut(usize, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        use futures_util::StreamExt;
        let (agent, canister) = (&self.agent, self.canister);
        let replies = futures_util::stream::iter(calls.enumerate())
            .map(|(index, call)| async move {
                let (method, arg) = call?;
                let reply = manage_retrying(agent, canister, &method, &arg, true).await?;
                Ok::<_, Error>((index, reply))
            })
            .buffer_unordered(parallel.max(1));
        self.runtime.block_on(async move {
            futures_util::pin_mut!(replies);
            while let Some(reply) = replies.next().await {
                let (index, reply) = reply?;
                each(index, reply)?;
            }
            Ok(())
        })
    }

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
            .map_err(|source| Error::system("cannot start the async runtime", source))?;
        let agent = ic_agent::Agent::builder()
            .with_url(url)
            .with_boxed_identity(identity)
            .build()
            .map_err(|error| Error::Network(format!("{url}: {error}")))?;
        match &network.root_key {
            RootKey::Mainnet => {}
            RootKey::Known(key) => agent.set_root_key(key.clone()),
            RootKey::Fetch => {
                runtime.block_on(agent.fetch_root_key()).map_err(|error| {
                    Error::Network(format!(
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

    fn agent_error(method: &str, error: ic_agent::AgentError) -> Error {
        match error {
            ic_agent::AgentError::CertifiedReject { reject, .. }
            | ic_agent::AgentError::UncertifiedReject { reject, .. } => Error::Rejected {
                method: method.to_string(),
                message: reject.reject_message,
            },
            other => Error::Network(format!("{method}: {other}")),
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
        Ok(self
            .metadata("candid:service")?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn module_hash(&mut self) -> Result<Option<[u8; 32]>> {
        let read = self
            .agent
            .read_state_canister_info(self.canister, "module_hash");
        match self.runtime.block_on(read) {
            Ok(bytes) => Ok(<[u8; 32]>::try_from(bytes.as_slice()).ok()),
            Err(ic_agent::AgentError::LookupPathAbsent(_)) => Ok(None),
            Err(error) => Err(Error::Network(format!("reading the module hash: {error}"))),
        }
    }

    fn metadata(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let read = self.agent.read_state_canister_metadata(self.canister, name);
        match self.runtime.block_on(read) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ic_agent::AgentError::LookupPathAbsent(_)) => Ok(None),
            Err(error) => Err(Error::Network(format!("reading {name}: {error}"))),
        }
    }
}
