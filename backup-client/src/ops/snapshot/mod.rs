//! IC snapshots of a live canister, through its management canister, as
//! `ic-backup snapshot` runs them: take, list, delete and load; download
//! into and upload from the folder dfx and icp-cli write (`download`,
//! `upload`), many slices in flight, streamed to and from disk, resumed
//! after any interruption, and verified. Every method is for the canister's
//! controllers (listing and reading also for whom `snapshot_visibility`
//! names).

pub mod consistent;
mod download;
mod folder;
mod upload;

pub use download::{download, Parts, PROGRESS as DOWNLOAD_PROGRESS};
pub use upload::upload;

use crate::error::{Error, Result};
use crate::target::Live;
use candid::{CandidType, Principal};
use ic_management_canister_types::Snapshot;

/// The longest slice read from or written to a snapshot in one call: the
/// IC's limit for reads, and what fits an ingress message for writes.
pub const SLICE: u64 = 2_000_000;

/// Where management calls go: the live canister (a test may stand in).
pub trait Management {
    /// The management canister's `method` about the canister; `retry`: tried
    /// again on transient failures (a call that may run twice).
    fn manage(&mut self, method: &str, arg: &[u8], retry: bool) -> Result<Vec<u8>>;
    /// Calls that may run twice, up to `parallel` in flight; each reply to
    /// `each` with its call's index, as they come.
    fn manage_many(
        &mut self,
        calls: &mut dyn Iterator<Item = Result<(String, Vec<u8>)>>,
        parallel: usize,
        each: &mut dyn FnMut(usize, Vec<u8>) -> Result<()>,
    ) -> Result<()>;
    /// The canister.
    fn canister(&self) -> Principal;
    /// The network's URL, which resume state is bound to.
    fn network(&self) -> String;
}

impl Management for Live {
    fn manage(&mut self, method: &str, arg: &[u8], retry: bool) -> Result<Vec<u8>> {
        Live::manage(self, method, arg, retry)
    }

    fn manage_many(
        &mut self,
        calls: &mut dyn Iterator<Item = Result<(String, Vec<u8>)>>,
        parallel: usize,
        each: &mut dyn FnMut(usize, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        Live::manage_many(self, calls, parallel, each)
    }

    fn canister(&self) -> Principal {
        self.canister_id()
    }

    fn network(&self) -> String {
        self.url().to_string()
    }
}

/// A snapshot id as dfx and icp-cli print it: hex.
pub fn show_id(id: &[u8]) -> String {
    hex::encode(id)
}

/// A snapshot id as dfx and icp-cli print it (hex), read.
pub fn parse_id(text: &str) -> Result<Vec<u8>> {
    hex::decode(text.trim()).map_err(|error| {
        Error::Input(format!(
            "expected a snapshot id in hex (as `ic-backup snapshot list` prints it), found `{text}`: {error}"
        ))
    })
}

/// The encoded argument of a management call.
pub(crate) fn encode(value: impl CandidType) -> Result<Vec<u8>> {
    candid::encode_one(value)
        .map_err(|error| Error::Input(format!("encoding an argument: {error}")))
}

/// The decoded reply of a management call.
pub(crate) fn decode<T: for<'de> serde::Deserialize<'de> + CandidType>(
    method: &str,
    reply: &[u8],
) -> Result<T> {
    candid::decode_one(reply).map_err(|error| Error::Candid {
        context: format!("the reply of {method}"),
        source: error,
    })
}

/// `method(arg)`, its refusal told with what to do about it.
pub(crate) fn call(
    management: &mut dyn Management,
    method: &str,
    arg: impl CandidType,
    retry: bool,
) -> Result<Vec<u8>> {
    let arg = encode(arg)?;
    management
        .manage(method, &arg, retry)
        .map_err(|error| explain(management.canister(), error))
}

/// A refusal of the management canister, with what to do about it.
fn explain(canister: Principal, error: Error) -> Error {
    let Error::Rejected { method, message } = error else {
        return error;
    };
    let hint = if message.contains("IC0512") || message.contains("Only controllers") {
        format!(
            "; snapshots are for the controllers of {canister}: run as one (--identity), or, as an admin of the canister, back up with the paged `backup` (not --consistent)"
        )
    } else if message.contains("maximum number of snapshots") {
        "; `--replace <id>` takes the new snapshot in place of one that `ic-backup snapshot list` shows, or `ic-backup snapshot delete <id>` makes room".to_string()
    } else {
        String::new()
    };
    Error::Rejected {
        method,
        message: format!("{message}{hint}"),
    }
}

#[derive(CandidType)]
struct CanisterIdArg {
    canister_id: Principal,
}

#[derive(CandidType)]
struct SnapshotArg<'a> {
    canister_id: Principal,
    snapshot_id: &'a serde_bytes::Bytes,
}

