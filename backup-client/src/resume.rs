//! Resume state: what an interrupted command had made durable, bound to
//! everything that makes continuing meaningful.
//!
//! A state file holds a command's *binding* (the target, the map and its
//! Candid types, the files and their digests, the options that change the
//! result) and its *progress*. A later run continues only when its own
//! binding is equal; otherwise it says what differs and starts over, so two
//! targets or two files never mix in one result. Progress is saved only
//! after the data it describes is durable. A run holds the state's lock
//! (`<state>.lock`) from opening it to its end: a second run on the same
//! file at the same time is refused, and never touches the first's files.

use crate::durable;
use crate::error::Result;
use crate::lock::Lock;
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
    _lock: Lock,
    _types: PhantomData<(B, P)>,
}

impl<B, P> Resume<B, P>
where
    B: Serialize + DeserializeOwned + PartialEq,
    P: Serialize + DeserializeOwned,
{
    /// Takes the state at `path` for this run, reads it, if any, and
    /// decides whether this run with `binding` continues it. Refused, with
    /// nothing touched, while another run holds it.
    pub fn open(path: &Path, command: &'static str, binding: &B) -> Result<(Self, Start<P>)> {
        let lock = Lock::state(path, &format!("`{command}`"))?;
        // A temporary file of an interrupted save is never the state.
        let _ = durable::clear_stale(path);
        let resume = Resume {
            path: path.to_path_buf(),
            command,
            _lock: lock,
            _types: PhantomData,
        };
        let start = resume.decide(binding);
        Ok((resume, start))
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

    #[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
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
        let open = |command, binding: &Binding| {
            Resume::<Binding, u64>::open(&path, command, binding).unwrap()
        };
        let a = binding("/a.bin", "aa");
        let (resume, start) = open("backup", &a);
        assert!(matches!(start, Start::Fresh { why: None }));
        resume.save(&a, &42).unwrap();
        drop(resume);
        assert!(matches!(open("backup", &a).1, Start::Resume(42)));
        let b = binding("/b.bin", "bb");
        let Start::Fresh { why: Some(why) } = open("backup", &b).1 else {
            panic!("another image resumed the state")
        };
        assert!(
            why.contains("target was") && why.contains("/a.bin") && why.contains("/b.bin"),
            "{why}"
        );
        assert!(why.contains(&path.display().to_string()), "{why}");
        let Start::Fresh { why: Some(why) } = open("dump", &a).1 else {
            panic!("another command resumed the state")
        };
        assert!(why.contains("another command"), "{why}");
        let (resume, _) = open("backup", &a);
        resume.remove().unwrap();
        assert!(!path.exists());
    }

    /// While a run holds a state, a second run on it (another target, or
    /// the same) is refused, naming the first, and the state, its
    /// temporary file and its lock file are left as they were; once the
    /// first ends, the second resumes it.
    #[test]
    fn a_state_in_use_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.json.restore-progress");
        let a = binding("/a.bin", "aa");
        let (first, _) = Resume::<Binding, u64>::open(&path, "restore", &a).unwrap();
        first.save(&a, &7).unwrap();
        // A save of the first run, cut short: its temporary file.
        std::fs::write(backup_common::durable::temporary_of(&path), b"half").unwrap();
        let files = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| {
                    let path = entry.unwrap().path();
                    let bytes = std::fs::read(&path).unwrap();
                    (path, bytes)
                })
                .collect();
            files.sort();
            files
        };
        let before = files(dir.path());
        for other in [binding("/b.bin", "bb"), a.clone()] {
            let Err(error) = Resume::<Binding, u64>::open(&path, "restore", &other) else {
                panic!("a second run took a state in use")
            };
            let error = error.to_string();
            assert!(
                error.contains(&path.display().to_string())
                    && error.contains(&format!("in use by process {}", std::process::id()))
                    && error.contains("another `restore` on the same file is running")
                    && error.contains("nothing was changed"),
                "{error}"
            );
            assert_eq!(files(dir.path()), before, "the refused run touched nothing");
        }
        drop(first);
        assert!(
            !crate::lock::path_of(&path).exists(),
            "the lock file is removed"
        );
        let (_, start) = Resume::<Binding, u64>::open(&path, "restore", &a).unwrap();
        assert!(matches!(start, Start::Resume(7)));
    }
}
