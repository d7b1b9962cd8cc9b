//! The record operations of the client: a query that follows continuation markers, lookups in
//! chunks of 200 sent concurrently within the client's budget, and modify batches; and the
//! pure conversion of their replies into typed, request-ordered results (a reply that cannot
//! be matched to its request is refused).

use super::{decode, Client, MAX_RECORDS_PER_REQUEST};
use crate::cloudkit::error::CloudKitError;
use crate::cloudkit::query::QuerySpec;
use crate::cloudkit::wire::read::{ReadEntry, ReadReply};
use crate::cloudkit::wire::{
    decode_modify_reply, EncodedOperation, Endpoint, LookupEntry, LookupRequest, OperationType,
    QueryRequest, RecordError, RecordResult, RecordsResponse, ServerErrorCode, WireRecord, ZoneId,
    DEFAULT_ZONE,
};
use crate::record::{Record, RecordName, RecordType};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use tracing::debug;

const QUERY: Endpoint = Endpoint::Query;
const LOOKUP: Endpoint = Endpoint::Lookup;
const MODIFY: Endpoint = Endpoint::Modify;

/// The outcome for one name of a lookup. Boxed, so that the outcomes of a large lookup,
/// mostly `NotFound` in a first publish, each take a pointer's room and a name's.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    Found(Box<Record>),
    NotFound(RecordName),
    Error(RecordName, Box<RecordError>),
}

/// A per-record failure inside a successful modify reply.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordFailure {
    pub code: ServerErrorCode,
    pub reason: Option<String>,
    pub retry_after: Option<f64>,
}

/// The outcome of one operation of a modify request.
#[derive(Clone, Debug, PartialEq)]
pub enum OperationResult {
    /// Created or updated; the record carries its new change tag.
    Saved(Record),
    Deleted(RecordName),
    Failed(RecordName, RecordFailure),
}

impl Client {
    /// `zoneID` of every records request: sent only for a custom zone.
    pub(super) fn zone_id(&self) -> Option<ZoneId> {
        let zone = &self.inner.target.zone;
        (zone != DEFAULT_ZONE).then(|| ZoneId::named(zone))
    }

