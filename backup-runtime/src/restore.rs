//! Restoring a batch of entries: all of it, or nothing.

use crate::key::KeyCodec;
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{Memory, StableBTreeMap, Storable};
use std::fmt;

/// Why a restore batch was refused. Nothing was inserted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// The key of entry `index` (0-based) did not convert to a map key.
    BadKey { index: usize, error: String },
    /// The key or value of entry `index` is larger than its `Storable` bound.
    OverBound {
        index: usize,
        part: &'static str,
        bytes: usize,
        max: u32,
    },
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::BadKey { index, error } => {
                write!(f, "entry {index}: {error}; nothing was restored")
            }
            RestoreError::OverBound { index, part, bytes, max } => write!(
                f,
                "entry {index}: expected a {part} of at most {max} bytes (its Storable bound), found {bytes}; nothing was restored"
            ),
        }
    }
}

impl std::error::Error for RestoreError {}

fn check_bound<T: Storable>(
    value: &T,
    index: usize,
    part: &'static str,
) -> Result<(), RestoreError> {
    if let Bound::Bounded { max_size, .. } = T::BOUND {
        let bytes = value.to_bytes().len();
        if bytes > max_size as usize {
            return Err(RestoreError::OverBound {
                index,
                part,
                bytes,
                max: max_size,
            });
        }
    }
    Ok(())
}

/// Inserts every entry of `batch` into `map` (overwriting existing keys) and
/// returns how many were inserted, after checking every entry first: on an
/// error the map is untouched.
pub fn restore<K, V, M, C>(
    map: &mut StableBTreeMap<K, V, M>,
    batch: Vec<(C::Wire, V)>,
) -> Result<u64, RestoreError>
where
    K: Storable + Ord + Clone,
    V: Storable,
    M: Memory,
    C: KeyCodec<K>,
{
    let mut checked = Vec::with_capacity(batch.len());
    for (index, (wire, value)) in batch.into_iter().enumerate() {
        let key = C::from_wire(wire).map_err(|error| RestoreError::BadKey { index, error })?;
        check_bound(&key, index, "key")?;
        check_bound(&value, index, "value")?;
        checked.push((key, value));
    }
    let count = checked.len() as u64;
    for (key, value) in checked {
        map.insert(key, value);
    }
    Ok(count)
}

/// Removes every entry of `map` and returns how many there were.
pub fn clear<K, V, M>(map: &mut StableBTreeMap<K, V, M>) -> u64
where
    K: Storable + Ord + Clone,
    V: Storable,
    M: Memory,
{
    let len = map.len();
    map.clear_new();
    len
}
