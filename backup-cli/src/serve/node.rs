//! The node: the canister, its certified state, and the one thread that
//! runs them. HTTP handlers send it jobs and wait for their answers.

use super::state::{Keys, StateTree, Status};
use crate::error::Result;
use crate::target::{Offline, Target};
use candid::Principal;
use ic_transport_types::{RejectCode, RejectResponse, RequestId};
use std::collections::HashMap;
use std::sync::Arc;

/// A job for the node thread.
pub type Job = Box<dyn FnOnce(&mut Node) + Send>;

/// How a method of the canister is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Query,
    Update,
}

pub struct Node {
    target: Offline,
    pub keys: Arc<Keys>,
    tree: StateTree,
    pub canister_id: Principal,
    methods: HashMap<String, Kind>,
    /// The names of `icp:private` metadata sections: for controllers only.
    pub private_metadata: Vec<Vec<u8>>,
    /// The image could not be written: the node refuses calls and queries.
    pub failed: Option<String>,
    /// Set by the stop job.
    pub stopping: bool,
    /// The last data certificate: (certified data, when made, certificate).
    data_certificate: Option<(Vec<u8>, u64, Vec<u8>)>,
}

/// How long a data certificate is reused while the certified data stays the
/// same: about one round of a replica.
const DATA_CERTIFICATE_NANOS: u64 = 1_000_000_000;

/// Nanoseconds since 1970 by the system clock.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

impl Node {
    pub fn new(mut target: Offline, keys: Arc<Keys>) -> Node {
        let canister = target.canister();
        let canister_id = canister.canister_id();
        let methods = canister
            .methods()
            .into_iter()
            .map(|(kind, name)| {
                (
                    name,
                    if kind == "query" {
                        Kind::Query
                    } else {
                        Kind::Update
                    },
                )
            })
            .collect();
        let sections = canister.metadata();
        let private_metadata = sections
            .iter()
            .filter(|section| !section.public)
            .map(|section| section.name.clone().into_bytes())
            .collect();
        let mut metadata: Vec<(String, Vec<u8>)> = sections
            .iter()
            .map(|section| (section.name.clone(), section.bytes.clone()))
            .collect();
        // A module built without dfx has no `candid:service` section; what its
        // `get_candid_pointer` returns is published in its place, as dfx would.
        if !metadata.iter().any(|(name, _)| name == "candid:service") {
            if let Some(service) = canister.candid_interface() {
                metadata.push(("candid:service".into(), service.into_bytes()));
            }
        }
        let tree = StateTree::new(
            &keys,
            canister_id,
            canister.module_hash(),
            &canister.controllers(),
            &metadata,
        );
        Node {
            private_metadata,
            target,
            keys,
            tree,
            canister_id,
            methods,
            failed: None,
            stopping: false,
            data_certificate: None,
        }
    }

    fn tick(&mut self) -> u64 {
        let now = now();
        self.target.canister().set_time(now);
        now
    }

    pub fn is_controller(&mut self, principal: &Principal) -> bool {
        self.target.canister().is_controller(principal)
    }

    /// Runs a query as `caller` (a non-replicated query: nothing it does is kept).
    pub fn query(&mut self, caller: Principal, method: &str, arg: &[u8]) -> Status {
        // The canister's memory may hold an update that is not on disk.
        if let Some(message) = &self.failed {
            return Status::Rejected(RejectResponse {
                reject_code: RejectCode::SysTransient,
                reject_message: message.clone(),
                error_code: None,
            });
        }
        self.tick();
        if self.methods.get(method) != Some(&Kind::Query) {
            return Status::Rejected(no_method(self.canister_id, "query", method));
        }
        let certificate = self.data_certificate();
        self.target
            .canister()
            .set_data_certificate(Some(certificate));
        status(self.target.canister().query(caller, method, arg))
    }

    /// The certificate of the canister's certified data a query sees, as
    /// the IC gives it: `/time` and `/canister/<id>/certified_data`.
    fn data_certificate(&mut self) -> Vec<u8> {
        let data = self.target.canister().certified_data().to_vec();
        let now = now();
        if let Some((certified, made, certificate)) = &self.data_certificate {
            if *certified == data && now.saturating_sub(*made) < DATA_CERTIFICATE_NANOS {
                return certificate.clone();
            }
        }
        let path = self.tree.set_certified_data(self.canister_id, &data);
        let certificate = self.tree.certificate(&self.keys, &[path], now);
        self.data_certificate = Some((data, now, certificate.clone()));
        certificate
    }

