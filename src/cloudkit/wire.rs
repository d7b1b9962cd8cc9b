//! Serde shapes of CloudKit Web Services bodies, exactly as on the wire (camelCase keys,
//! `zoneID`, `serverErrorCode`, ...). Shared by the client and the emulator; nothing here
//! does I/O. Unknown members of a record are kept in `extra` so nothing is lost in transit.
//!
//! ## Removing fields: what is documented to work
//!
//! CloudKit has no "unset" operation; a field without a value is a null field. The forms
//! found, and what the evidence says of each:
//!
//! - **`replace` / `forceReplace` with the fields to keep** — documented. Apple, *CloudKit
//!   Web Services Reference*, "Modifying Records (records/modify)": `replace` "Replace a
//!   record with the specified record. The fields whose values you do not specify are set to
//!   `null`", and under "Replacing Records": "Fields that you omit from the dictionary are
//!   set to `null`"; `replace` requires the `recordChangeTag`, so it is conflict-checked like
//!   `update`. Apple, *CloudKit JS*, `CloudKit.RecordsBatchBuilder.replace`: "Only the values
//!   of the fields in these dictionaries are replaced. The other field values are set to
//!   `null`." Likewise on create, "a missing/null `fields` means all fields null" (Types,
//!   Record Dictionary). **ckplan sends this form** for an update that removes fields
//!   (`apply::work`).
//! - **`update` with `"field": null` or `{"value": null}`** — not documented. The reference
//!   says of `update` only "Only the fields you specify are changed" and shows no null value;
//!   no captured live request uses it (MistKit's logs, brightdigit/MistKit `.claude/`, never
//!   remove a field; its `FieldValue` has no null case). ckplan falls back to it only for a
//!   type with `ignore_fields`, where a `replace` would erase the fields the app writes.
//! - **Apple's newer CloudKit Database API** (`@apple/cktool.api.database` 1.3.2,
//!   `dist/types/models/*.d.ts`): every typed value (`CKDBRecordFieldStringValue`, ...) has
//!   an optional `value?` (a typed field with no value), there is an explicit empty list,
//!   `CKDBRecordFieldEmptyListValue` (`type: "emptyListType"`, `value?: unknown[]`), and
//!   `CKDBCreateRecordRequestBody.fields` says "Missing fields in this dictionary are set to
//!   `null`". That API uses other type tags (`stringType`, ...) and endpoints than Web
//!   Services, so it supports the null-field model, not a wire form for records/modify.

use crate::record::{
    ChangeTag, FieldType, FieldValue, Fields, Record, RecordName, RecordType, Stamps,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

mod comparator;
mod endpoint;
mod entry;
mod modify;
pub mod read;

pub use comparator::{Comparator, SystemField};
pub use endpoint::Endpoint;
pub use modify::{decode_modify_reply, record_bytes, EncodedOperation, RecordWrite, WireValue};

/// The zone of the public database's only zone.
pub const DEFAULT_ZONE: &str = "_defaultZone";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneId {
    pub zone_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_record_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_type: Option<String>,
}

impl ZoneId {
    pub fn named(zone_name: &str) -> Self {
        Self {
            zone_name: zone_name.to_owned(),
            owner_record_name: None,
            zone_type: None,
        }
    }
    pub fn is_default(&self) -> bool {
        self.zone_name == DEFAULT_ZONE
    }
}

/// `{value, type}`. `type` is optional in requests; replies always carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireField {
    #[serde(default)]
    pub value: Json,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub field_type: Option<String>,
}

impl WireField {
    pub fn from_value(value: &FieldValue) -> Self {
        Self {
            value: value.to_json(false),
            field_type: Some(value.field_type().to_string()),
        }
    }

    /// A field given with a null value (`update` with `"field": null`; undocumented, see
    /// "Removing fields" above: ckplan prefers a `replace`).
    pub fn null() -> Self {
        Self {
            value: Json::Null,
            field_type: None,
        }
    }

