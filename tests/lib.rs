//! Tests of native image access through the examples, of a canister crate
//! outside this workspace, and end-to-end tests of the examples' real wasm in
//! the embedded runner (the derive's compile messages are tested in
//! `tests/derive-messages`). See the `[[test]]`
//! targets in `Cargo.toml`; this library holds what the end-to-end tests share.

use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use candid::Principal;
use canister_runner::{CallResult, Canister, InstallArgs, Reject};

/// The release wasm of example `name`, built on first use.
pub fn wasm(name: &str) -> Vec<u8> {
    example_wasm::bytes(name)
}

/// The principals of the access matrix.
pub struct Cast {
    pub controller: Principal,
    pub admin: Principal,
    pub raw: Principal,
    pub stranger: Principal,
    pub anonymous: Principal,
}

impl Cast {
    pub fn new() -> Self {
        Cast {
            controller: Principal::from_slice(&[1; 29]),
            admin: Principal::from_slice(&[2; 29]),
            raw: Principal::from_slice(&[3; 29]),
            stranger: Principal::from_slice(&[4; 29]),
            anonymous: Principal::anonymous(),
        }
    }
}

impl Default for Cast {
    fn default() -> Self {
        Self::new()
    }
}

/// Installs example `name` with `cast.controller` as its only controller.
pub fn install(name: &str, cast: &Cast) -> Canister {
    let args = InstallArgs {
        controllers: vec![cast.controller],
        ..InstallArgs::default()
    };
    Canister::install(&wasm(name), args)
        .unwrap_or_else(|error| panic!("installing {name}: {error}"))
}

/// Calls `method` as an update or a query and decodes the reply.
pub fn call<A: ArgumentEncoder, R: for<'a> ArgumentDecoder<'a>>(
    canister: &mut Canister,
    update: bool,
    caller: Principal,
    method: &str,
    args: A,
) -> Result<R, Reject> {
    let arg = candid::encode_args(args).expect("arguments encode");
    let CallResult { result, .. } = if update {
        canister.update(caller, method, &arg)
    } else {
        canister.query(caller, method, &arg)
    };
    let reply = result?;
    Ok(candid::decode_args(&reply)
        .unwrap_or_else(|error| panic!("decoding the reply of {method}: {error}")))
}

/// Calls `method` with the encoded argument `arg` as an update or a query:
/// the raw reply, or the reject.
pub fn call_raw(
    canister: &mut Canister,
    caller: Principal,
    update: bool,
    method: &str,
    arg: &[u8],
) -> Result<Vec<u8>, Reject> {
    if update {
        canister.update(caller, method, arg).result
    } else {
        canister.query(caller, method, arg).result
    }
}

/// An update returning one value.
pub fn update<A: ArgumentEncoder, R: for<'a> candid::Deserialize<'a> + candid::CandidType>(
    canister: &mut Canister,
    caller: Principal,
    method: &str,
    args: A,
) -> Result<R, Reject> {
    call::<A, (R,)>(canister, true, caller, method, args).map(|(r,)| r)
}

/// A query returning one value.
pub fn query<A: ArgumentEncoder, R: for<'a> candid::Deserialize<'a> + candid::CandidType>(
    canister: &mut Canister,
    caller: Principal,
    method: &str,
    args: A,
) -> Result<R, Reject> {
    call::<A, (R,)>(canister, false, caller, method, args).map(|(r,)| r)
}

/// Runs `f`, then checks that stable memory is byte for byte what it was;
/// `what` names the step in the failure.
pub fn unchanged<T>(canister: &mut Canister, what: &str, f: impl FnOnce(&mut Canister) -> T) -> T {
    let before = canister.stable_memory().to_vec();
    let out = f(canister);
    assert!(
        canister.stable_memory() == &before[..],
        "{what} changed stable memory"
    );
    out
}

/// The limits the backup client checks every call against.
pub use backup_runtime::limits::{INGRESS_LIMIT, QUERY_REPLY_LIMIT};

