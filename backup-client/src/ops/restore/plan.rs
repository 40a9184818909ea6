//! A file cut into batches under the call budget as it is read, and read
//! again one batch at a time to be checked by the canister and sent.

use super::*;
use crate::error::{Error, Result};
use crate::interface::{Interface, MapTypes};
use crate::json::{Codec, FieldMap, Format};
use crate::progress;
use crate::stream::{self, Flow};
use crate::target::Target;
use backup_runtime::limits::MAX_ENTRY_BYTES;
use candid::types::value::IDLValue;
use candid::types::Type;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use std::path::Path;

/// One batch as planned: how many entries, and the digest of their bytes,
/// so that a batch read again from the file is sent only if it is the one
/// that was checked.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Planned {
    pub(super) count: usize,
    pub(super) digest: [u8; 32],
}

/// Cuts the entries, as they are read, into batches of at most `budget`
/// bytes; an entry too large to share a batch travels alone, up to the
/// [`MAX_ENTRY_BYTES`] one restore call can carry (what backup pages keep
/// to). Keeps a 16-byte digest of each key, to find a key given twice.
pub(super) struct Planner<'a> {
    pub(super) encoder: &'a Encoder<'a>,
    pub(super) budget: usize,
    pub(super) batches: Vec<Planned>,
    pub(super) count: usize,
    pub(super) size: usize,
    pub(super) hasher: Sha256,
    pub(super) keys: Vec<(u128, u64)>,
    /// Each entry's key when it is a `nat64`: an index, for a structure
    /// that travels by index.
    pub(super) indices: Vec<u64>,
}

impl<'a> Planner<'a> {
    pub(super) fn new(encoder: &'a Encoder<'a>, budget: usize) -> Self {
        Planner {
            encoder,
            budget,
            batches: Vec::new(),
            count: 0,
            size: encoder.header.len() + 5,
            hasher: Sha256::new(),
            keys: Vec::new(),
            indices: Vec::new(),
        }
    }

    pub(super) fn cut(&mut self) {
        if self.count > 0 {
            self.batches.push(Planned {
                count: self.count,
                digest: self.hasher.finalize_reset().into(),
            });
        }
        self.count = 0;
        self.size = self.encoder.header.len() + 5;
    }

    /// The batches, and the first entry that repeats an earlier one's key
    /// with that earlier entry's index.
    pub(super) fn finish(mut self) -> (Vec<Planned>, Option<(u64, u64)>, Vec<u64>) {
        self.cut();
        self.keys.sort_unstable();
        let repeat = self
            .keys
            .chunk_by(|a, b| a.0 == b.0)
            .filter_map(|same| Some((same.get(1)?.1, same[0].1)))
            .min();
        (self.batches, repeat, self.indices)
    }
}

impl Sink for Planner<'_> {
    fn entry(&mut self, index: u64, entry: IDLValue) -> Result<()> {
        if let Some(IDLValue::Nat64(index)) = key_of(&entry) {
            self.indices.push(*index);
        }
        if let Some(key) = key_of(&entry) {
            // A digest of the key's Candid text: equal keys, equal texts.
            // Two keys of 128-bit digests alike are not expected in any file.
            let digest = Sha256::digest(key.to_string());
            let mut first = [0u8; 16];
            first.copy_from_slice(&digest[..16]);
            self.keys.push((u128::from_le_bytes(first), index));
        }
        let (bytes, entry) = self.encoder.entry(entry)?;
        let header = self.encoder.header.len();
        if header + 1 + bytes.len() > MAX_ENTRY_BYTES as usize {
            return Err(Error::Input(format!(
                "entry {index} (key {}) alone encodes to {} bytes, over the {MAX_ENTRY_BYTES} bytes one restore call can carry",
                key_text(self.encoder.interface, self.encoder.types, &entry),
                bytes.len()
            )));
        }
        if self.count > 0 && self.size + bytes.len() > self.budget {
            self.cut();
        }
        self.size += bytes.len();
        self.count += 1;
        self.hasher.update(&bytes);
        Ok(())
    }

    fn restart(&mut self) {
        self.batches.clear();
        self.keys.clear();
        self.indices.clear();
        self.hasher = Sha256::new();
        self.count = 0;
        self.size = self.encoder.header.len() + 5;
    }
}

