//! The emulator's records and their CloudKit semantics: modify (seven operation types,
//! change tags, conflicts), lookup, and the field-type schema fixed by first write. Pure:
//! no HTTP, no clock (callers pass `now` in milliseconds), no files. `query` lives in its
//! own module; `persist` records the `Change`s this module returns.

use super::faults::{Hook, PageFault, RecordFault};
use super::query;
use crate::cloudkit::wire::{
    LookupRequest, ModifyRequest, Operation, OperationType, RecordError, RecordResult,
    ServerErrorCode, Stamp, WireField, WireRecord, ZoneId, DEFAULT_ZONE,
};
use crate::record::{Database, Environment};
use crate::record::{FieldType, FieldValue, Fields, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// At most this many operations per modify and names per lookup (`docs/protocol.md`,
/// "Limits").
pub const MAX_OPERATIONS: usize = 200;

/// `deviceID` of every `created` / `modified` stamp, as seen live for S2S writes.
const DEVICE_ID: &str = "2";

/// One container, environment and database: each is a separate store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub container: String,
    pub environment: Environment,
    pub database: Database,
}

/// A stored record. Its name is the key of the map that holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    pub record_type: String,
    pub fields: Fields,
    pub change_tag: String,
    pub created: i64,
    pub modified: i64,
}

/// `recordType` → field name → the type fixed by the field's first write.
pub type Schema = BTreeMap<String, BTreeMap<String, FieldType>>;

/// The records and schema of one scope (default zone only). Records are reached through
/// methods so that the per-type name index stays in step with them.
#[derive(Clone, Debug, Default)]
pub struct ScopeData {
    records: BTreeMap<String, StoredRecord>,
    /// `recordType` → the names of its records in name order: queries page through this
    /// instead of scanning and sorting every record of the scope.
    names_by_type: HashMap<String, BTreeSet<String>>,
    pub schema: Schema,
}

impl ScopeData {
    /// Every record of the scope, by name.
    pub fn records(&self) -> &BTreeMap<String, StoredRecord> {
        &self.records
    }

    pub fn get(&self, name: &str) -> Option<&StoredRecord> {
        self.records.get(name)
    }

    /// The names of the records of `record_type`, in name order.
    pub fn names_of_type(&self, record_type: &str) -> Option<&BTreeSet<String>> {
        self.names_by_type.get(record_type)
    }

    /// Stores `record` under `name`, replacing any record of that name.
    pub fn insert(&mut self, name: String, record: StoredRecord) {
        let retyped = self
            .records
            .get(&name)
            .filter(|previous| previous.record_type != record.record_type)
            .map(|previous| previous.record_type.clone());
        if let Some(former_type) = retyped {
            self.unindex(&former_type, &name);
        }
        match self.names_by_type.get_mut(&record.record_type) {
            Some(names) if names.contains(&name) => {}
            Some(names) => {
                names.insert(name.clone());
            }
            None => {
                let names = BTreeSet::from([name.clone()]);
                self.names_by_type.insert(record.record_type.clone(), names);
            }
        }
        self.records.insert(name, record);
    }

    pub fn remove(&mut self, name: &str) -> Option<StoredRecord> {
        let removed = self.records.remove(name)?;
        self.unindex(&removed.record_type, name);
        Some(removed)
    }

    fn unindex(&mut self, record_type: &str, name: &str) {
        if let Some(names) = self.names_by_type.get_mut(record_type) {
            names.remove(name);
            if names.is_empty() {
                self.names_by_type.remove(record_type);
            }
        }
    }
}

/// A committed effect, in the order applied; `persist` logs these.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Put { name: String, record: StoredRecord },
    Delete { name: String },
}

/// A whole-request failure: HTTP status from the code, body `{uuid, serverErrorCode, reason}`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct RequestError {
    pub code: ServerErrorCode,
    pub reason: String,
}

impl RequestError {
    pub fn new(code: ServerErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(ServerErrorCode::BadRequest, reason)
    }
}

/// What a modify did: one result per operation, and the changes to make durable.
#[derive(Clone, Debug, Default)]
pub struct Modified {
    pub results: Vec<RecordResult>,
    pub changes: Vec<Change>,
}