    /// Decodes the value using its own `type`, or `hint` when the reply carries none, or by
    /// inference from the JSON as a last resort.
    pub fn to_value(&self, hint: Option<&FieldType>) -> Result<FieldValue, String> {
        let field_type = match (&self.field_type, hint) {
            (Some(name), _) => name
                .parse::<FieldType>()
                .unwrap_or_else(|never| match never {}),
            (None, Some(hint)) => hint.clone(),
            (None, None) => FieldValue::infer_type(&self.value)
                .ok_or_else(|| "value has no `type` and its type cannot be inferred".to_owned())?,
        };
        FieldValue::from_json(&field_type, &self.value).map_err(|e| e.to_string())
    }
}

/// `created` / `modified`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_record_name: Option<String>,
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// The record dictionary, in requests and replies. Key order follows live output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// `None` values stand for `"field": null` (removal in an update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, Option<WireField>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_fields: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_change_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(rename = "zoneID", default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<ZoneId>,
    /// Members this version does not model (sharing keys, future additions).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Json>,
}

impl WireRecord {
    /// The request form of a record: name, type, optional tag and typed fields.
    pub fn from_record(record: &Record) -> Self {
        Self {
            record_name: Some(record.record_name.0.clone()),
            record_type: Some(record.record_type.0.clone()),
            record_change_tag: record.change_tag.as_ref().map(|t| t.0.clone()),
            fields: Some(
                record
                    .fields
                    .iter()
                    .map(|(name, value)| (name.to_string(), Some(WireField::from_value(value))))
                    .collect(),
            ),
            ..Self::default()
        }
    }

    /// Converts a reply record. Fails on a missing name or type or an undecodable field,
    /// naming the field.
    pub fn to_record(&self) -> Result<Record, String> {
        let record_name = self
            .record_name
            .clone()
            .ok_or("record has no `recordName`")?;
        let record_type = self
            .record_type
            .clone()
            .ok_or("record has no `recordType`")?;
        Ok(Record {
            record_type: RecordType(record_type),
            record_name: RecordName(record_name),
            change_tag: self.record_change_tag.clone().map(ChangeTag),
            fields: self.decoded_fields()?,
            stamps: self.stamps(),
        })
    }

    /// As [`WireRecord::to_record`], taking the record's name, type and change tag instead
    /// of copying them; a record that does not convert comes back with the message.
    pub fn into_record(mut self) -> Result<Record, (Box<WireRecord>, String)> {
        let fields = match (&self.record_name, &self.record_type) {
            (None, _) => Err("record has no `recordName`".to_owned()),
            (_, None) => Err("record has no `recordType`".to_owned()),
            _ => self.decoded_fields(),
        };
        let fields = match fields {
            Ok(fields) => fields,
            Err(message) => return Err((Box::new(self), message)),
        };
        let stamps = self.stamps();
        Ok(Record {
            record_type: RecordType(self.record_type.take().unwrap_or_default()),
            record_name: RecordName(self.record_name.take().unwrap_or_default()),
            change_tag: self.record_change_tag.take().map(ChangeTag),
            fields,
            stamps,
        })
    }

    /// The record's non-null fields, decoded; fails naming the field.
    fn decoded_fields(&self) -> Result<Fields, String> {
        let mut fields = Fields::with_capacity(self.fields.as_ref().map_or(0, BTreeMap::len));
        for (name, field) in self.fields.iter().flatten() {
            let Some(field) = field else { continue };
            if field.value.is_null() {
                continue;
            }
            let value = field
                .to_value(None)
                .map_err(|e| format!("fields.{name}: {e}"))?;
            fields.insert(name.as_str(), value);
        }
        Ok(fields)
    }

    fn stamps(&self) -> Option<Stamps> {
        let (created, modified) = self.created.as_ref().zip(self.modified.as_ref())?;
        Some(Stamps {
            created: created.timestamp,
            modified: modified.timestamp,
        })
    }
}

