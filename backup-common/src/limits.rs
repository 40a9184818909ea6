//! The Internet Computer's limits on one message.

/// One wasm page of memory.
pub const WASM_PAGE_SIZE: u64 = 64 * 1024;

/// Largest argument of an ingress message.
pub const INGRESS_LIMIT: usize = 2 * 1024 * 1024;
/// Largest reply of an update call (and of a query called as an update).
pub const UPDATE_REPLY_LIMIT: usize = 2 * 1024 * 1024;
/// Largest reply of a query call.
pub const QUERY_REPLY_LIMIT: usize = 3 * 1024 * 1024;

/// Instructions a query may execute.
pub const QUERY_INSTRUCTION_LIMIT: u64 = 5_000_000_000;
/// Instructions an update may execute.
pub const UPDATE_INSTRUCTION_LIMIT: u64 = 40_000_000_000;
/// Instructions an install or upgrade may execute.
pub const UPGRADE_INSTRUCTION_LIMIT: u64 = 300_000_000_000;

/// Stable memory a query may read or write, in bytes (the IC counts 4 KiB pages).
pub const QUERY_STABLE_ACCESS: u64 = 1 << 30;
/// Stable memory an update (or a callback) may read, and may write, in bytes.
pub const UPDATE_STABLE_ACCESS: u64 = 2 << 30;
/// Stable memory an install or upgrade (all its hooks together) may read, and may write.
pub const UPGRADE_STABLE_ACCESS: u64 = 8 << 30;
/// The page the IC counts stable memory accesses in.
pub const OS_PAGE_SIZE: u64 = 4096;
