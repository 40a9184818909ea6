// errors: 1 (one mistake)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub enum Stable {
    Profiles(StableBTreeMap<u64, u64, Memory>),
}

fn main() {}
