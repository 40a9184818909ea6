//! Networks and canister names, resolved as dfx and icp-cli resolve them
//! from the project the command runs in.
//!
//! The project is the nearest folder, from the working directory up, with
//! an `icp.yaml` (icp-cli) or a `dfx.json` (dfx).
//!
//! * `--network ic` is mainnet (`https://icp-api.io`); a URL is itself.
//! * icp-cli: a network (or an environment, which names its network) from
//!   `icp.yaml`'s `networks`/`environments`; `local` is managed on
//!   127.0.0.1:8000 unless overridden. A running managed network's
//!   `.icp/cache/networks/<name>/descriptor.json` gives its real port and
//!   its root key. Canister ids are in `.icp/{cache,data}/mappings/<env>.ids.json`.
//! * dfx: `dfx.json`'s `networks.<name>` (`bind` or `providers`), and for
//!   `local` dfx's shared `networks.json` and default, 127.0.0.1:4943; a
//!   running replica's `webserver-port` file gives its real port. Canister
//!   ids are in `.dfx/<network>/canister_ids.json` and `canister_ids.json`.
//!
//! The root key is fetched from every network except mainnet, whose key
//! agents carry; a key the project states (icp-cli's `root-key`, or a
//! running network's descriptor) is used as it is.

use crate::error::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Hosts of the Internet Computer's mainnet: their root key is built into
/// the agent, and fetching it from them would trust whoever answers.
const MAINNET_HOSTS: [&str; 4] = ["icp-api.io", "ic0.app", "icp0.io", "icp.io"];

/// How the agent gets the root key of the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKey {
    /// Mainnet: the key built into the agent.
    Mainnet,
    /// Asked of the network itself (a local replica, a testnet).
    Fetch,
    /// Stated by the project (DER).
    Known(Vec<u8>),
}

/// Where to send calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub url: String,
    pub root_key: RootKey,
    /// What the URL was resolved from, for messages.
    pub source: String,
}

/// Which tool a project belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dfx,
    Icp,
}

/// A dfx or icp-cli project.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub kind: Kind,
    /// `dfx.json`, or `icp.yaml` read as JSON values.
    config: Value,
}

impl Project {
    /// The nearest project from `start` up, if any.
    pub fn find(start: &Path) -> Result<Option<Project>> {
        for dir in start.ancestors() {
            let icp = dir.join("icp.yaml");
            if icp.is_file() {
                let text =
                    std::fs::read_to_string(&icp).map_err(|source| Error::io(&icp, source))?;
                let config: Value = serde_yaml::from_str(&text)
                    .map_err(|error| Error::file(&icp, "an icp-cli project (YAML)", error))?;
                return Ok(Some(Project {
                    root: dir.to_path_buf(),
                    kind: Kind::Icp,
                    config,
                }));
            }
            let dfx = dir.join("dfx.json");
            if dfx.is_file() {
                return Ok(Some(Project {
                    root: dir.to_path_buf(),
                    kind: Kind::Dfx,
                    config: read_json(&dfx)?,
                }));
            }
        }
        Ok(None)
    }

    /// icp-cli: the network an environment (or a network of that name) is on.
    fn icp_network_of(&self, name: &str) -> String {
        self.config["environments"]
            .as_array()
            .and_then(|environments| {
                environments
                    .iter()
                    .find(|environment| environment["name"] == name)
            })
            .and_then(|environment| environment["network"].as_str())
            .unwrap_or(name)
            .to_string()
    }

    fn icp_network(&self, name: &str) -> Option<&Value> {
        self.config["networks"]
            .as_array()?
            .iter()
            .find(|network| network["name"] == name)
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    serde_json::from_slice(&bytes).map_err(|error| Error::file(path, "JSON", error))
}

fn read_json_if_exists(path: &Path) -> Result<Option<Value>> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

fn is_mainnet(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    MAINNET_HOSTS
        .iter()
        .any(|mainnet| host == *mainnet || host.ends_with(&format!(".{mainnet}")))
}

/// The places dfx and icp-cli keep their shared files, from the environment.
#[derive(Clone, Debug, Default)]
pub struct Homes {
    /// dfx's `~/.config/dfx` (`DFX_CONFIG_ROOT` moves `~`).
    pub dfx_config: Option<PathBuf>,
    /// dfx's shared network data, `~/.local/share/dfx/network`.
    pub dfx_networks: Option<PathBuf>,
    /// icp-cli's identity folder: `$ICP_HOME/identity`, else in the
    /// platform's data folder (`~/.local/share/icp-cli/identity` on Linux,
    /// `~/Library/Application Support/org.dfinity.icp-cli/identity` on macOS).
    pub icp_identity: Option<PathBuf>,
}

impl Homes {
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME");
        // The platform's data folder, as the `directories` crate finds it.
        let data = if cfg!(target_os = "macos") {
            home.as_ref()
                .map(|home| home.join("Library/Application Support"))
        } else {
            var("XDG_DATA_HOME").or_else(|| home.as_ref().map(|home| home.join(".local/share")))
        };
        let (dfx_data, icp_data) = if cfg!(target_os = "macos") {
            ("org.dfinity.dfx", "org.dfinity.icp-cli")
        } else {
            ("dfx", "icp-cli")
        };
        Homes {
            dfx_config: var("DFX_CONFIG_ROOT")
                .or_else(|| home.clone())
                .map(|root| root.join(".config/dfx")),
            dfx_networks: data
                .as_ref()
                .map(|data| data.join(dfx_data).join("network")),
            icp_identity: match var("ICP_HOME") {
                Some(icp_home) => Some(icp_home.join("identity")),
                None => data.map(|data| data.join(icp_data).join("identity")),
            },
        }
    }
}

