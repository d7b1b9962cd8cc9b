//! records/query over one scope: filters, sort order, `desiredKeys`, `resultsLimit` and
//! the continuation marker. The marker is base64 of `{v, q, after}`: a digest of the
//! query (scope, recordType, filterBy, sortBy) and the sort position of the last record
//! returned, so a follow-up request may add or change `zoneID`, `zoneWide`,
//! `numbersAsStrings`, `desiredKeys` or `resultsLimit` and still continue where it stopped.

use super::filter::{self, SortValue};
use super::store::{RequestError, Scope, Store, StoredRecord};
use crate::cloudkit::wire::{QueryRequest, QueryResponse, RecordResult};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Default and maximum `resultsLimit` (protocol notes §4, §8).
pub const MAX_RESULTS: u32 = 200;

/// A position in the sort order: the sort keys of a record, then its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Position {
    keys: Vec<SortValue>,
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    v: u8,
    q: String,
    after: Position,
}

pub fn run(
    store: &Store,
    scope: &Scope,
    request: &QueryRequest,
) -> Result<QueryResponse, RequestError> {
    let query = &request.query;
    let limit = match request.results_limit {
        Some(0) => {
            return Err(RequestError::bad_request(
                "BadRequestException: resultsLimit must be at least 1",
            ))
        }
        Some(limit) => limit.min(MAX_RESULTS),
        None => MAX_RESULTS,
    } as usize;
    check_indexes(store, request)?;
    let filters = filter::compile(store, scope, query)?;
    let digest = query_digest(scope, request);
    let after = match &request.continuation_marker {
        Some(marker) => Some(decode_marker(marker, &digest)?),
        None => None,
    };
    let sorts = &query.sort_by;
    let mut matching: Vec<(Position, &String, &StoredRecord)> = store
        .scopes
        .get(scope)
        .map(|data| {
            data.records
                .iter()
                .filter(|(_, r)| r.record_type == query.record_type)
                .filter(|(name, r)| filters.iter().all(|f| f.matches(name, r)))
                .map(|(name, r)| (position(sorts, name, r), name, r))
                .collect()
        })
        .unwrap_or_default();
    matching.sort_by(|a, b| compare(sorts, &a.0, &b.0));
    let start = match &after {
        Some(after) => matching.partition_point(|(p, _, _)| compare(sorts, p, after).is_le()),
        None => 0,
    };
    let page = &matching[start.min(matching.len())..];
    let more = page.len() > limit;
    let page = &page[..page.len().min(limit)];
    let render = super::store::Render {
        desired_keys: request.desired_keys.as_deref(),
        numbers_as_strings: request.numbers_as_strings.unwrap_or(false),
        with_zone: true,
    };
    let records = page
        .iter()
        .map(|(_, name, r)| RecordResult::Record(store.render(name, r, render)))
        .collect();
    let continuation_marker = match (more, page.last()) {
        (true, Some((last, _, _))) => Some(encode_marker(&digest, last)),
        _ => None,
    };
    Ok(QueryResponse {
        records,
        continuation_marker,
    })
}

/// With `--require-indexes`: every filtered or sorted field needs `Type.field`; a query
/// with neither needs `Type.recordName` (as live CloudKit reports it).
fn check_indexes(store: &Store, request: &QueryRequest) -> Result<(), RequestError> {
    if !store.indexes.required {
        return Ok(());
    }
    let query = &request.query;
    let mut names: Vec<&str> =
        query
            .filter_by
            .iter()
            .map(|f| filter::field_label(f.field_name.as_deref(), f.system_field_name.as_deref()))
            .chain(query.sort_by.iter().map(|s| {
                filter::field_label(s.field_name.as_deref(), s.system_field_name.as_deref())
            }))
            .collect();
    if names.is_empty() {
        names.push("recordName");
    }
    for name in names {
        let index = format!("{}.{name}", query.record_type);
        if !store.indexes.queryable.contains(&index) {
            return Err(RequestError::bad_request(format!(
                "Field '{name}' is not marked queryable"
            )));
        }
    }
    Ok(())
}

fn position(sorts: &[crate::cloudkit::wire::Sort], name: &str, record: &StoredRecord) -> Position {
    Position {
        keys: sorts
            .iter()
            .map(|sort| filter::sort_value(sort, name, record))
            .collect(),
        name: name.to_owned(),
    }
}

/// Sort keys in order (each ascending unless `ascending: false`), then recordName ascending.
fn compare(sorts: &[crate::cloudkit::wire::Sort], a: &Position, b: &Position) -> Ordering {
    for (index, sort) in sorts.iter().enumerate() {
        let (Some(x), Some(y)) = (a.keys.get(index), b.keys.get(index)) else {
            continue;
        };
        let order = x.compare(y);
        let order = if sort.ascending == Some(false) {
            order.reverse()
        } else {
            order
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.name.cmp(&b.name)
}

fn query_digest(scope: &Scope, request: &QueryRequest) -> String {
    let canonical = serde_json::json!({
        "scope": scope,
        "recordType": request.query.record_type,
        "filterBy": request.query.filter_by,
        "sortBy": request.query.sort_by,
    });
    blake3::hash(canonical.to_string().as_bytes()).to_hex()[..16].to_owned()
}

fn encode_marker(digest: &str, after: &Position) -> String {
    let marker = Marker {
        v: 1,
        q: digest.to_owned(),
        after: after.clone(),
    };
    BASE64.encode(serde_json::to_vec(&marker).unwrap_or_default())
}

fn decode_marker(text: &str, digest: &str) -> Result<Position, RequestError> {
    let invalid = || RequestError::bad_request("BadRequestException: invalid continuationMarker");
    let bytes = BASE64.decode(text.trim()).map_err(|_| invalid())?;
    let marker: Marker = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if marker.v != 1 || marker.q != digest {
        return Err(RequestError::bad_request(
            "BadRequestException: continuationMarker does not belong to this query",
        ));
    }
    Ok(marker.after)
}
