//! The emulator's records and their CloudKit semantics: modify (seven operation types,
//! change tags, conflicts), lookup, and the field-type schema fixed by first write. Pure:
//! no HTTP, no clock (callers pass `now` in milliseconds), no files; it takes and returns
//! the domain types of `domain` (`translate` converts wire bodies). `query` lives in its
//! own module; `persist` records the writes this module returns.

use super::domain::{
    FieldInput, Page, ReadOutcome, RecordFailure, Write, WriteBatch, WriteOutcome,
};
use super::faults::{Hook, RecordFault};
use super::query;
pub use super::scope::{RecordSet, Schema, ScopeData};
use crate::cloudkit::wire::{QueryRequest, ServerErrorCode, WireField};
use crate::record::{encoded_length, FieldType, FieldValue, Fields, Value};
use crate::record::{Database, Environment};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// At most this many operations per modify and names per lookup (`docs/protocol.md`,
/// "Limits").
pub const MAX_OPERATIONS: usize = 200;

/// Largest record accepted, in bytes of its fields as JSON `{name: {value, type}}`:
/// "Maximum record size (not including Asset fields): 1 MB" (Apple, CloudKit Web Services
/// Reference, Data Size Limits; `docs/protocol.md`, "Limits"), read strictly as 1,000,000 bytes.
/// The page gives no error code; a larger record gets a per-record BAD_REQUEST.
pub const MAX_RECORD_BYTES: usize = 1_000_000;

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

/// A committed effect, as `persist` logs and replays it.
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

/// Index declarations for `--require-indexes`: `Type.field` names that are queryable
/// (`--index`), and the schemas imported or deployed through the schema API, whose
/// QUERYABLE and SORTABLE indexes count per container and environment.
#[derive(Clone, Debug, Default)]
pub struct Indexes {
    pub required: bool,
    pub queryable: BTreeSet<String>,
    pub schemas: HashMap<(String, Environment), crate::schema::Schema>,
}

impl Indexes {
    /// The record type `record_type` as the schema held for `scope` defines it.
    pub fn schema_type(
        &self,
        scope: &Scope,
        record_type: &str,
    ) -> Option<&crate::schema::RecordTypeDef> {
        self.schemas
            .get(&(scope.container.clone(), scope.environment))
            .and_then(|schema| schema.types.get(record_type))
    }
}

/// A `DELETE_SELF` cascade waiting to run: when `due` (the emulator's clock, in
/// milliseconds), the records of `scope` whose reference with action `DELETE_SELF` names
/// `target` are deleted, unless `target` exists again by then.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingCascade {
    pub scope: Scope,
    pub due: i64,
    pub target: String,
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
    /// Record types whose schema is deployed in every scope before any record is written
    /// (`EmulatorConfig::record_types`): queries on them answer empty instead of the 404.
    pub deployed_types: BTreeSet<String>,
    /// How long after a delete CloudKit deletes the records that reference it with action
    /// `DELETE_SELF` (`EmulatorConfig::cascade_delay_ms`); 0: at the next request.
    pub cascade_delay_ms: i64,
    /// The cascades not yet run, in the order they are due.
    pub cascades: Vec<PendingCascade>,
    user_record_name: String,
}

impl Store {
    pub fn new(indexes: Indexes) -> Self {
        Self {
            scopes: HashMap::new(),
            counter: 0,
            seed: 0,
            indexes,
            deployed_types: BTreeSet::new(),
            cascade_delay_ms: 0,
            cascades: Vec::new(),
            user_record_name: developer_record_name(),
        }
    }

    pub fn user_record_name(&self) -> &str {
        &self.user_record_name
    }

    pub fn record_count(&self) -> usize {
        self.scopes.values().map(|s| s.records().len()).sum()
    }

    /// Whether queries on `record_type` in `scope` find the type: the managed `Users`
    /// type (CloudKit keeps it in every container, and every schema export lists it), a
    /// type a record of which was written there once, or whose schema is deployed
    /// (`deployed_types`).
    pub fn knows_type(&self, scope: &Scope, record_type: &str) -> bool {
        record_type == crate::schema::USERS
            || self.deployed_types.contains(record_type)
            || self.indexes.schema_type(scope, record_type).is_some()
            || self
                .scopes
                .get(scope)
                .is_some_and(|d| d.schema.contains_key(record_type))
    }

