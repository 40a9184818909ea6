//! Where commands send their calls: a live canister through ic-agent
//! ([`Live`], `live.rs`), or the canister's wasm over a stable memory image
//! in the embedded runner ([`Offline`], `offline.rs`). Here: the [`Target`]
//! trait the commands see, and the two ways of running chains of queries
//! (in waves offline, in flight live).

mod live;
mod offline;
#[cfg(test)]
mod tests;

pub use live::{Live, QUERY_ATTEMPTS};
pub use offline::{
    Folding, Offline, Operator, CHECKPOINT_EVERY_STEP_BYTES, CHECKPOINT_INTERVAL, WAL_FOLD_BYTES,
    WAL_FOLD_INTERVAL,
};

use crate::error::Result;
use crate::resume::TargetId;

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
    /// The module's metadata section `name` (`icp:public <name>` or
    /// `icp:private <name>`), if it has one.
    fn metadata(&mut self, name: &str) -> Result<Option<Vec<u8>>>;
    /// The SHA-256 of the canister's module, if it has one (live: from the
    /// state tree, which anyone may read).
    fn module_hash(&mut self) -> Result<Option<[u8; 32]>> {
        Ok(None)
    }
    /// The canister's stable memory, where the target holds it (offline):
    /// what its wasm reads, for readers that need no wasm.
    fn stable_memory(&self) -> Option<&[u8]> {
        None
    }
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
