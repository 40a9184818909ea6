//! The IC's limits, as the runner enforces them.

/// Limits enforced on every call. The defaults are the IC's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest argument of an ingress message: 2 MiB.
    pub ingress_bytes: usize,
    /// Largest reply of an update: 2 MiB.
    pub update_reply_bytes: usize,
    /// Largest reply of a query: 3 MiB.
    pub query_reply_bytes: usize,
    /// Instructions per query: 5 B.
    pub query_instructions: u64,
    /// Instructions per update: 40 B.
    pub update_instructions: u64,
    /// Instructions for install and for each upgrade step: 300 B.
    pub upgrade_instructions: u64,
    /// Stable memory the runner lets a canister grow to, in 64 KiB pages.
    /// The IC allows 500 GiB; the runner keeps stable memory in RAM, so its
    /// default is 8 GiB.
    pub max_stable_pages: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ingress_bytes: 2 * 1024 * 1024,
            update_reply_bytes: 2 * 1024 * 1024,
            query_reply_bytes: 3 * 1024 * 1024,
            query_instructions: 5_000_000_000,
            update_instructions: 40_000_000_000,
            upgrade_instructions: 300_000_000_000,
            max_stable_pages: 8 * 1024 * 1024 * 1024 / (64 * 1024),
        }
    }
}