/// Index declarations for `--require-indexes`: `Type.field` names that are queryable.
#[derive(Clone, Debug, Default)]
pub struct Indexes {
    pub required: bool,
    pub queryable: BTreeSet<String>,
}

/// Every scope, the change-tag counter and the developer's user record name.
#[derive(Clone, Debug)]
pub struct Store {
    pub scopes: HashMap<Scope, ScopeData>,
    /// Source of change tags and generated names; only grows, persisted with the data.
    pub counter: u64,
    /// Mixed into change tags and generated names (`EmulatorConfig::seed`).
    pub seed: u64,
    pub indexes: Indexes,
    user_record_name: String,
}

/// Options of a reply record.
#[derive(Clone, Copy, Debug, Default)]
pub struct Render<'a> {
    pub desired_keys: Option<&'a [String]>,
    pub numbers_as_strings: bool,
    pub with_zone: bool,
}

impl Store {
    pub fn new(indexes: Indexes) -> Self {
        Self {
            scopes: HashMap::new(),
            counter: 0,
            seed: 0,
            indexes,
            user_record_name: developer_record_name(),
        }
    }

    pub fn user_record_name(&self) -> &str {
        &self.user_record_name
    }

    pub fn record_count(&self) -> usize {
        self.scopes.values().map(|s| s.records.len()).sum()
    }

    /// Forgets every record, schema and the counter.
    pub fn clear(&mut self) {
        self.scopes.clear();
        self.counter = 0;
    }

    /// The zone ID of the default zone, as replies carry it.
    pub fn default_zone_id(&self) -> ZoneId {
        ZoneId {
            zone_name: DEFAULT_ZONE.to_owned(),
            owner_record_name: Some(self.user_record_name.clone()),
            zone_type: Some("DEFAULT_ZONE".to_owned()),
        }
    }

    /// records/modify. Request-level problems fail the whole request before anything is
    /// applied; per-operation problems become error entries and the rest proceeds.
    pub fn modify(
        &mut self,
        scope: &Scope,
        request: &ModifyRequest,
        now: i64,
        hook: &mut dyn Hook,
    ) -> Result<Modified, RequestError> {
        check_zone(request.zone_id.as_ref())?;
        if request.atomic == Some(true) {
            return Err(RequestError::bad_request(
                "atomic operations not supported in default zone",
            ));
        }
        if request.operations.len() > MAX_OPERATIONS {
            return Err(RequestError::bad_request(format!(
                "BadRequestException: too many operations: {} (at most {MAX_OPERATIONS})",
                request.operations.len()
            )));
        }
        let missing_tag = request
            .operations
            .iter()
            .any(|op| op.operation_type.needs_tag() && op.record.record_change_tag.is_none());
        if missing_tag {
            return Err(RequestError::bad_request(
                "BadRequestException: missing required field 'recordChangeTag'",
            ));
        }
        let numbers_as_strings = request.numbers_as_strings.unwrap_or(false);
        let mut seen = HashSet::new();
        let mut modified = Modified::default();
        for operation in &request.operations {
            let render = Render {
                desired_keys: operation
                    .desired_keys
                    .as_deref()
                    .or(request.desired_keys.as_deref()),
                numbers_as_strings,
                with_zone: false,
            };
            let result = match self.apply(scope, operation, &mut seen, now, hook) {
                Ok(change) => {
                    let entry = match &change {
                        Change::Put { name, record } => {
                            RecordResult::Record(self.render(name, record, render))
                        }
                        Change::Delete { name } => RecordResult::Record(WireRecord {
                            record_name: Some(name.clone()),
                            deleted: Some(true),
                            ..WireRecord::default()
                        }),
                    };
                    modified.changes.push(change);
                    entry
                }
                Err(failure) => RecordResult::Error(*failure),
            };
            modified.results.push(result);
        }
        Ok(modified)
    }