    /// Every record of `record_type`, following continuation markers page by page (200 a
    /// page). `on_page` hears the number of records read so far after each page. Pages are
    /// pipelined: only the marker of a reply is read before the next page is asked for, and
    /// the reply's records are decoded on a blocking thread while that request is in flight.
    ///
    /// Markers are positions, not snapshots (Apple, `CKQueryOperation.Cursor`): after a
    /// concurrent write a page may repeat a record of the previous one. A repeated recordName
    /// is kept once, the copy with the newest `modified.timestamp` (the later one on a tie).
    /// A record skipped at a page boundary cannot be seen here; `sync` confirms by lookup.
    ///
    /// Errors: a request-level 404 `NOT_FOUND` is `UnknownRecordType`; "Field 'f' is not
    /// marked queryable" is `NotQueryable`; otherwise the request's error.
    pub async fn query_all(
        &self,
        record_type: &RecordType,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Vec<Record>, CloudKitError> {
        self.query_all_kept(record_type, on_page, &mut |record| record)
            .await
    }

    /// As [`Client::query_all`], each record passed through `keep` as its page is decoded
    /// (the copy a repeated recordName keeps is chosen as there), so a caller can keep
    /// less than the whole record.
    pub async fn query_all_kept<T: Send>(
        &self,
        record_type: &RecordType,
        on_page: &mut (dyn FnMut(usize) + Send),
        keep: &mut (dyn FnMut(Record) -> T + Send),
    ) -> Result<Vec<T>, CloudKitError> {
        let spec = QuerySpec::all(record_type);
        let mut read = QueryRead::default();
        let mut markers_seen = HashSet::new();
        let mut page = self.query_page(&spec, None).await?;
        loop {
            let next = page
                .continuation_marker
                .take()
                .filter(|marker| !marker.is_empty());
            let repeated = next
                .as_ref()
                .is_some_and(|marker| !markers_seen.insert(marker.clone()));
            let decoding = decode_page_in_background(page);
            let (decoded, following) = match next {
                Some(marker) if !repeated => {
                    let (decoded, following) =
                        tokio::join!(decoding, self.query_page(&spec, Some(marker)));
                    (decoded, Some(following))
                }
                _ => (decoding.await, None),
            };
            let decoded = decoded?;
            let page_size = decoded.len();
            read.extend(decoded, keep);
            debug!(record_type = %record_type, page_size, records = read.records.len(), "cloudkit query page");
            on_page(read.records.len());
            if repeated {
                return Err(CloudKitError::RepeatedMarker {
                    record_type: record_type.0.clone(),
                });
            }
            match following {
                None => return Ok(read.records),
                Some(following) => page = following?,
            }
        }
    }

    /// One unfiltered query of `record_type` asking for a single record, as a probe: does
    /// the type exist and can it be queried without a filter? Returns the number of records
    /// the page held (0 or 1). Errors as `query_all`.
    pub async fn probe_query(&self, record_type: &RecordType) -> Result<usize, CloudKitError> {
        let request = QueryRequest {
            zone_id: self.zone_id(),
            results_limit: Some(1),
            query: QuerySpec::all(record_type).to_wire(),
            continuation_marker: None,
            desired_keys: Some(Vec::new()),
            zone_wide: None,
            numbers_as_strings: None,
        };
        let (_, reply): (u16, RecordsResponse) = self
            .call(QUERY, &request)
            .await
            .map_err(|error| self.query_error(record_type, error))?;
        Ok(reply.records.len())
    }

    /// A query's request-level error, made specific: an unknown record type (404
    /// `NOT_FOUND`, live reason "Did not find record type: X") or a missing QUERYABLE or
    /// SORTABLE index (400 "Field 'f' is not marked queryable" or "sortable"), both naming
    /// the type.
    pub(super) fn query_error(
        &self,
        record_type: &RecordType,
        error: CloudKitError,
    ) -> CloudKitError {
        match error {
            CloudKitError::Service {
                status: 404,
                code: ServerErrorCode::NotFound,
                reason,
                ..
            } => CloudKitError::UnknownRecordType {
                record_type: record_type.0.clone(),
                container: self.inner.target.container.clone(),
                environment: self.inner.target.environment,
                reason,
            },
            CloudKitError::Service {
                code: ServerErrorCode::BadRequest,
                reason: Some(reason),
                ..
            } if reason.contains("not marked queryable")
                || reason.contains("not marked sortable") =>
            {
                CloudKitError::NotQueryable {
                    record_type: record_type.0.clone(),
                    field: quoted_field(&reason).unwrap_or_else(|| "recordName".to_owned()),
                }
            }
            other => other,
        }
    }

    /// One query request; the reply's marker is read, its records are kept undecoded.
    pub(super) async fn query_page(
        &self,
        spec: &QuerySpec,
        continuation_marker: Option<String>,
    ) -> Result<QueryPage, CloudKitError> {
        let record_type = &spec.record_type;
        let request = QueryRequest {
            zone_id: self.zone_id(),
            results_limit: Some(MAX_RECORDS_PER_REQUEST as u32),
            query: spec.to_wire(),
            continuation_marker,
            desired_keys: None,
            zone_wide: None,
            numbers_as_strings: None,
        };
        let (status, reply) = self
            .call_raw(QUERY, &request)
            .await
            .map_err(|error| self.query_error(record_type, error))?;
        let envelope: QueryEnvelope = decode(QUERY, status, &reply)?;
        Ok(QueryPage {
            status,
            records: envelope.records,
            continuation_marker: envelope.continuation_marker,
        })
    }

    /// Looks `names` up once, 200 a request, the requests concurrently within the client's
    /// budget; one result per name in the order given (per-record errors are returned as
    /// they came; `lookup` retries them).
    pub(super) async fn lookup_once(
        &self,
        names: &[RecordName],
    ) -> Result<Vec<Lookup>, CloudKitError> {
        let chunks = names
            .chunks(MAX_RECORDS_PER_REQUEST)
            .map(|chunk| self.lookup_chunk(chunk));
        // Into one vector as the replies arrive, without a vector of every reply's first.
        let mut results = Vec::with_capacity(names.len());
        let mut replies =
            std::pin::pin!(futures::stream::iter(chunks).buffered(self.parallelism()));
        while let Some(reply) = replies.try_next().await? {
            results.extend(reply);
        }
        Ok(results)
    }

    /// One lookup request of at most 200 names.
    async fn lookup_chunk(&self, chunk: &[RecordName]) -> Result<Vec<Lookup>, CloudKitError> {
        let request = LookupRequest {
            records: chunk
                .iter()
                .map(|name| LookupEntry {
                    record_name: name.0.clone(),
                    desired_keys: None,
                })
                .collect(),
            zone_id: self.zone_id(),
            desired_keys: None,
            numbers_as_strings: None,
        };
        let (status, body) = self.call_raw(LOOKUP, &request).await?;
        debug!(records = chunk.len(), "cloudkit lookup chunk");
        if let Ok(reply) = serde_json::from_slice::<ReadReply>(&body) {
            expect_one_per_request(LOOKUP, status, chunk.len(), reply.records.len())?;
            return chunk
                .iter()
                .zip(reply.records)
                .enumerate()
                .map(|(index, (name, entry))| read_lookup_result(status, index, name, entry))
                .collect();
        }
        let reply: RecordsResponse = decode(LOOKUP, status, &body)?;
        expect_one_per_request(LOOKUP, status, chunk.len(), reply.records.len())?;
        chunk
            .iter()
            .zip(reply.records)
            .enumerate()
            .map(|(index, (name, entry))| {
                expect_name(LOOKUP, status, index, Some(name.as_str()), &entry)?;
                lookup_result(name, entry)
            })
            .collect()
    }

    /// Sends `operations` in exactly one modify request (the caller keeps it within the
    /// limits); one result per operation, in order. Ops succeed or fail independently:
    /// `atomic` is never sent in the default zone (CloudKit refuses it there) and is sent as
    /// `false` in a custom zone. The body is the operations' JSON as encoded, joined.
    pub(super) async fn modify_request(
        &self,
        operations: &[EncodedOperation],
    ) -> Result<Vec<OperationResult>, CloudKitError> {
        if operations.is_empty() {
            return Ok(Vec::new());
        }
        let body = modify_body(operations, self.zone_id().as_ref()).map_err(|source| {
            CloudKitError::Encode {
                operation: MODIFY,
                source,
            }
        })?;
        let (status, reply) = self.execute(Method::POST, MODIFY, body).await?;
        let records = match decode_modify_reply(&reply, operations) {
            Ok(records) => records,
            Err(_) => decode::<RecordsResponse>(MODIFY, status, &reply)?.records,
        };
        let count = operations.len();
        expect_one_per_request(MODIFY, status, count, records.len())?;
        debug!(records = count, "cloudkit modify batch");
        operations
            .iter()
            .zip(records)
            .enumerate()
            .map(|(index, (operation, entry))| operation_result(status, index, operation, entry))
            .collect()
    }
}

/// A `records/modify` body, `{"operations": [...], "zoneID": ..., "atomic": false}` with
/// the last two only for a custom zone: the operations' own JSON joined, as serde writes
/// the request.
fn modify_body(
    operations: &[EncodedOperation],
    zone_id: Option<&ZoneId>,
) -> Result<Vec<u8>, serde_json::Error> {
    let length: usize = operations.iter().map(|o| o.json().len() + 1).sum();
    let mut body = Vec::with_capacity(length + 128);
    body.extend_from_slice(b"{\"operations\":[");
    for (index, operation) in operations.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(operation.json());
    }
    body.push(b']');
    if let Some(zone_id) = zone_id {
        body.extend_from_slice(b",\"zoneID\":");
        serde_json::to_writer(&mut body, zone_id)?;
        body.extend_from_slice(b",\"atomic\":false");
    }
    body.push(b'}');
    Ok(body)
}