    /// The status of call `id` if it already ran (a replay runs nothing).
    pub fn known(&self, id: &RequestId) -> bool {
        self.tree.sender_of(id.as_slice()).is_some()
    }

    /// Runs call `id` once: an update, or a query method as a replicated
    /// query; writes the image if it changed before the status is certified.
    pub fn call(
        &mut self,
        id: RequestId,
        caller: Principal,
        callee: Principal,
        method: &str,
        arg: &[u8],
    ) {
        if self.known(&id) || self.failed.is_some() {
            return;
        }
        let now = self.tick();
        if callee == Principal::management_canister() {
            let outcome = status(
                self.target
                    .canister()
                    .management_ingress(caller, method, arg),
            );
            self.tree.record(id, caller, &outcome, now);
            return;
        }
        let outcome = match self.methods.get(method) {
            Some(Kind::Update) => status(self.target.update_as(caller, method, arg)),
            Some(Kind::Query) => {
                status(self.target.canister().query_replicated(caller, method, arg))
            }
            None => Status::Rejected(no_method(self.canister_id, "update", method)),
        };
        // Durable before it is reported: a reply nobody can lose.
        if let Err(error) = self.target.commit_update() {
            let message = format!(
                "the image could not be written; the server refuses every call and query until it is restarted: {error}"
            );
            eprintln!("error: {message}");
            self.failed = Some(message);
            return;
        }
        log_call(caller, method, &outcome);
        self.tree.record(id, caller, &outcome, now);
    }

    /// Who sent call `id`, if its status is known.
    pub fn sender_of(&self, id: &[u8]) -> Option<Principal> {
        self.tree.sender_of(id)
    }

    /// A certificate of `paths` (and `/time`), now.
    pub fn certificate(&mut self, paths: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let now = self.tick();
        let data = self.target.canister().certified_data().to_vec();
        self.tree.set_certified_data(self.canister_id, &data);
        self.tree.certificate(&self.keys, paths, now)
    }

    /// Writes the image (at stop).
    pub fn finish(&mut self) -> Result<()> {
        self.target.finish()
    }
}

/// One line on standard error per call that ran, for whoever watches the server.
fn log_call(caller: Principal, method: &str, outcome: &Status) {
    match outcome {
        Status::Replied(reply) => eprintln!(
            "call {method} from {caller}: replied, {} bytes",
            reply.len()
        ),
        Status::Rejected(reject) => eprintln!(
            "call {method} from {caller}: rejected ({:?}): {}",
            reject.reject_code, reject.reject_message
        ),
    }
}

/// The IC's answer to a method the canister does not export.
fn no_method(canister: Principal, kind: &str, method: &str) -> RejectResponse {
    RejectResponse {
        reject_code: RejectCode::DestinationInvalid,
        reject_message: format!(
            "Error from Canister {canister}: Canister has no {kind} method '{method}'."
        ),
        error_code: Some("IC0536".into()),
    }
}

/// A runner result as the IC reports it: reject code and error code.
pub fn status(result: canister_runner::CallResult) -> Status {
    use canister_runner::RejectCode as Runner;
    match result.result {
        Ok(reply) => Status::Replied(reply),
        Err(reject) => {
            let (reject_code, error_code) = match reject.code {
                Runner::SysFatal => (RejectCode::SysFatal, None),
                Runner::DestinationInvalid => (RejectCode::DestinationInvalid, Some("IC0536")),
                Runner::CanisterReject => (RejectCode::CanisterReject, Some("IC0406")),
                Runner::CanisterError if reject.message.contains("instruction limit") => {
                    (RejectCode::CanisterError, Some("IC0522"))
                }
                Runner::CanisterError if reject.message.contains("did not reply") => {
                    (RejectCode::CanisterError, Some("IC0506"))
                }
                Runner::CanisterError => (RejectCode::CanisterError, Some("IC0503")),
            };
            // A message that starts with its IC error code keeps it.
            let stated = reject
                .message
                .get(..6)
                .filter(|code| {
                    code.starts_with("IC") && code[2..].bytes().all(|b| b.is_ascii_digit())
                })
                .map(String::from);
            Status::Rejected(RejectResponse {
                reject_code,
                reject_message: reject.message,
                error_code: stated.or(error_code.map(String::from)),
            })
        }
    }
}
