//! The node: the canister, its certified state, and the one thread that
//! runs them. HTTP handlers send it jobs and wait for their answers.

use super::state::{Keys, StateTree, Status};
use backup_client::blobs::Blobs;
use backup_client::error::Result;
use backup_client::subnet::{CallRecord, Subnet};
use backup_client::target::{Folding, Offline, Target};
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
    /// The image or its log could not be written: the node refuses calls
    /// and queries, and the server stops.
    pub failed: Option<String>,
    /// The canister's memory holds a call that is not on disk: at stop the
    /// image is left as the log has it, not written from memory.
    discard: bool,
    folding: Folding,
    /// The last data certificate: (certified data, when made, certificate).
    data_certificate: Option<(Vec<u8>, u64, Vec<u8>)>,
    /// Whether the canister's record is kept in `<image>.subnet`: once a
    /// management call changed it (now or before this start).
    keeps_record: bool,
}

/// How long a data certificate is reused while the certified data stays the
/// same: about one round of a replica.
const DATA_CERTIFICATE_NANOS: u64 = 1_000_000_000;

pub use backup_client::subnet::now;

/// What the node knows of the canister's module: its methods by kind and
/// its metadata sections, the private ones' names apart.
struct Module {
    methods: HashMap<String, Kind>,
    metadata: Vec<(String, Vec<u8>)>,
    private_metadata: Vec<Vec<u8>>,
}

