//! Entries encoded one at a time into `restore_<map>` arguments.

use crate::error::{Error, Result};
use crate::interface::{Interface, MapTypes};
use candid::types::value::IDLValue;
use candid::IDLArgs;

/// Entries encoded one at a time into `restore_<map>` arguments: a batch is
/// the arguments' header, the entry count, then each entry's bytes, which is
/// what encoding the batch's values at once writes.
pub(super) struct Encoder<'a> {
    pub(super) interface: &'a Interface,
    pub(super) types: &'a MapTypes,
    pub(super) header: Vec<u8>,
}

impl<'a> Encoder<'a> {
    pub(super) fn new(interface: &'a Interface, types: &'a MapTypes) -> Result<Self> {
        let mut encoder = Encoder {
            interface,
            types,
            header: Vec::new(),
        };
        let mut empty = encoder.encode(IDLArgs::new(&[IDLValue::Vec(Vec::new())]))?;
        // An empty vector is its header and a zero count.
        if empty.pop() != Some(0) {
            return Err(Error::Input(
                "Candid: an empty batch does not end in its count".into(),
            ));
        }
        encoder.header = empty;
        Ok(encoder)
    }

    pub(super) fn encode(&self, args: IDLArgs) -> Result<Vec<u8>> {
        Ok(args.to_bytes_with_types(
            &self.interface.env,
            std::slice::from_ref(&self.types.entries),
        )?)
    }

    /// An entry's bytes within a batch, and the entry back.
    pub(super) fn entry(&self, entry: IDLValue) -> Result<(Vec<u8>, IDLValue)> {
        let args = IDLArgs {
            args: vec![IDLValue::Vec(vec![entry])],
        };
        let alone = self.encode(args.clone())?;
        let bytes = alone
            .strip_prefix(self.header.as_slice())
            .and_then(|rest| rest.strip_prefix(&[1]))
            .ok_or_else(|| Error::Input("Candid: an entry encoded under another header".into()))?
            .to_vec();
        let entry = match args.args.into_iter().next() {
            Some(IDLValue::Vec(mut one)) => one.pop(),
            _ => None,
        };
        Ok((bytes, entry.unwrap_or(IDLValue::Null)))
    }

    /// The arguments of a batch of `count` entries, whose bytes are `entries`.
    pub(super) fn batch(&self, count: usize, entries: &[u8]) -> Vec<u8> {
        let mut batch = Vec::with_capacity(self.header.len() + 10 + entries.len());
        batch.extend_from_slice(&self.header);
        backup_common::leb128::push(&mut batch, count as u64);
        batch.extend_from_slice(entries);
        batch
    }
}
