//! Errors of the CLI: each says what was expected and what was found, and
//! maps to an exit code.

use std::fmt;
use std::path::Path;

pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum CliError {
    /// Bad input from the operator: arguments, files, identities.
    Input(String),
    /// The canister refused a call.
    Rejected { method: String, message: String },
    /// The network or the replica failed.
    Network(String),
    /// A file could not be read or written.
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A verification found differences.
    Mismatch(String),
    /// The command did what it could, but its result is not whole (a backup
    /// that had to leave entries out).
    Incomplete(String),
}

impl CliError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Wraps a runner error about `path`.
    pub fn runner(path: &Path) -> impl Fn(canister_runner::RunnerError) -> CliError + '_ {
        move |error| CliError::Input(format!("{}: {error}", path.display()))
    }

    /// The process exit code: 1 for a refused or failed operation, 2 for bad
    /// input, 3 for a failed verification.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Input(_) | CliError::Io { .. } => 2,
            CliError::Mismatch(_) => 3,
            CliError::Rejected { .. } | CliError::Network(_) | CliError::Incomplete(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(message)
            | CliError::Network(message)
            | CliError::Mismatch(message)
            | CliError::Incomplete(message) => f.write_str(message),
            CliError::Rejected { method, message } => {
                write!(f, "the canister rejected `{method}`: {message}")
            }
            CliError::Io { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<candid::Error> for CliError {
    fn from(error: candid::Error) -> Self {
        CliError::Input(format!("Candid: {error}"))
    }
}
