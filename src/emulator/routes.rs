//! The server loop and request dispatch: one hyper HTTP/1 connection per accepted socket,
//! so that a dropped-connection fault can close a connection without any reply (a
//! service error makes hyper close it). Order per database request: route, signature,
//! latency, throttle/unavailable faults, body, store operation, persistence, reply (or
//! drop), then the request log and counters. Admin routes under `/_emulator/` are
//! unsigned (see `admin`).

use super::admin;
use super::faults::{CommitFault, Hook, PageFault, RequestFault};
use super::persist::Pending;
use super::protocol::{self, Endpoint, Reply, Route};
use super::requests::{LoggedRequest, OperationOutcome};
use super::signature::{self, SignedRequest};
use super::store::{Modified, RequestError, Scope};
use super::{Shared, State};
use crate::cloudkit::wire::{
    LookupRequest, ModifyRequest, OperationType, QueryRequest, RecordResult, ServerErrorCode,
    UserIdentity, Zone, ZonesLookupRequest, ZonesResponse,
};
use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// Returned by the service to make hyper close the connection unanswered.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub struct Dropped;

pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(shared.clone(), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = stopped.changed() => break,
        }
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

/// What one request did, for the request log and the counters.
#[derive(Default)]
struct Trace {
    endpoint: Option<&'static str>,
    error: Option<String>,
    operations: Vec<OperationOutcome>,
}

