//! What `serve` keeps beside an image besides the canister's memory
//! (`<image>.subnet`, CBOR, readable by its owner only): the subnet's keys,
//! so that clients configured with its root key keep working across
//! restarts, the calls it ran while the IC would remember them, so that a
//! signed call sent again is answered from its status, never run twice,
//! and what management calls changed of the canister (its controllers,
//! settings, status, version and history).
//!
//! Between folds, each call's record travels in the write-ahead log as the
//! note of its record (with the canister's record, when the call changed
//! it); whoever replays a log merges them here before the log is removed.

use crate::durable;
use crate::error::{Error, Result};
use canister_runner::{CanisterLog, CanisterLogRecord, CanisterRecord};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How long a call is remembered after it ran, as on the IC: the longest
/// ingress expiry (5 minutes) and the permitted clock drift (1 minute).
/// Its id is kept that long, so that it never runs twice.
pub const RETENTION_NANOS: u64 = 5 * 60 * 1_000_000_000 + 60 * 1_000_000_000;

/// The bytes of replies and reject messages kept at most: past it the
/// oldest statuses are pruned to `done` (the id kept, its answer dropped),
/// as the IC prunes its ingress history.
pub const STATUS_BYTES: usize = 32 << 20;

/// How many calls are remembered at most: past it, new calls are refused
/// until old ones expire (their ids cannot be forgotten earlier).
pub const MAX_CALLS: usize = 100_000;

/// Nanoseconds since 1970 by the system clock: the served subnet's time.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

/// The file of `image`.
pub fn path_of(image: &Path) -> PathBuf {
    durable::with_suffix(image, ".subnet")
}

/// What became of a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Replied(#[serde(with = "serde_bytes")] Vec<u8>),
    Rejected {
        code: u64,
        message: String,
        error_code: Option<String>,
    },
    /// Its answer was pruned: it ran, and will not run again.
    Done,
}

impl Outcome {
    /// The bytes it holds.
    pub fn size(&self) -> usize {
        match self {
            Outcome::Replied(reply) => reply.len(),
            Outcome::Rejected {
                message,
                error_code,
                ..
            } => message.len() + error_code.as_ref().map_or(0, String::len),
            Outcome::Done => 0,
        }
    }
}

/// A call that ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub sender: Vec<u8>,
    /// When it ran, in nanoseconds since 1970.
    pub done_at: u64,
    pub outcome: Outcome,
    /// The canister's record after the call, in the note of a management
    /// call that changed it (settings, stopping, starting); the file keeps
    /// the latest once, as [`Subnet::canister`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canister: Option<Box<CanisterRecord>>,
    /// The records the call added to the canister's log, in the note; the
    /// file keeps the log once, as [`Subnet::log`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logged: Vec<CanisterLogRecord>,
    /// The call emptied the canister's log (a reinstall, an uninstall)
    /// before it logged `logged`: every record below this index is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_cleared: Option<u64>,
}

impl CallRecord {
    /// The note of its write-ahead log record.
    pub fn note(&self) -> Vec<u8> {
        serde_cbor::to_vec(self).unwrap_or_default()
    }

    pub fn expired(&self, now: u64) -> bool {
        self.done_at.saturating_add(RETENTION_NANOS) < now
    }
}

/// The file's contents.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Subnet {
    /// The root key's and the node key's secret scalars, if drawn.
    pub keys: Option<Keys>,
    /// The calls remembered, oldest first.
    pub calls: Vec<CallRecord>,
    /// What the management canister keeps of the canister (controllers,
    /// settings, running or stopped, version, history), once a management
    /// call changed it; until then the command line says.
    #[serde(default)]
    pub canister: Option<CanisterRecord>,
    /// The canister's log (`fetch_canister_logs`).
    #[serde(default)]
    pub log: Option<CanisterLog>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Keys {
    #[serde(with = "serde_bytes")]
    pub root: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub node: Vec<u8>,
}

impl Subnet {
    /// The file of `image`; empty when there is none.
    pub fn load(image: &Path) -> Result<Subnet> {
        let path = path_of(image);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Subnet::default())
            }
            Err(source) => return Err(Error::io(&path, source)),
        };
        serde_cbor::from_slice(&bytes).map_err(|error| {
            Error::Input(format!(
                "{}: expected the keys and recent calls `ic-backup serve` keeps beside the image, found a file that does not read as them ({error}); move it away to start a new subnet (new keys; calls already run could then run again)",
                path.display()
            ))
        })
    }

    /// Writes the file atomically, readable by its owner only (it holds
    /// the subnet's secret keys).
    pub fn save(&self, image: &Path) -> Result<()> {
        let path = path_of(image);
        let bytes = serde_cbor::to_vec(self)
            .map_err(|error| Error::Input(format!("{}: {error}", path.display())))?;
        durable::write_private(&path, &bytes)
    }

    /// Adds the calls `notes` record (a replayed log's), drops those
    /// expired at `now` and prunes the answers past [`STATUS_BYTES`].
    pub fn merge(&mut self, notes: &[Vec<u8>], now: u64) {
        let mut known: std::collections::HashSet<Vec<u8>> =
            self.calls.iter().map(|call| call.id.clone()).collect();
        for note in notes {
            let Ok(mut record) = serde_cbor::from_slice::<CallRecord>(note) else {
                continue;
            };
            // Notes are in the log's order: the last record is the canister's.
            if let Some(canister) = record.canister.take() {
                self.canister = Some(*canister);
            }
            if let Some(below) = record.log_cleared {
                self.log
                    .get_or_insert_with(CanisterLog::default)
                    .clear_below(below);
            }
            let logged = std::mem::take(&mut record.logged);
            if !logged.is_empty() {
                let limit = self.canister.as_ref().map_or_else(
                    || canister_runner::Settings::default().log_limit(),
                    |canister| canister.settings.log_limit(),
                );
                self.log
                    .get_or_insert_with(CanisterLog::default)
                    .extend(logged, limit);
            }
            if known.insert(record.id.clone()) {
                self.calls.push(record);
            }
        }
        self.calls.sort_by_key(|call| call.done_at);
        self.calls.retain(|call| !call.expired(now));
        let mut total = self.calls.iter().map(|call| call.outcome.size()).sum();
        prune(&mut self.calls, &mut total, |_| {});
    }
}