/// Takes a snapshot (in place of `replace`, if given).
pub fn take(management: &mut dyn Management, replace: Option<&[u8]>) -> Result<Snapshot> {
    let arg = ic_management_canister_types::TakeCanisterSnapshotArgs {
        canister_id: management.canister(),
        replace_snapshot: replace.map(<[u8]>::to_vec),
        uninstall_code: None,
        sender_canister_version: None,
    };
    let reply = call(management, "take_canister_snapshot", arg, false)?;
    decode("take_canister_snapshot", &reply)
}

/// The canister's snapshots, oldest first.
pub fn list(management: &mut dyn Management) -> Result<Vec<Snapshot>> {
    let arg = CanisterIdArg {
        canister_id: management.canister(),
    };
    let reply = call(management, "list_canister_snapshots", arg, true)?;
    decode("list_canister_snapshots", &reply)
}

/// Deletes snapshot `id`.
pub fn delete(management: &mut dyn Management, id: &[u8]) -> Result<()> {
    let arg = SnapshotArg {
        canister_id: management.canister(),
        snapshot_id: serde_bytes::Bytes::new(id),
    };
    call(management, "delete_canister_snapshot", arg, false).map(drop)
}

/// Loads snapshot `id` onto the canister.
pub fn load(management: &mut dyn Management, id: &[u8]) -> Result<()> {
    let arg = ic_management_canister_types::LoadCanisterSnapshotArgs {
        canister_id: management.canister(),
        snapshot_id: id.to_vec(),
        sender_canister_version: None,
    };
    call(management, "load_canister_snapshot", arg, false).map(drop)
}

/// Stops the canister (it is stopped when this returns: its outstanding
/// calls finished).
pub fn stop(management: &mut dyn Management) -> Result<()> {
    let arg = CanisterIdArg {
        canister_id: management.canister(),
    };
    call(management, "stop_canister", arg, true).map(drop)
}

/// Starts the canister.
pub fn start(management: &mut dyn Management) -> Result<()> {
    let arg = CanisterIdArg {
        canister_id: management.canister(),
    };
    call(management, "start_canister", arg, true).map(drop)
}

/// Runs `work` on the stopped canister: stopped first, started again after,
/// whatever `work` did. A failure to start again is reported after
/// `work`'s own.
pub fn while_stopped<T>(
    management: &mut dyn Management,
    work: impl FnOnce(&mut dyn Management) -> Result<T>,
) -> Result<T> {
    stop(management)?;
    let result = work(management);
    let started = start(management).map_err(|error| {
        Error::Input(format!(
            "the canister {} was stopped for the snapshot and could not be started again ({error}): `icp canister start {}` (or dfx's) starts it",
            management.canister(),
            management.canister()
        ))
    });
    match (result, started) {
        (Ok(value), Ok(())) => Ok(value),
        (Err(error), Ok(())) => Err(error),
        (Ok(_), Err(error)) => Err(error),
        (Err(error), Err(not_started)) => {
            crate::messages::notice(false, &format!("error: {not_started}"));
            Err(error)
        }
    }
}

/// The canister's metadata of snapshot `id`.
pub(crate) fn metadata(
    management: &mut dyn Management,
    id: &[u8],
) -> Result<ic_management_canister_types::ReadCanisterSnapshotMetadataResult> {
    let arg = SnapshotArg {
        canister_id: management.canister(),
        snapshot_id: serde_bytes::Bytes::new(id),
    };
    let reply = call(management, "read_canister_snapshot_metadata", arg, true)?;
    decode("read_canister_snapshot_metadata", &reply)
}