/// What [`Plan::each_batch`] does with a batch: its index, its first
/// entry's index in the file, its entry count and its arguments.
pub(super) type SendBatch<'a> = dyn FnMut(usize, u64, usize, &[u8]) -> Result<Flow> + 'a;

/// A backup file read whole and checked, cut into batches that are read
/// again from the disk, one at a time, to be sent.
pub(super) struct Plan<'a> {
    pub(super) interface: &'a Interface,
    pub(super) types: &'a MapTypes,
    pub(super) map: &'a str,
    pub(super) input: &'a Path,
    pub(super) entry_type: Type,
    pub(super) encoder: &'a Encoder<'a>,
    pub(super) reading: Reading,
    pub(super) batches: Vec<Planned>,
    /// The first entry that repeats an earlier entry's key, and that entry.
    pub(super) repeat: Option<(u64, u64)>,
    /// The entries' keys, when they are `nat64` indices.
    pub(super) indices: Vec<u64>,
    /// How the file's records meet the map's types (`--rename`, `--drop-field`).
    pub(super) fields: FieldMap,
}

impl<'a> Plan<'a> {
    /// Reads and checks the whole file: every entry in the map's types and
    /// within what one restore call can carry.
    pub(super) fn new(
        encoder: &'a Encoder<'a>,
        map: &'a str,
        input: &'a Path,
        format: Option<Format>,
        fields: &FieldMap,
        budget: usize,
        json: bool,
    ) -> Result<Self> {
        let (interface, types) = (encoder.interface, encoder.types);
        let size = std::fs::metadata(input).ok().map(|metadata| metadata.len());
        let bar = progress::bar(size, &format!("read {}", input.display()), true, json);
        let mut planner = Planner::new(encoder, budget);
        let reading = read_with(interface, types, input, format, fields, &bar, &mut planner)?;
        bar.finish_and_clear();
        let (batches, repeat, indices) = planner.finish();
        Ok(Plan {
            interface,
            types,
            map,
            input,
            entry_type: entry_type(interface, types)?,
            encoder,
            reading,
            batches,
            repeat,
            indices,
            fields: fields.clone(),
        })
    }