/// Prunes the oldest answers of `calls` (oldest first) to `done` while
/// `total`, the bytes of their answers, is over [`STATUS_BYTES`]; keeps
/// `total` up to date; `pruned` hears of each call pruned.
pub fn prune<'a>(
    calls: impl IntoIterator<Item = &'a mut CallRecord>,
    total: &mut usize,
    mut pruned: impl FnMut(&CallRecord),
) {
    for call in calls {
        if *total <= STATUS_BYTES {
            break;
        }
        if call.outcome != Outcome::Done {
            *total -= call.outcome.size();
            call.outcome = Outcome::Done;
            pruned(call);
        }
    }
}

/// Merges the calls a replayed log's `notes` record into the file of
/// `image` (made durable before the log is removed).
pub fn keep_notes(image: &Path, notes: &[Vec<u8>], now: u64) -> Result<()> {
    if notes.is_empty() {
        return Ok(());
    }
    let mut subnet = Subnet::load(image)?;
    subnet.merge(notes, now);
    subnet.save(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: u8, done_at: u64, reply: usize) -> CallRecord {
        CallRecord {
            id: vec![id; 32],
            sender: vec![4],
            done_at,
            outcome: Outcome::Replied(vec![id; reply]),
            canister: None,
            logged: Vec::new(),
            log_cleared: None,
        }
    }

    /// A note may carry the canister's record (a management call changed
    /// it): the last one in the log is kept once, beside the calls, which
    /// are kept without it; notes written before records existed still read.
    #[test]
    fn the_last_canister_record_of_the_notes_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.bin");
        let now = 10 * RETENTION_NANOS;
        let record = |version| CanisterRecord {
            controllers: vec![candid::Principal::anonymous()],
            settings: canister_runner::Settings::default(),
            status: canister_runner::CanisterStatusType::Stopped,
            version,
            history: Vec::new(),
            module: Some([7; 32]),
            chunks: Vec::new(),
            snapshots: Vec::new(),
            next_snapshot: 0,
        };
        let mut first = call(1, now - 3, 10);
        first.canister = Some(Box::new(record(4)));
        let mut second = call(2, now - 2, 10);
        second.canister = Some(Box::new(record(5)));
        // A note as an older `serve` wrote it: no `canister` key.
        #[derive(Serialize)]
        struct Old {
            #[serde(with = "serde_bytes")]
            id: Vec<u8>,
            #[serde(with = "serde_bytes")]
            sender: Vec<u8>,
            done_at: u64,
            outcome: Outcome,
        }
        let old = serde_cbor::to_vec(&Old {
            id: vec![3; 32],
            sender: vec![4],
            done_at: now - 1,
            outcome: Outcome::Done,
        })
        .unwrap();
        keep_notes(&image, &[first.note(), second.note(), old], now).unwrap();
        let subnet = Subnet::load(&image).unwrap();
        assert_eq!(subnet.canister, Some(record(5)));
        let ids: Vec<u8> = subnet.calls.iter().map(|call| call.id[0]).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert!(subnet.calls.iter().all(|call| call.canister.is_none()));
    }

    #[test]
    fn merged_notes_are_kept_once_pruned_oldest_first_and_forgotten_when_expired() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.bin");
        let now = 10 * RETENTION_NANOS;
        let notes: Vec<Vec<u8>> = [
            call(1, now - RETENTION_NANOS - 1, 10),
            call(2, now - 5, STATUS_BYTES / 2),
            call(3, now - 4, STATUS_BYTES / 2),
            call(4, now - 3, 100),
            call(3, now - 4, STATUS_BYTES / 2),
        ]
        .iter()
        .map(CallRecord::note)
        .collect();
        keep_notes(&image, &notes, now).unwrap();
        let subnet = Subnet::load(&image).unwrap();
        let ids: Vec<u8> = subnet.calls.iter().map(|call| call.id[0]).collect();
        assert_eq!(ids, vec![2, 3, 4], "expired forgotten, each call once");
        assert_eq!(subnet.calls[0].outcome, Outcome::Done, "oldest pruned");
        assert!(matches!(subnet.calls[1].outcome, Outcome::Replied(_)));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path_of(&image))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only");
        std::fs::write(path_of(&image), b"not cbor").unwrap();
        let error = Subnet::load(&image).unwrap_err().to_string();
        assert!(error.contains("move it away"), "{error}");
    }
}
