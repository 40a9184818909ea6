//! What went wrong with a repository, said so that an operator can act on it.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure, for the caller's exit code and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The password opens none of the repository's keys.
    WrongPassword,
    /// No repository, snapshot or file where one was named.
    Missing,
    /// The repository's data does not read back as written.
    Damaged,
    /// The request itself is wrong (an option, a tag, a snapshot id).
    Input,
    /// The backend or the library failed.
    Failed,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Error::new(Kind::Input, message)
    }

    pub fn internal(message: impl fmt::Display) -> Self {
        Error::new(Kind::Failed, message.to_string())
    }

    /// rustic_core's error about the repository at `location`, sorted into a kind.
    pub fn rustic(location: &str, error: &rustic_core::RusticError) -> Self {
        let said = error.display_log();
        // rustic_core shows its error's kind only in its text.
        let kind = if error.is_incorrect_password() {
            Kind::WrongPassword
        } else if ["cryptograph", "verification", "does not match", "decrypt"]
            .iter()
            .any(|word| said.contains(word))
        {
            Kind::Damaged
        } else {
            Kind::Failed
        };
        let message = match kind {
            Kind::WrongPassword => format!(
                "{location}: the password opens none of the repository's keys (expected the password it was created with)"
            ),
            Kind::Damaged => format!(
                "{location}: the repository's data does not read back as it was written (damaged or altered; `restic check --read-data` lists what): {said}"
            ),
            _ => format!("{location}: {said}"),
        };
        Error::new(kind, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