    /// records/lookup: one entry per requested name, in order; the hook may put an error
    /// entry in place of any of them.
    pub fn lookup(
        &self,
        scope: &Scope,
        request: &LookupRequest,
        hook: &mut dyn Hook,
    ) -> Result<Vec<RecordResult>, RequestError> {
        check_zone(request.zone_id.as_ref())?;
        if request.records.len() > MAX_OPERATIONS {
            return Err(RequestError::bad_request(format!(
                "BadRequestException: too many records: {} (at most {MAX_OPERATIONS})",
                request.records.len()
            )));
        }
        let records = self.scopes.get(scope);
        let results = request
            .records
            .iter()
            .map(|entry| {
                let name = &entry.record_name;
                if let Some(fault) = hook.record_read(name) {
                    return RecordResult::Error(fault_error(name, &fault));
                }
                match records.and_then(|r| r.get(name)) {
                    Some(record) => {
                        let render = Render {
                            desired_keys: entry
                                .desired_keys
                                .as_deref()
                                .or(request.desired_keys.as_deref()),
                            numbers_as_strings: request.numbers_as_strings.unwrap_or(false),
                            with_zone: true,
                        };
                        RecordResult::Record(self.render(name, record, render))
                    }
                    None => RecordResult::Error(record_error(
                        name,
                        ServerErrorCode::NotFound,
                        "Record not found",
                    )),
                }
            })
            .collect();
        Ok(results)
    }

    /// Applies a logged change again (start-up replay). Schema types come back with it.
    pub fn replay(&mut self, scope: &Scope, change: Change) {
        let data = self.scopes.entry(scope.clone()).or_default();
        match change {
            Change::Put { name, record } => {
                let types = data.schema.entry(record.record_type.clone()).or_default();
                for (field, value) in &record.fields {
                    types
                        .entry(field.clone())
                        .or_insert_with(|| value.field_type());
                }
                data.insert(name, record);
            }
            Change::Delete { name } => {
                data.remove(&name);
            }
        }
    }

