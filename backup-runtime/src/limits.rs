//! The Internet Computer's limits (defined once, in `backup-common`, which
//! the runner enforces too), and the budgets this crate keeps under them.
//!
//! A query method can also be called as an update (a replicated query), where
//! the reply limit is 2 MiB instead of 3 MiB; the default page budget fits both.

pub use backup_common::limits::{
    INGRESS_LIMIT, QUERY_INSTRUCTION_LIMIT, QUERY_REPLY_LIMIT, UPDATE_INSTRUCTION_LIMIT,
    UPDATE_REPLY_LIMIT, UPGRADE_INSTRUCTION_LIMIT, WASM_PAGE_SIZE,
};

/// Bytes of encoded entries a backup page carries unless the caller asks for
/// another budget: 1.5 MiB, under both reply limits with room for the header.
pub const DEFAULT_PAGE_BYTES: u64 = 1536 * 1024;
/// The largest budget a caller may ask for, and the largest single entry a
/// page can carry: 2.5 MiB, under the 3 MiB query reply limit.
pub const MAX_PAGE_BYTES: u64 = 2560 * 1024;
/// The largest restore argument that carries one entry: the 2 MiB ingress
/// limit less 64 KiB for the rest of the ingress message (method name,
/// sender, envelope). A backup page never carries an entry whose restore
/// argument (Candid header, count, entry) would be larger; it names its key
/// instead, so nothing is backed up that restore cannot take back.
pub const MAX_ENTRY_BYTES: u64 = INGRESS_LIMIT as u64 - 64 * 1024;
/// A page stops taking entries once the call has used this many instructions,
/// leaving the rest of the 5 B query limit for the entry in hand and the reply.
/// Measured in IC instructions (the runner counts as the IC does): the
/// largest entry a page carries (1.94 MiB) costs about 130 M to decode and
/// encode, and sending the largest reply (2.5 MiB, 50 instructions a byte)
/// 131 M, so a page ends under 4.3 B, more than 10% under the limit.
pub const PAGE_INSTRUCTIONS: u64 = 4_000_000_000;

/// The largest `stable_read`: fits an update reply (2 MiB) with its header.
pub const MAX_RAW_READ: u64 = 2 * 1024 * 1024 - 64 * 1024;
/// The largest range one `stable_digest` call hashes, so that SHA-256 stays
/// well under the query instruction limit: 16 MiB cost 1.29 B IC
/// instructions in the benchmarks (77 a byte), a quarter of the 5 B limit.
/// Twice the range would halve the digest calls of `load` and `verify` at
/// half the limit, but a client asking it of a canister built with this
/// limit would be refused, so the range stays.
pub const MAX_DIGEST_RANGE: u64 = 16 * 1024 * 1024;
/// The smallest digest block, so that the reply (32 bytes and a little framing
/// per block) stays far under the reply limit.
pub const MIN_DIGEST_BLOCK: u64 = 4 * 1024;

/// The most parts `backup_<name>_splits` cuts a map into.
pub const MAX_SPLITS: u64 = 4096;
/// The instructions `backup_<name>_splits` walks keys for before it replies
/// with where it stopped (a fifth of a query's 5 B).
pub const SPLIT_INSTRUCTIONS: u64 = 1_000_000_000;
