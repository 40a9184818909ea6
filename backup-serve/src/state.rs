//! The certified state tree of the served subnet, and the certificates
//! signed over it.
//!
//! One subnet holds one canister. Its root key (BLS12-381, kept beside the
//! image) signs every certificate directly, as the root subnet of a local
//! network does, so agents verify them with the key `/api/v2/status` gives
//! them.

use backup_client::subnet::{self, CallRecord, Outcome};
use candid::Principal;
use ed25519_consensus::SigningKey;
use ic_certification::{AsHashTree, HashTree, NestedTree};
use ic_transport_types::RejectResponse;
use ic_verify_bls_signature::PrivateKey;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// The DER prefix of a BLS12-381 G2 public key, as the IC encodes its root
/// key (OIDs 1.3.6.1.4.1.44668.5.3.1.2.1 and 1.3.6.1.4.1.44668.5.3.2.1).
const BLS_DER_PREFIX: [u8; 37] = [
    0x30, 0x81, 0x82, 0x30, 0x1d, 0x06, 0x0d, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05,
    0x03, 0x01, 0x02, 0x01, 0x06, 0x0c, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05, 0x03,
    0x02, 0x01, 0x03, 0x61, 0x00,
];
/// The DER prefix of an Ed25519 public key (OID 1.3.101.112).
pub const ED25519_DER_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const STATE_ROOT_DOMAIN: &[u8] = b"\x0dic-state-root";

/// The keys of the served subnet and its one node.
pub struct Keys {
    root: PrivateKey,
    /// The root key in DER, as `/api/v2/status` gives it.
    pub root_der: Vec<u8>,
    node: SigningKey,
    pub node_der: Vec<u8>,
    pub node_id: Principal,
    /// The subnet: named by its key, as agents derive the root subnet's id.
    pub subnet_id: Principal,
}

impl Keys {
    /// Draws fresh keys from the operating system's random source.
    pub fn generate() -> std::io::Result<Keys> {
        let root = loop {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes).map_err(std::io::Error::other)?;
            // Uniform: bytes that are not a scalar below the group order are drawn again.
            if let Ok(key) = PrivateKey::deserialize(&bytes) {
                break key;
            }
        };
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(std::io::Error::other)?;
        Ok(Self::of(root, SigningKey::from(seed)))
    }

    /// The keys a subnet file kept.
    pub fn from_kept(kept: &subnet::Keys) -> Result<Keys, String> {
        let root = PrivateKey::deserialize(&kept.root)
            .map_err(|_| "its root key is not a BLS12-381 secret scalar".to_string())?;
        let seed: [u8; 32] = kept.node.as_slice().try_into().map_err(|_| {
            format!(
                "its node key has {} bytes, expected an Ed25519 seed of 32",
                kept.node.len()
            )
        })?;
        Ok(Self::of(root, SigningKey::from(seed)))
    }

    /// The keys to keep.
    pub fn kept(&self) -> subnet::Keys {
        subnet::Keys {
            root: self.root.serialize().to_vec(),
            node: self.node.to_bytes().to_vec(),
        }
    }

    fn of(root: PrivateKey, node: SigningKey) -> Keys {
        let root_der = [&BLS_DER_PREFIX[..], &root.public_key().serialize()].concat();
        let node_der = [&ED25519_DER_PREFIX[..], node.verification_key().as_bytes()].concat();
        Keys {
            subnet_id: Principal::self_authenticating(&root_der),
            node_id: Principal::self_authenticating(&node_der),
            root,
            root_der,
            node,
            node_der,
        }
    }

    /// The node's signature over `message` (a query response's signable form).
    pub fn node_sign(&self, message: &[u8]) -> Vec<u8> {
        self.node.sign(message).to_bytes().to_vec()
    }
}

/// What became of a call, as `request_status` certifies it.
#[derive(Clone, Debug)]
pub enum Status {
    Replied(Vec<u8>),
    Rejected(RejectResponse),
}

impl Status {
    /// The status as the subnet file keeps it.
    pub fn outcome(&self) -> Outcome {
        match self {
            Status::Replied(reply) => Outcome::Replied(reply.clone()),
            Status::Rejected(reject) => Outcome::Rejected {
                code: reject.reject_code as u64,
                message: reject.reject_message.clone(),
                error_code: reject.error_code.clone(),
            },
        }
    }
}

/// The state tree: time, the subnet and its node, the canister, and the
/// statuses of recent calls.
pub struct StateTree {
    tree: NestedTree<Vec<u8>, Vec<u8>>,
    /// The calls remembered, oldest first; their senders by id.
    calls: VecDeque<CallRecord>,
    senders: HashMap<Vec<u8>, Principal>,
    /// The bytes of the answers remembered, kept as calls come and go.
    answer_bytes: usize,
}

type Path = Vec<Vec<u8>>;

