// errors: 1 (one mistake)
use backup_runtime::prelude::*;

#[derive(Backupable)]
pub struct Stable(StableBTreeMap<u64, u64, Memory>);

fn main() {}