/// Runs each request to its end on a task of its own: a client that goes away mid-request
/// (killed, timed out) must not cancel it half-way, because its write may already be
/// committed (the store runs on a blocking thread) and the log and counters must say so.
async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Reply, Dropped> {
    match tokio::spawn(handle_to_end(shared, request)).await {
        Ok(outcome) => outcome,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

async fn handle_to_end(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Reply, Dropped> {
    let started = Instant::now();
    let at = shared.clock.now_millis();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers().clone();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let mut trace = Trace::default();
    let is_admin = path.starts_with("/_emulator/");
    let outcome = if is_admin {
        Ok(admin::handle(
            &shared,
            &method,
            &path,
            query.as_deref(),
            &body,
        ))
    } else {
        let signed = SignedRequest {
            headers: &headers,
            path: &path,
            query: query.as_deref(),
            body: &body,
        };
        database(&shared, &method, signed, &mut trace).await
    };
    let status = match &outcome {
        Ok(reply) => reply.status().as_u16().to_string(),
        Err(Dropped) => "dropped".to_owned(),
    };
    if !is_admin {
        record(&shared, at, &method, &path, &status, trace);
    }
    if shared.log_requests {
        tracing::info!(
            "{method} {path} {status} {}ms",
            started.elapsed().as_millis()
        );
    }
    outcome
}

/// Logs the request and counts its status and operation outcomes.
fn record(shared: &Shared, at: i64, method: &Method, path: &str, status: &str, trace: Trace) {
    let mut state = shared.lock();
    *state.stats.statuses.entry(status.to_owned()).or_default() += 1;
    for operation in &trace.operations {
        state.stats.count(operation);
    }
    state.log.push(LoggedRequest {
        seq: 0,
        at,
        method: method.to_string(),
        path: path.to_owned(),
        endpoint: trace.endpoint.map(str::to_owned),
        status: status.to_owned(),
        error: trace.error,
        operations: trace.operations,
    });
}

/// A request-level error reply with a seeded `uuid`, noted in the trace.
fn fail(
    shared: &Shared,
    trace: &mut Trace,
    error: &RequestError,
    retry_after: Option<f64>,
) -> Reply {
    trace.error = Some(error.code.to_string());
    let uuid = shared.lock().entropy.uuid();
    protocol::error_reply(error, uuid, retry_after)
}

async fn database(
    shared: &Arc<Shared>,
    method: &Method,
    request: SignedRequest<'_>,
    trace: &mut Trace,
) -> Result<Reply, Dropped> {
    let route = match protocol::route(method, request.path) {
        Ok(route) => route,
        Err(refused) => {
            trace.error = Some(refused.code().to_string());
            let uuid = shared.lock().entropy.uuid();
            return Ok(refused.reply(uuid));
        }
    };
    trace.endpoint = Some(route.endpoint.name());
    count(
        shared,
        |state| &mut state.stats.requests,
        route.endpoint.name(),
    );
    let now = shared.clock.now();
    if let Err(reason) = signature::check(&request, &shared.keys, shared.clock_skew, now) {
        tracing::debug!("emulator: authentication failed: {reason}");
        let error = RequestError::new(
            ServerErrorCode::AuthenticationFailed,
            "Authentication failed",
        );
        return Ok(fail(shared, trace, &error, None));
    }
    let latency = shared.lock().faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let is_modify = route.endpoint == Endpoint::Modify;
    let fault = shared.lock().faults.request(is_modify);
    if let Some(fault) = fault {
        return Ok(refuse(shared, fault, trace));
    }
    let reply = dispatch(shared, &route, request.body, trace).await;
    match reply {
        Ok(Handled::Reply(reply)) => Ok(reply),
        Ok(Handled::Committed(reply, fault)) => after_commit(shared, reply, fault, trace),
        Err(error) => Ok(fail(shared, trace, &error, None)),
    }
}

/// A records/modify whose writes are committed: answered, dropped, or answered 500.
fn after_commit(
    shared: &Shared,
    reply: Reply,
    fault: Option<CommitFault>,
    trace: &mut Trace,
) -> Result<Reply, Dropped> {
    match fault {
        None => Ok(reply),
        Some(CommitFault::Drop) => {
            shared.lock().stats.faults.dropped += 1;
            Err(Dropped)
        }
        Some(CommitFault::InternalError) => {
            shared.lock().stats.faults.errors_after_commit += 1;
            let error = RequestError::new(ServerErrorCode::InternalError, "Internal server error");
            Ok(fail(shared, trace, &error, None))
        }
    }
}

/// Throttle and unavailable faults, answered before any effect.
fn refuse(shared: &Shared, fault: RequestFault, trace: &mut Trace) -> Reply {
    let (code, reason) = match fault {
        RequestFault::Throttle => {
            shared.lock().stats.faults.throttled += 1;
            (ServerErrorCode::Throttled, "Request throttled")
        }
        RequestFault::Unavailable => {
            shared.lock().stats.faults.unavailable += 1;
            (
                ServerErrorCode::TryAgainLater,
                "Service temporarily unavailable, try again later",
            )
        }
    };
    let retry_after = shared.lock().faults.retry_after();
    fail(
        shared,
        trace,
        &RequestError::new(code, reason),
        Some(retry_after),
    )
}

/// A reply, or for records/modify a reply to send once the commit fault is decided.
enum Handled {
    Reply(Reply),
    Committed(Reply, Option<CommitFault>),
}

async fn dispatch(
    shared: &Arc<Shared>,
    route: &Route,
    body: &[u8],
    trace: &mut Trace,
) -> Result<Handled, RequestError> {
    if route.endpoint == Endpoint::Modify {
        let request: ModifyRequest = protocol::parse_body(body)?;
        let shared = shared.clone();
        let scope = route.scope.clone();
        let (reply, operations, fault) =
            tokio::task::spawn_blocking(move || modify(&shared, &scope, &request))
                .await
                .map_err(|e| internal(&e))??;
        trace.operations = operations;
        return Ok(Handled::Committed(reply, fault));
    }
    read(shared, route, body, trace).map(Handled::Reply)
}

/// Every endpoint but records/modify.
fn read(
    shared: &Shared,
    route: &Route,
    body: &[u8],
    trace: &mut Trace,
) -> Result<Reply, RequestError> {
    let scope = &route.scope;
    match route.endpoint {
        Endpoint::Modify => Err(internal(&"records/modify is not a read")),
        Endpoint::Query => {
            let request: QueryRequest = protocol::parse_body(body)?;
            let (reply, fault) = query(shared, scope, &request)?;
            let outcome = match fault {
                None => "ok",
                Some(PageFault::RepeatPrevious) => "repeated",
                Some(PageFault::SkipOne) => "skipped",
            };
            trace
                .operations
                .push(OperationOutcome::new("query", None, outcome));
            Ok(protocol::query_reply(&reply))
        }
        Endpoint::Lookup => {
            let request: LookupRequest = protocol::parse_body(body)?;
            let mut state = shared.lock();
            let State { store, faults, .. } = &mut *state;
            let records = store.lookup(scope, &request, faults)?;
            drop(state);
            trace.operations = outcomes(&records, |_| "lookup");
            let errors = trace
                .operations
                .iter()
                .filter(|o| o.outcome != "ok" && o.outcome != "NOT_FOUND")
                .count() as u64;
            shared.lock().stats.faults.lookup_errors += errors;
            Ok(protocol::records_reply(&records))
        }
        Endpoint::ZonesList => {
            let zone_id = shared.lock().store.default_zone_id();
            Ok(protocol::json_reply(&ZonesResponse {
                zones: vec![Zone {
                    zone_id,
                    sync_token: None,
                    atomic: false,
                }],
            }))
        }
        Endpoint::ZonesLookup => {
            let request: ZonesLookupRequest = protocol::parse_body(body)?;
            Ok(protocol::json_reply(&zones_lookup(shared, &request)))
        }
        Endpoint::UsersCurrent => {
            let user_record_name = shared.lock().store.user_record_name().to_owned();
            Ok(protocol::json_reply(&UserIdentity { user_record_name }))
        }
        Endpoint::UsersCaller => {
            // Documented (FetchCurrentUserIdentity): an array with one user identity.
            let user_record_name = shared.lock().store.user_record_name().to_owned();
            Ok(protocol::json_reply(
                &json!({"users": [{"userRecordName": user_record_name}]}),
            ))
        }
    }
}

/// One outcome per reply entry: `ok` or the entry's serverErrorCode.
fn outcomes(
    results: &[RecordResult],
    operation: impl Fn(usize) -> &'static str,
) -> Vec<OperationOutcome> {
    results
        .iter()
        .enumerate()
        .map(|(index, result)| match result {
            RecordResult::Record(record) => {
                OperationOutcome::new(operation(index), record.record_name.as_deref(), "ok")
            }
            RecordResult::Error(error) => OperationOutcome::new(
                operation(index),
                error.record_name.as_deref(),
                error.server_error_code.as_str(),
            ),
        })
        .collect()
}

/// One query page under the lock, counting an injected page fault.
fn query(
    shared: &Shared,
    scope: &Scope,
    request: &QueryRequest,
) -> Result<(crate::cloudkit::wire::QueryResponse, Option<PageFault>), RequestError> {
    let mut state = shared.lock();
    let State {
        store,
        faults,
        stats,
        ..
    } = &mut *state;
    let (reply, fault) = store.query(scope, request, faults)?;
    match fault {
        Some(PageFault::RepeatPrevious) => stats.faults.pages_repeated += 1,
        Some(PageFault::SkipOne) => stats.faults.pages_skipped += 1,
        None => {}
    }
    Ok((reply, fault))
}

type ModifyOutcome = (Reply, Vec<OperationOutcome>, Option<CommitFault>);

/// Applies, logs durably, counts; all under the one lock so log order is apply order.
/// The commit fault is drawn once the writes are durable.
fn modify(
    shared: &Shared,
    scope: &Scope,
    request: &ModifyRequest,
) -> Result<ModifyOutcome, RequestError> {
    let now = shared.clock.now_millis();
    let (modified, pending) = apply_modify(shared, scope, request, now)?;
    if let Some(pending) = pending {
        pending.wait().map_err(|e| internal(&e))?;
    }
    let fault = shared.lock().faults.after_commit();
    let kinds: Vec<&'static str> = request
        .operations
        .iter()
        .map(|operation| operation_name(operation.operation_type))
        .collect();
    let operations = outcomes(&modified.results, |index| kinds[index]);
    let throttled = operations
        .iter()
        .filter(|o| o.outcome == "THROTTLED")
        .count() as u64;
    shared.lock().stats.faults.records_throttled += throttled;
    let reply = protocol::records_reply(&modified.results);
    Ok((reply, operations, fault))
}

/// The locked part of modify: apply and write the log line.
fn apply_modify(
    shared: &Shared,
    scope: &Scope,
    request: &ModifyRequest,
    now: i64,
) -> Result<(Modified, Option<Pending>), RequestError> {
    let mut state = shared.lock();
    let State {
        store,
        persister,
        faults,
        ..
    } = &mut *state;
    let modified = store.modify(scope, request, now, faults)?;
    let pending = match persister {
        Some(persister) => Some(
            persister
                .commit(scope, &modified.changes, store)
                .map_err(|e| internal(&e))?,
        ),
        None => None,
    };
    Ok((modified, pending))
}

fn zones_lookup(shared: &Shared, request: &ZonesLookupRequest) -> serde_json::Value {
    let default_zone = shared.lock().store.default_zone_id();
    let zones: Vec<serde_json::Value> = request
        .zones
        .iter()
        .map(|zone| {
            if zone.is_default() {
                json!({"zoneID": default_zone, "atomic": false})
            } else {
                json!({
                    "zoneID": zone,
                    "reason": format!("Zone '{}' does not exist", zone.zone_name),
                    "serverErrorCode": "ZONE_NOT_FOUND",
                })
            }
        })
        .collect();
    json!({ "zones": zones })
}

fn operation_name(kind: OperationType) -> &'static str {
    match kind {
        OperationType::Create => "create",
        OperationType::Update => "update",
        OperationType::ForceUpdate => "forceUpdate",
        OperationType::Replace => "replace",
        OperationType::ForceReplace => "forceReplace",
        OperationType::Delete => "delete",
        OperationType::ForceDelete => "forceDelete",
    }
}

fn count(
    shared: &Shared,
    map: impl FnOnce(&mut State) -> &mut std::collections::BTreeMap<String, u64>,
    key: &str,
) {
    let mut state = shared.lock();
    *map(&mut state).entry(key.to_owned()).or_default() += 1;
}

fn internal(error: &dyn std::fmt::Display) -> RequestError {
    RequestError::new(ServerErrorCode::InternalError, error.to_string())
}