/// `f` from CloudKit's "Field 'f' is not marked queryable", when it has that shape (the
/// text is untrusted: only a plain identifier is taken).
fn quoted_field(reason: &str) -> Option<String> {
    let start = reason.find('\'')? + 1;
    let length = reason[start..].find('\'')?;
    let field = &reason[start..start + length];
    let plain = !field.is_empty()
        && field.len() <= 255
        && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then(|| field.to_owned())
}

/// The records of a query so far, each recordName once (see `query_all`), as `keep` made
/// them.
pub(super) struct QueryRead<T> {
    pub(super) records: Vec<T>,
    /// `modified.timestamp` of each record (`i64::MIN` when the reply had none).
    modified: Vec<i64>,
    position: HashMap<RecordName, usize>,
}

impl<T> Default for QueryRead<T> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            modified: Vec::new(),
            position: HashMap::new(),
        }
    }
}

impl<T> QueryRead<T> {
    pub(super) fn extend(
        &mut self,
        page: Vec<(Record, i64)>,
        keep: &mut (dyn FnMut(Record) -> T + Send),
    ) {
        for (record, modified) in page {
            match self.position.get(&record.record_name) {
                Some(&at) => {
                    if modified >= self.modified[at] {
                        self.records[at] = keep(record);
                        self.modified[at] = modified;
                    }
                }
                None => {
                    self.position
                        .insert(record.record_name.clone(), self.records.len());
                    self.records.push(keep(record));
                    self.modified.push(modified);
                }
            }
        }
    }
}

