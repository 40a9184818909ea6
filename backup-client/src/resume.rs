//! Resume state: what an interrupted command had made durable, bound to
//! everything that makes continuing meaningful.
//!
//! A state file holds a command's *binding* (the target, the map and its
//! Candid types, the files and their digests, the options that change the
//! result) and its *progress*. A later run continues only when its own
//! binding is equal; otherwise it says what differs and starts over, so two
//! targets or two files never mix in one result. Progress is saved only
//! after the data it describes is durable.

use crate::durable;
use crate::error::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// The marker of a resume state file.
pub const STATE_FORMAT: &str = "ic-backup/resume-1";

/// Which canister, and in what state, a command works on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetId {
    /// A canister on a replica or on mainnet.
    Live { url: String, canister: String },
    /// A wasm over an image file; `sha256` is the digest of the image as it
    /// is on disk (`None` before the file is first written).
    Offline {
        image: PathBuf,
        sha256: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct StateFile<B, P> {
    format: String,
    command: String,
    binding: B,
    progress: P,
}

/// Where a command starts.
pub enum Start<P> {
    /// From the beginning; `why` says why an existing state was not used.
    Fresh { why: Option<String> },
    /// From saved progress.
    Resume(P),
}

/// Progress of a command that appends to partial files: for each, how many
/// of its first bytes are durable, and their SHA-256.
pub trait PartialProgress {
    fn prefixes(&self) -> Vec<(u64, &str)>;
}

impl<P: PartialProgress> Start<P> {
    /// Where a command that appends to the partial files `partial(0)`,
    /// `partial(1)`, … starts: its saved progress and a hasher over each
    /// file's recorded prefix, when every prefix is intact (and there is
    /// one); otherwise from the beginning, after telling why.
    pub fn over_partials(
        self,
        partial: impl Fn(usize) -> PathBuf,
        json: bool,
    ) -> Result<Option<(P, Vec<Sha256>)>> {
        let why = match self {
            Start::Resume(progress) => {
                let mut hashers = Vec::new();
                let mut why = None;
                for (index, (len, digest)) in progress.prefixes().into_iter().enumerate() {
                    match durable::intact_prefix(&partial(index), len, digest)? {
                        Ok(hasher) => hashers.push(hasher),
                        Err(not_intact) => {
                            why = Some(not_intact);
                            break;
                        }
                    }
                }
                if why.is_none() && !hashers.is_empty() {
                    return Ok(Some((progress, hashers)));
                }
                why
            }
            Start::Fresh { why } => why,
        };
        if let Some(why) = why {
            crate::messages::notice(json, &why);
        }
        Ok(None)
    }

    /// [`Start::over_partials`] of a command with one partial file.
    pub fn over_partial(self, partial: &Path, json: bool) -> Result<Option<(P, Sha256)>> {
        let resumed = self.over_partials(|_| partial.to_path_buf(), json)?;
        Ok(resumed.and_then(|(progress, mut hashers)| hashers.pop().map(|h| (progress, h))))
    }
}

/// The state file of one command.
pub struct Resume<B, P> {
    path: PathBuf,
    command: &'static str,
    _types: PhantomData<(B, P)>,
}

impl<B, P> Resume<B, P>
where
    B: Serialize + DeserializeOwned + PartialEq,
    P: Serialize + DeserializeOwned,
{
    /// Reads the state at `path`, if any, and decides whether this run with
    /// `binding` continues it.
    pub fn open(path: &Path, command: &'static str, binding: &B) -> (Self, Start<P>) {
        // A temporary file of an interrupted save is never the state.
        let _ = durable::clear_stale(path);
        let resume = Resume {
            path: path.to_path_buf(),
            command,
            _types: PhantomData,
        };
        let start = resume.decide(binding);
        (resume, start)
    }

    fn decide(&self, binding: &B) -> Start<P> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Start::Fresh { why: None }
            }
            Err(error) => return self.fresh(format!("cannot be read ({error})")),
        };
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(error) => return self.fresh(format!("is not JSON ({error})")),
        };
        if value.get("format").and_then(Value::as_str) != Some(STATE_FORMAT) {
            return self.fresh(format!(
                "is not an ic-backup resume state (expected \"format\": \"{STATE_FORMAT}\")"
            ));
        }
        if value.get("command").and_then(Value::as_str) != Some(self.command) {
            return self.fresh(format!(
                "belongs to another command ({}, not {})",
                value.get("command").unwrap_or(&Value::Null),
                self.command
            ));
        }
        let state: StateFile<Value, Value> = match serde_json::from_value(value) {
            Ok(state) => state,
            Err(error) => return self.fresh(format!("is damaged ({error})")),
        };
        let ours = serde_json::to_value(binding).unwrap_or(Value::Null);
        let differences = differences(&state.binding, &ours);
        if !differences.is_empty() {
            return self.fresh(format!(
                "was written for another run: {}",
                differences.join("; ")
            ));
        }
        let saved: B = match serde_json::from_value(state.binding) {
            Ok(saved) => saved,
            Err(error) => return self.fresh(format!("is damaged ({error})")),
        };
        if saved != *binding {
            return self.fresh("was written for another run".into());
        }
        match serde_json::from_value(state.progress) {
            Ok(progress) => Start::Resume(progress),
            Err(error) => self.fresh(format!("has damaged progress ({error})")),
        }
    }

    fn fresh(&self, why: String) -> Start<P> {
        Start::Fresh {
            why: Some(format!(
                "the resume state {} {why}; starting over",
                self.path.display()
            )),
        }
    }

    /// Records `progress` under `binding`; call only once the data it
    /// describes is durable.
    pub fn save(&self, binding: &B, progress: &P) -> Result<()> {
        let state = StateFile {
            format: STATE_FORMAT.to_string(),
            command: self.command.to_string(),
            binding,
            progress,
        };
        let text = serde_json::to_vec_pretty(&state)
            .map_err(|error| crate::error::Error::Input(error.to_string()))?;
        durable::write_atomically(&self.path, &text)
    }

    /// Removes the state once the command is done.
    pub fn remove(&self) -> Result<()> {
        durable::remove(&self.path)
    }

    /// Where the state lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The fields in which `saved` and `ours` differ, as "field: was X, now Y".
