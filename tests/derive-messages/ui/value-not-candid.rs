// errors: 2 (two derives are missing on the value, CandidType and Deserialize)
use backup_runtime::prelude::*;

/// A value that is Storable but has no Candid type.
#[derive(Clone)]
pub struct Note(String);

impl Storable for Note {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.as_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Note(String::from_utf8_lossy(&bytes).into_owned())
    }
    const BOUND: Bound = Bound::Unbounded;
}

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    notes: StableBTreeMap<u64, Note, Memory>,
}

fn main() {}