    /// The reply form of a stored record (key order as live output).
    pub fn render(&self, name: &str, record: &StoredRecord, render: Render<'_>) -> WireRecord {
        let fields = match render.desired_keys {
            Some([]) => None,
            keys => Some(
                record
                    .fields
                    .iter()
                    .filter(|(field, _)| keys.is_none_or(|k| k.iter().any(|d| d == *field)))
                    .map(|(field, value)| {
                        let wire = WireField {
                            value: value.to_json(render.numbers_as_strings),
                            field_type: Some(value.field_type().to_string()),
                        };
                        (field.clone(), Some(wire))
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
            zone_id: render.with_zone.then(|| self.default_zone_id()),
            extra: BTreeMap::new(),
        }
    }

    fn stamp(&self, timestamp: i64) -> Stamp {
        Stamp {
            timestamp,
            user_record_name: Some(self.user_record_name.clone()),
            device_id: Some(DEVICE_ID.to_owned()),
        }
    }

    /// A fresh change tag, never equal to `previous` (the record's current tag).
    fn next_tag(&mut self, previous: Option<&str>) -> String {
        loop {
            self.counter += 1;
            let tag = change_tag(self.seed, self.counter);
            if previous != Some(tag.as_str()) {
                return tag;
            }
        }
    }

    fn apply(
        &mut self,
        scope: &Scope,
        operation: &Operation,
        seen: &mut HashSet<String>,
        now: i64,
        hook: &mut dyn Hook,
    ) -> Result<Change, Box<RecordError>> {
        let kind = operation.operation_type;
        let record = &operation.record;
        let name = match &record.record_name {
            Some(name) => name.clone(),
            None if kind == OperationType::Create => {
                self.counter += 1;
                generated_name(self.seed, self.counter)
            }
            None => String::new(),
        };
        let fail = |(code, reason): (ServerErrorCode, String)| {
            Box::new(record_error(&name, code, &reason))
        };
        if name.is_empty() {
            return Err(fail(bad("missing required field 'recordName'")));
        }
        if !seen.insert(name.clone()) {
            return Err(fail(bad("record appears more than once in this request")));
        }
        if let Some(fault) = hook.record_write(&name) {
            return Err(Box::new(fault_error(&name, &fault)));
        }
        let existing = self.scopes.get(scope).and_then(|s| s.get(&name));
        check_preconditions(kind, record, existing).map_err(fail)?;
        if matches!(kind, OperationType::Delete | OperationType::ForceDelete) {
            if let Some(data) = self.scopes.get_mut(scope) {
                data.remove(&name);
            }
            return Ok(Change::Delete { name });
        }
        let record_type = resolve_type(record, existing).map_err(fail)?;
        let merge = matches!(kind, OperationType::Update | OperationType::ForceUpdate);
        let previous_tag = existing.map(|current| current.change_tag.clone());
        let change_tag = self.next_tag(previous_tag.as_deref());
        let data = self.scopes.entry(scope.clone()).or_default();
        let types = data.schema.get(&record_type);
        let (set, remove) = decode_fields(&record_type, types, record.fields.as_ref())
            .map_err(|reason| fail((ServerErrorCode::BadRequest, reason)))?;
        let previous = data.records.get(&name);
        let mut fields = match previous {
            Some(current) if merge => current.fields.clone(),
            _ => Fields::new(),
        };
        for field in &remove {
            fields.remove(field);
        }
        let schema = data.schema.entry(record_type.clone()).or_default();
        for (field, value) in set {
            schema
                .entry(field.clone())
                .or_insert_with(|| value.field_type());
            fields.insert(field, value);
        }
        let stored = StoredRecord {
            record_type,
            fields,
            change_tag,
            created: previous.map_or(now, |current| current.created),
            modified: now,
        };
        data.insert(name.clone(), stored.clone());
        Ok(Change::Put {
            name,
            record: stored,
        })
    }

    /// records/query; see `query`. Also returns the page fault the hook injected, if any.
    pub fn query(
        &self,
        scope: &Scope,
        request: &crate::cloudkit::wire::QueryRequest,
        hook: &mut dyn Hook,
    ) -> Result<(crate::cloudkit::wire::QueryResponse, Option<PageFault>), RequestError> {
        check_zone(request.zone_id.as_ref())?;
        query::run(self, scope, request, hook)
    }
}

fn bad(reason: &str) -> (ServerErrorCode, String) {
    (ServerErrorCode::BadRequest, reason.to_owned())
}

/// EXISTS for a create over a record, NOT_FOUND for a missing one (except the force
/// variants that create), CONFLICT for a stale tag.
fn check_preconditions(
    kind: OperationType,
    record: &WireRecord,
    existing: Option<&StoredRecord>,
) -> Result<(), (ServerErrorCode, String)> {
    let creates_when_absent = matches!(
        kind,
        OperationType::Create | OperationType::ForceUpdate | OperationType::ForceReplace
    );
    match existing {
        Some(_) if kind == OperationType::Create => Err((
            ServerErrorCode::Exists,
            "record to insert already exists".to_owned(),
        )),
        None if !creates_when_absent => {
            Err((ServerErrorCode::NotFound, "Record not found".to_owned()))
        }
        Some(current)
            if kind.needs_tag()
                && record.record_change_tag.as_deref() != Some(&current.change_tag) =>
        {
            Err((
                ServerErrorCode::Conflict,
                "client oplock error updating record".to_owned(),
            ))
        }
        _ => Ok(()),
    }
}

/// The existing record's type; a different one given is refused; a new record needs one.
fn resolve_type(
    record: &WireRecord,
    existing: Option<&StoredRecord>,
) -> Result<String, (ServerErrorCode, String)> {
    match (existing, &record.record_type) {
        (Some(current), Some(given)) if *given != current.record_type => Err(bad(&format!(
            "record type '{given}' does not match the existing record's type '{}'",
            current.record_type
        ))),
        (Some(current), _) => Ok(current.record_type.clone()),
        (None, Some(given)) => Ok(given.clone()),
        (None, None) => Err(bad("missing required field 'recordType'")),
    }
}

/// Only the default zone exists (public database semantics).
pub fn check_zone(zone: Option<&ZoneId>) -> Result<(), RequestError> {
    match zone {
        Some(zone) if !zone.is_default() => Err(RequestError::new(
            ServerErrorCode::ZoneNotFound,
            format!("Zone '{}' does not exist", zone.zone_name),
        )),
        _ => Ok(()),
    }
}

pub fn record_error(name: &str, code: ServerErrorCode, reason: &str) -> RecordError {
    RecordError {
        record_name: Some(name.to_owned()),
        reason: Some(reason.to_owned()),
        server_error_code: code,
        retry_after: None,
        uuid: None,
        redirect_url: None,
    }
}

/// The error entry of an injected per-record fault, `retryAfter` in whole seconds.
fn fault_error(name: &str, fault: &RecordFault) -> RecordError {
    RecordError {
        retry_after: fault.retry_after.map(|seconds| seconds.max(0.0).ceil()),
        ..record_error(name, fault.code.clone(), fault.reason)
    }
}

type DecodedFields = (Vec<(String, FieldValue)>, Vec<String>);

/// Splits the request's fields into values to set (typed and checked against the schema)
/// and names to remove (`"f": null` or `"f": {"value": null}`).
fn decode_fields(
    record_type: &str,
    types: Option<&BTreeMap<String, FieldType>>,
    fields: Option<&BTreeMap<String, Option<WireField>>>,
) -> Result<DecodedFields, String> {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    for (name, field) in fields.into_iter().flatten() {
        match field {
            Some(field) if !field.value.is_null() => {
                let known = types.and_then(|t| t.get(name));
                set.push((name.clone(), decode_field(record_type, name, known, field)?));
            }
            _ => remove.push(name.clone()),
        }
    }
    Ok((set, remove))
}

fn decode_field(
    record_type: &str,
    name: &str,
    known: Option<&FieldType>,
    field: &WireField,
) -> Result<FieldValue, String> {
    let declared = match &field.field_type {
        Some(type_name) => Some(
            FieldType::parse_known(type_name)
                .ok_or_else(|| format!("Unknown type '{type_name}' for field '{name}'"))?,
        ),
        None => None,
    };
    if let (Some(declared), Some(known)) = (&declared, known) {
        if declared != known {
            return Err(format!(
                "invalid attempt to set value type {declared} for field '{name}' for type \
                 '{record_type}', defined to be: {known}"
            ));
        }
    }
    let field_type = declared
        .or_else(|| known.cloned())
        .or_else(|| FieldValue::infer_type(&field.value))
        .ok_or_else(|| format!("Cannot infer the type of field '{name}'; give its 'type'"))?;
    FieldValue::from_json(&field_type, &field.value)
        .map(with_reference_actions)
        .map_err(|_| format!("Invalid value, expected type {field_type}."))
}

/// A reference saved as `{recordName}` alone (CloudKitClient, CloudKit JS) is stored with
/// `action: NONE`, so replies always carry the `action` that typed clients require.
fn with_reference_actions(value: FieldValue) -> FieldValue {
    fn fill(value: &mut Value) {
        if let Value::Reference(reference) = value {
            reference.action.get_or_insert_with(|| "NONE".to_owned());
        }
    }
    match value {
        FieldValue::Scalar(mut scalar) => {
            fill(&mut scalar);
            FieldValue::Scalar(scalar)
        }
        FieldValue::List(scalar_type, mut items) => {
            items.iter_mut().for_each(fill);
            FieldValue::List(scalar_type, items)
        }
        other => other,
    }
}

/// Lowercase base-36 text of `number`.
pub fn base36(mut number: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(number % 36) as usize]);
        number /= 36;
        if number == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Eight lower-case base-36 characters, the shape of live tags (`kf3z2sxt`,
/// `docs/protocol.md` "Records and fields"), drawn from the seed and the counter:
/// reproducible for a seed, opaque to clients, and different on every write.
pub fn change_tag(seed: u64, counter: u64) -> String {
    const SPACE: u64 = 36u64.pow(8);
    let hash = blake3::hash(format!("ckplan-emulator-tag-{seed}-{counter}").as_bytes());
    let mut number = [0u8; 8];
    number.copy_from_slice(&hash.as_bytes()[..8]);
    let tag = base36(u64::from_le_bytes(number) % SPACE);
    format!("{tag:0>8}")
}

/// A UUID-shaped name (upper case, as CloudKit JS makes them), derived from the seed and
/// the counter so that runs are reproducible.
fn generated_name(seed: u64, counter: u64) -> String {
    let hash = blake3::hash(format!("ckplan-emulator-record-{seed}-{counter}").as_bytes());
    let hex: String = hash.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// `_` + 32 hex: the developer every S2S write is attributed to.
fn developer_record_name() -> String {
    let hash = blake3::hash(b"ckplan-emulator-developer");
    let hex: String = hash.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("_{hex}")
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
