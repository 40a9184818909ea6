//! What can go wrong before a canister method even runs.

use std::fmt;

/// An error of the runner itself: the module, the image or the request. A
/// canister's own failures are [`Reject`](crate::Reject)s, not errors.
#[derive(Debug)]
pub enum RunnerError {
    /// The bytes are not a usable wasm module.
    BadModule(String),
    /// The module lacks something every canister has.
    MissingExport(String),
    /// The stable memory image cannot be used.
    BadImage(String),
    /// `canister_init`, `canister_pre_upgrade` or `canister_post_upgrade` failed;
    /// the canister is as it was before the install or upgrade.
    Lifecycle {
        stage: &'static str,
        message: String,
    },
    /// A file could not be read or written.
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for RunnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunnerError::BadModule(reason) => write!(f, "not a valid canister module: {reason}"),
            RunnerError::MissingExport(what) => {
                write!(f, "the canister module does not export {what}")
            }
            RunnerError::BadImage(reason) => {
                write!(f, "not a usable stable memory image: {reason}")
            }
            RunnerError::Lifecycle { stage, message } => {
                write!(f, "{stage} failed, nothing changed: {message}")
            }
            RunnerError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for RunnerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunnerError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
