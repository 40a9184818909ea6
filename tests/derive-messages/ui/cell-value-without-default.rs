// errors: 1 (a cell needs its value for a new memory: no `default = ...` and no Default impl)
use backup_runtime::prelude::*;

#[derive(Clone, CandidType, Deserialize)]
pub struct Config {
    name: String,
}

impl Storable for Config {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.name.as_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.name.into_bytes()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Config { name: String::from_utf8_lossy(&bytes).into_owned() }
    }
    const BOUND: Bound = Bound::Unbounded;
}

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    config: StableCell<Config, Memory>,
}

fn main() {}
