//! The protocol layer's translation between CloudKit's wire bodies and the store's domain
//! types: requests in (`write_batch`, `lookup_names`, `check_query`, with the zone and
//! size checks a request fails as a whole), replies out (`modify_results`,
//! `lookup_results`, `query_response`), records rendered in live key order with
//! `desiredKeys`, `numbersAsStrings` and `zoneID` as each endpoint sends them.

use super::domain::{
    FieldInput, Page, ReadOutcome, RecordFailure, Write, WriteBatch, WriteKind, WriteOutcome,
};
use super::store::{RequestError, StoredRecord, MAX_OPERATIONS};
use crate::cloudkit::wire::{
    LookupRequest, ModifyRequest, OperationType, QueryRequest, QueryResponse, RecordError,
    RecordResult, ServerErrorCode, Stamp, WireField, WireRecord, ZoneId, DEFAULT_ZONE,
};
use std::collections::BTreeMap;

/// `deviceID` of every `created` / `modified` stamp, as seen live for S2S writes.
const DEVICE_ID: &str = "2";

/// Only the default zone exists (public database semantics): another zone is a
/// request-level 404 ZONE_NOT_FOUND.
pub fn check_zone(zone: Option<&ZoneId>) -> Result<(), RequestError> {
    match zone {
        Some(zone) if !zone.is_default() => Err(RequestError::new(
            ServerErrorCode::ZoneNotFound,
            format!("Zone '{}' does not exist", zone.zone_name),
        )),
        _ => Ok(()),
    }
}

/// records/modify's operations as domain writes.
pub fn write_batch(request: &ModifyRequest) -> Result<WriteBatch, RequestError> {
    check_zone(request.zone_id.as_ref())?;
    let writes = request
        .operations
        .iter()
        .map(|operation| {
            let record = &operation.record;
            let fields = record
                .fields
                .iter()
                .flatten()
                .map(|(name, field)| {
                    let input = match field {
                        Some(field) if !field.value.is_null() => FieldInput::Set {
                            value: field.value.clone(),
                            declared: field.field_type.clone(),
                        },
                        _ => FieldInput::Remove,
                    };
                    (name.clone(), input)
                })
                .collect();
            Write {
                kind: kind(operation.operation_type),
                record_name: record.record_name.clone(),
                record_type: record.record_type.clone(),
                change_tag: record.record_change_tag.clone(),
                fields,
            }
        })
        .collect();
    Ok(WriteBatch {
        writes,
        atomic: request.atomic == Some(true),
    })
}

fn kind(operation: OperationType) -> WriteKind {
    match operation {
        OperationType::Create => WriteKind::Create,
        OperationType::Update => WriteKind::Update,
        OperationType::ForceUpdate => WriteKind::ForceUpdate,
        OperationType::Replace => WriteKind::Replace,
        OperationType::ForceReplace => WriteKind::ForceReplace,
        OperationType::Delete => WriteKind::Delete,
        OperationType::ForceDelete => WriteKind::ForceDelete,
    }
}

/// The names records/lookup asks for; at most `MAX_OPERATIONS`.
pub fn lookup_names(request: &LookupRequest) -> Result<Vec<String>, RequestError> {
    check_zone(request.zone_id.as_ref())?;
    if request.records.len() > MAX_OPERATIONS {
        return Err(RequestError::bad_request(format!(
            "BadRequestException: too many records: {} (at most {MAX_OPERATIONS})",
            request.records.len()
        )));
    }
    Ok(request
        .records
        .iter()
        .map(|entry| entry.record_name.clone())
        .collect())
}

/// The request-level checks of records/query that are not about its query.
pub fn check_query(request: &QueryRequest) -> Result<(), RequestError> {
    check_zone(request.zone_id.as_ref())
}

/// How records are rendered in a reply.
#[derive(Clone, Copy, Debug)]
pub struct Render<'a> {
    /// `_` + 32 hex: the developer every write is attributed to.
    pub user_record_name: &'a str,
    pub desired_keys: Option<&'a [String]>,
    pub numbers_as_strings: bool,
    /// Query and lookup replies carry `zoneID`; modify replies do not (live capture).
    pub with_zone: bool,
}

