//! What a call gives back: its reply or reject, and what it cost. A leaf:
//! the canister and the management canister both answer in these terms.

/// Why the IC would reject a call, with its reject code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectCode {
    /// 1: the request itself is refused (for example over the ingress limit).
    SysFatal = 1,
    /// 3: no such method.
    DestinationInvalid = 3,
    /// 4: the canister rejected the call (`msg_reject`, or a guard).
    CanisterReject = 4,
    /// 5: the canister trapped, ran out of instructions, or did not reply.
    CanisterError = 5,
}

/// A refused call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub code: RejectCode,
    pub message: String,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rejected ({:?}): {}", self.code, self.message)
    }
}

impl std::error::Error for Reject {}

/// What one call cost, for benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Instructions executed, as the IC counts them (the counter the
    /// module is instrumented with).
    pub instructions: u64,
    /// Size of the argument.
    pub bytes_in: usize,
    /// Size of the reply (0 for a reject).
    pub bytes_out: usize,
}

/// The outcome of a call and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    pub result: Result<Vec<u8>, Reject>,
    pub stats: CallStats,
}
