// The club's types and their `Storable` encodings (Candid), shared by the
// derived build (`club`) and the build without the derive (`club-plain`),
// which includes this file.

use candid::{CandidType, Deserialize, Principal};
use ic_stable_structures::storable::{Bound, Storable};
use std::borrow::Cow;

/// The club's settings, kept in a `StableCell`.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub struct Config {
    pub name: String,
    pub max_members: u32,
    pub open: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "the club".into(),
            max_members: 1000,
            open: true,
        }
    }
}

/// A post on the board, kept in a `StableVec` (which holds bounded values).
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub struct Post {
    pub author: Principal,
    pub text: String,
    pub at_nanos: u64,
}

/// What happened, in the audit `StableLog`.
#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub enum Action {
    Joined,
    Left,
    Posted { index: u64 },
    Paid { amount: u64 },
    Scheduled { job: u64 },
    Configured,
}

#[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
pub struct Event {
    pub at_nanos: u64,
    pub actor: Principal,
    pub action: Action,
}

/// A job in the `StableMinHeap`, which pops the earliest `due_nanos` first
/// (then the lowest id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, CandidType, Deserialize)]
pub struct Job {
    pub due_nanos: u64,
    pub id: u64,
    pub task: String,
}

/// The largest post and job the bounded structures take, in bytes.
pub const MAX_POST_BYTES: u32 = 1024;
pub const MAX_JOB_BYTES: u32 = 256;

/// `Storable` through Candid, with the bound each structure needs.
macro_rules! candid_storable {
    ($($ty:ty => $bound:expr),* $(,)?) => {$(
        impl Storable for $ty {
            fn to_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(candid::encode_one(self).expect("a club value always encodes"))
            }

            fn into_bytes(self) -> Vec<u8> {
                candid::encode_one(&self).expect("a club value always encodes")
            }

            fn from_bytes(bytes: Cow<[u8]>) -> Self {
                candid::decode_one(&bytes).expect("stable memory holds a valid club value")
            }

            const BOUND: Bound = $bound;
        }
    )*};
}

candid_storable!(
    Config => Bound::Unbounded,
    Post => Bound::Bounded { max_size: MAX_POST_BYTES, is_fixed_size: false },
    Event => Bound::Unbounded,
    Job => Bound::Bounded { max_size: MAX_JOB_BYTES, is_fixed_size: false },
);