    /// Forgets every record, the schema learnt from writes and the counter (deployed
    /// types are configuration and stay).
    pub fn clear(&mut self) {
        self.scopes.clear();
        self.cascades.clear();
        self.counter = 0;
    }

    /// Runs the `DELETE_SELF` cascades due by `now`: deletes every record whose
    /// REFERENCE (or REFERENCE_LIST element) with action `DELETE_SELF` names a deleted
    /// target that still does not exist, and schedules the cascade of each record so
    /// deleted. Returns the deletions per scope, for the log.
    pub fn run_cascades(&mut self, now: i64) -> Vec<(Scope, Vec<WriteOutcome>)> {
        let mut done: Vec<(Scope, Vec<WriteOutcome>)> = Vec::new();
        while let Some(index) = self.cascades.iter().position(|c| c.due <= now) {
            let cascade = self.cascades.remove(index);
            let Some(data) = self.scopes.get_mut(&cascade.scope) else {
                continue;
            };
            if data.get(&cascade.target).is_some() {
                continue;
            }
            let holders: Vec<String> = data
                .records()
                .iter()
                .filter(|(_, record)| deletes_self_with(record, &cascade.target))
                .map(|(name, _)| name.clone())
                .collect();
            for name in holders {
                data.write(&name, None, None);
                self.cascades.push(PendingCascade {
                    scope: cascade.scope.clone(),
                    due: cascade.due.saturating_add(self.cascade_delay_ms),
                    target: name.clone(),
                });
                match done.iter_mut().find(|(scope, _)| *scope == cascade.scope) {
                    Some((_, outcomes)) => outcomes.push(WriteOutcome::Deleted { name }),
                    None => {
                        done.push((cascade.scope.clone(), vec![WriteOutcome::Deleted { name }]))
                    }
                }
            }
        }
        done
    }

    /// records/modify. Request-level problems fail the whole request before anything is
    /// applied; per-write problems become `Failed` outcomes and the rest proceeds.
    pub fn modify(
        &mut self,
        scope: &Scope,
        batch: &WriteBatch,
        now: i64,
        hook: &mut dyn Hook,
    ) -> Result<Vec<WriteOutcome>, RequestError> {
        if batch.atomic {
            return Err(RequestError::bad_request(
                "atomic operations not supported in default zone",
            ));
        }
        if batch.writes.len() > MAX_OPERATIONS {
            return Err(RequestError::bad_request(format!(
                "BadRequestException: too many operations: {} (at most {MAX_OPERATIONS})",
                batch.writes.len()
            )));
        }
        let missing_tag = batch
            .writes
            .iter()
            .any(|write| write.kind.needs_tag() && write.change_tag.is_none());
        if missing_tag {
            return Err(RequestError::bad_request(
                "BadRequestException: missing required field 'recordChangeTag'",
            ));
        }
        let mut seen = HashSet::new();
        let outcomes = batch
            .writes
            .iter()
            .map(
                |write| match self.apply(scope, write, &mut seen, now, hook) {
                    Ok(outcome) => outcome,
                    Err(failure) => WriteOutcome::Failed(failure),
                },
            )
            .collect();
        Ok(outcomes)
    }

