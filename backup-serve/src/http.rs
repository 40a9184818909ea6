//! The IC's HTTP interface (`/api/v2/status`, query, call, read_state) in
//! front of the node, as ic-agent 0.49 and agent-js 3.x use it.

use super::auth::{self, Verified};
use super::node::{now, Node, Refused};
use super::state::{cbor, Keys, Status};
use candid::Principal;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{header, Method, Request, Response, StatusCode};
use ic_transport_types::{
    EnvelopeContent, NodeSignature, QueryResponse, ReadStateResponse, RejectCode, RejectResponse,
    ReplyResponse, RequestId, TransportCallResponse,
};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;

/// The largest request body read, as the IC's HTTP endpoint allows.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// The largest ingress message of an application subnet.
pub const MAX_INGRESS_BYTES: usize = backup_common::limits::INGRESS_LIMIT;
/// The most paths one `read_state` may ask for, and labels one path may
/// have, as the IC's validator allows.
pub const MAX_READ_STATE_PATHS: usize = 1_000;
pub const MAX_PATH_LABELS: usize = 127;

type Reply = Response<Full<Bytes>>;

/// What every handler shares: the way to the node, and who we are.
pub struct Server {
    pub jobs: SyncSender<super::node::Job>,
    pub keys: Arc<Keys>,
    pub canister_id: Principal,
    pub faults: Faults,
    /// Queries received, for the faults.
    pub queries: std::sync::atomic::AtomicU64,
}

/// Failures `serve` can be told to make, so that a client's retries are tested.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Every Nth query is answered 502 Bad Gateway.
    pub fail_every: Option<u64>,
    /// Every Nth query is held 30 s before it is answered.
    pub stall_every: Option<u64>,
}

fn reply(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    response
}

fn text(status: StatusCode, message: impl Into<String>) -> Reply {
    reply(
        status,
        "text/plain; charset=utf-8",
        message.into().into_bytes(),
    )
}

fn cbor_reply<T: serde::Serialize>(value: &T) -> Reply {
    reply(StatusCode::OK, "application/cbor", cbor(value))
}

/// A request refused before it reached the canister, as the IC refuses
/// it: an HTTP status and the reason, in plain text.
pub struct Refusal {
    status: StatusCode,
    message: String,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, message)
}

/// Which request an endpoint takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Query,
    Call { synchronous: bool },
    ReadState,
    SubnetReadState,
}