fn differences(saved: &Value, ours: &Value) -> Vec<String> {
    let (Value::Object(saved), Value::Object(ours)) = (saved, ours) else {
        return if saved == ours {
            Vec::new()
        } else {
            vec![format!("was {}, now {}", short(saved), short(ours))]
        };
    };
    let mut keys: Vec<&String> = saved.keys().chain(ours.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (was, now) = (
                saved.get(key).unwrap_or(&Value::Null),
                ours.get(key).unwrap_or(&Value::Null),
            );
            (was != now).then(|| format!("{key} was {}, now {}", short(was), short(now)))
        })
        .collect()
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(160).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Binding {
        target: TargetId,
        map: String,
    }

    fn binding(image: &str, sha: &str) -> Binding {
        Binding {
            target: TargetId::Offline {
                image: image.into(),
                sha256: Some(sha.into()),
            },
            map: "profiles".into(),
        }
    }

    #[test]
    fn a_state_resumes_only_the_run_it_belongs_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.progress");
        let a = binding("/a.bin", "aa");
        let (resume, start) = Resume::<Binding, u64>::open(&path, "backup", &a);
        assert!(matches!(start, Start::Fresh { why: None }));
        resume.save(&a, &42).unwrap();
        assert!(matches!(
            Resume::<Binding, u64>::open(&path, "backup", &a).1,
            Start::Resume(42)
        ));
        let b = binding("/b.bin", "bb");
        let Start::Fresh { why: Some(why) } = Resume::<Binding, u64>::open(&path, "backup", &b).1
        else {
            panic!("another image resumed the state")
        };
        assert!(
            why.contains("target was") && why.contains("/a.bin") && why.contains("/b.bin"),
            "{why}"
        );
        assert!(why.contains(&path.display().to_string()), "{why}");
        let Start::Fresh { why: Some(why) } = Resume::<Binding, u64>::open(&path, "dump", &a).1
        else {
            panic!("another command resumed the state")
        };
        assert!(why.contains("another command"), "{why}");
        resume.remove().unwrap();
        assert!(!path.exists());
    }
}