/// A query reply with its `records` array still undecoded, so that the continuation marker
/// is known after a cheap scan of the body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryEnvelope {
    #[serde(default, deserialize_with = "present_raw")]
    records: Option<Box<RawValue>>,
    #[serde(default)]
    continuation_marker: Option<String>,
}

/// A present `records` member kept as is, even `null`, so that its decoding refuses it.
fn present_raw<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// One query reply read as far as its marker.
pub(super) struct QueryPage {
    status: u16,
    records: Option<Box<RawValue>>,
    pub(super) continuation_marker: Option<String>,
}

/// Decodes the records of `page` on a blocking thread, so the caller can wait for the next
/// page meanwhile.
pub(super) async fn decode_page_in_background(
    page: QueryPage,
) -> Result<Vec<(Record, i64)>, CloudKitError> {
    let status = page.status;
    let Some(raw) = page.records else {
        return Ok(Vec::new());
    };
    match tokio::task::spawn_blocking(move || decode_page(status, &raw)).await {
        Ok(decoded) => decoded,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => Err(CloudKitError::Undecodable {
                operation: QUERY,
                status,
                path: "records".to_owned(),
                message: format!("decoding was cancelled: {error}"),
            }),
        },
    }
}

/// The records of one query reply, decoded the fast way (`wire::read`) where it can, else
/// the general way; a mismatch names its path from the reply's root.
fn decode_page(status: u16, raw: &RawValue) -> Result<Vec<(Record, i64)>, CloudKitError> {
    if let Ok(entries) = serde_json::from_str::<Vec<ReadEntry>>(raw.get()) {
        return entries
            .into_iter()
            .map(|entry| match entry {
                ReadEntry::Record {
                    record, modified, ..
                } => Ok((record, modified.unwrap_or(i64::MIN))),
                ReadEntry::Error(error) => Err(query_failure(error)),
            })
            .collect();
    }
    let entries: Vec<RecordResult> =
        decode(QUERY, status, raw.get().as_bytes()).map_err(|error| match error {
            CloudKitError::Undecodable {
                operation,
                status,
                path,
                message,
            } => CloudKitError::Undecodable {
                operation,
                status,
                path: if path == "." {
                    "records".to_owned()
                } else {
                    format!("records{path}")
                },
                message,
            },
            other => other,
        })?;
    entries.into_iter().map(query_record).collect()
}

fn decode_record(operation: Endpoint, wire: &WireRecord) -> Result<Record, CloudKitError> {
    wire.to_record().map_err(|message| CloudKitError::Decode {
        operation,
        record_name: wire.record_name.clone().unwrap_or_default(),
        message,
    })
}

/// A query reply's record with its `modified.timestamp` (`i64::MIN` when absent).
fn query_record(entry: RecordResult) -> Result<(Record, i64), CloudKitError> {
    match entry {
        RecordResult::Record(wire) => {
            let modified = wire.modified.as_ref().map_or(i64::MIN, |m| m.timestamp);
            decode_record(QUERY, &wire).map(|record| (record, modified))
        }
        RecordResult::Error(error) => Err(query_failure(error)),
    }
}

