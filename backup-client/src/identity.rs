//! Identities, read where and as dfx and icp-cli keep them.
//!
//! * dfx (`dfx identity`): `~/.config/dfx/identity.json` names the default
//!   (`{"default": "<name>"}`, `default` when absent); each identity is a
//!   folder `~/.config/dfx/identity/<name>/` with an `identity.json` saying
//!   how its key is kept: `identity.pem` in plaintext, `identity.pem.encrypted`
//!   (AES-256-GCM under a key derived from the password with Argon2id,
//!   64000 KiB, 3 passes, the salt and nonce in `identity.json`), in the
//!   system keyring, or on an HSM. `DFX_CONFIG_ROOT` moves `~`.
//! * icp-cli (`icp identity`): `<data dir>/identity/` (`$ICP_HOME/identity`,
//!   else `$XDG_DATA_HOME/icp-cli/identity` or `~/.local/share/icp-cli/identity`
//!   on Linux, `~/Library/Application Support/org.dfinity.icp-cli/identity`
//!   on macOS) holds `identity_list.json` (each identity's kind, key format
//!   and algorithm), `identity_defaults.json` (the default, `anonymous` when
//!   absent) and `keys/<name>.pem`: PKCS#8, plaintext or PBES2-encrypted
//!   (scrypt and AES-256-CBC).
//!
//! Keys are Ed25519, secp256k1 or P-256. Keys in a keyring or on an HSM are
//! not read: the error says how to export them to a PEM file.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a password comes from: a file, or a prompt at the terminal.
#[derive(Clone, Debug, Default)]
pub struct Password {
    pub file: Option<PathBuf>,
}

impl Password {
    /// The password for `what` (a file or an identity, for the prompt and
    /// the errors).
    fn get(&self, what: &str) -> Result<String> {
        if let Some(file) = &self.file {
            let text = std::fs::read_to_string(file).map_err(|source| Error::io(file, source))?;
            // The first line, as `echo secret > file` writes it.
            return Ok(text.lines().next().unwrap_or_default().to_string());
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(Error::Input(format!(
                "{what} is encrypted: give its password with --password-file <file>, or run at a terminal to be asked"
            )));
        }
        rpassword::prompt_password(format!("Password for {what}: "))
            .map_err(|error| Error::Input(format!("reading the password for {what}: {error}")))
    }
}

/// Which identity store a name is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Dfx,
    Icp,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Dfx => "dfx",
            Tool::Icp => "icp-cli",
        }
    }
}

/// The folders the two tools keep identities in, from the environment.
#[derive(Clone, Debug)]
pub struct Stores {
    /// dfx's `~/.config/dfx`.
    pub dfx: Option<PathBuf>,
    /// icp-cli's `<data dir>/identity`.
    pub icp: Option<PathBuf>,
}

impl Stores {
    /// As dfx and icp-cli find them on this machine.
    pub fn from_env() -> Self {
        let homes = crate::project::Homes::from_env();
        Stores {
            dfx: homes.dfx_config,
            icp: homes.icp_identity,
        }
    }

    /// The identity `name` (`dfx:<name>` or `icp:<name>` to say whose), or
    /// the default identity of `tool` when `name` is `None`.
    pub fn load(
        &self,
        name: Option<&str>,
        tool: Option<Tool>,
        password: &Password,
    ) -> Result<Box<dyn ic_agent::Identity>> {
        let (tool, name) = match name.map(|name| name.split_once(':')) {
            Some(Some(("dfx", name))) => (Some(Tool::Dfx), Some(name)),
            Some(Some(("icp", name))) => (Some(Tool::Icp), Some(name)),
            _ => (tool, name),
        };
        let name = match name {
            Some(name) => name.to_string(),
            None => self.default_name(tool.unwrap_or(Tool::Dfx))?,
        };
        let in_dfx = self.dfx_has(&name);
        let in_icp = self
            .icp_list()?
            .is_some_and(|list| list.identities.contains_key(&name));
        match (tool, in_dfx, in_icp) {
            (Some(Tool::Dfx), true, _) | (None, true, false) => self.load_dfx(&name, password),
            (Some(Tool::Icp), _, true) | (None, false, true) => self.load_icp(&name, password),
            (None, true, true) => Err(Error::Input(format!(
                "both dfx and icp-cli have an identity `{name}`: say which with --identity dfx:{name} or --identity icp:{name}"
            ))),
            (_, _, _) => Err(Error::Input(format!(
                "no identity `{name}`{}: looked in {}. `dfx identity list` and `icp identity list` show the ones there are; --pem <file> takes a key file",
                tool.map(|tool| format!(" in {}'s store", tool.name())).unwrap_or_default(),
                self.places()
            ))),
        }
    }

