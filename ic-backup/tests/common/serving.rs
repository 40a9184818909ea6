//! What the tests of `ic-backup serve` share: the server run as a child
//! process, raw HTTP requests, and envelopes signed by the test's keys.

use super::Offline;
use pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A dfx-style Ed25519 key: the admin (a controller of the served canister).
pub const ADMIN: &str = "-----BEGIN PRIVATE KEY-----\nMFMCAQEwBQYDK2VwBCIEIB5Ku8gKo4FiQy0BmL5wfXbyMyEUI9UdShH7MvjcPpTyoSMDIQDyEn9V8EOHBqRRkvbt2TfBfMxr8Q1NZ0PE4aBv6G0rUw==\n-----END PRIVATE KEY-----\n";

/// A running `ic-backup serve`, stopped with SIGINT when dropped.
pub struct Served {
    child: Option<Child>,
    pub url: String,
    pub canister: String,
    pub root_key: String,
}

impl Served {
    pub fn start(offline: &Offline, image: &Path, extra: &[&str]) -> Served {
        let mut command = offline.command(image, &["--json", "serve"]);
        command.args(extra);
        Served::spawn(command)
    }

    /// Runs `command` (an `ic-backup ... serve --json`) and reads its banner.
    pub fn spawn(mut command: Command) -> Served {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let banner: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("serve's first line is not JSON ({error}): {line:?}"));
        assert_eq!(
            banner["root_key"].as_str().unwrap().len(),
            2 * 133,
            "{banner}"
        );
        Served {
            root_key: banner["root_key"].as_str().unwrap().to_string(),
            url: banner["url"].as_str().unwrap().to_string(),
            canister: banner["canister_id"].as_str().unwrap().to_string(),
            child: Some(child),
        }
    }

    /// Stops the server as Ctrl-C does; it must exit cleanly.
    pub fn stop(mut self) {
        let child = self.child.take().unwrap();
        interrupt(child);
    }

    /// Ends the server with SIGKILL: no chance to save anything.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

pub fn interrupt(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn write_keys(dir: &Path) -> (PathBuf, PathBuf) {
    let admin = dir.join("admin.pem");
    std::fs::write(&admin, ADMIN).unwrap();
    let stranger = dir.join("stranger.pem");
    let key = k256::SecretKey::from_slice(&[7; 32]).unwrap();
    std::fs::write(
        &stranger,
        key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    (admin, stranger)
}

pub fn whoami(pem: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ic-backup"))
        .args(["--pem", pem.to_str().unwrap(), "whoami"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
pub fn post(url: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    try_post(url, path, content_type, body).expect("an HTTP response")
}

/// [`post`], or `None` when the server does not answer (it is gone).
pub fn try_post(url: &str, path: &str, content_type: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    // A server may refuse before reading all of a large body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let status_line = String::from_utf8_lossy(&response[..split]).to_string();
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut content = response[split..].to_vec();
    if status_line
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        content = dechunk(&content);
    }
    Some((status, content))
}

pub fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line + 2..line + 2 + size]);
        body = &body[line + 4 + size..];
    }
}

/// What is durable of a served image: the image with its write-ahead log
/// replayed (the server folds the log into the image when it likes).
pub fn durable_state(image: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(image).unwrap();
    backup_client::wal::replay(image, &mut bytes).unwrap();
    bytes
}

pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// An Ed25519 key of the test, and its DER public key.
pub struct Key(ed25519_consensus::SigningKey);

impl Key {
    pub fn new(seed: u8) -> Key {
        Key(ed25519_consensus::SigningKey::from([seed; 32]))
    }
    pub fn der(&self) -> Vec<u8> {
        let prefix = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        [&prefix[..], self.0.verification_key().as_bytes()].concat()
    }
    pub fn principal(&self) -> candid::Principal {
        candid::Principal::self_authenticating(self.der())
    }
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).to_bytes().to_vec()
    }
}

use ic_transport_types::{Envelope, EnvelopeContent, SignedDelegation};

pub fn set_profile_call(
    sender: candid::Principal,
    canister: candid::Principal,
    name: &str,
    expiry: u64,
) -> EnvelopeContent {
    let arg = candid_parser::parse_idl_args(&format!(
        "(record {{ username = opt \"{name}\"; email = null; password = null; updated_time_msecs = null }})"
    ))
    .unwrap()
    .to_bytes()
    .unwrap();
    EnvelopeContent::Call {
        nonce: Some(name.as_bytes().to_vec()),
        ingress_expiry: expiry,
        sender,
        canister_id: canister,
        method_name: "set_profile".into(),
        arg,
        sender_info: None,
    }
}

/// `content` signed by `key` (whose principal need not be the sender's).
pub fn signed(
    content: EnvelopeContent,
    key: &Key,
    delegations: Option<Vec<SignedDelegation>>,
    signer: &Key,
) -> Vec<u8> {
    let signature = signer.sign(&content.to_request_id().signable());
    Envelope {
        content: std::borrow::Cow::Owned(content),
        sender_pubkey: Some(key.der()),
        sender_sig: Some(signature),
        sender_delegation: delegations,
    }
    .encode_bytes()
}

pub fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

pub fn call_path(canister: &str) -> String {
    format!("/api/v3/canister/{canister}/call")
}

/// A reply to a synchronous call: its status and reject message, from the
/// certificate's tree (not verified: these tests are about the server).
pub fn call_outcome(body: &[u8]) -> (String, String) {
    let response: ic_transport_types::TransportCallResponse = serde_cbor::from_slice(body)
        .unwrap_or_else(|error| panic!("not a call response ({error}): {}", text(body)));
    match response {
        ic_transport_types::TransportCallResponse::Replied { certificate } => {
            let certificate: ic_certification::Certificate =
                serde_cbor::from_slice(&certificate).unwrap();
            let mut found = (String::new(), String::new());
            for (path, value) in leaves(&certificate.tree) {
                match path.last().map(Vec::as_slice) {
                    Some(b"status") => found.0 = text(&value),
                    Some(b"reject_message") => found.1 = text(&value),
                    _ => {}
                }
            }
            found
        }
        ic_transport_types::TransportCallResponse::NonReplicatedRejection(reject) => {
            ("rejected".into(), reject.reject_message)
        }
        other => panic!("unexpected {other:?}"),
    }
}

pub fn leaves(tree: &ic_certification::HashTree) -> Vec<(Vec<Vec<u8>>, Vec<u8>)> {
    use ic_certification::hash_tree::HashTreeNode;
    fn walk(
        node: &HashTreeNode<Vec<u8>>,
        path: &mut Vec<Vec<u8>>,
        out: &mut Vec<(Vec<Vec<u8>>, Vec<u8>)>,
    ) {
        match node {
            HashTreeNode::Fork(pair) => {
                walk(&pair.0, path, out);
                walk(&pair.1, path, out);
            }
            HashTreeNode::Labeled(label, child) => {
                path.push(label.as_bytes().to_vec());
                walk(child, path, out);
                path.pop();
            }
            HashTreeNode::Leaf(value) => out.push((path.clone(), value.clone())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(tree.as_ref(), &mut Vec::new(), &mut out);
    out
}