    /// records/lookup: one outcome per name, in order; the hook may fail any of them.
    pub fn lookup<'a>(
        &'a self,
        scope: &Scope,
        names: &'a [String],
        hook: &mut dyn Hook,
    ) -> Vec<ReadOutcome<'a>> {
        let records = self.scopes.get(scope);
        names
            .iter()
            .map(|name| {
                if let Some(fault) = hook.record_read(name) {
                    return ReadOutcome::Failed(fault_failure(name, &fault));
                }
                match records.and_then(|r| r.get(name)) {
                    Some(record) => ReadOutcome::Found { name, record },
                    None => ReadOutcome::Failed(RecordFailure::new(
                        name,
                        ServerErrorCode::NotFound,
                        "Record not found",
                    )),
                }
            })
            .collect()
    }

    /// Applies a logged change again (start-up replay). Schema types come back with it.
    pub fn replay(&mut self, scope: &Scope, change: Change) {
        let data = self.scopes.entry(scope.clone()).or_default();
        match change {
            Change::Put { name, record } => {
                let types = data.schema.entry(record.record_type.clone()).or_default();
                for (field, value) in &record.fields {
                    types
                        .entry(field.to_string())
                        .or_insert_with(|| value.field_type());
                }
                data.insert(name, record);
            }
            Change::Delete { name } => {
                data.remove(&name);
            }
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
        write: &Write,
        seen: &mut HashSet<String>,
        now: i64,
        hook: &mut dyn Hook,
    ) -> Result<WriteOutcome, RecordFailure> {
        let kind = write.kind;
        let name = match &write.record_name {
            Some(name) => name.clone(),
            None if kind == super::domain::WriteKind::Create => {
                self.counter += 1;
                generated_name(self.seed, self.counter)
            }
            None => String::new(),
        };
        let fail =
            |(code, reason): (ServerErrorCode, String)| RecordFailure::new(&name, code, &reason);
        if name.is_empty() {
            return Err(fail(bad("missing required field 'recordName'")));
        }
        if !seen.insert(name.clone()) {
            return Err(fail(bad("record appears more than once in this request")));
        }
        if let Some(fault) = hook.record_write(&name) {
            return Err(fault_failure(&name, &fault));
        }
        let existing = self.scopes.get(scope).and_then(|s| s.get(&name));
        check_preconditions(write, existing).map_err(fail)?;
        let visible_at = match hook.index_lag_ms() {
            0 => None,
            lag => Some(now.saturating_add(lag)),
        };
        if kind.deletes() {
            if let Some(data) = self.scopes.get_mut(scope) {
                data.write(&name, None, visible_at);
            }
            self.cascades.push(PendingCascade {
                scope: scope.clone(),
                due: now.saturating_add(self.cascade_delay_ms),
                target: name.clone(),
            });
            return Ok(WriteOutcome::Deleted { name });
        }
        let record_type = resolve_type(write, existing).map_err(fail)?;
        let previous_tag = existing.map(|current| current.change_tag.clone());
        let change_tag = self.next_tag(previous_tag.as_deref());
        let data = self.scopes.entry(scope.clone()).or_default();
        let stored = put(data, write, &name, record_type, change_tag, now).map_err(fail)?;
        data.write(&name, Some(stored.clone()), visible_at);
        Ok(WriteOutcome::Saved {
            name,
            record: stored,
        })
    }

    /// Makes the writes due by `now` visible to queries of `scope` (index lag).
    pub fn catch_up(&mut self, scope: &Scope, now: i64, lag_on: bool) {
        if let Some(data) = self.scopes.get_mut(scope) {
            data.catch_up(now, lag_on);
        }
    }

    /// records/query: one page; see `query`.
    pub fn query<'a>(
        &'a self,
        scope: &Scope,
        request: &QueryRequest,
        hook: &mut dyn Hook,
    ) -> Result<Page<'a>, RequestError> {
        query::run(self, scope, request, hook)
    }
}

/// The record a create, update or replace of `name` leaves: fields decoded against the
/// schema (merged for update), the size limit checked, new field types fixed.
fn put(
    data: &mut ScopeData,
    write: &Write,
    name: &str,
    record_type: String,
    change_tag: String,
    now: i64,
) -> Result<StoredRecord, (ServerErrorCode, String)> {
    let types = data.schema.get(&record_type);
    let (set, remove) = decode_fields(&record_type, types, &write.fields)
        .map_err(|reason| (ServerErrorCode::BadRequest, reason))?;
    let previous = data.get(name);
    let mut fields = match previous {
        Some(current) if write.kind.merges() => current.fields.clone(),
        _ => Fields::new(),
    };
    let created = previous.map_or(now, |current| current.created);
    for field in &remove {
        fields.remove(field);
    }
    let size = record_size(&fields, &set[..]);
    if size > MAX_RECORD_BYTES {
        return Err(bad(&format!(
            "Record size {size} bytes exceeds the maximum of {MAX_RECORD_BYTES} bytes"
        )));
    }
    let schema = data.schema.entry(record_type.clone()).or_default();
    for (field, value) in set {
        schema
            .entry(field.clone())
            .or_insert_with(|| value.field_type());
        fields.insert(field, value);
    }
    Ok(StoredRecord {
        record_type,
        fields,
        change_tag,
        created,
        modified: now,
    })
}

fn bad(reason: &str) -> (ServerErrorCode, String) {
    (ServerErrorCode::BadRequest, reason.to_owned())
}

