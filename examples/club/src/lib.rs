//! A club: its settings in a `StableCell`, its members in a
//! `StableBTreeSet`, dues in a `StableBTreeMap`, the board's posts in a
//! `StableVec`, an audit trail in a `StableLog` and scheduled jobs in a
//! `StableMinHeap`: one of each collection of ic-stable-structures, each
//! backed up and restored through the endpoints `#[derive(Backupable)]`
//! generates for it. `club-plain` is the same canister without the derive.

use backup_runtime::prelude::*;

include!("types.rs");

#[derive(Backupable)]
struct Club {
    /// The settings; a new canister starts with `Config::default()`.
    #[backup(memory_id = 0)]
    config: StableCell<Config, Memory>,
    /// Who belongs to the club.
    #[backup(memory_id = 1)]
    members: StableBTreeSet<Principal, Memory>,
    /// What each member paid.
    #[backup(memory_id = 2)]
    dues: StableBTreeMap<Principal, u64, Memory>,
    /// The board, in order.
    #[backup(memory_id = 3)]
    posts: StableVec<Post, Memory>,
    /// Every change, in order: its index in memory 4, its entries in 5.
    #[backup(memory_id = 4, data_memory_id = 5)]
    audit: StableLog<Event, Memory, Memory>,
    /// Jobs by due time.
    #[backup(memory_id = 6)]
    jobs: StableMinHeap<Job, Memory>,
}

include!("methods.rs");

ic_cdk::export_candid!();

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerate with `UPDATE_DID=1 cargo test -p club`.
    #[test]
    fn candid_interface_is_up_to_date() {
        let generated = __export_service();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/club.did");
        if std::env::var_os("UPDATE_DID").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            checked_in, generated,
            "club.did is stale: run UPDATE_DID=1 cargo test -p club"
        );
    }
}
