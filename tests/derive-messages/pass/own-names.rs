// The generated methods have private Rust names: a canister keeps its own
// `authorize` helper, imports ic-cdk's `stable_size`, and has functions named
// like the guards in another module, and everything compiles; the Candid
// interface still has every generated method under its documented name.
use backup_runtime::prelude::*;
#[allow(unused_imports)]
use ic_cdk::stable::stable_size;

/// The canister's own notion of authorizing, unrelated to the admin set.
fn authorize(token: &str) -> bool {
    token == "let me in"
}

#[allow(dead_code)]
fn stable_read() -> u64 {
    7
}

mod policy {
    // Same names as the generated guards, in another module.
    pub fn is_authorized() -> Result<(), String> {
        Err("policy says no".into())
    }
    pub fn is_stable_authorized() -> Result<(), String> {
        Ok(())
    }
}

#[derive(Backupable)]
pub struct Stable {
    #[backup(memory_id = 0)]
    tokens: StableBTreeMap<u64, u64, Memory>,
}

#[ic_cdk::query(guard = "is_authorized")]
fn token_count() -> u64 {
    TOKENS.with(|t| t.borrow().len())
}

ic_cdk::export_candid!();

fn main() {
    assert!(authorize("let me in"));
    assert!(policy::is_authorized().is_err() && policy::is_stable_authorized().is_ok());
    let service = __export_service();
    for method in [
        "authorize :",
        "deauthorize :",
        "list_authorized :",
        "stable_size :",
        "stable_read :",
        "stable_write :",
        "stable_digest :",
        "backup_tokens :",
        "backup_tokens_page :",
        "restore_tokens :",
        "validate_tokens :",
        "clear_tokens :",
        "token_count :",
    ] {
        assert!(service.contains(method), "{method} missing from\n{service}");
    }
}
