//! Identity stores laid out as dfx and icp-cli lay them out (read from their
//! sources: dfx-core's `identity_manager.rs` and `pem_safekeeping.rs`,
//! icp-cli's `identity/manifest.rs` and `identity/key.rs`), each key
//! written here the way that tool writes it, and `ic-backup` acting as each
//! identity's own principal.

use crate::common;

use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine;
use common::Offline;
use ic_agent::identity::{BasicIdentity, Prime256v1Identity, Secp256k1Identity};
use ic_agent::Identity;
use pkcs8::der::Decode;
use pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An Ed25519 key in the PKCS#8 form dfx writes.
const ED25519: &str = "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n";
const PASSWORD: &str = "correct horse battery staple";

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The key of [`ED25519`] as a PKCS#8 v1 document (no public key).
fn ed25519_pkcs8_v1() -> Vec<u8> {
    let dfx_form = pem::parse(ED25519).unwrap();
    let secret = &dfx_form.contents()[16..48];
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(secret);
    der
}

fn secp256k1() -> k256::SecretKey {
    k256::SecretKey::from_slice(&[7; 32]).unwrap()
}

fn p256() -> p256::SecretKey {
    p256::SecretKey::from_slice(&[9; 32]).unwrap()
}

fn principal_of(identity: impl Identity) -> String {
    identity.sender().unwrap().to_text()
}

/// What dfx writes for a password-protected identity: the PEM sealed with
/// AES-256-GCM under Argon2id(password), the salt's text decoded as the
/// PHC base64 that `argon2`'s `hash_password` reads it as.
fn dfx_encrypt(pem: &[u8], salt: &str, nonce: &[u8; 12]) -> Vec<u8> {
    let salt_bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(salt)
        .unwrap();
    let params = argon2::Params::new(64000, 3, 1, Some(32)).unwrap();
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon2
        .hash_password_into(PASSWORD.as_bytes(), &salt_bytes, &mut key)
        .unwrap();
    aes_gcm::Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .encrypt(aes_gcm::Nonce::from_slice(nonce), pem)
        .unwrap()
}

/// What icp-cli writes for a `pbes2` identity: PKCS#8 under scrypt (2^17,
/// 8, 1) and AES-256-CBC.
fn icp_encrypt(pkcs8_der: &[u8]) -> String {
    let info = pkcs8::PrivateKeyInfo::from_der(pkcs8_der).unwrap();
    let params = pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(
        pkcs8::pkcs5::scrypt::Params::new(17, 8, 1, 32).unwrap(),
        &[3; 16],
        &[4; 16],
    )
    .unwrap();
    info.encrypt_with_params(params, PASSWORD)
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .unwrap()
        .to_string()
}

struct Stores {
    dir: tempfile::TempDir,
    principals: std::collections::HashMap<&'static str, String>,
}

impl Stores {
    /// dfx: `alice` (secp256k1, SEC1 plaintext, the default), `sealed`
    /// (Ed25519, password-protected), `kept` (in the keyring). icp-cli: `bob`
    /// (P-256 plaintext, the default), `carol` (secp256k1, pbes2), `dave`
    /// (Ed25519, pbes2), and an `alice` of its own (Ed25519).
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dfx = dir.path().join("home/.config/dfx");
        let icp = dir.path().join("icp-home/identity");
        let mut principals = std::collections::HashMap::new();

        write(
            &dfx.join("identity.json"),
            json!({ "default": "alice" }).to_string(),
        );
        let alice = secp256k1();
        write(
            &dfx.join("identity/alice/identity.pem"),
            alice.to_sec1_pem(LineEnding::LF).unwrap().as_bytes(),
        );
        principals.insert(
            "alice",
            principal_of(Secp256k1Identity::from_private_key(alice)),
        );