impl Module {
    fn of(canister: &mut canister_runner::Canister) -> Module {
        let methods = canister
            .methods()
            .into_iter()
            .map(|(kind, name)| {
                let kind = if kind == "query" {
                    Kind::Query
                } else {
                    Kind::Update
                };
                (name, kind)
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
        Module {
            methods,
            metadata,
            private_metadata,
        }
    }
}

/// The longest reject message the IC makes itself (a canister's own may
/// be longer): longer ones are cut in the middle, as the IC cuts them.
const MAX_REJECT_MESSAGE_BYTES: usize = 8 * 1024;

/// Bad input gets a refusal, never a panic: what a call can be refused with
/// before it runs.
pub enum Refused {
    /// The calls remembered are at their bound until old ones expire.
    Busy,
    /// The server has stopped taking calls.
    Failed(String),
}

impl Node {
    /// The node over `target`, with `keys`, remembering the calls `kept`.
    pub fn new(mut target: Offline, keys: Arc<Keys>, kept: &Subnet, folding: Folding) -> Node {
        let canister = target.canister();
        let canister_id = canister.canister_id();
        let module = Module::of(canister);
        let mut tree = StateTree::new(
            &keys,
            canister_id,
            canister.module_hash(),
            &canister.controllers(),
            &module.metadata,
        );
        tree.restore(&kept.calls, now());
        Node {
            private_metadata: module.private_metadata,
            target,
            keys,
            tree,
            canister_id,
            methods: module.methods,
            failed: None,
            discard: false,
            folding,
            data_certificate: None,
            keeps_record: kept.canister.is_some(),
        }
    }

    /// The module changed (`install_code`, `uninstall_code`): its methods
    /// and metadata are the node's now.
    fn module_changed(&mut self) {
        let canister = self.target.canister();
        let module = Module::of(canister);
        let hash = canister.module_hash();
        self.tree
            .set_module(self.canister_id, hash, &module.metadata);
        self.methods = module.methods;
        self.private_metadata = module.private_metadata;
    }

    /// What the subnet file keeps: the keys, the calls remembered, the
    /// canister's record (once kept) and its log.
    pub fn subnet(&mut self) -> Subnet {
        Subnet {
            keys: Some(self.keys.kept()),
            calls: self.tree.calls(),
            // Kept once a management call changed it: until then each start's
            // command line says who controls the canister.
            canister: self.keeps_record.then(|| self.target.canister().record()),
            log: Some(self.target.canister().canister_log().clone()),
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
        if let Some(refused) = self.start_query() {
            return refused;
        }
        if let Some(refused) = self.target.canister().refuses(true) {
            return refused_status(refused);
        }
        if self.methods.get(method) != Some(&Kind::Query) {
            return Status::Rejected(no_method(self.canister_id, "query", method));
        }
        let certificate = self.data_certificate();
        self.target
            .canister()
            .set_data_certificate(Some(certificate));
        status(self.target.canister().query(caller, method, arg))
    }

    /// A query to the management canister about the canister
    /// (`fetch_canister_logs`).
    pub fn management_query(&mut self, caller: Principal, method: &str, arg: &[u8]) -> Status {
        if let Some(refused) = self.start_query() {
            return refused;
        }
        status(self.target.canister().management_query(caller, method, arg))
    }

    /// A query's refusal while the node has failed (the canister's memory
    /// may hold an update that is not on disk); else the clock set for it.
    fn start_query(&mut self) -> Option<Status> {
        if let Some(message) = &self.failed {
            return Some(Status::Rejected(RejectResponse {
                reject_code: RejectCode::SysTransient,
                reject_message: message.clone(),
                error_code: None,
            }));
        }
        self.tick();
        None
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
    /// query. Its status is certified only once it is in the write-ahead
    /// log, with what it wrote.
    pub fn call(
        &mut self,
        id: RequestId,
        caller: Principal,
        callee: Principal,
        method: &str,
        arg: &[u8],
    ) -> std::result::Result<(), Refused> {
        if self.known(&id) {
            return Ok(());
        }
        if let Some(message) = &self.failed {
            return Err(Refused::Failed(message.clone()));
        }
        let now = self.tick();
        if !self.tree.has_room(now) {
            return Err(Refused::Busy);
        }
        let mut changed = None;
        let log = self.target.canister().canister_log();
        let (logged_from, cleared_before) = (log.next_idx(), log.cleared_below());
        let outcome = if callee == Principal::management_canister() {
            let canister = self.target.canister();
            let before = canister.record();
            let outcome = status(canister.management_ingress(caller, method, arg));
            let after = canister.record();
            if after != before {
                changed = Some((before.module != after.module, Box::new(after)));
            }
            outcome
        } else if let Some(refused) = self.target.canister().refuses(false) {
            refused_status(refused)
        } else {
            match self.methods.get(method) {
                Some(Kind::Update) => status(self.target.canister().update(caller, method, arg)),
                Some(Kind::Query) => {
                    status(self.target.canister().query_replicated(caller, method, arg))
                }
                None => Status::Rejected(no_method(self.canister_id, "update", method)),
            }
        };
        let log = self.target.canister().canister_log();
        let log_cleared = Some(log.cleared_below()).filter(|&below| below != cleared_before);
        let mut record = CallRecord {
            id: id.as_slice().to_vec(),
            sender: caller.as_slice().to_vec(),
            done_at: now,
            outcome: outcome.outcome(),
            logged: log.since(logged_from),
            log_cleared,
            canister: None,
        };
        let module_changed = changed.as_ref().is_some_and(|(module, _)| *module);
        if let Some((_, canister)) = changed {
            // What the record names beyond stable memory is on disk before
            // the record is.
            if let Err(error) = self.keep_blobs() {
                return Err(self.fail(format!(
                    "the call `{method}` ran, but what it put on the canister could not be kept beside the image ({error}): it is not applied, and the server stops; when the image is next opened the canister is as it was before this call"
                )));
            }
            record.canister = Some(canister);
        }
        // Durable before it is reported: a reply nobody can lose.
        if let Err(failure) = self.target.log_call(&record.note()) {
            let message = if failure.undone {
                format!(
                    "the call `{method}` ran, but could not be written to the log beside the image ({}): it is not applied, and the server stops; when the image is next opened the canister is as it was before this call",
                    failure.error
                )
            } else {
                format!(
                    "the call `{method}` ran, but the log beside the image could not be written or cut back ({}): whether it is applied is known when the image is next opened; the server stops",
                    failure.error
                )
            };
            return Err(self.fail(message));
        }
        log_call(caller, method, &outcome);
        if module_changed {
            self.module_changed();
        }
        // The record travels in the log's note; the tree certifies the
        // controllers it names, and keeps the call without it.
        if let Some(canister) = record.canister.take() {
            self.tree
                .set_controllers(self.canister_id, &canister.controllers);
            self.keeps_record = true;
        }
        self.tree.record(record, now);
        if self.target.fold_due(self.folding) {
            let subnet = self.subnet();
            if let Err(error) = self.target.fold(&subnet) {
                // The call is in the log: it is applied, and said so.
                let message = format!(
                    "the write-ahead log could not be folded into the image ({error}); every call replied to is in the log, which the next opener of the image replays; the server stops"
                );
                say!("error: {message}");
                self.discard = true;
                self.failed = Some(message);
            }
        }
        Ok(())
    }

    /// Keeps the contents the canister's record names (its module, its
    /// chunks, its snapshots' pieces) beside the image.
    fn keep_blobs(&mut self) -> Result<()> {
        let blobs = Blobs::of(self.target.image());
        for (hash, bytes) in self.target.canister().blobs() {
            blobs.put(&hash, &bytes)?;
        }
        Ok(())
    }

    /// The node stops taking calls, saying why; its memory is not written
    /// over the image at stop.
    fn fail(&mut self, message: String) -> Refused {
        say!("error: {message}");
        self.discard = true;
        self.failed = Some(message.clone());
        Refused::Failed(message)
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

    /// Folds the log into the image and removes it (at stop), unless a
    /// failure left the image to the log.
    pub fn finish(&mut self) -> Result<()> {
        if self.discard {
            return Ok(());
        }
        let subnet = self.subnet();
        self.target.fold(&subnet)?;
        self.target.finish()
    }
}

/// One line on standard error per call that ran, for whoever watches the server.
fn log_call(caller: Principal, method: &str, outcome: &Status) {
    let method = ellipsize(method.to_string(), 200);
    match outcome {
        Status::Replied(reply) => say!(
            "call {method} from {caller}: replied, {} bytes",
            reply.len()
        ),
        Status::Rejected(reject) => say!(
            "call {method} from {caller}: rejected ({:?}): {}",
            reject.reject_code,
            ellipsize(reject.reject_message.clone(), 1000)
        ),
    }
}

/// The IC's answer to a method the canister does not export.
fn no_method(canister: Principal, kind: &str, method: &str) -> RejectResponse {
    RejectResponse {
        reject_code: RejectCode::DestinationInvalid,
        reject_message: ellipsize(
            format!("Error from Canister {canister}: Canister has no {kind} method '{method}'."),
            MAX_REJECT_MESSAGE_BYTES,
        ),
        error_code: Some("IC0536".into()),
    }
}

/// `message` cut to at most `max` bytes as the IC cuts its own: half of
/// it from the start, `...`, the rest from the end.
pub fn ellipsize(message: String, max: usize) -> String {
    if message.len() <= max {
        return message;
    }
    let boundary = |mut at: usize, down: bool| {
        while !message.is_char_boundary(at) {
            if down {
                at -= 1
            } else {
                at += 1
            }
        }
        at
    };
    let head = boundary(max / 2, true);
    let tail = boundary(message.len() - (max - 3 - max / 2), false);
    format!("{}...{}", &message[..head], &message[tail..])
}

/// A refusal of the runner's as the IC reports it.
fn refused_status(reject: canister_runner::Reject) -> Status {
    status(canister_runner::CallResult {
        result: Err(reject),
        stats: Default::default(),
    })
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

#[cfg(test)]
mod tests {
    use super::ellipsize;

    #[test]
    fn long_messages_are_cut_in_the_middle_on_character_boundaries() {
        assert_eq!(ellipsize("short".into(), 8192), "short");
        let long = format!("{}{}", "é".repeat(5000), "z".repeat(5000));
        let cut = ellipsize(long.clone(), 8192);
        assert!(cut.len() <= 8192, "{}", cut.len());
        assert!(cut.starts_with("éé") && cut.ends_with("zz") && cut.contains("..."));
        assert_eq!(ellipsize("x".repeat(8193), 8192).len(), 8192);
    }
}
