//! The server loop and request dispatch: one hyper HTTP/1 connection per accepted socket,
//! so that a dropped-connection fault can close a connection without any reply (a
//! service error makes hyper close it). Order per database request: route, signature,
//! latency, throttle/unavailable faults, body, store operation, persistence, reply (or
//! drop), then the request log and counters. Admin routes under `/_emulator/` are
//! unsigned (see `admin`).

use super::admin;
use super::domain::{ReadOutcome, WriteBatch, WriteOutcome};
use super::faults::{CommitFault, Hook, PageFault, RequestFault};
use super::persist::Pending;
use super::protocol::{self, Endpoint, Reply, Route};
use super::requests::{LoggedRequest, OperationOutcome, QueryPageLog};
use super::schema_api;
use super::signature::{self, SignedRequest};
use super::store::{RequestError, Scope};
use super::translate;
use super::{Shared, State};
use crate::cloudkit::wire::{
    LookupRequest, ModifyRequest, QueryRequest, QueryResponse, ServerErrorCode, UserIdentity, Zone,
    ZonesLookupRequest, ZonesResponse,
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
    if path.starts_with(super::assets::PREFIX) {
        return Ok(asset_route(&shared, &method, &path, request.into_body(), at).await);
    }
    let accepts_gzip = shared.gzip && protocol::accepts_gzip(&headers);
    let limited = http_body_util::Limited::new(request.into_body(), protocol::MAX_REQUEST_BYTES);
    let mut trace = Trace::default();
    let body = match limited.collect().await {
        Ok(collected) => Some(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => None,
        Err(_) => Some(Bytes::new()),
    };
    let is_admin = path.starts_with("/_emulator/");
    let outcome = if let Some(body) = body {
        respond(
            &shared,
            &method,
            &path,
            query.as_deref(),
            &headers,
            &body,
            &mut trace,
        )
        .await
    } else {
        trace.endpoint = protocol::route(&method, &path)
            .ok()
            .map(|r| r.endpoint.path());
        Ok(protocol::too_large_reply())
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
    match outcome {
        Ok(reply) if accepts_gzip => Ok(compressed(reply).await),
        other => other,
    }
}

/// `reply` with a gzip-encoded body and `Content-Encoding: gzip`.
async fn compressed(reply: Reply) -> Reply {
    let (mut parts, body) = reply.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    match protocol::gzip(&bytes) {
        Some(packed) => {
            parts.headers.insert(
                hyper::header::CONTENT_ENCODING,
                hyper::header::HeaderValue::from_static("gzip"),
            );
            parts.headers.remove(hyper::header::CONTENT_LENGTH);
            Reply::from_parts(parts, http_body_util::Full::new(Bytes::from(packed)))
        }
        None => Reply::from_parts(parts, http_body_util::Full::new(bytes)),
    }
}

/// An admin or database request with its whole body.
async fn respond(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &hyper::HeaderMap,
    body: &Bytes,
    trace: &mut Trace,
) -> Result<Reply, Dropped> {
    settle_cascades(shared);
    if path.starts_with("/_emulator/") {
        if let Some(reply) = schema_api::admin(shared, method, path, query) {
            return Ok(reply);
        }
        return Ok(admin::handle(shared, method, path, query, body));
    }
    if schema_api::owns(path) {
        let (reply, endpoint) = schema_api::handle(shared, method, path, headers, body);
        trace.endpoint = endpoint;
        return Ok(reply);
    }
    let signed = SignedRequest {
        headers,
        path,
        query,
        body,
    };
    database(shared, method, signed, trace).await
}

/// Runs the `DELETE_SELF` cascades due by now and logs their deletions durably, before
/// the request sees the store (CloudKit runs them asynchronously after a delete).
fn settle_cascades(shared: &Shared) {
    let now = shared.clock.now_millis();
    let mut waits = Vec::new();
    {
        let mut state = shared.lock();
        let State {
            store, persister, ..
        } = &mut *state;
        if store.cascades.is_empty() {
            return;
        }
        for (scope, outcomes) in store.run_cascades(now) {
            if let Some(persister) = persister.as_mut() {
                match persister.commit(&scope, &outcomes, store) {
                    Ok(pending) => waits.push(pending),
                    Err(error) => tracing::error!("cannot log a DELETE_SELF cascade: {error}"),
                }
            }
        }
    }
    for pending in waits {
        if let Err(error) = pending.wait() {
            tracing::error!("cannot sync a DELETE_SELF cascade: {error}");
        }
    }
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
    trace.endpoint = Some(route.endpoint.path());
    count(
        shared,
        |state| &mut state.stats.requests,
        route.endpoint.path(),
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
            translate::check_query(&request)?;
            let (reply, fault) = query(shared, scope, &request)?;
            let outcome = match fault {
                None => "ok",
                Some(PageFault::RepeatPrevious) => "repeated",
                Some(PageFault::SkipOne) => "skipped",
            };
            let mut logged = OperationOutcome::new("query", None, outcome);
            logged.page = Some(QueryPageLog {
                query: super::query::query_digest(scope, &request),
                continued: request.continuation_marker.is_some(),
                limit: request
                    .results_limit
                    .map_or(super::query::MAX_RESULTS, |l| {
                        l.min(super::query::MAX_RESULTS)
                    }) as usize,
                records: reply.records.len(),
                more: reply.continuation_marker.is_some(),
            });
            trace.operations.push(logged);
            Ok(protocol::query_reply(&reply))
        }
        Endpoint::Lookup => lookup(shared, scope, body, trace),
        Endpoint::ZonesList => {
            let zone_id = translate::zone_id(shared.lock().store.user_record_name());
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
            {
                let user = shared.lock().store.user_record_name().to_owned();
                Ok(protocol::json_reply(&translate::zones_lookup(
                    &user, &request,
                )))
            }
        }
        Endpoint::UsersCurrent => {
            let user_record_name = shared.lock().store.user_record_name().to_owned();
            Ok(protocol::json_reply(&UserIdentity { user_record_name }))
        }
        Endpoint::UsersCaller => {
            // Both documented shapes in one body: Apple's Web Services page
            // (FetchCurrentUserIdentity) answers `{users: [identity]}`; CloudKit JS's
            // `fetchCurrentUserIdentity()` resolves to the body itself as a UserIdentity
            // and reads its top-level `userRecordName`.
            let user_record_name = shared.lock().store.user_record_name().to_owned();
            Ok(protocol::json_reply(&json!({
                "userRecordName": user_record_name,
                "users": [{"userRecordName": user_record_name}],
            })))
        }
        Endpoint::AssetsUpload => {
            let mut state = shared.lock();
            let State {
                assets, entropy, ..
            } = &mut *state;
            let now = shared.clock.now_millis();
            let scope = super::assets::Slot::scope_key(scope);
            let base = &shared.base_url;
            let reply = assets.request_urls(body, &scope, base, now, || entropy.uuid())?;
            Ok(protocol::json_reply(&reply))
        }
        other => Err(internal(&format!("`{other}` is not served"))),
    }
}

/// records/lookup under the lock, counting injected lookup errors.
fn lookup(
    shared: &Shared,
    scope: &Scope,
    body: &[u8],
    trace: &mut Trace,
) -> Result<Reply, RequestError> {
    let request: LookupRequest = protocol::parse_body(body)?;
    let names = translate::lookup_names(&request)?;
    let mut state = shared.lock();
    let State {
        store,
        faults,
        stats,
        ..
    } = &mut *state;
    let found = store.lookup(scope, &names, faults);
    trace.operations = read_outcomes(&found);
    stats.faults.lookup_errors += found
        .iter()
        .filter(|o| matches!(o, ReadOutcome::Failed(f) if f.code != ServerErrorCode::NotFound))
        .count() as u64;
    let mut records = translate::lookup_results(&found, &request, store.user_record_name());
    drop(state);
    super::assets::add_download_urls(&mut records, &shared.base_url);
    Ok(protocol::records_reply(&records))
}

/// One logged outcome per name read: `ok` or the failure's serverErrorCode.
fn read_outcomes(found: &[ReadOutcome<'_>]) -> Vec<OperationOutcome> {
    found
        .iter()
        .map(|outcome| match outcome {
            ReadOutcome::Found { name, .. } => OperationOutcome::new("lookup", Some(name), "ok"),
            ReadOutcome::Failed(failure) => {
                OperationOutcome::new("lookup", Some(&failure.record_name), failure.code.as_str())
            }
        })
        .collect()
}

/// One logged outcome per write: `ok` or the failure's serverErrorCode.
fn write_outcomes(batch: &WriteBatch, outcomes: &[WriteOutcome]) -> Vec<OperationOutcome> {
    batch
        .writes
        .iter()
        .zip(outcomes)
        .map(|(write, outcome)| {
            let operation = write.kind.name();
            match outcome {
                WriteOutcome::Saved { name, .. } | WriteOutcome::Deleted { name } => {
                    OperationOutcome::new(operation, Some(name), "ok")
                }
                WriteOutcome::Failed(failure) => OperationOutcome::new(
                    operation,
                    Some(&failure.record_name),
                    failure.code.as_str(),
                ),
            }
        })
        .collect()
}

/// One query page under the lock, rendered, counting an injected page fault.
fn query(
    shared: &Shared,
    scope: &Scope,
    request: &QueryRequest,
) -> Result<(QueryResponse, Option<PageFault>), RequestError> {
    let mut state = shared.lock();
    let State {
        store,
        faults,
        stats,
        ..
    } = &mut *state;
    let lag_on = faults.index_lag_ms() > 0;
    store.catch_up(scope, shared.clock.now_millis(), lag_on);
    let page = store.query(scope, request, faults)?;
    match page.fault {
        Some(PageFault::RepeatPrevious) => stats.faults.pages_repeated += 1,
        Some(PageFault::SkipOne) => stats.faults.pages_skipped += 1,
        None => {}
    }
    let mut reply = translate::query_response(&page, request, store.user_record_name());
    super::assets::add_download_urls(&mut reply.records, &shared.base_url);
    Ok((reply, page.fault))
}

type ModifyOutcome = (Reply, Vec<OperationOutcome>, Option<CommitFault>);

/// Applies, logs durably, counts; all under the one lock so log order is apply order.
/// The commit fault is drawn once the writes are durable.
fn modify(
    shared: &Shared,
    scope: &Scope,
    request: &ModifyRequest,
) -> Result<ModifyOutcome, RequestError> {
    let mut batch = translate::write_batch(request)?;
    let taken = super::assets::accept_fields(&mut shared.lock().assets, scope, &mut batch)?;
    let now = shared.clock.now_millis();
    let applied = apply_modify(shared, scope, &batch, now);
    let outcomes = applied.as_ref().map(|(outcomes, ..)| &outcomes[..]);
    let unsaved = super::assets::unsaved(taken, outcomes.ok());
    shared.lock().assets.release(&unsaved);
    let (outcomes, pending, user_record_name) = applied?;
    if let Some(pending) = pending {
        pending.wait().map_err(|e| internal(&e))?;
    }
    let fault = shared.lock().faults.after_commit();
    let operations = write_outcomes(&batch, &outcomes);
    let throttled = operations
        .iter()
        .filter(|o| o.outcome == "THROTTLED")
        .count() as u64;
    shared.lock().stats.faults.records_throttled += throttled;
    let mut results = translate::modify_results(&outcomes, request, &user_record_name);
    super::assets::add_download_urls(&mut results, &shared.base_url);
    Ok((protocol::records_reply(&results), operations, fault))
}

type Applied = (Vec<WriteOutcome>, Option<Pending>, String);

/// The locked part of modify: apply and write the log line.
fn apply_modify(
    shared: &Shared,
    scope: &Scope,
    batch: &WriteBatch,
    now: i64,
) -> Result<Applied, RequestError> {
    let mut state = shared.lock();
    let State {
        store,
        persister,
        faults,
        schemas,
        ..
    } = &mut *state;
    let outcomes = match scope.environment {
        // Production has no just-in-time schema: undeployed types and fields are refused.
        crate::record::Environment::Production => {
            schemas.modify_production(store, scope, batch, now, faults)?
        }
        crate::record::Environment::Development => store.modify(scope, batch, now, faults)?,
    };
    let pending = match persister {
        Some(persister) => Some(
            persister
                .commit(scope, &outcomes, store)
                .map_err(|e| internal(&e))?,
        ),
        None => None,
    };
    Ok((outcomes, pending, store.user_record_name().to_owned()))
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

/// The unsigned asset URLs on the emulator's own address: `POST /_assets/upload/{token}`
/// with the raw bytes (up to the asset limit, a fault may refuse it first as any request),
/// and `GET /_assets/download/{id}/{file name}`.
async fn asset_route(
    shared: &Shared,
    method: &Method,
    path: &str,
    body: Incoming,
    at: i64,
) -> Reply {
    use super::assets::{MAX_ASSET_BYTES, PREFIX};
    let rest = &path[PREFIX.len()..];
    let mut trace = Trace::default();
    // CloudKit's asset host is as far away as its API: the same round trip.
    let latency = shared.lock().faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let reply = if let (&Method::POST, Some(token)) = (method, rest.strip_prefix("upload/")) {
        trace.endpoint = Some("assets/upload/bytes");
        let fault = shared.lock().faults.request(false);
        match fault {
            Some(fault) => refuse(shared, fault, &mut trace),
            None => {
                let limited = http_body_util::Limited::new(body, MAX_ASSET_BYTES + 1);
                match limited.collect().await {
                    Ok(collected) => {
                        let bytes = collected.to_bytes();
                        let now = shared.clock.now_millis();
                        let received = shared.lock().assets.receive(token, &bytes, now);
                        match received {
                            Ok(reply) => protocol::json_reply(&reply),
                            Err(error) => fail(shared, &mut trace, &error, None),
                        }
                    }
                    Err(_) => {
                        let error = RequestError::bad_request(format!(
                            "asset over the limit of {MAX_ASSET_BYTES} bytes"
                        ));
                        fail(shared, &mut trace, &error, None)
                    }
                }
            }
        }
    } else if let (&Method::GET, Some(file)) = (method, rest.strip_prefix("download/")) {
        trace.endpoint = Some("assets/download");
        let id = file.split('/').next().unwrap_or_default();
        let bytes = shared.lock().assets.download(id);
        match bytes {
            Some(bytes) => hyper::Response::builder()
                .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
                .body(http_body_util::Full::new(Bytes::from(bytes)))
                .unwrap_or_else(|_| protocol::too_large_reply()),
            None => {
                let error = RequestError::new(ServerErrorCode::NotFound, "asset not found");
                fail(shared, &mut trace, &error, None)
            }
        }
    } else {
        let error = RequestError::new(ServerErrorCode::NotFound, "unknown asset URL");
        fail(shared, &mut trace, &error, None)
    };
    if let Some(endpoint) = trace.endpoint {
        count(shared, |state| &mut state.stats.requests, endpoint);
    }
    let status = reply.status().as_u16().to_string();
    record(shared, at, method, path, &status, trace);
    reply
}
