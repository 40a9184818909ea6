//! A call to the canister, from its arrival to its answer: the ingress
//! checks, the method's message, the calls it makes delivered (to the
//! management canister, to the canister itself) and their callbacks run, and
//! the reply or reject it ends with.

use super::Canister;
use crate::call::{CallResult, CallStats, Reject, RejectCode};
use crate::execute::Run;
use crate::host::{Entry, OutgoingCall, Response};
use crate::management;
use candid::Principal;
use ic_management_canister_types::{FetchCanisterLogsArgs, FetchCanisterLogsResult};

impl Canister {
    /// Runs a query method: every change it makes is thrown away.
    pub fn query(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        self.call(Entry::Query, caller, method, arg)
    }

    /// Runs a query method as an update call runs it: replicated (so
    /// `in_replicated_execution` is 1, and the reply at most 2 MiB), its
    /// changes thrown away.
    pub fn query_replicated(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        self.call(Entry::ReplicatedQuery, caller, method, arg)
    }

    /// Runs an update method: its changes are kept if it replies or rejects,
    /// and rolled back if it traps.
    pub fn update(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        self.call(Entry::Update, caller, method, arg)
    }

    /// A user's ingress message to the management canister (`aaaaa-aa`)
    /// about this canister: `canister_status`, which the IC answers to the
    /// canister's controllers; the methods only canisters may call, and
    /// those that would change the canister (installing code, settings,
    /// stopping), are refused.
    pub fn management_ingress(
        &mut self,
        caller: Principal,
        method: &str,
        arg: &[u8],
    ) -> CallResult {
        let stats = CallStats {
            bytes_in: arg.len(),
            ..CallStats::default()
        };
        let env = self.exec.env();
        let may_read_status =
            self.settings
                .may_read_status(&caller, &env.canister_id, &env.controllers);
        let controls = env.controllers.contains(&caller);
        let may_read_snapshots = self.may_read_snapshots(&caller);
        let refused = || management::not_a_controller_ingress(env.canister_id, method);
        let result = match method {
            // Who may ask is checked before the argument is read, as the
            // IC's ingress filter does: a stranger's argument costs nothing.
            "canister_status" if !may_read_status => Err(refused()),
            "update_settings" | "stop_canister" | "start_canister" | "install_code"
            | "install_chunked_code" | "uninstall_code" | "upload_chunk" | "stored_chunks"
            | "clear_chunk_store" | "take_canister_snapshot" | "load_canister_snapshot"
            | "delete_canister_snapshot" | "upload_canister_snapshot_metadata"
            | "upload_canister_snapshot_data"
                if !controls =>
            {
                Err(refused())
            }
            "list_canister_snapshots"
            | "read_canister_snapshot_metadata"
            | "read_canister_snapshot_data"
                if !may_read_snapshots =>
            {
                Err(refused())
            }
            "take_canister_snapshot" => self.take_snapshot(caller, arg),
            "load_canister_snapshot" => self.load_snapshot(caller, arg),
            "list_canister_snapshots" => self.list_snapshots(arg),
            "delete_canister_snapshot" => self.delete_snapshot(arg),
            "read_canister_snapshot_metadata" => self.read_snapshot_metadata(arg),
            "read_canister_snapshot_data" => self.read_snapshot_data(arg),
            "upload_canister_snapshot_metadata" => self.upload_snapshot_metadata(arg),
            "upload_canister_snapshot_data" => self.upload_snapshot_data(arg),
            "canister_status" => self.management(caller, method, arg),
            "update_settings" => self.update_settings(caller, arg),
            "stop_canister" => self.stop(arg),
            "start_canister" => self.start(arg),
            "install_code" => self.install_code(caller, arg),
            "install_chunked_code" => self.install_chunked_code(caller, arg),
            "uninstall_code" => self.uninstall_code(caller, arg),
            "upload_chunk" => self.upload_chunk(arg),
            "stored_chunks" => self.stored_chunks(arg),
            "clear_chunk_store" => self.clear_chunk_store(arg),
            "fetch_canister_logs" => Err((
                RejectCode::CanisterReject,
                "IC0406: fetch_canister_logs API is not accessible via ingress in replicated mode"
                    .to_string(),
            )),
            "raw_rand" | "canister_info" | "http_request" | "sign_with_ecdsa" => Err((
                RejectCode::CanisterReject,
                format!("IC0509: {method} can only be called by canisters, not by users"),
            )),
            _ => Err((
                RejectCode::CanisterReject,
                format!(
                    "the management canister's {method} is not run here: the runner keeps one canister as it was installed"
                ),
            )),
        };
        CallResult {
            result: result.map_err(|(code, message)| Reject { code, message }),
            stats,
        }
    }

