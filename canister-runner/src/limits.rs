//! The IC's limits, as the runner enforces them: the defaults are the
//! figures of `backup-common`, which the runtime keeps under.

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
    /// Instructions for an install, or for a whole upgrade (its hooks
    /// together): 300 B.
    pub upgrade_instructions: u64,
    /// Stable memory one query may touch (read or write), and may write:
    /// 1 GiB each.
    pub query_stable_access: u64,
    /// Stable memory one update (or callback) may touch, and may write: 2 GiB each.
    pub update_stable_access: u64,
    /// Stable memory an install or a whole upgrade may touch, and may write: 8 GiB each.
    pub upgrade_stable_access: u64,
    /// Stable memory the runner lets a canister grow to, in 64 KiB pages.
    /// The IC allows 500 GiB; the runner keeps stable memory in RAM, so its
    /// default is 8 GiB.
    pub max_stable_pages: u64,
}

impl Default for Limits {
    fn default() -> Self {
        use backup_common::limits as ic;
        Limits {
            ingress_bytes: ic::INGRESS_LIMIT,
            update_reply_bytes: ic::UPDATE_REPLY_LIMIT,
            query_reply_bytes: ic::QUERY_REPLY_LIMIT,
            query_instructions: ic::QUERY_INSTRUCTION_LIMIT,
            update_instructions: ic::UPDATE_INSTRUCTION_LIMIT,
            upgrade_instructions: ic::UPGRADE_INSTRUCTION_LIMIT,
            query_stable_access: ic::QUERY_STABLE_ACCESS,
            update_stable_access: ic::UPDATE_STABLE_ACCESS,
            upgrade_stable_access: ic::UPGRADE_STABLE_ACCESS,
            max_stable_pages: 8 * 1024 * 1024 * 1024 / ic::WASM_PAGE_SIZE,
        }
    }
}

impl Limits {
    /// The IC's limits with no bound on instructions or on stable memory
    /// access, as canbench runs its benchmarks (some take 7 B
    /// instructions); sizes of arguments, replies and memory keep theirs.
    pub fn lifted() -> Limits {
        let unbounded = i64::MAX as u64;
        Limits {
            query_instructions: unbounded,
            update_instructions: unbounded,
            upgrade_instructions: unbounded,
            query_stable_access: unbounded,
            update_stable_access: unbounded,
            upgrade_stable_access: unbounded,
            ..Limits::default()
        }
    }
}
