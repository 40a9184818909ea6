// errors: 2 (two derives are missing on the set's key, CandidType and Deserialize)
use backup_runtime::prelude::*;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag(String);

impl Storable for Tag {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.as_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Tag(String::from_utf8_lossy(&bytes).into_owned())
    }
    const BOUND: Bound = Bound::Unbounded;
}

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    tags: StableBTreeSet<Tag, Memory>,
}

fn main() {}