    /// Why the canister refuses any message now, before its method is
    /// looked for, as the IC refuses it: stopped or stopping, or without a
    /// module. `query`: a query, not an update (nor a query called as one).
    pub fn refuses(&self, query: bool) -> Option<Reject> {
        if let Some((code, message)) = self.refused_for_status(query) {
            return Some(Reject { code, message });
        }
        if self.module.is_none() {
            // The IC's ingress filter refuses an update in few words; a
            // query runs to where the module would be.
            let message = if query {
                super::install::no_module(self.canister_id())
            } else {
                "IC0537: Requested canister has no wasm module".into()
            };
            return Some(Reject {
                code: RejectCode::CanisterError,
                message,
            });
        }
        None
    }

    /// A user's query to the management canister about this canister:
    /// `fetch_canister_logs`, answered to whom `log_visibility` allows.
    pub fn management_query(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        let stats = CallStats {
            bytes_in: arg.len(),
            ..CallStats::default()
        };
        let result = match method {
            "fetch_canister_logs" => self.fetch_logs(caller, arg),
            _ => Err((
                RejectCode::DestinationInvalid,
                format!("the management canister has no query method '{method}'"),
            )),
        };
        CallResult {
            result: result.map_err(|(code, message)| Reject { code, message }),
            stats,
        }
    }

    fn fetch_logs(&mut self, caller: Principal, arg: &[u8]) -> management::Outcome {
        let FetchCanisterLogsArgs {
            canister_id,
            filter,
        } = management::decode("fetch_canister_logs", arg)?;
        management::this(self.canister_id(), canister_id)?;
        if !self
            .settings
            .may_read_logs(&caller, &self.exec.env().controllers)
        {
            return Err((
                RejectCode::CanisterReject,
                format!("IC0406: Caller {caller} is not allowed to access canister logs"),
            ));
        }
        management::encode(FetchCanisterLogsResult {
            canister_log_records: self.log.fetch(filter.as_ref()),
        })
    }

    fn call(&mut self, entry: Entry, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        let mut stats = CallStats {
            bytes_in: arg.len(),
            ..CallStats::default()
        };
        let reject = |code, message: String| Err(Reject { code, message });
        if arg.len() > self.limits.ingress_bytes {
            let message = format!(
                "the argument of {} bytes is over the ingress limit of {} bytes",
                arg.len(),
                self.limits.ingress_bytes
            );
            return CallResult {
                result: reject(RejectCode::SysFatal, message),
                stats,
            };
        }
        // What ran before (an install's hooks) is in the log before this.
        self.flush_prints(true);
        if let Some(refused) = self.refuses(entry == Entry::Query) {
            return CallResult {
                result: Err(refused),
                stats,
            };
        }
        let kind = if entry.is_query() { "query" } else { "update" };
        let export = format!("canister_{kind} {method}");
        let Some(function) = self.exec.export(&export) else {
            let message = format!("the canister has no {kind} method `{method}`");
            return CallResult {
                result: reject(RejectCode::DestinationInvalid, message),
                stats,
            };
        };
        // A query called as an update (replicated) replies at most what
        // an update may, 2 MiB.
        let (limit, reply_limit) = match entry {
            Entry::Query => (
                self.limits.query_instructions,
                self.limits.query_reply_bytes,
            ),
            Entry::ReplicatedQuery => (
                self.limits.query_instructions,
                self.limits.update_reply_bytes,
            ),
            _ => (
                self.limits.update_instructions,
                self.limits.update_reply_bytes,
            ),
        };
        self.exec.begin_message(if entry.is_query() {
            self.limits.query_stable_access
        } else {
            self.limits.update_stable_access
        });
        let run = Run {
            entry,
            method,
            caller,
            arg,
            reply_limit,
            instructions: limit,
            reject: None,
            context_replied: false,
        };
        let outcome = self
            .exec
            .execute(run, |store| function.call(store, &[], &mut []));
        stats.instructions = outcome.1;
        let kept = outcome.0.is_ok() && !entry.is_query();
        let performed = self.exec.end_message(kept);
        let mut response = match outcome.0 {
            Err(message) => {
                if entry.is_query() {
                    self.flush_prints(false);
                } else {
                    self.log_trap(&message);
                }
                return CallResult {
                    result: reject(RejectCode::CanisterError, message),
                    stats,
                };
            }
            Ok(response) => response,
        };
        // The message's state is committed (as at an `await`); the calls it
        // performed are delivered, and their callbacks run, one message each.
        let mut trapped = None;
        if !performed.is_empty() {
            let (used, trap) = self.deliver(caller, reply_limit, performed, &mut response);
            stats.instructions += used;
            trapped = trap;
        }
        if let Some(trap) = &trapped {
            self.log_trap(trap);
        }
        self.flush_prints(!entry.is_query());
        let result = match response {
            Some(Response::Reply(bytes)) => {
                stats.bytes_out = bytes.len();
                Ok(bytes)
            }
            Some(Response::Reject(message)) => reject(RejectCode::CanisterReject, message),
            // A callback that trapped closes the call context with its error.
            None => reject(
                RejectCode::CanisterError,
                match trapped {
                    Some(trap) => format!("a callback of `{method}` trapped: {trap}"),
                    None => format!("the canister did not reply to `{method}`"),
                },
            ),
        };
        CallResult { result, stats }
    }