/// CloudKit's `serverErrorCode`. Codes this version does not know are kept, not rejected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerErrorCode {
    AccessDenied,
    AtomicError,
    AuthenticationFailed,
    AuthenticationRequired,
    BadRequest,
    Conflict,
    Exists,
    InternalError,
    NotFound,
    QuotaExceeded,
    Throttled,
    TryAgainLater,
    ValidatingReferenceError,
    UniqueFieldError,
    ZoneNotFound,
    Other(String),
}

const CODES: [(ServerErrorCode, &str, u16); 15] = [
    (ServerErrorCode::AccessDenied, "ACCESS_DENIED", 403),
    (ServerErrorCode::AtomicError, "ATOMIC_ERROR", 400),
    (
        ServerErrorCode::AuthenticationFailed,
        "AUTHENTICATION_FAILED",
        401,
    ),
    (
        ServerErrorCode::AuthenticationRequired,
        "AUTHENTICATION_REQUIRED",
        421,
    ),
    (ServerErrorCode::BadRequest, "BAD_REQUEST", 400),
    (ServerErrorCode::Conflict, "CONFLICT", 409),
    (ServerErrorCode::Exists, "EXISTS", 409),
    (ServerErrorCode::InternalError, "INTERNAL_ERROR", 500),
    (ServerErrorCode::NotFound, "NOT_FOUND", 404),
    (ServerErrorCode::QuotaExceeded, "QUOTA_EXCEEDED", 413),
    (ServerErrorCode::Throttled, "THROTTLED", 429),
    (ServerErrorCode::TryAgainLater, "TRY_AGAIN_LATER", 503),
    (
        ServerErrorCode::ValidatingReferenceError,
        "VALIDATING_REFERENCE_ERROR",
        412,
    ),
    (ServerErrorCode::UniqueFieldError, "UNIQUE_FIELD_ERROR", 409),
    (ServerErrorCode::ZoneNotFound, "ZONE_NOT_FOUND", 404),
];

impl ServerErrorCode {
    pub fn as_str(&self) -> &str {
        match self {
            ServerErrorCode::Other(code) => code,
            known => CODES
                .iter()
                .find(|(c, _, _)| c == known)
                .map_or("", |(_, s, _)| s),
        }
    }

    /// The HTTP status CloudKit uses when this code is a request-level error.
    pub fn http_status(&self) -> u16 {
        CODES
            .iter()
            .find(|(c, _, _)| c == self)
            .map_or(500, |(_, _, status)| *status)
    }

    pub fn parse(code: &str) -> Self {
        CODES.iter().find(|(_, s, _)| *s == code).map_or_else(
            || ServerErrorCode::Other(code.to_owned()),
            |(c, _, _)| c.clone(),
        )
    }
}

impl fmt::Display for ServerErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ServerErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ServerErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Ok(ServerErrorCode::parse(&code))
    }
}

/// A request-level error body: `{uuid, serverErrorCode, reason}` (+ `retryAfter`, `redirectURL`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    pub server_error_code: ServerErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
    #[serde(
        rename = "redirectURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub redirect_url: Option<String>,
}

/// A per-record error entry inside a 200 reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub server_error_code: ServerErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(
        rename = "redirectURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub redirect_url: Option<String>,
}

/// One entry of a `records` array in a reply: a record, or an error for that record. An
/// entry with a `serverErrorCode` is an error. Decoded in `entry`.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // replies hold mostly records; boxing each costs more
pub enum RecordResult {
    Record(WireRecord),
    Error(RecordError),
}