    fn places(&self) -> String {
        let mut places = Vec::new();
        if let Some(dfx) = &self.dfx {
            places.push(format!("{} (dfx)", dfx.join("identity").display()));
        }
        if let Some(icp) = &self.icp {
            places.push(format!(
                "{} (icp-cli)",
                icp.join("identity_list.json").display()
            ));
        }
        places.join(" and ")
    }

    /// The identity the tool uses when none is named.
    fn default_name(&self, tool: Tool) -> Result<String> {
        let name = match tool {
            Tool::Dfx => match self.dfx.as_ref().map(|dfx| dfx.join("identity.json")) {
                Some(path) if path.exists() => {
                    #[derive(Deserialize)]
                    struct Configuration {
                        default: Option<String>,
                    }
                    read_json::<Configuration>(&path)?.default
                }
                _ => None,
            }
            .unwrap_or_else(|| "default".into()),
            Tool::Icp => match self
                .icp
                .as_ref()
                .map(|icp| icp.join("identity_defaults.json"))
            {
                Some(path) if path.exists() => {
                    #[derive(Deserialize)]
                    struct Defaults {
                        default: String,
                    }
                    read_json::<Defaults>(&path)?.default
                }
                _ => "anonymous".into(),
            },
        };
        if name == "anonymous" {
            return Err(Error::Input(format!(
                "{}'s default identity is `anonymous`, which no canister's admin set holds: name one with --identity <name> (or `{} identity default <name>`)",
                tool.name(),
                if tool == Tool::Dfx { "dfx" } else { "icp" }
            )));
        }
        Ok(name)
    }

    fn dfx_has(&self, name: &str) -> bool {
        self.dfx
            .as_ref()
            .is_some_and(|dfx| dfx.join("identity").join(name).is_dir())
    }

    fn load_dfx(&self, name: &str, password: &Password) -> Result<Box<dyn ic_agent::Identity>> {
        #[derive(Default, Deserialize)]
        struct Configuration {
            hsm: Option<serde_json::Value>,
            encryption: Option<Encryption>,
            keyring_identity_suffix: Option<String>,
        }
        #[derive(Deserialize)]
        struct Encryption {
            pw_salt: String,
            file_nonce: Vec<u8>,
        }
        let dir = self
            .dfx
            .as_ref()
            .map(|dfx| dfx.join("identity").join(name))
            .unwrap_or_default();
        let config_path = dir.join("identity.json");
        let config: Configuration = if config_path.exists() {
            read_json(&config_path)?
        } else {
            Configuration::default()
        };
        if config.hsm.is_some() {
            return Err(Error::Input(format!(
                "dfx identity `{name}` is on a hardware security module, which ic-backup cannot use: use another identity with --identity or --pem"
            )));
        }
        if config.keyring_identity_suffix.is_some() {
            return Err(Error::Input(format!(
                "dfx identity `{name}` is kept in the system keyring, which ic-backup does not read: export it with `dfx identity export {name} > {name}.pem` and pass --pem {name}.pem (keep that file private, or encrypt it: `openssl pkcs8 -topk8 -v2 aes-256-cbc -scrypt -in {name}.pem -out {name}.encrypted.pem` and --pem it with --password-file)"
            )));
        }
        let what = format!("dfx identity `{name}`");
        let pem = match config.encryption {
            None => {
                let path = dir.join("identity.pem");
                std::fs::read(&path).map_err(|source| Error::io(&path, source))?
            }
            Some(encryption) => {
                let path = dir.join("identity.pem.encrypted");
                let sealed = std::fs::read(&path).map_err(|source| Error::io(&path, source))?;
                let password = password.get(&what)?;
                dfx_decrypt(
                    &sealed,
                    &encryption.pw_salt,
                    &encryption.file_nonce,
                    &password,
                )
                .map_err(|error| Error::Input(format!("{what} ({}): {error}", path.display())))?
            }
        };
        load_pem(&pem, password, &what)
    }

    fn icp_list(&self) -> Result<Option<IcpList>> {
        match self.icp.as_ref().map(|icp| icp.join("identity_list.json")) {
            Some(path) if path.exists() => {
                let list: IcpList = read_json(&path)?;
                if list.v != 1 {
                    return Err(Error::Input(format!(
                        "{}: expected version 1 of icp-cli's identity list, found {}",
                        path.display(),
                        list.v
                    )));
                }
                Ok(Some(list))
            }
            _ => Ok(None),
        }
    }

