//! The canister's log, as `fetch_canister_logs` gives it: what its updates
//! printed (`ic0.debug_print`) and how they trapped (`[TRAP]: ...`), each
//! record numbered and timed, the oldest dropped past the log's size limit
//! (the `log_memory_limit` setting).

use ic_management_canister_types::{CanisterLogFilter, CanisterLogRecord};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The records kept, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanisterLog {
    records: VecDeque<CanisterLogRecord>,
    /// The index the next record gets: indices keep counting when records
    /// are dropped.
    next_idx: u64,
    /// The bytes of the records' contents.
    bytes: u64,
    /// Every record below this index is gone (a reinstall or an uninstall
    /// emptied the log).
    #[serde(default)]
    cleared_below: u64,
}

impl CanisterLog {
    /// Appends `content`, printed at `time`; drops the oldest records while
    /// the contents are over `limit` bytes.
    pub fn push(&mut self, time: u64, content: Vec<u8>, limit: u64) {
        self.bytes += content.len() as u64;
        self.records.push_back(CanisterLogRecord {
            idx: self.next_idx,
            timestamp_nanos: time,
            content,
        });
        self.next_idx += 1;
        self.trim(limit);
    }

    /// Appends records kept elsewhere (a log's notes), in order, those
    /// already here skipped; then trims to `limit`.
    pub fn extend(&mut self, records: Vec<CanisterLogRecord>, limit: u64) {
        for record in records {
            if record.idx < self.next_idx {
                continue;
            }
            self.next_idx = record.idx + 1;
            self.bytes += record.content.len() as u64;
            self.records.push_back(record);
        }
        self.trim(limit);
    }

    fn trim(&mut self, limit: u64) {
        while self.bytes > limit {
            match self.records.pop_front() {
                Some(oldest) => self.bytes -= oldest.content.len() as u64,
                None => break,
            }
        }
    }

    /// The records from index `from` on (those still kept).
    pub fn since(&self, from: u64) -> Vec<CanisterLogRecord> {
        self.records
            .iter()
            .filter(|record| record.idx >= from)
            .cloned()
            .collect()
    }

    /// The index the next record gets.
    pub fn next_idx(&self) -> u64 {
        self.next_idx
    }

    /// The records `filter` selects (all without one).
    pub fn fetch(&self, filter: Option<&CanisterLogFilter>) -> Vec<CanisterLogRecord> {
        let wanted = |record: &CanisterLogRecord| match filter {
            None => true,
            Some(CanisterLogFilter::ByIdx { start, end }) => (*start..*end).contains(&record.idx),
            Some(CanisterLogFilter::ByTimestampNanos { start, end }) => {
                (*start..*end).contains(&record.timestamp_nanos)
            }
        };
        self.records.iter().filter(|r| wanted(r)).cloned().collect()
    }

    /// The bytes of the records kept.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Drops every record (a reinstall, an uninstall); the indices keep
    /// counting.
    pub fn clear(&mut self) {
        self.clear_below(self.next_idx);
    }

    /// Drops the records below index `idx` (a clear kept elsewhere).
    pub fn clear_below(&mut self, idx: u64) {
        self.cleared_below = self.cleared_below.max(idx);
        self.next_idx = self.next_idx.max(idx);
        while self
            .records
            .front()
            .is_some_and(|record| record.idx < self.cleared_below)
        {
            if let Some(record) = self.records.pop_front() {
                self.bytes -= record.content.len() as u64;
            }
        }
    }

    /// The index below which a clear dropped every record.
    pub fn cleared_below(&self) -> u64 {
        self.cleared_below
    }
}
