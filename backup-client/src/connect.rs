//! Where the calls of a command go: a live canister (its network, the
//! identity calls are signed with, its id from a project) or an offline one
//! (its wasm over an image or a snapshot folder), as the operator named it.

use crate::error::{Error, Result};
use crate::target::{self, Live, Offline, Target};
use crate::{identity, project};
use std::path::PathBuf;
use std::time::Duration;

/// What the operator said about where calls go (`ic-backup`'s global
/// options, read).
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// `ic`, a URL, or a network (or icp-cli environment) of the project.
    pub network: String,
    /// Fetch the root key even where the project states it.
    pub fetch_root_key: bool,
    /// The canister (live): its id or its name in the project.
    pub canister: Option<String>,
    /// An identity by name, from dfx's or icp-cli's store.
    pub identity: Option<String>,
    /// A PEM file holding the identity's private key.
    pub pem: Option<PathBuf>,
    /// The password of an encrypted identity, on the first line of this file.
    pub password_file: Option<PathBuf>,
    /// Offline: the canister's wasm module…
    pub wasm: Option<PathBuf>,
    /// …over this stable memory image.
    pub image: Option<PathBuf>,
    /// Offline: a snapshot folder as dfx or icp-cli downloads it.
    pub snapshot: Option<PathBuf>,
    /// Offline: the caller is not a controller.
    pub not_controller: bool,
    /// Offline: the other controllers, as principal text.
    pub controllers: Vec<String>,
    /// Offline: the seed of the management canister's `raw_rand`.
    pub seed: Option<u64>,
    /// Live: how long one query may take before it is tried again.
    pub timeout: Duration,
    /// The canister's Candid interface, when it does not publish one.
    pub did: Option<PathBuf>,
}

/// Opens the target of `connection` and runs `work` on it; offline, the
/// image keeps whatever was done, even by work that failed halfway.
pub fn with_target(
    connection: &Connection,
    work: impl FnOnce(&mut dyn Target) -> Result<()>,
) -> Result<()> {
    let mut target = connect(connection)?;
    let result = work(target.as_mut());
    if result.is_err() {
        target.failed();
    }
    let finished = target.finish();
    result.and(finished)
}

/// The target `connection` names: offline when it names a wasm and image
/// or a snapshot folder, else the live canister.
pub fn connect(connection: &Connection) -> Result<Box<dyn Target>> {
    if let Some(offline) = offline(connection)? {
        return Ok(Box::new(offline));
    }
    Ok(Box::new(live(connection)?))
}

/// The live canister `connection` names.
pub fn live(connection: &Connection) -> Result<Live> {
    let canister = connection.canister.as_deref().ok_or_else(|| {
        Error::Input(
            "expected --canister <id or name> (live) or --wasm and --image (offline)".into(),
        )
    })?;
    let project = project()?;
    let network = project::resolve_network(
        &connection.network,
        project.as_ref(),
        &project::Homes::from_env(),
        connection.fetch_root_key,
    )?;
    let canister = project::resolve_canister(canister, &connection.network, project.as_ref())?;
    let identity = live_identity(connection, project.as_ref())?;
    Live::connect(&network, identity, canister, connection.timeout)
}

/// The offline target the connection names, if it names one.
pub fn offline(connection: &Connection) -> Result<Option<Offline>> {
    let operator = || operator(connection);
    if let Some(dir) = &connection.snapshot {
        return Ok(Some(Offline::open_snapshot(dir, operator()?)?));
    }
    if let (Some(wasm), Some(image)) = (&connection.wasm, &connection.image) {
        return Ok(Some(Offline::open(wasm, image, operator()?)?));
    }
    Ok(None)
}

/// Who runs offline commands, as the connection says: the identity's
/// principal (or the fixed offline operator), a controller unless
/// `--not-controller`, the other `--controller`s, the `raw_rand` seed.
pub fn operator(connection: &Connection) -> Result<target::Operator> {
    Ok(target::Operator {
        caller: match identity(connection)? {
            Some(identity) => identity.sender().map_err(Error::Input)?,
            None => offline_operator(),
        },
        controller: !connection.not_controller,
        others: connection
            .controllers
            .iter()
            .map(|text| {
                candid::Principal::from_text(text).map_err(|error| {
                    Error::Input(format!(
                        "expected a principal for --controller, found `{text}`: {error}"
                    ))
                })
            })
            .collect::<Result<_>>()?,
        seed: connection.seed.unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            // std's per-process random keys: a seed no two runs share.
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }),
    })
}

/// The dfx or icp-cli project the command runs in, if any.
fn project() -> Result<Option<project::Project>> {
    let cwd =
        std::env::current_dir().map_err(|source| Error::io(std::path::Path::new("."), source))?;
    project::Project::find(&cwd)
}

/// The identity of live calls: the one named, else the default identity of
/// the project's tool (icp-cli's in an icp.yaml project, dfx's otherwise).
fn live_identity(
    connection: &Connection,
    project: Option<&project::Project>,
) -> Result<Box<dyn ic_agent::Identity>> {
    if let Some(identity) = identity(connection)? {
        return Ok(identity);
    }
    let tool = match project.map(|project| project.kind) {
        Some(project::Kind::Icp) => identity::Tool::Icp,
        _ => identity::Tool::Dfx,
    };
    identity::Stores::from_env().load(None, Some(tool), &password(connection))
}

/// The principal calls are made as: the identity named, else (live) the
/// project's tool's default identity, else (offline) the fixed offline
/// operator.
pub fn principal(connection: &Connection) -> Result<candid::Principal> {
    let offline = connection.wasm.is_some() || connection.snapshot.is_some();
    Ok(match identity(connection)? {
        Some(identity) => identity.sender().map_err(Error::Input)?,
        None if offline => offline_operator(),
        None => live_identity(connection, project()?.as_ref())?
            .sender()
            .map_err(Error::Input)?,
    })
}

/// The principal of offline calls when no identity is given: stable across
/// runs, so an offline admin set keeps working.
fn offline_operator() -> candid::Principal {
    candid::Principal::self_authenticating(b"ic-backup offline operator")
}

/// Where the password of an encrypted identity comes from.
fn password(connection: &Connection) -> identity::Password {
    identity::Password {
        file: connection.password_file.clone(),
    }
}

/// The identity of `--pem` or `--identity`; `None` when neither is given.
fn identity(connection: &Connection) -> Result<Option<Box<dyn ic_agent::Identity>>> {
    let password = password(connection);
    match (&connection.pem, &connection.identity) {
        (Some(pem), _) => identity::load_pem_file(pem, &password).map(Some),
        (None, Some(name)) => identity::Stores::from_env()
            .load(Some(name), None, &password)
            .map(Some),
        (None, None) => Ok(None),
    }
}
