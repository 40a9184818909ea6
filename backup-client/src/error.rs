//! The library's error: what went wrong, where (which input, which call,
//! which file), the cause kept as its [`source`](std::error::Error::source),
//! and the process exit code it maps to.

use std::fmt;
use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A cause from another library, kept whole.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
pub enum Error {
    /// Bad input from the operator: arguments, files, identities. The
    /// message says what was expected and what was found.
    Input(String),
    /// A file could not be read or written.
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A file was read but is not `what` it should be (a manifest, a
    /// project file, a backup's partial file).
    File {
        path: String,
        what: String,
        source: Cause,
    },
    /// Candid bytes that do not decode or encode as they should: a reply of
    /// the canister that does not match its interface, or a value that
    /// does not match its type.
    Candid {
        context: String,
        source: candid::Error,
    },
    /// The embedded runner could not load or run the canister of `path`.
    Runner {
        path: String,
        source: canister_runner::RunnerError,
    },
    /// The canister refused a call.
    Rejected { method: String, message: String },
    /// The network or the replica failed.
    Network(String),
    /// The system refused what the command needs: a thread, a socket, an
    /// address, random bytes.
    System { what: String, source: Cause },
    /// The command stopped where the operator asked (`--stop-after`, for
    /// tests); running it again resumes.
    Stopped(String),
    /// A verification found differences.
    Mismatch(String),
    /// The command did what it could, but its result is not whole (a backup
    /// that had to leave entries out).
    Incomplete(String),
    /// A restic repository refused or failed: a wrong password, no
    /// repository, a damaged pack, its backend.
    Repository(backup_repo::Error),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Wraps a runner error about `path`.
    pub fn runner(path: &Path) -> impl Fn(canister_runner::RunnerError) -> Error + '_ {
        move |source| Error::Runner {
            path: path.display().to_string(),
            source,
        }
    }

    /// A file `path` that is not `what` it should be, because of `source`.
    pub fn file(path: &Path, what: &str, source: impl Into<Cause>) -> Self {
        Error::File {
            path: path.display().to_string(),
            what: what.to_string(),
            source: source.into(),
        }
    }

    /// Candid bytes of `context` that do not decode or encode.
    pub fn candid(context: impl Into<String>) -> impl FnOnce(candid::Error) -> Error {
        let context = context.into();
        move |source| Error::Candid { context, source }
    }

    /// The system refused `what`, because of `source`.
    pub fn system(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::System {
            what: what.into(),
            source: source.into(),
        }
    }

    /// The process exit code: 1 for a refused or failed operation, 2 for bad
    /// input, 3 for a failed verification.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_)
            | Error::Io { .. }
            | Error::File { .. }
            | Error::Candid { .. }
            | Error::Runner { .. }
            | Error::System { .. } => 2,
            Error::Mismatch(_) => 3,
            Error::Repository(error) => match error.kind {
                backup_repo::Kind::Damaged => 3,
                backup_repo::Kind::Failed => 1,
                backup_repo::Kind::WrongPassword
                | backup_repo::Kind::Missing
                | backup_repo::Kind::Input => 2,
            },
            Error::Rejected { .. }
            | Error::Network(_)
            | Error::Stopped(_)
            | Error::Incomplete(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(message)
            | Error::Network(message)
            | Error::Stopped(message)
            | Error::Mismatch(message)
            | Error::Incomplete(message) => f.write_str(message),
            Error::Rejected { method, message } => {
                write!(f, "the canister rejected `{method}`: {message}")
            }
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            Error::File { path, what, source } => {
                write!(f, "{path}: not {what}: {source}")
            }
            Error::Candid { context, source } => write!(f, "Candid: {context}: {source}"),
            Error::Runner { path, source } => write!(f, "{path}: {source}"),
            Error::System { what, source } => write!(f, "{what}: {source}"),
            Error::Repository(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::File { source, .. } | Error::System { source, .. } => Some(source.as_ref()),
            Error::Candid { source, .. } => Some(source),
            Error::Runner { source, .. } => Some(source),
            Error::Repository(error) => Some(error),
            Error::Input(_)
            | Error::Rejected { .. }
            | Error::Network(_)
            | Error::Stopped(_)
            | Error::Mismatch(_)
            | Error::Incomplete(_) => None,
        }
    }
}

impl From<backup_repo::Error> for Error {
    fn from(error: backup_repo::Error) -> Self {
        Error::Repository(error)
    }
}

/// Candid bytes that do not decode or encode, where the caller says no
/// more than `?`.
impl From<candid::Error> for Error {
    fn from(source: candid::Error) -> Self {
        Error::Candid {
            context: "the bytes do not match their type".into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// Each error keeps its cause, says where it happened, and maps to its
    /// documented exit code.
    #[test]
    fn errors_keep_their_cause_and_exit_code() {
        let io = Error::io(
            Path::new("image.bin"),
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(io.to_string(), "image.bin: gone");
        assert_eq!(io.source().map(|s| s.to_string()), Some("gone".into()));
        assert_eq!(io.exit_code(), 2);
        let candid: Error = candid::decode_one::<u64>(b"DIDL").unwrap_err().into();
        assert!(candid.source().is_some());
        assert!(candid.to_string().starts_with("Candid: "), "{candid}");
        let parse = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let file = Error::file(Path::new("m.sha256"), "a manifest", parse);
        assert!(
            file.to_string().starts_with("m.sha256: not a manifest: "),
            "{file}"
        );
        assert!(file.source().is_some());
        assert_eq!(Error::Stopped("stopped".into()).exit_code(), 1);
        assert_eq!(Error::Mismatch("differs".into()).exit_code(), 3);
        assert!(Error::Input("bad".into()).source().is_none());
    }
}
