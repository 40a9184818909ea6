// errors: 1 (one mistake)
// One struct declares every map of a canister: a second derive in the same
// crate, even in another module, is refused.
use backup_runtime::prelude::*;

mod users {
    use backup_runtime::prelude::*;

    #[derive(Backupable)]
    pub struct Users {
        #[backup(memory_id = 0)]
        names: StableBTreeMap<u64, String, Memory>,
    }
}

#[derive(Backupable)]
pub struct Orders {
    #[backup(memory_id = 1)]
    orders: StableBTreeMap<u64, u64, Memory>,
}

fn main() {}