/// The network `name` (a network or environment name, `ic`, or a URL)
/// as the project's tool resolves it; `fetch_root_key` forces fetching.
pub fn resolve_network(
    name: &str,
    project: Option<&Project>,
    homes: &Homes,
    fetch_root_key: bool,
) -> Result<Network> {
    let mut network = match name {
        url if url.starts_with("http://") || url.starts_with("https://") => Network {
            url: url.trim_end_matches('/').to_string(),
            root_key: if is_mainnet(url) {
                RootKey::Mainnet
            } else {
                RootKey::Fetch
            },
            source: "--network".into(),
        },
        "ic" => Network {
            url: "https://icp-api.io".into(),
            root_key: RootKey::Mainnet,
            source: "mainnet".into(),
        },
        name => match project {
            Some(project) if project.kind == Kind::Icp => icp_network(name, project)?,
            Some(project) => dfx_network(name, Some(project), homes)?,
            None => dfx_network(name, None, homes)?,
        },
    };
    if fetch_root_key {
        if network.root_key == RootKey::Mainnet {
            return Err(Error::Input(format!(
                "--fetch-root-key with {}: mainnet's root key is built into the agent, and a key fetched from the network would trust whoever answers",
                network.url
            )));
        }
        network.root_key = RootKey::Fetch;
    }
    Ok(network)
}

fn icp_network(name: &str, project: &Project) -> Result<Network> {
    let network_name = project.icp_network_of(name);
    let source = format!(
        "icp-cli network `{network_name}` of {}",
        project.root.join("icp.yaml").display()
    );
    let config = project.icp_network(&network_name);
    let connected = config.is_some_and(|network| network["mode"] == "connected");
    if connected {
        let network = config.unwrap_or(&Value::Null);
        let url = network["api-url"]
            .as_str()
            .or(network["url"].as_str())
            .ok_or_else(|| {
                Error::Input(format!(
                    "{source}: a connected network without `url` or `api-url`"
                ))
            })?;
        // YAML reads a hex key of digits only as a number.
        let root_key = match network["root-key"]
            .as_str()
            .map(str::to_string)
            .or_else(|| network["root-key"].as_u64().map(|n| n.to_string()))
        {
            Some(key) => RootKey::Known(hex::decode(key).map_err(|error| {
                Error::Input(format!("{source}: its root-key is not hex: {error}"))
            })?),
            None if is_mainnet(url) => RootKey::Mainnet,
            None => RootKey::Fetch,
        };
        return Ok(Network {
            url: url.trim_end_matches('/').to_string(),
            root_key,
            source,
        });
    }
    if config.is_none() && network_name != "local" {
        if network_name == "ic" {
            return resolve_network("ic", None, &Homes::default(), false);
        }
        return Err(Error::Input(format!(
            "no network or environment `{name}` in {}: expected `local`, `ic`, one of its networks or environments, or a URL",
            project.root.join("icp.yaml").display()
        )));
    }
    // A managed network: the running one's descriptor knows its port and key.
    let descriptor_path = project
        .root
        .join(".icp/cache/networks")
        .join(&network_name)
        .join("descriptor.json");
    if let Some(descriptor) = read_json_if_exists(&descriptor_path)? {
        let gateway = &descriptor["gateway"];
        if let Some(port) = gateway["port"].as_u64() {
            let ip = gateway["ip"].as_str().unwrap_or("127.0.0.1");
            let root_key = match descriptor["root-key"].as_str().map(hex::decode) {
                Some(Ok(key)) => RootKey::Known(key),
                _ => RootKey::Fetch,
            };
            return Ok(Network {
                url: format!("http://{ip}:{port}"),
                root_key,
                source: format!("the running network's {}", descriptor_path.display()),
            });
        }
    }
    let gateway = config.map_or(&Value::Null, |network| &network["gateway"]);
    let port = gateway["port"].as_u64().unwrap_or(8000);
    let bind = gateway["bind"].as_str().unwrap_or("127.0.0.1");
    let bind = if bind == "0.0.0.0" { "127.0.0.1" } else { bind };
    Ok(Network {
        url: format!("http://{bind}:{port}"),
        root_key: RootKey::Fetch,
        source,
    })
}