    fn load_icp(&self, name: &str, password: &Password) -> Result<Box<dyn ic_agent::Identity>> {
        let list = self.icp_list()?.unwrap_or_default();
        let spec = list.identities.get(name).cloned().unwrap_or_default();
        let what = format!("icp-cli identity `{name}`");
        match spec.kind.as_str() {
            "pem" => {
                let dir = self.icp.clone().unwrap_or_default();
                let path = dir.join("keys").join(format!("{name}.pem"));
                let pem = std::fs::read(&path).map_err(|source| Error::io(&path, source))?;
                load_pem(&pem, password, &what)
            }
            "keyring" => Err(Error::Input(format!(
                "{what} is kept in the system keyring, which ic-backup does not read: export it with `icp identity export {name} > {name}.pem` and pass --pem {name}.pem"
            ))),
            "anonymous" => Err(Error::Input(format!(
                "{what} is the anonymous identity, which no canister's admin set holds"
            ))),
            other => Err(Error::Input(format!(
                "{what} is of kind `{other}` (a hardware key or an Internet Identity delegation), which ic-backup cannot use: use a PEM identity"
            ))),
        }
    }
}

#[derive(Default, Deserialize)]
struct IcpList {
    v: u32,
    identities: HashMap<String, IcpSpec>,
}

#[derive(Clone, Default, Deserialize)]
struct IcpSpec {
    kind: String,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    serde_json::from_slice(&bytes)
        .map_err(|error| Error::Input(format!("{}: {error}", path.display())))
}

/// A `--pem` file: plaintext, or encrypted PKCS#8 (asks for the password).
pub fn load_pem_file(path: &Path, password: &Password) -> Result<Box<dyn ic_agent::Identity>> {
    let pem = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    load_pem(&pem, password, &path.display().to_string())
}

/// A key in PEM form: Ed25519, secp256k1 or P-256, in PKCS#8 or SEC1, or
/// an `ENCRYPTED PRIVATE KEY` (PKCS#8 under PBES2), decrypted with the password.
fn load_pem(pem: &[u8], password: &Password, what: &str) -> Result<Box<dyn ic_agent::Identity>> {
    let in_what = |error: String| Error::Input(format!("{what}: {error}"));
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        use pkcs8::der::Decode;
        let document = pem::parse(pem)
            .map_err(|error| in_what(format!("expected an encrypted PKCS#8 key: {error}")))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(document.contents())
            .map_err(|error| in_what(format!("expected an encrypted PKCS#8 key: {error}")))?;
        let password = password.get(what)?;
        let key = encrypted
            .decrypt(password.as_bytes())
            .map_err(|_| in_what("wrong password: the key does not decrypt with it".into()))?;
        // A wrong password that happens to leave valid padding leaves no valid key.
        let plain = pem::encode(&pem::Pem::new("PRIVATE KEY", key.as_bytes()));
        return parse_pem(plain.as_bytes())
            .map_err(|_| in_what("wrong password: the key does not decrypt with it".into()));
    }
    parse_pem(pem).map_err(in_what)
}

/// dfx's `identity.pem.encrypted`: AES-256-GCM, the key Argon2id of the
/// password with the salt as dfx passes it (its text, read as PHC base64).
fn dfx_decrypt(sealed: &[u8], salt: &str, nonce: &[u8], password: &str) -> Result<Vec<u8>, String> {
    use aes_gcm::aead::{Aead, KeyInit};
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(64000, 3, 1, Some(32)).map_err(|e| e.to_string())?;
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::from_b64(salt).map_err(|e| format!("its salt: {e}"))?;
    let hash = argon2
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| format!("deriving the key: {e}"))?;
    let key = hash.hash.ok_or("deriving the key: no output")?;
    if nonce.len() != 12 {
        return Err(format!(
            "expected a 12-byte nonce, found {} bytes",
            nonce.len()
        ));
    }
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key.as_bytes()).map_err(|e| e.to_string())?;
    cipher
        .decrypt(aes_gcm::Nonce::from_slice(nonce), sealed)
        .map_err(|_| "wrong password: the file does not decrypt with it".into())
}

/// An identity from PEM bytes: Ed25519, secp256k1 or P-256, as dfx and
/// icp-cli write them.
pub fn parse_pem(pem: &[u8]) -> std::result::Result<Box<dyn ic_agent::Identity>, String> {
    use ic_agent::identity::{BasicIdentity, Prime256v1Identity, Secp256k1Identity};
    if let Ok(identity) = BasicIdentity::from_pem(pem) {
        return Ok(Box::new(identity));
    }
    if let Ok(identity) = Secp256k1Identity::from_pem(pem) {
        return Ok(Box::new(identity));
    }
    Prime256v1Identity::from_pem(pem)
        .map(|identity| Box::new(identity) as Box<dyn ic_agent::Identity>)
        .map_err(|error| {
            format!("expected an Ed25519, secp256k1 or P-256 private key in PEM form: {error}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_identities() {
        // An Ed25519 key in the PKCS#8 form dfx writes.
        let pem = "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n";
        let identity = parse_pem(pem.as_bytes()).unwrap();
        assert!(identity.sender().is_ok());
        let error = parse_pem(b"not a key").err().unwrap();
        assert!(error.contains("expected an Ed25519"), "{error}");
    }
}