/// An error entry of a query reply: the read fails.
fn query_failure(error: RecordError) -> CloudKitError {
    CloudKitError::RecordFailed {
        operation: QUERY,
        record_name: error.record_name.unwrap_or_default(),
        code: error.server_error_code,
        reason: error.reason,
    }
}

/// [`lookup_result`] of an entry decoded the fast way, after the same name check.
fn read_lookup_result(
    status: u16,
    index: usize,
    name: &RecordName,
    entry: ReadEntry,
) -> Result<Lookup, CloudKitError> {
    let replied = match &entry {
        ReadEntry::Record { record, .. } => Some(record.record_name.as_str()),
        ReadEntry::Error(error) => error.record_name.as_deref(),
    };
    if let Some(replied) = replied.filter(|&replied| replied != name.as_str()) {
        return Err(CloudKitError::Undecodable {
            operation: LOOKUP,
            status,
            path: format!("records[{index}].recordName"),
            message: format!("expected `{name}` (request order), got `{replied}`"),
        });
    }
    Ok(match entry {
        ReadEntry::Record { deleted: true, .. } => Lookup::NotFound(name.clone()),
        ReadEntry::Record { record, .. } => Lookup::Found(Box::new(record)),
        ReadEntry::Error(error) if error.server_error_code == ServerErrorCode::NotFound => {
            Lookup::NotFound(name.clone())
        }
        ReadEntry::Error(error) => Lookup::Error(name.clone(), Box::new(error)),
    })
}

fn lookup_result(name: &RecordName, entry: RecordResult) -> Result<Lookup, CloudKitError> {
    Ok(match entry {
        RecordResult::Record(wire) if wire.deleted == Some(true) => Lookup::NotFound(name.clone()),
        RecordResult::Record(wire) => Lookup::Found(Box::new(decode_record(LOOKUP, &wire)?)),
        RecordResult::Error(error) if error.server_error_code == ServerErrorCode::NotFound => {
            Lookup::NotFound(name.clone())
        }
        RecordResult::Error(error) => Lookup::Error(name.clone(), Box::new(error)),
    })
}

fn operation_result(
    status: u16,
    index: usize,
    operation: &EncodedOperation,
    entry: RecordResult,
) -> Result<OperationResult, CloudKitError> {
    let requested = operation.record_name.as_deref();
    expect_name(MODIFY, status, index, requested, &entry)?;
    let name = |reply_name: Option<&String>| {
        RecordName::new(reply_name.map_or(requested.unwrap_or_default(), |n| n.as_str()))
    };
    Ok(match entry {
        RecordResult::Error(error) => OperationResult::Failed(
            name(error.record_name.as_ref()),
            RecordFailure {
                code: error.server_error_code,
                reason: error.reason,
                retry_after: error.retry_after,
            },
        ),
        RecordResult::Record(wire) => match operation.operation_type {
            OperationType::Delete | OperationType::ForceDelete => {
                OperationResult::Deleted(name(wire.record_name.as_ref()))
            }
            _ => {
                // Replies may leave out what the request said (type, name); fill it in.
                let mut wire = wire;
                if wire.record_type.is_none() {
                    wire.record_type = operation.record_type.clone();
                }
                if wire.record_name.is_none() {
                    wire.record_name = operation.record_name.clone();
                }
                let record =
                    wire.into_record()
                        .map_err(|(wire, message)| CloudKitError::Decode {
                            operation: MODIFY,
                            record_name: wire.record_name.unwrap_or_default(),
                            message,
                        })?;
                OperationResult::Saved(record)
            }
        },
    })
}

fn expect_one_per_request(
    operation: Endpoint,
    status: u16,
    sent: usize,
    received: usize,
) -> Result<(), CloudKitError> {
    if sent == received {
        return Ok(());
    }
    Err(CloudKitError::Undecodable {
        operation,
        status,
        path: "records".to_owned(),
        message: format!("expected {sent} entries, one per requested record, got {received}"),
    })
}