impl StateTree {
    /// The tree of a subnet holding `canister`, whose module hashes to
    /// `module_hash` (none: uninstalled), with `metadata` as the module's
    /// `icp:public` and `icp:private` sections (name, bytes).
    pub fn new(
        keys: &Keys,
        canister: Principal,
        module_hash: Option<[u8; 32]>,
        controllers: &[Principal],
        metadata: &[(String, Vec<u8>)],
    ) -> StateTree {
        let mut tree = NestedTree::default();
        let subnet = keys.subnet_id.as_slice().to_vec();
        let ranges = cbor(&vec![(canister, canister)]);
        let insert = |tree: &mut NestedTree<Vec<u8>, Vec<u8>>, path: &[&[u8]], value: Vec<u8>| {
            let path: Path = path.iter().map(|label| label.to_vec()).collect();
            tree.insert(&path, value);
        };
        insert(
            &mut tree,
            &[b"subnet", &subnet, b"public_key"],
            keys.root_der.clone(),
        );
        insert(
            &mut tree,
            &[b"subnet", &subnet, b"type"],
            b"application".to_vec(),
        );
        insert(
            &mut tree,
            &[b"subnet", &subnet, b"canister_ranges"],
            ranges.clone(),
        );
        insert(
            &mut tree,
            &[
                b"subnet",
                &subnet,
                b"node",
                keys.node_id.as_slice(),
                b"public_key",
            ],
            keys.node_der.clone(),
        );
        // The sharded form newer agents read first.
        insert(
            &mut tree,
            &[b"canister_ranges", &subnet, canister.as_slice()],
            ranges,
        );
        insert(
            &mut tree,
            &[b"canister", canister.as_slice(), b"controllers"],
            cbor(&controllers.to_vec()),
        );
        let mut state = StateTree {
            tree,
            calls: VecDeque::new(),
            senders: HashMap::new(),
            answer_bytes: 0,
        };
        state.set_module(canister, module_hash, metadata);
        state
    }

    /// Records the canister's module: its hash (none: uninstalled) and its
    /// metadata sections, in place of the module's before.
    pub fn set_module(
        &mut self,
        canister: Principal,
        module_hash: Option<[u8; 32]>,
        metadata: &[(String, Vec<u8>)],
    ) {
        let id = canister.as_slice().to_vec();
        let path = |labels: &[&[u8]]| -> Path {
            [b"canister".to_vec(), id.clone()]
                .into_iter()
                .chain(labels.iter().map(|label| label.to_vec()))
                .collect()
        };
        self.tree.delete(&path(&[b"module_hash"]));
        self.tree.delete(&path(&[b"metadata"]));
        if let Some(hash) = module_hash {
            self.tree.insert(&path(&[b"module_hash"]), hash.to_vec());
        }
        for (name, bytes) in metadata {
            self.tree
                .insert(&path(&[b"metadata", name.as_bytes()]), bytes.clone());
        }
    }

    /// Whether another call can be remembered: ids are kept until their
    /// calls expire, so past [`subnet::MAX_CALLS`] new calls wait.
    pub fn has_room(&mut self, now: u64) -> bool {
        self.expire(now);
        self.calls.len() < subnet::MAX_CALLS
    }

    /// Records what became of a call (`call`, which ran at `now`); forgets
    /// the calls older than the ingress window and prunes the oldest
    /// answers past [`subnet::STATUS_BYTES`] to `done`, as the IC does.
    pub fn record(&mut self, call: CallRecord, now: u64) {
        self.remember(call);
        self.expire(now);
        let tree = &mut self.tree;
        subnet::prune(self.calls.iter_mut(), &mut self.answer_bytes, |call| {
            Self::write_status(tree, call);
        });
    }

    /// Takes back the calls a subnet file kept (those not expired at `now`).
    pub fn restore(&mut self, calls: &[CallRecord], now: u64) {
        for call in calls.iter().filter(|call| !call.expired(now)) {
            self.remember(call.clone());
        }
    }

