//! Where commands send their calls: a live canister through ic-agent, or the
//! canister's wasm over a stable memory image in the embedded runner.

use crate::error::{CliError, Result};
use candid::Principal;
use canister_runner::{Canister, InstallArgs};
use std::path::{Path, PathBuf};

/// A canister that answers queries and updates with Candid bytes.
pub trait Target {
    /// Runs a query method.
    fn query(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>>;
    /// Runs an update method.
    fn update(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>>;
    /// Runs several queries, concurrently where the target can.
    fn queries(&mut self, calls: &[(String, Vec<u8>)]) -> Vec<Result<Vec<u8>>> {
        calls
            .iter()
            .map(|(method, arg)| self.query(method, arg))
            .collect()
    }
    /// The canister's Candid interface, if it publishes one.
    fn candid(&mut self) -> Result<Option<String>>;
    /// Makes the command's changes durable (offline: writes the image).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The offline target: the canister's wasm over an image file.
pub struct Offline {
    canister: Canister,
    image: PathBuf,
    caller: Principal,
    changed: bool,
}

impl Offline {
    /// Loads `wasm` over the image at `image` (checked to be a
    /// `MemoryManager` image first), or installs it on empty stable memory
    /// when the file does not exist yet; the image is then created by `finish`.
    pub fn open(wasm: &Path, image: &Path, caller: Principal, controller: bool) -> Result<Self> {
        let module = std::fs::read(wasm).map_err(|source| CliError::io(wasm, source))?;
        let controllers = if controller { vec![caller] } else { Vec::new() };
        let args = InstallArgs {
            controllers,
            ..InstallArgs::default()
        };
        let (canister, changed) = if image.exists() {
            let bytes = std::fs::read(image).map_err(|source| CliError::io(image, source))?;
            // An image the canister's MemoryManager does not recognise would be
            // silently replaced by an empty one: refuse it before loading.
            if !bytes.is_empty() {
                backup_runtime::Layout::parse(&bytes)
                    .map_err(|error| CliError::Input(format!("{}: {error}", image.display())))?;
            }
            (
                Canister::from_image(&module, bytes, args).map_err(CliError::runner(wasm))?,
                false,
            )
        } else {
            (
                Canister::install(&module, args).map_err(CliError::runner(wasm))?,
                true,
            )
        };
        Ok(Offline {
            canister,
            image: image.to_path_buf(),
            caller,
            changed,
        })
    }

    fn result(method: &str, result: canister_runner::CallResult) -> Result<Vec<u8>> {
        result.result.map_err(|reject| CliError::Rejected {
            method: method.to_string(),
            message: reject.message,
        })
    }
}

impl Target for Offline {
    fn query(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let result = self.canister.query(self.caller, method, arg);
        Self::result(method, result)
    }

    fn update(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let result = self.canister.update(self.caller, method, arg);
        self.changed = true;
        Self::result(method, result)
    }

    fn candid(&mut self) -> Result<Option<String>> {
        Ok(self.canister.candid_interface())
    }

    fn finish(&mut self) -> Result<()> {
        if self.changed {
            self.canister
                .save_image(&self.image)
                .map_err(CliError::runner(&self.image))?;
            self.changed = false;
        }
        Ok(())
    }
}

/// The live target: a canister on a replica or on mainnet.
pub struct Live {
    agent: ic_agent::Agent,
    canister: Principal,
    runtime: tokio::runtime::Runtime,
}

impl Live {
    /// Connects to `url` as `identity`; fetches the root key for a local replica.
    pub fn connect(
        url: &str,
        local: bool,
        identity: Box<dyn ic_agent::Identity>,
        canister: Principal,
    ) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| {
                CliError::Input(format!("cannot start the async runtime: {source}"))
            })?;
        let agent = ic_agent::Agent::builder()
            .with_url(url)
            .with_boxed_identity(identity)
            .build()
            .map_err(|error| CliError::Network(format!("{url}: {error}")))?;
        if local {
            runtime.block_on(agent.fetch_root_key()).map_err(|error| {
                CliError::Network(format!("fetching the root key of {url}: {error}"))
            })?;
        }
        Ok(Live {
            agent,
            canister,
            runtime,
        })
    }

    fn agent_error(method: &str, error: ic_agent::AgentError) -> CliError {
        match error {
            ic_agent::AgentError::CertifiedReject { reject, .. }
            | ic_agent::AgentError::UncertifiedReject { reject, .. } => CliError::Rejected {
                method: method.to_string(),
                message: reject.reject_message,
            },
            other => CliError::Network(format!("{method}: {other}")),
        }
    }
}

impl Target for Live {
    fn query(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let call = self
            .agent
            .query(&self.canister, method)
            .with_arg(arg.to_vec())
            .call();
        self.runtime
            .block_on(call)
            .map_err(|error| Self::agent_error(method, error))
    }

    fn update(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>> {
        let call = self
            .agent
            .update(&self.canister, method)
            .with_arg(arg.to_vec())
            .call_and_wait();
        self.runtime
            .block_on(call)
            .map_err(|error| Self::agent_error(method, error))
    }

    fn queries(&mut self, calls: &[(String, Vec<u8>)]) -> Vec<Result<Vec<u8>>> {
        let agent = &self.agent;
        let canister = self.canister;
        let futures = calls.iter().map(|(method, arg)| async move {
            agent
                .query(&canister, method)
                .with_arg(arg.clone())
                .call()
                .await
                .map_err(|error| Self::agent_error(method, error))
        });
        self.runtime
            .block_on(futures_util::future::join_all(futures))
    }

    fn candid(&mut self) -> Result<Option<String>> {
        let read = self
            .agent
            .read_state_canister_metadata(self.canister, "candid:service");
        match self.runtime.block_on(read) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(ic_agent::AgentError::LookupPathAbsent(_)) => Ok(None),
            Err(error) => Err(CliError::Network(format!(
                "reading candid:service: {error}"
            ))),
        }
    }
}