impl Server {
    /// Answers one HTTP request.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Reply, std::convert::Infallible> {
        Ok(self
            .route(request)
            .await
            .unwrap_or_else(|refusal| text(refusal.status, refusal.message)))
    }

    async fn route(&self, request: Request<Incoming>) -> Result<Reply, Refusal> {
        let path = request.uri().path().to_string();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (endpoint, id) = match (request.method(), segments.as_slice()) {
            (&Method::GET, ["api", "v2", "status"]) => return Ok(self.status()),
            (&Method::OPTIONS, _) => {
                let mut response = text(StatusCode::NO_CONTENT, "");
                let headers = response.headers_mut();
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    header::HeaderValue::from_static("GET, POST, HEAD, OPTIONS"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    header::HeaderValue::from_static("*"),
                );
                return Ok(response);
            }
            (&Method::POST, ["api", "v2" | "v3", "canister", id, "query"]) => {
                (Endpoint::Query, *id)
            }
            (&Method::POST, ["api", "v2", "canister", id, "call"]) => {
                (Endpoint::Call { synchronous: false }, *id)
            }
            (&Method::POST, ["api", "v3" | "v4", "canister", id, "call"]) => {
                (Endpoint::Call { synchronous: true }, *id)
            }
            (&Method::POST, ["api", "v2" | "v3", "canister", id, "read_state"]) => {
                (Endpoint::ReadState, *id)
            }
            (&Method::POST, ["api", "v2" | "v3", "subnet", id, "read_state"]) => {
                (Endpoint::SubnetReadState, *id)
            }
            _ => {
                return Err(refuse(
                    StatusCode::NOT_FOUND,
                    format!(
                        "{} {path}: no such endpoint of the IC's HTTP interface",
                        request.method()
                    ),
                ))
            }
        };
        let effective = Principal::from_text(id).map_err(|error| {
            bad(format!(
                "Could not parse the principal `{id}` in the URL: {error}"
            ))
        })?;
        let body = read_body(request).await?;
        let envelope = auth::parse(&body).map_err(bad)?;
        if endpoint == Endpoint::Query {
            let n = 1 + self
                .queries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let every = |every: Option<u64>| {
                every.is_some_and(|every| every > 0 && n.is_multiple_of(every))
            };
            if every(self.faults.fail_every) {
                return Err(refuse(
                    StatusCode::BAD_GATEWAY,
                    format!("injected fault: query {n} fails"),
                ));
            }
            if every(self.faults.stall_every) {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
        }
        match endpoint {
            Endpoint::Query => self.query(effective, envelope).await,
            Endpoint::Call { synchronous } => self.call(effective, envelope, synchronous).await,
            Endpoint::ReadState | Endpoint::SubnetReadState => {
                self.read_state(effective, envelope, endpoint == Endpoint::SubnetReadState)
                    .await
            }
        }
    }

    /// Sends `job` to the node and waits for what it returns.
    async fn on_node<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Node) -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let stopped = || refuse(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
        self.jobs
            .try_send(Box::new(move |node: &mut Node| {
                let _ = sender.send(job(node));
            }))
            .map_err(|error| match error {
                TrySendError::Full(_) => {
                    refuse(StatusCode::TOO_MANY_REQUESTS, "The service is overloaded.")
                }
                TrySendError::Disconnected(_) => stopped(),
            })?;
        receiver.await.map_err(|_| stopped())
    }

    fn status(&self) -> Reply {
        let mut map = std::collections::BTreeMap::new();
        let text = |value: &str| serde_cbor::Value::Text(value.to_string());
        map.insert(text("ic_api_version"), text("0.18.0"));
        map.insert(
            text("impl_version"),
            text(concat!("ic-backup serve ", env!("CARGO_PKG_VERSION"))),
        );
        map.insert(text("replica_health_status"), text("healthy"));
        map.insert(
            text("root_key"),
            serde_cbor::Value::Bytes(self.keys.root_der.clone()),
        );
        cbor_reply(&serde_cbor::Value::Map(map))
    }

    /// The checks every request to a canister passes: request type, the
    /// canister against the URL, the envelope, the delegations' targets.
    fn checked(
        &self,
        effective: Principal,
        envelope: ic_transport_types::Envelope<'static>,
        expected: &str,
    ) -> Result<(Verified, Principal), Refusal> {
        let canister = match (&*envelope.content, expected) {
            (EnvelopeContent::Query { canister_id, .. }, "query")
            | (EnvelopeContent::Call { canister_id, .. }, "call") => *canister_id,
            (EnvelopeContent::ReadState { .. }, "read_state") => effective,
            (content, _) => {
                let found = match content {
                    EnvelopeContent::Query { .. } => "query",
                    EnvelopeContent::Call { .. } => "call",
                    EnvelopeContent::ReadState { .. } => "read_state",
                };
                return Err(bad(format!(
                    "Could not parse body as {expected} message: expected request_type `{expected}`, found `{found}`"
                )));
            }
        };
        if canister != Principal::management_canister() && canister != effective {
            return Err(bad(format!(
                "Specified CanisterId {canister} does not match effective canister id in URL {effective}"
            )));
        }
        if let EnvelopeContent::Call {
            arg, method_name, ..
        } = &*envelope.content
        {
            let size = arg.len() + method_name.len();
            if size > MAX_INGRESS_BYTES {
                return Err(refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "Request {} is too large. Message byte size {size} is larger than the max allowed {MAX_INGRESS_BYTES}.",
                        envelope.content.to_request_id()
                    ),
                ));
            }
        }
        let verified = auth::verify(envelope, now()).map_err(bad)?;
        if let Some(targets) = &verified.targets {
            if !targets.contains(&canister) {
                return Err(bad(format!(
                    "Invalid delegation: Canister {canister} is not one of the delegation targets."
                )));
            }
        }
        Ok((verified, canister))
    }

    fn not_found(&self, canister: Principal) -> RejectResponse {
        RejectResponse {
            reject_code: RejectCode::DestinationInvalid,
            reject_message: format!(
                "Canister {canister} not found: this server runs one canister, {}",
                self.canister_id
            ),
            error_code: Some("IC0301".into()),
        }
    }

    async fn query(
        &self,
        effective: Principal,
        envelope: ic_transport_types::Envelope<'static>,
    ) -> Result<Reply, Refusal> {
        let (verified, canister) = self.checked(effective, envelope, "query")?;
        let EnvelopeContent::Query {
            sender,
            method_name,
            arg,
            ..
        } = verified.content
        else {
            return Err(bad("expected a query"));
        };
        let status = if canister == Principal::management_canister() {
            // About the canister of the URL, as with calls.
            self.on_node(move |node| node.management_query(sender, &method_name, &arg))
                .await?
        } else if canister == self.canister_id {
            self.on_node(move |node| node.query(sender, &method_name, &arg))
                .await?
        } else {
            Status::Rejected(self.not_found(canister))
        };
        let mut response = match status {
            Status::Replied(arg) => QueryResponse::Replied {
                reply: ReplyResponse { arg },
                signatures: Vec::new(),
            },
            Status::Rejected(reject) => QueryResponse::Rejected {
                reject,
                signatures: Vec::new(),
            },
        };
        let timestamp = now();
        let signature = NodeSignature {
            timestamp,
            signature: self
                .keys
                .node_sign(&response.signable(verified.id, timestamp)),
            identity: self.keys.node_id,
        };
        match &mut response {
            QueryResponse::Replied { signatures, .. }
            | QueryResponse::Rejected { signatures, .. } => signatures.push(signature),
        }
        Ok(cbor_reply(&response))
    }

    async fn call(
        &self,
        effective: Principal,
        envelope: ic_transport_types::Envelope<'static>,
        synchronous: bool,
    ) -> Result<Reply, Refusal> {
        let (verified, canister) = self.checked(effective, envelope, "call")?;
        if verified.queries_only {
            return Err(bad(
                "Invalid delegation: the delegation chain allows only queries and read_state requests",
            ));
        }
        let id = verified.id;
        let EnvelopeContent::Call {
            sender,
            method_name,
            arg,
            ..
        } = verified.content
        else {
            return Err(bad("expected a call"));
        };
        // A call to the management canister is about the canister of the URL.
        let about = if canister == Principal::management_canister() {
            effective
        } else {
            canister
        };
        if about != self.canister_id {
            let reject = self.not_found(about);
            return if synchronous {
                Ok(cbor_reply(&TransportCallResponse::NonReplicatedRejection(
                    reject,
                )))
            } else {
                Err(bad(reject.reject_message))
            };
        }
        let certificate = self
            .on_node(move |node| {
                node.call(id, sender, canister, &method_name, &arg)?;
                Ok(synchronous.then(|| node.certificate(&[status_path(&id)])))
            })
            .await?
            .map_err(|refused| match refused {
                Refused::Busy => refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Maximum ingress history capacity {} reached: the calls of the last 6 minutes are remembered so that none runs twice; try again later",
                        backup_client::subnet::MAX_CALLS
                    ),
                ),
                Refused::Failed(message) => refuse(StatusCode::INTERNAL_SERVER_ERROR, message),
            })?;
        Ok(match certificate {
            Some(certificate) => cbor_reply(&TransportCallResponse::Replied { certificate }),
            None => text(StatusCode::ACCEPTED, ""),
        })
    }

    async fn read_state(
        &self,
        effective: Principal,
        envelope: ic_transport_types::Envelope<'static>,
        subnet: bool,
    ) -> Result<Reply, Refusal> {
        if subnet && effective != self.keys.subnet_id {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!(
                    "Subnet {effective} not found: this server is subnet {}",
                    self.keys.subnet_id
                ),
            ));
        }
        if !subnet && effective != self.canister_id {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!(
                    "Canister {effective} not found: this server runs one canister, {}",
                    self.canister_id
                ),
            ));
        }
        if let EnvelopeContent::ReadState { paths, .. } = &*envelope.content {
            if paths.len() > MAX_READ_STATE_PATHS {
                return Err(bad(format!(
                    "Too many paths in read state request: got {} paths, but at most {MAX_READ_STATE_PATHS} are allowed.",
                    paths.len()
                )));
            }
            if let Some(deep) = paths.iter().find(|path| path.len() > MAX_PATH_LABELS) {
                return Err(bad(format!(
                    "At least one path in read state request is too deep: got {} labels, but at most {MAX_PATH_LABELS} are allowed.",
                    deep.len()
                )));
            }
        }
        let (verified, _) = self.checked(effective, envelope, "read_state")?;
        let EnvelopeContent::ReadState { sender, paths, .. } = verified.content else {
            return Err(bad("expected a read_state request"));
        };
        let paths: Vec<Vec<Vec<u8>>> = paths
            .into_iter()
            .map(|path| {
                path.into_iter()
                    .map(|label| label.as_bytes().to_vec())
                    .collect()
            })
            .collect();
        let certificate = self
            .on_node(move |node| {
                check_paths(node, &paths, sender, effective, subnet)?;
                Ok(node.certificate(&paths))
            })
            .await??;
        Ok(cbor_reply(&ReadStateResponse { certificate }))
    }
}