        let salt = hex::encode([5u8; 32]);
        let nonce = [6u8; 12];
        write(
            &dfx.join("identity/sealed/identity.json"),
            json!({ "hsm": null, "encryption": { "pw_salt": salt, "file_nonce": nonce }, "keyring_identity_suffix": null }).to_string(),
        );
        write(
            &dfx.join("identity/sealed/identity.pem.encrypted"),
            dfx_encrypt(ED25519.as_bytes(), &salt, &nonce),
        );
        principals.insert(
            "sealed",
            principal_of(BasicIdentity::from_pem(ED25519.as_bytes()).unwrap()),
        );
        write(
            &dfx.join("identity/kept/identity.json"),
            json!({ "keyring_identity_suffix": "kept" }).to_string(),
        );

        let bob = p256();
        write(
            &icp.join("keys/bob.pem"),
            bob.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
        );
        principals.insert(
            "bob",
            principal_of(Prime256v1Identity::from_private_key(bob)),
        );
        let carol = secp256k1();
        write(
            &icp.join("keys/carol.pem"),
            icp_encrypt(carol.to_pkcs8_der().unwrap().as_bytes()),
        );
        principals.insert(
            "carol",
            principal_of(Secp256k1Identity::from_private_key(carol)),
        );
        // icp-cli writes Ed25519 keys in canonical PKCS#8 (dfx's form above
        // tags its public key in a way the strict DER reader refuses).
        let ed25519 = ed25519_pkcs8_v1();
        write(&icp.join("keys/dave.pem"), icp_encrypt(&ed25519));
        write(
            &icp.join("keys/alice.pem"),
            pem::encode(&pem::Pem::new("PRIVATE KEY", ed25519)),
        );
        let pem = |format: &str, algorithm: &str| json!({ "kind": "pem", "format": format, "algorithm": algorithm, "principal": "aaaaa-aa" });
        write(
            &icp.join("identity_list.json"),
            json!({ "v": 1, "identities": {
                "anonymous": { "kind": "anonymous" },
                "bob": pem("plaintext", "prime256v1"),
                "carol": pem("pbes2", "secp256k1"),
                "dave": pem("pbes2", "ed25519"),
                "alice": pem("plaintext", "ed25519"),
                "kept": { "kind": "keyring", "principal": "aaaaa-aa", "algorithm": "ed25519" },
            }})
            .to_string(),
        );
        write(
            &icp.join("identity_defaults.json"),
            json!({ "v": 1, "default": "bob" }).to_string(),
        );
        write(&dir.path().join("password"), format!("{PASSWORD}\n"));
        write(&dir.path().join("wrong"), "not it\n");
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        Stores { dir, principals }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ic-backup` with this machine's stores, run in `cwd`.
    fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ic-backup"));
        command
            .current_dir(cwd)
            .env("HOME", self.path("home"))
            .env("ICP_HOME", self.path("icp-home"))
            .env_remove("DFX_CONFIG_ROOT")
            .env_remove("XDG_DATA_HOME")
            .args(args);
        command
    }

    fn whoami(&self, cwd: &Path, args: &[&str]) -> Result<String, String> {
        let mut all = args.to_vec();
        all.push("whoami");
        let out = self.command(cwd, &all).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
        } else {
            Err(String::from_utf8(out.stderr).unwrap())
        }
    }
}

#[test]
fn every_kind_of_key_is_its_own_principal() {
    let stores = Stores::new();
    let here = stores.path("elsewhere");
    let password = stores.path("password");
    let password = password.to_str().unwrap();
    for (name, args) in [
        ("alice", vec![]),
        ("alice", vec!["--identity", "dfx:alice"]),
        (
            "sealed",
            vec!["--identity", "sealed", "--password-file", password],
        ),
        ("bob", vec!["--identity", "bob"]),
        (
            "carol",
            vec!["--identity", "carol", "--password-file", password],
        ),
        (
            "sealed",
            vec!["--identity", "dave", "--password-file", password],
        ),
        ("sealed", vec!["--identity", "icp:alice"]),
    ] {
        assert_eq!(
            stores
                .whoami(&here, &args)
                .unwrap_or_else(|e| panic!("{args:?}: {e}")),
            stores.principals[name],
            "{args:?}"
        );
    }
    // A key file, encrypted as icp-cli encrypts, given with --pem.
    let carol = stores.path("icp-home/identity/keys/carol.pem");
    assert_eq!(
        stores
            .whoami(
                &here,
                &[
                    "--pem",
                    carol.to_str().unwrap(),
                    "--password-file",
                    password
                ]
            )
            .unwrap(),
        stores.principals["carol"]
    );
}

#[test]
fn the_default_is_the_project_tools_default() {
    let stores = Stores::new();
    let icp_project = stores.path("icp-project/src");
    write(&stores.path("icp-project/icp.yaml"), "canisters: []\n");
    std::fs::create_dir_all(&icp_project).unwrap();
    assert_eq!(
        stores.whoami(&icp_project, &[]).unwrap(),
        stores.principals["bob"]
    );
    let dfx_project = stores.path("dfx-project");
    write(&dfx_project.join("dfx.json"), "{}");
    assert_eq!(
        stores.whoami(&dfx_project, &[]).unwrap(),
        stores.principals["alice"]
    );
}

#[test]
fn refusals_say_what_is_wrong_and_how_to_go_on() {
    let stores = Stores::new();
    let here = stores.path("elsewhere");
    let wrong = stores.path("wrong");
    for (args, expected) in [
        (
            vec![
                "--identity",
                "sealed",
                "--password-file",
                wrong.to_str().unwrap(),
            ],
            "wrong password",
        ),
        (
            vec![
                "--identity",
                "carol",
                "--password-file",
                wrong.to_str().unwrap(),
            ],
            "wrong password",
        ),
        // Not at a terminal, and no password file.
        (vec!["--identity", "carol"], "--password-file"),
        (
            vec!["--identity", "kept"],
            "both dfx and icp-cli have an identity `kept`",
        ),
        (
            vec!["--identity", "dfx:kept"],
            "dfx identity export kept > kept.pem",
        ),
        (
            vec!["--identity", "icp:kept"],
            "icp identity export kept > kept.pem",
        ),
        (
            vec!["--identity", "alice"],
            "--identity dfx:alice or --identity icp:alice",
        ),
        (vec!["--identity", "nobody"], "no identity `nobody`"),
    ] {
        let error = stores.whoami(&here, &args).unwrap_err();
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    // icp-cli's own default, with no identity file at all, is anonymous.
    std::fs::remove_file(stores.path("icp-home/identity/identity_defaults.json")).unwrap();
    write(&stores.path("icp-project/icp.yaml"), "canisters: []\n");
    let error = stores.whoami(&stores.path("icp-project"), &[]).unwrap_err();
    assert!(error.contains("default identity is `anonymous`"), "{error}");
}

/// An encrypted icp-cli identity calls the canister as itself: refused
/// until the controller adds its principal, then served.
#[test]
fn an_encrypted_identity_acts_as_itself() {
    let stores = Stores::new();
    let offline = Offline::new("profiles");
    let password = stores.path("password");
    let as_carol = |args: &[&str]| {
        let mut all = vec![
            "--identity",
            "carol",
            "--password-file",
            password.to_str().unwrap(),
            "--not-controller",
        ];
        all.extend_from_slice(args);
        let mut command = offline.command(&offline.image, &all);
        command
            .current_dir(stores.path("elsewhere"))
            .env("HOME", stores.path("home"))
            .env("ICP_HOME", stores.path("icp-home"));
        command.output().unwrap()
    };
    let out = as_carol(&["call", "backup_profiles_page", "(null, null)"]);
    assert!(!out.status.success());
    let refusal = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        refusal.contains(&format!(
            "caller {} is not authorized",
            stores.principals["carol"]
        )),
        "{refusal}"
    );
    offline.ok(&["auth", "add", &stores.principals["carol"]]);
    let out = as_carol(&["call", "backup_profiles_page", "(null, null)"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
