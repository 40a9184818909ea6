// errors: 2 (two derives are missing on the key, CandidType and Deserialize)
use backup_runtime::prelude::*;

/// A key that is Storable but has no Candid type.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sku(u64);

impl Storable for Sku {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_be_bytes().to_vec())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.to_be_bytes().to_vec()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&bytes);
        Sku(u64::from_be_bytes(raw))
    }
    const BOUND: Bound = Bound::Bounded { max_size: 8, is_fixed_size: true };
}

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    stock: StableBTreeMap<Sku, u64, Memory>,
}

fn main() {}