impl Serialize for RecordResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RecordResult::Record(r) => r.serialize(serializer),
            RecordResult::Error(e) => e.serialize(serializer),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub comparator: Comparator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_field_name: Option<String>,
    pub field_value: WireField,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_field_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascending: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    pub record_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_by: Vec<Filter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort_by: Vec<Sort>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    #[serde(rename = "zoneID", default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<ZoneId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_limit: Option<u32>,
    pub query: Query,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_keys: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_wide: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbers_as_strings: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResponse {
    #[serde(default)]
    pub records: Vec<RecordResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_marker: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupEntry {
    pub record_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_keys: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupRequest {
    pub records: Vec<LookupEntry>,
    #[serde(rename = "zoneID", default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<ZoneId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_keys: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbers_as_strings: Option<bool>,
}

/// Reply of lookup and modify: one entry per requested record, in request order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordsResponse {
    #[serde(default)]
    pub records: Vec<RecordResult>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OperationType {
    Create,
    Update,
    ForceUpdate,
    Replace,
    ForceReplace,
    Delete,
    ForceDelete,
}

impl ModifyRequest {
    /// A request of these operations in the default zone, with nothing else set.
    pub fn new(operations: Vec<Operation>) -> Self {
        Self {
            operations,
            zone_id: None,
            atomic: None,
            desired_keys: None,
            numbers_as_strings: None,
        }
    }
}

impl OperationType {
    /// Whether CloudKit requires `recordChangeTag` for this operation.
    pub fn needs_tag(self) -> bool {
        matches!(
            self,
            OperationType::Update | OperationType::Replace | OperationType::Delete
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub operation_type: OperationType,
    pub record: WireRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_keys: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyRequest {
    pub operations: Vec<Operation>,
    #[serde(rename = "zoneID", default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<ZoneId>,
    /// Never sent for the default zone: CloudKit answers 400 there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_keys: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbers_as_strings: Option<bool>,
}

/// `users/current` and `users/caller`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    pub user_record_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    #[serde(rename = "zoneID")]
    pub zone_id: ZoneId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(default)]
    pub atomic: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZonesResponse {
    pub zones: Vec<Zone>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZonesLookupRequest {
    pub zones: Vec<ZoneId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_query_record_decodes() {
        // Shape of a live records/query reply (`docs/protocol.md`, "Records and fields").
        let body = json!({"records": [{
            "recordName": "feed-1", "recordType": "Feed",
            "fields": {"isActive": {"value": 1, "type": "INT64"},
                       "added": {"value": 1762819443586_i64, "type": "TIMESTAMP"},
                       "feed": {"value": {"recordName": "f", "action": "NONE",
                                "zoneID": {"zoneName": "_defaultZone", "ownerRecordName": "_0123456789abcdef0123456789abcdef", "zoneType": "DEFAULT_ZONE"}},
                                "type": "REFERENCE"}},
            "pluginFields": {}, "recordChangeTag": "kf3z2sxt",
            "created": {"timestamp": 1762819443586_i64, "userRecordName": "_0123456789abcdef0123456789abcdef", "deviceID": "2"},
            "modified": {"timestamp": 1762819443586_i64, "userRecordName": "_0123456789abcdef0123456789abcdef", "deviceID": "2"},
            "deleted": false,
            "zoneID": {"zoneName": "_defaultZone", "ownerRecordName": "_0123456789abcdef0123456789abcdef", "zoneType": "DEFAULT_ZONE"}
        }], "continuationMarker": "AAAA"});
        let reply: QueryResponse = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&reply).unwrap(), body);
        let RecordResult::Record(record) = &reply.records[0] else {
            panic!("not a record")
        };
        let record = record.to_record().unwrap();
        assert_eq!(record.change_tag.unwrap().as_str(), "kf3z2sxt");
        assert_eq!(record.fields["isActive"], FieldValue::int64(1));
    }

    #[test]
    fn error_entries_and_unknown_codes_decode() {
        let body = json!({"records": [
            {"recordName": "a", "reason": "CREATE operation not permitted", "serverErrorCode": "ACCESS_DENIED"},
            {"recordName": "b", "reason": "new", "serverErrorCode": "SOMETHING_NEW"}
        ]});
        let reply: RecordsResponse = serde_json::from_value(body.clone()).unwrap();
        let RecordResult::Error(e) = &reply.records[1] else {
            panic!()
        };
        assert_eq!(
            e.server_error_code,
            ServerErrorCode::Other("SOMETHING_NEW".into())
        );
        assert_eq!(serde_json::to_value(&reply).unwrap(), body);
    }

    #[test]
    fn every_code_round_trips_with_its_status() {
        // Copied from `docs/protocol.md`, "Errors" (Apple's table), plus UNIQUE_FIELD_ERROR
        // (CloudKit JS, no documented status: 409 like the other conflicts). Not `CODES`.
        let documented = [
            ("ACCESS_DENIED", 403),
            ("ATOMIC_ERROR", 400),
            ("AUTHENTICATION_FAILED", 401),
            ("AUTHENTICATION_REQUIRED", 421),
            ("BAD_REQUEST", 400),
            ("CONFLICT", 409),
            ("EXISTS", 409),
            ("INTERNAL_ERROR", 500),
            ("NOT_FOUND", 404),
            ("QUOTA_EXCEEDED", 413),
            ("THROTTLED", 429),
            ("TRY_AGAIN_LATER", 503),
            ("VALIDATING_REFERENCE_ERROR", 412),
            ("ZONE_NOT_FOUND", 404),
            ("UNIQUE_FIELD_ERROR", 409),
        ];
        for (name, status) in documented {
            let code = ServerErrorCode::parse(name);
            assert!(!matches!(code, ServerErrorCode::Other(_)), "{name} unknown");
            assert_eq!(code.as_str(), name);
            assert_eq!(code.http_status(), status, "{name}");
            let decoded: ServerErrorCode = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(decoded, code);
            assert_eq!(serde_json::to_value(&code).unwrap(), json!(name));
        }
        assert_eq!(
            CODES.len(),
            documented.len(),
            "a code without a documented row"
        );
        assert_eq!(ServerErrorCode::Exists, ServerErrorCode::parse("EXISTS"));
        assert_eq!(
            ServerErrorCode::Conflict,
            ServerErrorCode::parse("CONFLICT")
        );
        assert_eq!(
            ServerErrorCode::parse("LIMIT_EXCEEDED"),
            ServerErrorCode::Other("LIMIT_EXCEEDED".into())
        );
        assert_eq!(ServerErrorCode::Other("X".into()).http_status(), 500);
    }

    #[test]
    fn request_error_body_decodes() {
        let body = json!({"uuid": "u", "serverErrorCode": "THROTTLED", "reason": "slow down", "retryAfter": 2});
        let e: ErrorBody = serde_json::from_value(body).unwrap();
        assert_eq!(e.server_error_code, ServerErrorCode::Throttled);
        assert_eq!(e.retry_after, Some(2.0));
    }

    #[test]
    fn modify_request_matches_the_documented_shape() {
        let record = Record::new("Stadium", "s1").with_field("name", FieldValue::string("Fenway"));
        let request = ModifyRequest::new(vec![Operation {
            operation_type: OperationType::ForceReplace,
            record: WireRecord::from_record(&record),
            desired_keys: None,
        }]);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"operations": [{"operationType": "forceReplace", "record": {
                "recordName": "s1", "recordType": "Stadium",
                "fields": {"name": {"value": "Fenway", "type": "STRING"}}}}]})
        );
    }

    #[test]
    fn null_field_means_removal() {
        let r: WireRecord = serde_json::from_value(
            json!({"recordName": "a", "fields": {"x": null, "y": {"value": null}}}),
        )
        .unwrap();
        let fields = r.fields.unwrap();
        assert_eq!(fields["x"], None);
        assert_eq!(fields["y"], Some(WireField::null()));
    }
}