    /// A codec that reads the file's entries as the plan read them.
    fn codec(&self) -> Codec<'a> {
        Codec::adapting(&self.interface.env, self.reading.format, &self.fields)
    }

    /// Refuses a file that names a key twice: restoring it would report more
    /// entries than it stores, and which value wins would depend on batching.
    pub(super) fn check_unique_keys(&self) -> Result<()> {
        match self.repeat {
            None => Ok(()),
            Some((entry, first)) => Err(Error::Input(format!(
                "{}: entry {entry} (key {}) repeats the key of entry {first}; each key may appear once. Nothing was sent",
                self.input.display(),
                self.key_text(entry).unwrap_or_else(|| "?".into())
            ))),
        }
    }

    /// The key of the file's entry `index`, read again, for messages.
    pub(super) fn key_text(&self, index: u64) -> Option<String> {
        let codec = self.codec();
        let mut text = None;
        let hidden = ProgressBar::hidden();
        let _ = stream::walk(self.input, index, &hidden, &mut |_, _, entry| {
            text = codec
                .from_json(&self.entry_type, &entry, "")
                .ok()
                .map(|entry| key_text(self.interface, self.types, &entry));
            Ok(Flow::Stop)
        });
        text
    }

    /// Reads the batches from `from` on again, and hands `send` each one's
    /// index, first entry's index in the file, entry count and arguments,
    /// until `send` stops. A batch is handed only if it is exactly the one
    /// planned (the file may have changed since). Whether every batch was.
    pub(super) fn each_batch(&self, from: usize, send: &mut SendBatch<'_>) -> Result<bool> {
        let changed = |why: String| {
            Error::Input(format!(
                "{}: the file changed after it was checked ({why}); nothing more was sent. Run the command again",
                self.input.display()
            ))
        };
        let skip = self.batches[..from.min(self.batches.len())]
            .iter()
            .map(|batch| batch.count as u64)
            .sum();
        let codec = self.codec();
        let (mut batch, mut first, mut count) = (from, skip, 0usize);
        let mut bytes = Vec::new();
        let mut hasher = Sha256::new();
        let hidden = ProgressBar::hidden();
        let walked = stream::walk(self.input, skip, &hidden, &mut |_, i, entry| {
            let Some(planned) = self.batches.get(batch) else {
                return Err(changed(format!("entry {i} is new")));
            };
            let entry = codec
                .from_json(&self.entry_type, &entry, &format!("entry {i}"))
                .map_err(|error| changed(error.to_string()))?;
            let (entry, _) = self.encoder.entry(entry)?;
            hasher.update(&entry);
            bytes.extend_from_slice(&entry);
            count += 1;
            if count < planned.count {
                return Ok(Flow::Next);
            }
            if <[u8; 32]>::from(hasher.finalize_reset()) != planned.digest {
                return Err(changed(format!("batch {batch} is not the one checked")));
            }
            let flow = send(batch, first, count, &self.encoder.batch(count, &bytes))?;
            bytes.clear();
            (batch, first, count) = (batch + 1, first + count as u64, 0);
            Ok(flow)
        })?;
        match walked {
            None => Ok(false),
            Some(_) if batch == self.batches.len() => Ok(true),
            Some(walked) => Err(changed(format!("it ends after {} entries", walked.entries))),
        }
    }

    /// `error`, with what it may mean when the canister ran out of stack
    /// decoding the batch of entries `first..first + count`.
    pub(super) fn out_of_stack(&self, error: Error, first: u64, count: usize) -> Error {
        match error {
            Error::Rejected { method, message }
                if STACK_TRAPS.iter().any(|trap| message.contains(trap)) =>
            {
                Error::Rejected {
                    method,
                    message: format!(
                        "{message}, checking entries {first} to {} of {}; nothing was written. If a value there is nested deeply (a list kept as nested options, say), the canister ran out of stack decoding it: its own code could not read that value either (its `get` would trap the same way), so it cannot be restored into the canister as built. A canister built with a larger wasm stack (for example `-C link-arg=-zstack-size=8388608`; Rust's default is 1 MiB) can hold it",
                        first + count.saturating_sub(1) as u64,
                        self.input.display()
                    ),
                }
            }
            other => other,
        }
    }

    /// Asks the canister to check every batch (`validate_<map>`, a query that
    /// writes nothing), so that a file it would refuse is refused before
    /// anything is written. Errors name the entry's index in the file and its key.
    pub(super) fn validate(&self, target: &mut dyn Target, json: bool) -> Result<()> {
        let method = format!("validate_{}", self.map);
        let bar = progress::bar(
            Some(self.reading.entries),
            &format!("check {}", self.map),
            false,
            json,
        );
        self.each_batch(0, &mut |_, first, count, arg| {
            let reply = target
                .query(&method, arg)
                .map_err(|error| self.out_of_stack(error, first, count))?;
            let answer: std::result::Result<u64, String> = candid::decode_one(&reply)
                .map_err(Error::candid(format!("the reply of `{method}`")))?;
            match answer {
                Ok(n) if n == count as u64 => {}
                Ok(n) => {
                    return Err(Error::Rejected {
                        method: method.clone(),
                        message: format!("expected {count} entries checked, the canister says {n}"),
                    })
                }
                Err(message) => {
                    bar.abandon();
                    let located = entry_index(&message).and_then(|(index, rest)| {
                        let entry = first + index as u64;
                        Some(format!(
                            "{}: entry {entry} (key {}){rest}",
                            self.input.display(),
                            self.key_text(entry)?,
                        ))
                    });
                    return Err(Error::Rejected {
                        method: method.clone(),
                        message: located.unwrap_or(message),
                    });
                }
            }
            bar.set_position(first + count as u64);
            Ok(Flow::Next)
        })?;
        bar.finish_and_clear();
        Ok(())
    }
}