/// A whole map backed up through `backup_<map>_page`, and each call's stats.
pub fn backup_with_cursor<K, V>(
    canister: &mut Canister,
    caller: Principal,
    map: &str,
) -> (Vec<(K, V)>, Vec<canister_runner::CallStats>)
where
    K: candid::CandidType + for<'de> candid::Deserialize<'de> + Clone,
    V: candid::CandidType + for<'de> candid::Deserialize<'de>,
{
    let method = format!("backup_{map}_page");
    let mut entries = Vec::new();
    let mut calls = Vec::new();
    let mut after: Option<K> = None;
    loop {
        let arg = candid::encode_args((after.clone(), None::<u64>)).unwrap();
        let result = canister.query(caller, &method, &arg);
        calls.push(result.stats);
        let reply = result
            .result
            .unwrap_or_else(|reject| panic!("{method}: {reject}"));
        let page: backup_runtime::BackupPage<K, V> = candid::decode_one(&reply).unwrap();
        assert!(
            !page.entries.is_empty() || page.next.is_none(),
            "an empty page that is not the last"
        );
        entries.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => return (entries, calls),
        }
    }
}

/// A whole map backed up through `backup_<map>(offset, count)`.
pub fn backup_with_offset<K, V>(
    canister: &mut Canister,
    caller: Principal,
    map: &str,
) -> (Vec<(K, V)>, Vec<canister_runner::CallStats>)
where
    K: candid::CandidType + for<'de> candid::Deserialize<'de>,
    V: candid::CandidType + for<'de> candid::Deserialize<'de>,
{
    let method = format!("backup_{map}");
    let mut entries = Vec::new();
    let mut calls = Vec::new();
    loop {
        let arg = candid::encode_args((entries.len() as u64, 1000u64)).unwrap();
        let result = canister.query(caller, &method, &arg);
        calls.push(result.stats);
        let reply = result
            .result
            .unwrap_or_else(|reject| panic!("{method}: {reject}"));
        let page: Vec<(K, V)> = candid::decode_one(&reply).unwrap();
        if page.is_empty() {
            return (entries, calls);
        }
        entries.extend(page);
    }
}

/// Restores `entries` through `restore_<map>` in batches whose argument fits
/// the ingress limit; returns each call's stats.
pub fn restore_in_batches<K, V>(
    canister: &mut Canister,
    caller: Principal,
    map: &str,
    entries: &[(K, V)],
) -> Vec<canister_runner::CallStats>
where
    K: candid::CandidType + Clone,
    V: candid::CandidType + Clone,
{
    let method = format!("restore_{map}");
    let budget = INGRESS_LIMIT - 64 * 1024;
    let mut calls = Vec::new();
    let mut batch: Vec<(K, V)> = Vec::new();
    let mut size = 0;
    let mut send = |batch: &mut Vec<(K, V)>| {
        let arg = candid::encode_one(&*batch).unwrap();
        assert!(arg.len() <= INGRESS_LIMIT, "a batch of {} bytes", arg.len());
        let result = canister.update(caller, &method, &arg);
        let reply = result
            .result
            .unwrap_or_else(|reject| panic!("{method}: {reject}"));
        let restored: Result<u64, String> = candid::decode_one(&reply).unwrap();
        assert_eq!(restored, Ok(batch.len() as u64));
        calls.push(result.stats);
        batch.clear();
    };
    for entry in entries {
        let entry_size = candid::encode_one(entry).unwrap().len();
        if size + entry_size > budget && !batch.is_empty() {
            send(&mut batch);
            size = 0;
        }
        size += entry_size;
        batch.push(entry.clone());
    }
    if !batch.is_empty() {
        send(&mut batch);
    }
    calls
}

/// The ledger example's Candid types, as a client sees them: end-to-end tests
/// talk to the wasm through Candid, and a test binary cannot link two
/// canister crates (their exported method symbols would clash).
pub mod ledger_types {
    use candid::{CandidType, Deserialize, Principal};
    use serde_bytes::ByteBuf;

    #[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
    pub enum AccountKind {
        Checking,
        Savings { rate_basis_points: u16 },
        Frozen { reason: String },
    }

    #[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
    pub struct Limits {
        pub daily: u64,
        pub monthly: Option<u64>,
    }

    #[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
    pub struct Account {
        pub owner: Principal,
        pub balance: u64,
        pub kind: AccountKind,
        pub limits: Option<Limits>,
        pub memo: Option<ByteBuf>,
    }

    #[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
    pub enum TransferStatus {
        Settled,
        Refused { reason: String },
    }

    #[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
    pub struct Transfer {
        pub from: u64,
        pub to: u64,
        pub amount: u64,
        pub at_nanos: u64,
        pub status: TransferStatus,
    }

    #[derive(Clone, Debug, PartialEq, Eq, CandidType, Deserialize)]
    pub struct Document {
        pub mime: String,
        pub content: ByteBuf,
    }
}