/// EXISTS for a create over a record, NOT_FOUND for a missing one (except the force
/// variants that create), CONFLICT for a stale tag.
fn check_preconditions(
    write: &Write,
    existing: Option<&StoredRecord>,
) -> Result<(), (ServerErrorCode, String)> {
    let kind = write.kind;
    match existing {
        Some(_) if kind == super::domain::WriteKind::Create => Err((
            ServerErrorCode::Exists,
            "record to insert already exists".to_owned(),
        )),
        None if !kind.creates() => Err((ServerErrorCode::NotFound, "Record not found".to_owned())),
        Some(current)
            if kind.needs_tag() && write.change_tag.as_deref() != Some(&current.change_tag) =>
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
    write: &Write,
    existing: Option<&StoredRecord>,
) -> Result<String, (ServerErrorCode, String)> {
    match (existing, &write.record_type) {
        (Some(current), Some(given)) if *given != current.record_type => Err(bad(&format!(
            "record type '{given}' does not match the existing record's type '{}'",
            current.record_type
        ))),
        (Some(current), _) => Ok(current.record_type.clone()),
        (None, Some(given)) => Ok(given.clone()),
        (None, None) => Err(bad("missing required field 'recordType'")),
    }
}

/// The size of a record's fields once `set` is applied: bytes of the JSON object of
/// `{name: {value, type}}`, counted without building it.
fn record_size(fields: &Fields, set: &[(String, FieldValue)]) -> usize {
    let replaced: HashSet<&str> = set.iter().map(|(name, _)| name.as_str()).collect();
    let kept = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value))
        .filter(|(name, _)| !replaced.contains(name));
    let fields = kept.chain(set.iter().map(|(name, value)| (name.as_str(), value)));
    fields.fold(2, |size, (name, value)| {
        let value = encoded_length(&WireField::from_value(value)).unwrap_or(0);
        size + name.len() + 4 + value
    })
}

/// The failure of an injected per-record fault, `retryAfter` in whole seconds.
fn fault_failure(name: &str, fault: &RecordFault) -> RecordFailure {
    RecordFailure {
        retry_after: fault.retry_after.map(|seconds| seconds.max(0.0).ceil()),
        ..RecordFailure::new(name, fault.code.clone(), fault.reason)
    }
}

type DecodedFields = (Vec<(String, FieldValue)>, Vec<String>);

/// Splits the request's fields into values to set (typed and checked against the schema)
/// and names to remove (`"f": null` or `"f": {"value": null}`).
fn decode_fields(
    record_type: &str,
    types: Option<&BTreeMap<String, FieldType>>,
    fields: &[(String, FieldInput)],
) -> Result<DecodedFields, String> {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    for (name, field) in fields {
        match field {
            FieldInput::Set { value, declared } => {
                let known = types.and_then(|t| t.get(name));
                let decoded = decode_field(record_type, name, known, value, declared.as_deref())?;
                set.push((name.clone(), decoded));
            }
            FieldInput::Remove => remove.push(name.clone()),
        }
    }
    Ok((set, remove))
}

fn decode_field(
    record_type: &str,
    name: &str,
    known: Option<&FieldType>,
    value: &serde_json::Value,
    declared: Option<&str>,
) -> Result<FieldValue, String> {
    let declared = match declared {
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
        .or_else(|| FieldValue::infer_type(value))
        .ok_or_else(|| format!("Cannot infer the type of field '{name}'; give its 'type'"))?;
    FieldValue::from_json(&field_type, value)
        .map(with_reference_actions)
        .map_err(|_| format!("Invalid value, expected type {field_type}."))
}

/// Whether `record` holds a reference with action `DELETE_SELF` to `target`.
fn deletes_self_with(record: &StoredRecord, target: &str) -> bool {
    let holds = |value: &Value| {
        matches!(value, Value::Reference(r)
            if r.record_name.as_str() == target && r.action.as_deref() == Some("DELETE_SELF"))
    };
    record.fields.values().any(|field| match field {
        FieldValue::Scalar(value) => holds(value),
        FieldValue::List(_, values) => values.iter().any(holds),
        FieldValue::Unknown { .. } => false,
    })
}

/// A reference saved as `{recordName}` alone (CloudKitClient, CloudKit JS) is stored with
/// `action: NONE`, so replies always carry the `action` that typed clients require.
fn with_reference_actions(value: FieldValue) -> FieldValue {
    fn fill(value: &mut Value) {
        if let Value::Reference(reference) = value {
            reference
                .action
                .get_or_insert_with(|| crate::record::Reference::shared_action("NONE"));
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