impl Render<'_> {
    /// The reply form of a stored record (key order as live output).
    pub fn record(&self, name: &str, record: &StoredRecord) -> WireRecord {
        let fields = match self.desired_keys {
            Some([]) => None,
            keys => Some(
                record
                    .fields
                    .iter()
                    .filter(|(field, _)| keys.is_none_or(|k| k.iter().any(|d| *field == d)))
                    .map(|(field, value)| {
                        let wire = WireField {
                            value: value.to_json(self.numbers_as_strings),
                            field_type: Some(value.field_type().to_string()),
                        };
                        (field.to_string(), Some(wire))
                    })
                    .collect(),
            ),
        };
        WireRecord {
            record_name: Some(name.to_owned()),
            record_type: Some(record.record_type.clone()),
            fields,
            plugin_fields: Some(serde_json::json!({})),
            record_change_tag: Some(record.change_tag.clone()),
            created: Some(self.stamp(record.created)),
            modified: Some(self.stamp(record.modified)),
            deleted: Some(false),
            zone_id: self.with_zone.then(|| zone_id(self.user_record_name)),
            extra: BTreeMap::new(),
        }
    }

    fn stamp(&self, timestamp: i64) -> Stamp {
        Stamp {
            timestamp,
            user_record_name: Some(self.user_record_name.to_owned()),
            device_id: Some(DEVICE_ID.to_owned()),
        }
    }
}

/// The zone ID of the default zone, as replies carry it.
pub fn zone_id(user_record_name: &str) -> ZoneId {
    ZoneId {
        zone_name: DEFAULT_ZONE.to_owned(),
        owner_record_name: Some(user_record_name.to_owned()),
        zone_type: Some("DEFAULT_ZONE".to_owned()),
    }
}

/// A per-record error entry: only `recordName, reason, serverErrorCode` (+ `retryAfter`),
/// as live entries.
pub fn failure(failure: &RecordFailure) -> RecordError {
    RecordError {
        record_name: Some(failure.record_name.clone()),
        reason: Some(failure.reason.clone()),
        server_error_code: failure.code.clone(),
        retry_after: failure.retry_after,
        uuid: None,
        redirect_url: None,
    }
}

/// One reply entry per write, in request order. A delete answers `{recordName, deleted:
/// true}`.
pub fn modify_results(
    outcomes: &[WriteOutcome],
    request: &ModifyRequest,
    user_record_name: &str,
) -> Vec<RecordResult> {
    outcomes
        .iter()
        .zip(&request.operations)
        .map(|(outcome, operation)| match outcome {
            WriteOutcome::Saved { name, record } => {
                let render = Render {
                    user_record_name,
                    desired_keys: operation
                        .desired_keys
                        .as_deref()
                        .or(request.desired_keys.as_deref()),
                    numbers_as_strings: request.numbers_as_strings.unwrap_or(false),
                    with_zone: false,
                };
                RecordResult::Record(render.record(name, record))
            }
            WriteOutcome::Deleted { name } => RecordResult::Record(WireRecord {
                record_name: Some(name.clone()),
                deleted: Some(true),
                ..WireRecord::default()
            }),
            WriteOutcome::Failed(failed) => RecordResult::Error(failure(failed)),
        })
        .collect()
}

/// One reply entry per requested name, in request order.
pub fn lookup_results(
    outcomes: &[ReadOutcome<'_>],
    request: &LookupRequest,
    user_record_name: &str,
) -> Vec<RecordResult> {
    outcomes
        .iter()
        .zip(&request.records)
        .map(|(outcome, entry)| match outcome {
            ReadOutcome::Found { name, record } => {
                let render = Render {
                    user_record_name,
                    desired_keys: entry
                        .desired_keys
                        .as_deref()
                        .or(request.desired_keys.as_deref()),
                    numbers_as_strings: request.numbers_as_strings.unwrap_or(false),
                    with_zone: true,
                };
                RecordResult::Record(render.record(name, record))
            }
            ReadOutcome::Failed(failed) => RecordResult::Error(failure(failed)),
        })
        .collect()
}

/// The records/query reply of one page.
pub fn query_response(
    page: &Page<'_>,
    request: &QueryRequest,
    user_record_name: &str,
) -> QueryResponse {
    let render = Render {
        user_record_name,
        desired_keys: request.desired_keys.as_deref(),
        numbers_as_strings: request.numbers_as_strings.unwrap_or(false),
        with_zone: true,
    };
    QueryResponse {
        records: page
            .records
            .iter()
            .map(|(name, record)| RecordResult::Record(render.record(name, record)))
            .collect(),
        continuation_marker: page.continuation_marker.clone(),
    }
}

/// `zones/lookup`'s reply: the default zone (owned by `user_record_name`) exists, as in
/// every database; any other zone answers `ZONE_NOT_FOUND` (the emulator has no custom
/// zones).
pub fn zones_lookup(
    user_record_name: &str,
    request: &crate::cloudkit::wire::ZonesLookupRequest,
) -> serde_json::Value {
    let default_zone = zone_id(user_record_name);
    let zones: Vec<serde_json::Value> = request
        .zones
        .iter()
        .map(|zone| {
            if zone.is_default() {
                serde_json::json!({"zoneID": default_zone, "atomic": false})
            } else {
                serde_json::json!({
                    "zoneID": zone,
                    "reason": format!("Zone '{}' does not exist", zone.zone_name),
                    "serverErrorCode": "ZONE_NOT_FOUND",
                })
            }
        })
        .collect();
    serde_json::json!({ "zones": zones })
}