/// Results are matched to requests by position; a reply entry naming another record means
/// that matching would be wrong, so it is refused.
fn expect_name(
    operation: Endpoint,
    status: u16,
    index: usize,
    requested: Option<&str>,
    entry: &RecordResult,
) -> Result<(), CloudKitError> {
    let replied = match entry {
        RecordResult::Record(wire) => wire.record_name.as_deref(),
        RecordResult::Error(error) => error.record_name.as_deref(),
    };
    match (requested, replied) {
        (Some(requested), Some(replied)) if requested != replied => {
            Err(CloudKitError::Undecodable {
                operation,
                status,
                path: format!("records[{index}].recordName"),
                message: format!("expected `{requested}` (request order), got `{replied}`"),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FieldValue;
    use serde_json::json;

    #[test]
    fn issue_18_a_lookup_outcome_takes_a_names_room() {
        // A first publish of 100,000 records holds 100,000 outcomes, nearly all `NotFound`.
        assert!(std::mem::size_of::<Lookup>() <= std::mem::size_of::<RecordName>() + 8);
    }

    fn operation(kind: OperationType, name: &str) -> EncodedOperation {
        let record = Record::new("Team", name).with_field("n", FieldValue::int64(1));
        EncodedOperation::new(&crate::cloudkit::wire::Operation {
            operation_type: kind,
            record: WireRecord::from_record(&record),
            desired_keys: None,
        })
        .unwrap()
    }

    fn entry(value: serde_json::Value) -> RecordResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn modify_entries_become_typed_results() {
        let saved = operation_result(
            200,
            0,
            &operation(OperationType::Create, "a"),
            entry(json!({"recordName": "a", "recordChangeTag": "t2",
                         "fields": {"n": {"value": 1, "type": "INT64"}}})),
        )
        .unwrap();
        let OperationResult::Saved(record) = saved else {
            panic!("{saved:?}")
        };
        assert_eq!(
            record.record_type.as_str(),
            "Team",
            "type filled from the request"
        );
        assert_eq!(record.change_tag.unwrap().as_str(), "t2");

        let deleted = operation_result(
            200,
            0,
            &operation(OperationType::Delete, "b"),
            entry(json!({"recordName": "b", "deleted": true})),
        )
        .unwrap();
        assert_eq!(deleted, OperationResult::Deleted(RecordName::new("b")));

        let failed = operation_result(
            200,
            0,
            &operation(OperationType::Update, "c"),
            entry(json!({"recordName": "c", "serverErrorCode": "CONFLICT", "reason": "oplock", "retryAfter": 1})),
        )
        .unwrap();
        assert_eq!(
            failed,
            OperationResult::Failed(
                RecordName::new("c"),
                RecordFailure {
                    code: ServerErrorCode::Conflict,
                    reason: Some("oplock".into()),
                    retry_after: Some(1.0)
                }
            )
        );
    }

    #[test]
    fn a_reply_out_of_order_is_refused() {
        let error = operation_result(
            200,
            3,
            &operation(OperationType::Create, "a"),
            entry(json!({"recordName": "z", "recordType": "Team"})),
        )
        .unwrap_err();
        let CloudKitError::Undecodable { path, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(path, "records[3].recordName");
        assert!(error.may_have_been_applied());
    }

    #[test]
    fn records_read_keep_their_created_and_modified_timestamps() {
        let (record, modified) =
            query_record(entry(json!({"recordName": "r1", "recordType": "Team",
            "created": {"timestamp": 10, "userRecordName": "_u", "deviceID": "2"},
            "modified": {"timestamp": 20, "userRecordName": "_u", "deviceID": "2"}})))
            .unwrap();
        assert_eq!(
            record.stamps,
            Some(crate::record::Stamps {
                created: 10,
                modified: 20
            })
        );
        assert_eq!(modified, 20);
    }

    #[test]
    fn undecodable_field_names_the_record_and_field() {
        let error = query_record(entry(json!({"recordName": "r1", "recordType": "Team",
            "fields": {"when": {"value": "soon", "type": "TIMESTAMP"}}})))
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("`r1`") && text.contains("fields.when"),
            "{text}"
        );
    }
}
