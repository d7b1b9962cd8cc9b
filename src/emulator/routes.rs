//! The server loop and request dispatch: one hyper HTTP/1 connection per accepted socket,
//! so that a dropped-connection fault can close a connection without any reply (a
//! service error makes hyper close it). Order per database request: route, signature,
//! latency, throttle/unavailable faults, body, store operation, persistence, reply (or
//! drop). Admin routes under `/_emulator/` are unsigned.

use super::faults::Fault;
use super::persist::Pending;
use super::protocol::{self, Endpoint, Reply, Route};
use super::signature::{self, SignedRequest};
use super::store::{Modified, RequestError, Scope};
use super::{Shared, State};
use crate::cloudkit::wire::{
    LookupRequest, ModifyRequest, OperationType, QueryRequest, RecordResult, RecordsResponse,
    ServerErrorCode, UserIdentity, Zone, ZonesLookupRequest, ZonesResponse,
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

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Reply, Dropped> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers().clone();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let is_admin = path.starts_with("/_emulator/");
    let outcome = if is_admin {
        Ok(admin(&shared, &method, &path))
    } else {
        let signed = SignedRequest {
            headers: &headers,
            path: &path,
            query: query.as_deref(),
            body: &body,
        };
        database(&shared, &method, signed).await
    };
    let status = match &outcome {
        Ok(reply) => reply.status().as_u16().to_string(),
        Err(Dropped) => "dropped".to_owned(),
    };
    if !is_admin {
        *shared
            .lock()
            .stats
            .statuses
            .entry(status.clone())
            .or_default() += 1;
    }
    if shared.log_requests {
        tracing::info!(
            "{method} {path} {status} {}ms",
            started.elapsed().as_millis()
        );
    }
    outcome
}

fn admin(shared: &Shared, method: &Method, path: &str) -> Reply {
    match (method, path) {
        (&Method::GET, "/_emulator/stats") => protocol::json_reply(&shared.stats()),
        (&Method::POST, "/_emulator/reset") => {
            let mut state = shared.lock();
            let State {
                store,
                persister,
                stats,
            } = &mut *state;
            store.clear();
            *stats = Default::default();
            if let Some(persister) = persister {
                if let Err(error) = persister.reset(store) {
                    return protocol::error_reply(&internal(&error));
                }
            }
            protocol::json_reply(&json!({}))
        }
        _ => protocol::error_reply(&RequestError::new(
            ServerErrorCode::NotFound,
            format!("no such endpoint `{path}`"),
        )),
    }
}

async fn database(
    shared: &Arc<Shared>,
    method: &Method,
    request: SignedRequest<'_>,
) -> Result<Reply, Dropped> {
    let route = match protocol::route(method, request.path) {
        Ok(route) => route,
        Err(refused) => return Ok(refused.reply()),
    };
    count(
        shared,
        |state| &mut state.stats.requests,
        route.endpoint.name(),
    );
    let now = chrono::Utc::now();
    if let Err(reason) = signature::check(&request, &shared.keys, shared.clock_skew, now) {
        tracing::debug!("emulator: authentication failed: {reason}");
        return Ok(protocol::error_reply(&RequestError::new(
            ServerErrorCode::AuthenticationFailed,
            "Authentication failed",
        )));
    }
    let latency = shared.injector.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let is_modify = route.endpoint == Endpoint::Modify;
    let fault = shared.injector.decide(is_modify);
    if let Some(reply) = refuse(shared, fault) {
        return Ok(reply);
    }
    let reply = dispatch(shared, &route, request.body).await;
    if fault == Some(Fault::Drop) {
        shared.lock().stats.faults.dropped += 1;
        return Err(Dropped);
    }
    Ok(reply.unwrap_or_else(|error| protocol::error_reply(&error)))
}

/// Throttle and unavailable faults, answered before any effect.
fn refuse(shared: &Shared, fault: Option<Fault>) -> Option<Reply> {
    let (code, reason) = match fault? {
        Fault::Throttle => {
            shared.lock().stats.faults.throttled += 1;
            (ServerErrorCode::Throttled, "Request throttled")
        }
        Fault::Unavailable => {
            shared.lock().stats.faults.unavailable += 1;
            (
                ServerErrorCode::TryAgainLater,
                "Service temporarily unavailable, try again later",
            )
        }
        Fault::Drop => return None,
    };
    Some(protocol::error_reply_after(
        &RequestError::new(code, reason),
        Some(shared.injector.retry_after()),
    ))
}

async fn dispatch(shared: &Arc<Shared>, route: &Route, body: &[u8]) -> Result<Reply, RequestError> {
    let scope = &route.scope;
    match route.endpoint {
        Endpoint::Modify => {
            let request: ModifyRequest = protocol::parse_body(body)?;
            let shared = shared.clone();
            let scope = scope.clone();
            tokio::task::spawn_blocking(move || modify(&shared, &scope, &request))
                .await
                .map_err(|e| internal(&e))?
        }
        Endpoint::Query => {
            let request: QueryRequest = protocol::parse_body(body)?;
            let reply = shared.lock().store.query(scope, &request)?;
            Ok(protocol::json_reply(&reply))
        }
        Endpoint::Lookup => {
            let request: LookupRequest = protocol::parse_body(body)?;
            let records = shared.lock().store.lookup(scope, &request)?;
            Ok(protocol::json_reply(&RecordsResponse { records }))
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

/// Applies, logs durably, counts; all under the one lock so log order is apply order.
fn modify(shared: &Shared, scope: &Scope, request: &ModifyRequest) -> Result<Reply, RequestError> {
    let now = chrono::Utc::now().timestamp_millis();
    let (modified, pending) = apply_modify(shared, scope, request, now)?;
    if let Some(pending) = pending {
        pending.wait().map_err(|e| internal(&e))?;
    }
    Ok(protocol::json_reply(&RecordsResponse {
        records: modified.results,
    }))
}

/// The locked part of modify: apply, write the log line, count.
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
        stats,
    } = &mut *state;
    for operation in &request.operations {
        *stats
            .operations
            .entry(operation_name(operation.operation_type).to_owned())
            .or_default() += 1;
    }
    let modified = store.modify(scope, request, now)?;
    let pending = match persister {
        Some(persister) => Some(
            persister
                .commit(scope, &modified.changes, store)
                .map_err(|e| internal(&e))?,
        ),
        None => None,
    };
    for result in &modified.results {
        let outcome = match result {
            RecordResult::Record(_) => "ok".to_owned(),
            RecordResult::Error(e) => e.server_error_code.to_string(),
        };
        *stats.outcomes.entry(outcome).or_default() += 1;
    }
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