fn dfx_network(name: &str, project: Option<&Project>, homes: &Homes) -> Result<Network> {
    let from_project = project.and_then(|project| {
        let network = &project.config["networks"][name];
        (!network.is_null()).then(|| {
            (
                network.clone(),
                format!(
                    "dfx network `{name}` of {}",
                    project.root.join("dfx.json").display()
                ),
            )
        })
    });
    let shared_config = homes
        .dfx_config
        .as_ref()
        .map(|config| config.join("networks.json"));
    let shared = match (&from_project, &shared_config) {
        (None, Some(path)) => read_json_if_exists(path)?
            .map(|networks| networks[name].clone())
            .filter(|network| !network.is_null())
            .map(|network| {
                (
                    network,
                    format!("dfx network `{name}` of {}", path.display()),
                )
            }),
        _ => None,
    };
    // A network the project defines runs in the project (`.dfx/network`);
    // otherwise it is dfx's shared one.
    let in_project = from_project.is_some();
    let (config, source) = match from_project.or(shared) {
        Some(found) => found,
        None if name == "local" => (Value::Null, "dfx's default local network".to_string()),
        None => {
            return Err(Error::Input(format!(
                "no network `{name}`{}: expected `local`, `ic`, a network of the project, or a URL",
                project
                    .map(|p| format!(" in {}", p.root.join("dfx.json").display()))
                    .unwrap_or_default()
            )))
        }
    };
    if let Some(provider) = config["providers"]
        .as_array()
        .and_then(|providers| providers.first())
        .and_then(Value::as_str)
    {
        return Ok(Network {
            url: provider.trim_end_matches('/').to_string(),
            root_key: if is_mainnet(provider) {
                RootKey::Mainnet
            } else {
                RootKey::Fetch
            },
            source,
        });
    }
    let bind = config["bind"].as_str().unwrap_or("127.0.0.1:4943");
    let (host, port) = bind.rsplit_once(':').unwrap_or((bind, "4943"));
    let host = if host == "0.0.0.0" { "127.0.0.1" } else { host };
    // A running replica writes the port it listens on (a `bind` port 0 picks one).
    let port_files = [
        project.map(|project| {
            project
                .root
                .join(".dfx/network")
                .join(name)
                .join("webserver-port")
        }),
        (name == "local" && !in_project)
            .then(|| {
                homes
                    .dfx_networks
                    .as_ref()
                    .map(|dir| dir.join("local/webserver-port"))
            })
            .flatten(),
    ];
    let running = port_files.iter().flatten().find_map(|file| {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|port| port.trim().parse::<u16>().ok())
            .map(|port| (port, file.clone()))
    });
    let (port, source) = match running {
        Some((port, file)) => (
            port.to_string(),
            format!("the running replica's {}", file.display()),
        ),
        None => (port.to_string(), source),
    };
    Ok(Network {
        url: format!("http://{host}:{port}"),
        root_key: RootKey::Fetch,
        source,
    })
}

/// The canister `text`: an id, or a name from the project's canister id
/// files for the network (or environment) `network`.
pub fn resolve_canister(
    text: &str,
    network: &str,
    project: Option<&Project>,
) -> Result<candid::Principal> {
    if let Ok(id) = candid::Principal::from_text(text) {
        return Ok(id);
    }
    let Some(project) = project else {
        return Err(Error::Input(format!(
            "expected a canister id for --canister, found `{text}`; a canister name is looked up in a dfx or icp-cli project, and there is none here or above"
        )));
    };
    let files: Vec<PathBuf> = match project.kind {
        Kind::Icp => ["cache", "data"]
            .iter()
            .map(|place| {
                project
                    .root
                    .join(".icp")
                    .join(place)
                    .join("mappings")
                    .join(format!("{network}.ids.json"))
            })
            .collect(),
        Kind::Dfx => vec![
            project
                .root
                .join(".dfx")
                .join(network)
                .join("canister_ids.json"),
            project.root.join("canister_ids.json"),
        ],
    };
    for file in &files {
        let Some(ids) = read_json_if_exists(file)? else {
            continue;
        };
        // icp-cli: {"name": "id"}; dfx: {"name": {"network": "id"}}.
        let id = match &ids[text] {
            Value::String(id) => Some(id.as_str()),
            Value::Object(by_network) => by_network.get(network).and_then(Value::as_str),
            _ => None,
        };
        if let Some(id) = id {
            return candid::Principal::from_text(id).map_err(|error| {
                Error::Input(format!(
                    "{}: the id of `{text}` is not a principal: {error}",
                    file.display()
                ))
            });
        }
    }
    let tried: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Err(Error::Input(format!(
        "no canister `{text}` on network `{network}`: looked in {}; is it deployed there (`{} deploy`)?",
        tried.join(", "),
        if project.kind == Kind::Icp { "icp" } else { "dfx" }
    )))
}

#[cfg(test)]
mod tests;
