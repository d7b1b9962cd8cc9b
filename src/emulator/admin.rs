//! The unsigned admin routes under `/_emulator/`, for tests and operators, never part of
//! CloudKit's protocol: `GET stats` (counters), `GET requests?since=SEQ` (the request log),
//! `GET dump` (the exact stored records, an oracle that does not go through any client),
//! `GET`/`POST faults` (read or replace the injected faults, reseeding them), `POST reset`
//! (forget everything).

use super::faults::Faults;
use super::protocol::{self, Reply};
use super::requests::LoggedRequest;
use super::store::{RequestError, Store};
use super::{Shared, State};
use crate::cloudkit::wire::{ServerErrorCode, WireField};
use hyper::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /_emulator/dump`: every stored record of every scope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dump {
    /// Sorted by container, environment, database.
    pub scopes: Vec<DumpedScope>,
}

/// The records of one container, environment and database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DumpedScope {
    pub container: String,
    /// `development` or `production`.
    pub environment: String,
    /// `public`, `private` or `shared`.
    pub database: String,
    /// Sorted by recordType, then recordName.
    pub records: Vec<DumpedRecord>,
}

/// A stored record exactly as held: fields in CloudKit's wire form `{value, type}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DumpedRecord {
    pub record_type: String,
    pub record_name: String,
    pub record_change_tag: String,
    pub fields: BTreeMap<String, WireField>,
}

#[derive(Serialize)]
struct RequestsReply {
    requests: Vec<LoggedRequest>,
}

/// Answers an admin request; `query` is the raw query string.
pub(super) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Reply {
    match (method, path) {
        (&Method::GET, "/_emulator/stats") => protocol::json_reply(&shared.stats()),
        (&Method::GET, "/_emulator/dump") => protocol::json_reply(&dump(&shared.lock().store)),
        (&Method::GET, "/_emulator/requests") => match since(query) {
            Some(since) => protocol::json_reply(&RequestsReply {
                requests: shared.lock().log.since(since),
            }),
            None => refuse(
                shared,
                RequestError::bad_request("`since` must be a whole number"),
            ),
        },
        (&Method::POST, "/_emulator/reset") => reset(shared),
        (&Method::GET, "/_emulator/faults") => protocol::json_reply(shared.lock().faults.faults()),
        (&Method::POST, "/_emulator/faults") => set_faults(shared, body),
        _ => refuse(
            shared,
            RequestError::new(
                ServerErrorCode::NotFound,
                format!("no such endpoint `{path}`"),
            ),
        ),
    }
}

fn refuse(shared: &Shared, error: RequestError) -> Reply {
    let uuid = shared.lock().entropy.uuid();
    protocol::error_reply(&error, uuid, None)
}

/// `since=N` from the query string; absent means 0.
fn since(query: Option<&str>) -> Option<u64> {
    match protocol::query_parameter(query, "since") {
        Some(value) => value.parse().ok(),
        None => Some(0),
    }
}

/// Replaces the faults (and reseeds them) from a JSON `Faults` body.
fn set_faults(shared: &Shared, body: &[u8]) -> Reply {
    let faults: Faults = match serde_json::from_slice(body) {
        Ok(faults) => faults,
        Err(error) => {
            let reason = format!("BadRequestException: invalid faults: {error}");
            return refuse(shared, RequestError::bad_request(reason));
        }
    };
    if let Some(key) = faults.invalid_rate() {
        let reason = format!("BadRequestException: `{key}` must be between 0 and 1");
        return refuse(shared, RequestError::bad_request(reason));
    }
    shared.lock().faults.set(faults.clone());
    protocol::json_reply(&faults)
}

fn reset(shared: &Shared) -> Reply {
    let mut state = shared.lock();
    let State {
        store,
        persister,
        stats,
        log,
        assets,
        ..
    } = &mut *state;
    store.clear();
    *stats = Default::default();
    assets.stats = Default::default();
    log.clear();
    if let Some(persister) = persister {
        if let Err(error) = persister.reset(store) {
            let uuid = state.entropy.uuid();
            let error = RequestError::new(ServerErrorCode::InternalError, error.to_string());
            return protocol::error_reply(&error, uuid, None);
        }
    }
    protocol::json_reply(&serde_json::json!({}))
}

/// The sorted dump of `store`.
pub fn dump(store: &Store) -> Dump {
    let mut scopes: Vec<DumpedScope> = store
        .scopes
        .iter()
        .filter(|(_, data)| !data.records().is_empty())
        .map(|(scope, data)| {
            let mut records: Vec<DumpedRecord> = data
                .records()
                .iter()
                .map(|(name, record)| DumpedRecord {
                    record_type: record.record_type.clone(),
                    record_name: name.clone(),
                    record_change_tag: record.change_tag.clone(),
                    fields: record
                        .fields
                        .iter()
                        .map(|(field, value)| (field.to_string(), WireField::from_value(value)))
                        .collect(),
                })
                .collect();
            records.sort_by(|a, b| {
                (&a.record_type, &a.record_name).cmp(&(&b.record_type, &b.record_name))
            });
            DumpedScope {
                container: scope.container.clone(),
                environment: scope.environment.as_str().to_owned(),
                database: scope.database.as_str().to_owned(),
                records,
            }
        })
        .collect();
    scopes.sort_by(|a, b| {
        (&a.container, &a.environment, &a.database).cmp(&(
            &b.container,
            &b.environment,
            &b.database,
        ))
    });
    Dump { scopes }
}