    /// The calls remembered, oldest first, to keep.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.calls.iter().cloned().collect()
    }

    fn remember(&mut self, call: CallRecord) {
        let Ok(sender) = Principal::try_from_slice(&call.sender) else {
            return;
        };
        if self.senders.insert(call.id.clone(), sender).is_some() {
            return;
        }
        Self::write_status(&mut self.tree, &call);
        self.answer_bytes += call.outcome.size();
        self.calls.push_back(call);
    }

    fn expire(&mut self, now: u64) {
        while self.calls.front().is_some_and(|oldest| oldest.expired(now)) {
            if let Some(oldest) = self.calls.pop_front() {
                self.answer_bytes -= oldest.outcome.size();
                self.tree
                    .delete(&[b"request_status".to_vec(), oldest.id.clone()]);
                self.senders.remove(&oldest.id);
            }
        }
    }

    /// Writes `call`'s status into the tree, in place of what it held.
    fn write_status(tree: &mut NestedTree<Vec<u8>, Vec<u8>>, call: &CallRecord) {
        let base = [b"request_status".to_vec(), call.id.clone()];
        tree.delete(&base);
        let at = |label: &[u8]| -> Path { vec![base[0].clone(), base[1].clone(), label.to_vec()] };
        match &call.outcome {
            Outcome::Replied(reply) => {
                tree.insert(&at(b"status"), b"replied".to_vec());
                tree.insert(&at(b"reply"), reply.clone());
            }
            Outcome::Rejected {
                code,
                message,
                error_code,
            } => {
                let mut encoded = Vec::new();
                backup_common::leb128::push(&mut encoded, *code);
                tree.insert(&at(b"status"), b"rejected".to_vec());
                tree.insert(&at(b"reject_code"), encoded);
                tree.insert(&at(b"reject_message"), message.clone().into_bytes());
                if let Some(error_code) = error_code {
                    tree.insert(&at(b"error_code"), error_code.clone().into_bytes());
                }
            }
            Outcome::Done => {
                tree.insert(&at(b"status"), b"done".to_vec());
            }
        }
    }

    /// Who sent call `id`, if its status is still known.
    pub fn sender_of(&self, id: &[u8]) -> Option<Principal> {
        self.senders.get(id).copied()
    }

    /// Certifies the canister's controllers anew (`update_settings`).
    pub fn set_controllers(&mut self, canister: Principal, controllers: &[Principal]) {
        let path = vec![
            b"canister".to_vec(),
            canister.as_slice().to_vec(),
            b"controllers".to_vec(),
        ];
        self.tree.insert(&path, cbor(&controllers.to_vec()));
    }

    /// Records the canister's certified data; returns its path.
    pub fn set_certified_data(&mut self, canister: Principal, data: &[u8]) -> Path {
        let path = vec![
            b"canister".to_vec(),
            canister.as_slice().to_vec(),
            b"certified_data".to_vec(),
        ];
        self.tree.insert(&path, data.to_vec());
        path
    }

    /// A certificate of `paths` (and always `/time`) at time `now`, signed
    /// by the root key, in CBOR.
    pub fn certificate(&mut self, keys: &Keys, paths: &[Path], now: u64) -> Vec<u8> {
        let mut time = Vec::new();
        backup_common::leb128::push(&mut time, now);
        self.tree.insert(&[b"time".to_vec()], time);
        let mut witness = self.tree.witness(&[b"time".to_vec()]);
        for path in paths {
            // Witnesses of one tree agree wherever they overlap.
            witness = ic_certification::merge_hash_trees(witness, self.tree.witness(path));
        }
        debug_assert_eq!(witness.digest(), self.tree.root_hash());
        let message = [STATE_ROOT_DOMAIN, &witness.digest()[..]].concat();
        let signature = keys.root.sign(&message).serialize().to_vec();
        certificate_cbor(witness, signature)
    }
}

fn certificate_cbor(tree: HashTree, signature: Vec<u8>) -> Vec<u8> {
    cbor(&ic_certification::certificate::Certificate {
        tree,
        signature,
        delegation: None,
    })
}

/// CBOR with the self-describing tag, as the IC writes it.
pub fn cbor<T: Serialize>(value: &T) -> Vec<u8> {
    let mut serializer = serde_cbor::Serializer::new(Vec::new());
    // Writing into a Vec cannot fail, and these values always serialize.
    serializer.self_describe().expect("writing to a Vec");
    value
        .serialize(&mut serializer)
        .expect("serializable to CBOR");
    serializer.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: u8, done_at: u64, reply: usize) -> CallRecord {
        CallRecord {
            id: vec![id; 32],
            sender: Principal::anonymous().as_slice().to_vec(),
            done_at,
            outcome: Outcome::Replied(vec![id; reply]),
            canister: None,
            logged: Vec::new(),
            log_cleared: None,
        }
    }

    /// The answers kept stay within their bound, the oldest pruned to
    /// `done` first (their ids still known), and expired calls are
    /// forgotten with their bytes.
    #[test]
    fn answers_stay_within_their_bound_oldest_pruned_first() {
        let keys = Keys::generate().unwrap();
        let canister = Principal::from_slice(&[1; 10]);
        let mut tree = StateTree::new(&keys, canister, Some([0; 32]), &[], &[]);
        let quarter = subnet::STATUS_BYTES / 4;
        for id in 0..6u8 {
            tree.record(
                call(id, 1_000 + u64::from(id), quarter),
                1_000 + u64::from(id),
            );
            assert!(tree.answer_bytes <= subnet::STATUS_BYTES);
        }
        let done: Vec<bool> = tree
            .calls
            .iter()
            .map(|call| call.outcome == Outcome::Done)
            .collect();
        assert_eq!(done, [true, true, false, false, false, false]);
        assert!(
            tree.sender_of(&[0; 32]).is_some(),
            "a pruned call is still known"
        );
        assert_eq!(tree.answer_bytes, 4 * quarter);
        // Past the ingress window, all are forgotten, their bytes too.
        let later = 2_000 + subnet::RETENTION_NANOS;
        tree.record(call(9, later, 1), later);
        assert_eq!((tree.calls.len(), tree.answer_bytes), (1, 1));
        assert!(tree.sender_of(&[0; 32]).is_none());
    }
}