fn status_path(id: &RequestId) -> Vec<Vec<u8>> {
    vec![b"request_status".to_vec(), id.as_slice().to_vec()]
}

/// The IC's rules for what a `read_state` request may ask for.
fn check_paths(
    node: &mut Node,
    paths: &[Vec<Vec<u8>>],
    sender: Principal,
    effective: Principal,
    subnet: bool,
) -> Result<(), Refusal> {
    let mut request_id: Option<&[u8]> = None;
    for path in paths {
        let label = |index: usize| path.get(index).map(Vec::as_slice);
        match label(0) {
            Some(b"time" | b"subnet" | b"canister_ranges" | b"api_boundary_nodes") => {}
            Some(b"canister") if !subnet => {
                // A whole canister subtree would carry its private metadata.
                let (Some(id), Some(field)) = (label(1), label(2)) else {
                    return Err(bad(
                        "Invalid path requested: a canister path names the canister and one of module_hash, controllers, certified_data or metadata/<name>",
                    ));
                };
                if field == b"metadata" && label(3).is_none() {
                    return Err(bad(
                        "Invalid path requested: a metadata path names its section, metadata/<name>",
                    ));
                }
                if id != effective.as_slice() {
                    return Err(bad(format!(
                        "Effective principal id in URL {effective} does not match requested principal id: {}",
                        Principal::try_from_slice(id).map(|p| p.to_text()).unwrap_or_else(|_| hex::encode(id))
                    )));
                }
                if let (Some(b"metadata"), Some(name)) = (label(2), label(3)) {
                    if node.private_metadata.iter().any(|private| private == name)
                        && !node.is_controller(&sender)
                    {
                        return Err(refuse(
                            StatusCode::FORBIDDEN,
                            format!(
                                "Custom section {} can only be requested by the controllers of the canister.",
                                String::from_utf8_lossy(name)
                            ),
                        ));
                    }
                }
            }
            Some(b"request_status") if !subnet => {
                // All statuses at once would be everyone's replies.
                let Some(id) = label(1) else {
                    return Err(bad(
                        "Invalid path requested: a request_status path names its request id",
                    ));
                };
                if request_id.is_some_and(|first| first != id) {
                    return Err(bad(
                        "Can only request a single request ID in request_status paths.",
                    ));
                }
                request_id = Some(id);
                if node
                    .sender_of(id)
                    .is_some_and(|original| original != sender)
                {
                    return Err(refuse(
                        StatusCode::FORBIDDEN,
                        "Request IDs must be for requests signed with the caller's key.",
                    ));
                }
            }
            _ => {
                return Err(refuse(
                    StatusCode::NOT_FOUND,
                    format!(
                        "Invalid path requested: /{}",
                        path.iter()
                            .map(|label| String::from_utf8_lossy(label).into_owned())
                            .collect::<Vec<_>>()
                            .join("/")
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// The request body, if it is CBOR and not too large.
async fn read_body(request: Request<Incoming>) -> Result<Bytes, Refusal> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type.split(';').next().map(str::trim) != Some("application/cbor") {
        return Err(bad(format!(
            "Unexpected content-type, expected application/cbor, found `{content_type}`."
        )));
    }
    let limited = Limited::new(request.into_body(), MAX_BODY_BYTES);
    let Ok(collected) = tokio::time::timeout(super::BODY_TIMEOUT, limited.collect()).await else {
        return Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "receiving request took longer than {}s",
                super::BODY_TIMEOUT.as_secs()
            ),
        ));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is over the limit of {MAX_BODY_BYTES} bytes."),
        )),
        Err(error) => Err(bad(format!("Could not read the request body: {error}"))),
    }
}

/// Answers a connection past [`super::MAX_CONNECTIONS`] with 503 and closes it.
pub async fn turn_away(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = format!(
        "The service is overloaded: {} connections are open, the most this server keeps.",
        super::MAX_CONNECTIONS
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.write_all(response.as_bytes()),
    )
    .await;
}