    /// Delivers `calls` and runs their callbacks (and the calls those make)
    /// in the call context of `caller`, whose answer, once given, goes to
    /// `response`. Returns the instructions the callbacks used, and the
    /// last trap of a callback, if one trapped.
    fn deliver(
        &mut self,
        caller: Principal,
        reply_limit: usize,
        calls: Vec<OutgoingCall>,
        response: &mut Option<Response>,
    ) -> (u64, Option<String>) {
        let stable_access = self.limits.update_stable_access;
        let mut used = 0;
        let mut trapped = None;
        let mut queue: std::collections::VecDeque<OutgoingCall> = calls.into();
        while let Some(call) = queue.pop_front() {
            let outcome = self.answer(&call);
            let (entry, arg, rejected, callback) = match outcome {
                Ok(reply) => (Entry::ReplyCallback, reply, None, call.reply),
                Err((code, message)) => (
                    Entry::RejectCallback,
                    Vec::new(),
                    Some((code as u32, message)),
                    call.reject,
                ),
            };
            let run = Run {
                entry,
                method: "",
                caller,
                arg: &arg,
                reply_limit,
                instructions: self.limits.update_instructions,
                reject: rejected,
                context_replied: response.is_some(),
            };
            match self.exec.run_callback(run, callback, stable_access) {
                (Ok(answer), spent, calls) => {
                    used += spent;
                    if response.is_none() {
                        *response = answer;
                    }
                    queue.extend(calls);
                }
                (Err(trap), spent, _) => {
                    used += spent;
                    trapped = Some(trap);
                    if let Some(cleanup) = call.cleanup {
                        let run = Run {
                            entry: Entry::Cleanup,
                            method: "",
                            caller,
                            arg: &[],
                            reply_limit: 0,
                            instructions: self.limits.update_instructions,
                            reject: None,
                            context_replied: true,
                        };
                        used += self.exec.run_callback(run, cleanup, stable_access).1;
                    }
                }
            }
        }
        (used, trapped)
    }

    /// The answer to a call the canister made: the management canister's,
    /// its own (a call to itself runs as an update), or, as the IC answers
    /// for a canister that does not exist, a reject.
    fn answer(&mut self, call: &OutgoingCall) -> Result<Vec<u8>, (RejectCode, String)> {
        let own_id = self.exec.env().canister_id;
        if call.callee == Principal::management_canister() {
            return self.management(own_id, &call.method, &call.arg);
        }
        if call.callee == own_id {
            return self
                .update(own_id, &call.method, &call.arg)
                .result
                .map_err(|reject| (reject.code, reject.message));
        }
        Err((
            RejectCode::DestinationInvalid,
            format!("Canister {} not found", call.callee),
        ))
    }

    /// The management canister's answer to `caller` about this canister.
    fn management(
        &mut self,
        caller: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, (RejectCode, String)> {
        let memory = management::Memory {
            wasm: self.exec.heap_bytes(),
            stable: self.exec.env().stable.bytes().len() as u64,
            globals: 8 * self.exec.global_count() as u64,
            binary: self
                .module
                .as_ref()
                .map_or(0, |module| module.bytes.len() as u64),
            custom_sections: self
                .metadata
                .iter()
                .map(|section| (section.name.len() + section.bytes.len()) as u64)
                .sum(),
            history: candid::encode_one(&self.history).map_or(0, |bytes| bytes.len() as u64),
            log: self.log.bytes(),
            chunk_store: self.chunks.len() as u64 * super::install::MAX_CHUNK_BYTES as u64,
            snapshots: self.snapshots_size(),
        };
        let data = self.exec.env();
        let view = management::View {
            canister_id: data.canister_id,
            controllers: &data.controllers,
            module_hash: self.module_hash(),
            status: self.status,
            version: data.version,
            settings: &self.settings,
            memory,
            history: &self.history,
        };
        management::call(&view, &mut self.randomness, caller, method, arg)
    }
}
