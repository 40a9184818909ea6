//! Bytes held as pieces of 1 MiB, each named by its SHA-256: how a snapshot
//! keeps its module, heap and stable memory. Whoever keeps a snapshot on
//! disk keeps each piece once by its name (a zero-filled upload is one
//! piece, however long), and an upload into a snapshot changes, and names
//! anew, only the pieces it writes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The length of a piece; the last may be shorter.
pub const PIECE: usize = 1 << 20;

#[derive(Clone)]
struct Piece {
    hash: Hash,
    bytes: Arc<[u8]>,
}

impl Piece {
    fn new(bytes: Arc<[u8]>) -> Piece {
        Piece {
            hash: Sha256::digest(&bytes).into(),
            bytes,
        }
    }

    /// A piece of `len` zero bytes (a whole one is shared).
    fn zero(len: usize) -> Piece {
        static WHOLE: OnceLock<Piece> = OnceLock::new();
        if len == PIECE {
            WHOLE
                .get_or_init(|| Piece::new(vec![0; PIECE].into()))
                .clone()
        } else {
            Piece::new(vec![0; len].into())
        }
    }
}

/// Bytes as pieces.
#[derive(Clone, Default)]
pub struct Pieces {
    len: u64,
    pieces: Vec<Piece>,
}

/// What names a snapshot's module, heap or stable memory: its length and
/// its 1 MiB pieces' SHA-256, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiecesRecord {
    pub len: u64,
    pub pieces: Vec<Hash>,
}

impl Pieces {
    pub fn from_bytes(bytes: &[u8]) -> Pieces {
        Pieces {
            len: bytes.len() as u64,
            pieces: bytes
                .chunks(PIECE)
                .map(|piece| Piece::new(piece.into()))
                .collect(),
        }
    }

    /// `len` zero bytes.
    pub fn zeroed(len: u64) -> Pieces {
        let mut pieces = Vec::new();
        let mut left = len;
        while left > 0 {
            let this = left.min(PIECE as u64);
            pieces.push(Piece::zero(this as usize));
            left -= this;
        }
        Pieces { len, pieces }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The bytes whole.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len as usize);
        for piece in &self.pieces {
            bytes.extend_from_slice(&piece.bytes);
        }
        bytes
    }

    /// `size` bytes from `offset`; `None` past the end.
    pub fn read(&self, offset: u64, size: u64) -> Option<Vec<u8>> {
        let end = offset.checked_add(size).filter(|&end| end <= self.len)?;
        let mut bytes = Vec::with_capacity(size as usize);
        let mut at = offset;
        while at < end {
            let piece = &self.pieces[(at / PIECE as u64) as usize];
            let start = (at % PIECE as u64) as usize;
            let take = ((end - at) as usize).min(piece.bytes.len() - start);
            bytes.extend_from_slice(&piece.bytes[start..start + take]);
            at += take as u64;
        }
        Some(bytes)
    }

    /// Writes `data` at `offset`: the pieces it touches are copied,
    /// changed and named anew. `None`, changing nothing, past the end.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Option<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.len)?;
        let mut at = offset;
        while at < end {
            let index = (at / PIECE as u64) as usize;
            let piece = &self.pieces[index];
            let start = (at % PIECE as u64) as usize;
            let take = ((end - at) as usize).min(piece.bytes.len() - start);
            let mut bytes = piece.bytes.to_vec();
            let from = (at - offset) as usize;
            bytes[start..start + take].copy_from_slice(&data[from..from + take]);
            self.pieces[index] = Piece::new(bytes.into());
            at += take as u64;
        }
        Some(())
    }

    /// The record that names them.
    pub fn record(&self) -> PiecesRecord {
        PiecesRecord {
            len: self.len,
            pieces: self.pieces.iter().map(|piece| piece.hash).collect(),
        }
    }

    /// Each piece with its hash.
    pub fn pieces(&self) -> impl Iterator<Item = (Hash, Arc<[u8]>)> + '_ {
        self.pieces
            .iter()
            .map(|piece| (piece.hash, piece.bytes.clone()))
    }

    /// The pieces `record` names, each from `blob`, checked against its
    /// place: every piece whole but the last.
    pub fn restore(
        record: &PiecesRecord,
        blob: &dyn Fn(&Hash) -> Result<Vec<u8>, String>,
    ) -> Result<Pieces, String> {
        let mut pieces = Vec::with_capacity(record.pieces.len());
        let mut left = record.len;
        for hash in &record.pieces {
            let bytes = blob(hash)?;
            let expected = left.min(PIECE as u64);
            if bytes.len() as u64 != expected || expected == 0 {
                return Err(format!(
                    "a piece of {} bytes where {expected} were expected",
                    bytes.len()
                ));
            }
            left -= expected;
            pieces.push(Piece {
                hash: *hash,
                bytes: bytes.into(),
            });
        }
        if left != 0 {
            return Err(format!("{left} bytes missing from the pieces named"));
        }
        Ok(Pieces {
            len: record.len,
            pieces,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_read_and_write_across_their_edges() {
        let bytes: Vec<u8> = (0..(2 * PIECE + 10)).map(|i| i as u8).collect();
        let mut pieces = Pieces::from_bytes(&bytes);
        assert_eq!(pieces.to_vec(), bytes);
        assert_eq!(pieces.record().pieces.len(), 3);
        assert_eq!(
            pieces.read(PIECE as u64 - 2, 4).unwrap(),
            bytes[PIECE - 2..PIECE + 2]
        );
        assert!(pieces.read(bytes.len() as u64 - 1, 2).is_none());
        let before = pieces.record();
        pieces.write(PIECE as u64 - 1, &[9, 9]).unwrap();
        let after = pieces.record();
        assert_eq!(after.pieces[2], before.pieces[2]);
        assert_ne!(after.pieces[0], before.pieces[0]);
        assert!(pieces.write(bytes.len() as u64, &[1]).is_none());
        let zero = Pieces::zeroed(3 * PIECE as u64 + 1);
        let record = zero.record();
        assert_eq!(record.pieces[0], record.pieces[2]);
        let restored = Pieces::restore(&after, &|hash| {
            pieces
                .pieces()
                .find(|(h, _)| h == hash)
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or_else(|| "missing".to_string())
        })
        .unwrap();
        assert_eq!(restored.to_vec(), pieces.to_vec());
    }
}
