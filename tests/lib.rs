//! Tests of the derive (trybuild), of native image access through the
//! examples, of a canister crate outside this workspace, and end-to-end tests
//! of the examples' real wasm in the embedded runner. See the `[[test]]`
//! targets in `Cargo.toml`; this library holds what the end-to-end tests share.

use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use candid::Principal;
use canister_runner::{CallResult, Canister, InstallArgs, Reject};
use std::path::PathBuf;

/// The release wasm of example `name`, built by `scripts/test.sh`.
pub fn wasm(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-unknown-unknown/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}. Build it first: cargo build --release --target wasm32-unknown-unknown -p {name} (scripts/test.sh does)",
            path.display()
        )
    })
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
