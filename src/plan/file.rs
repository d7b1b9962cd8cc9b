//! The on-disk plan format, and the only code that knows it: pretty-printed JSON
//! (two-space indent, members in a fixed order, maps sorted by key, a final newline), with a
//! format name, a format version and a checksum, described by `schemas/plan.schema.json`.
//!
//! Field values use CloudKit's wire form `{"value": ..., "type": "..."}` (see
//! [`WireField`]), so they read like CloudKit's own JSON and round-trip exactly. An absent
//! value in `before` is `null`.
//!
//! # Checksum
//!
//! `checksum` is `"blake3:"` followed by the lowercase hex BLAKE3 hash of the document's
//! canonical serialization without its `checksum` member: compact JSON (no whitespace
//! outside strings), object members sorted by key in Unicode code point order, strings
//! escaped as serde_json does (only `"`, `\`, and control characters; those as `\b \f \n \r
//! \t` or `\u00xx` with lowercase hex; everything else literal UTF-8), integers in decimal,
//! and other numbers in shortest round-trip form (`0.5`, `1.0`, `1e-7`, `1e+20`). This is
//! Python's `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! except that Python pads negative exponents (`1e-07`), which only numbers below 1e-4 use.
//! The checksum covers content, not layout: re-indenting a plan keeps it valid, changing any
//! value does not.
//!
//! Reading checks, in this order so that the message is the useful one: JSON syntax (with
//! line and column), the format name, the format version, the checksum, the structure
//! (naming the JSON path), then every field value against its type.

#[cfg(test)]
mod tests;

use super::{Action, Change, InputDigest, Plan, PlanOptions, TypeSummary, FORMAT_VERSION};
use crate::cloudkit::target::Target;
use crate::cloudkit::wire::WireField;
use crate::diff::CompareRules;
use crate::record::{ChangeTag, FieldValue, Fields, RecordName, RecordType};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::Write as _;

/// The value of the `format` member of every plan file.
pub const FORMAT_NAME: &str = "ckplan-plan";

/// Why a plan file cannot be used.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PlanFileError {
    #[error("not a ckplan plan: {reason}")]
    NotAPlan { reason: String },
    #[error("plan is truncated: it ends at line {line}, column {column}")]
    Truncated { line: usize, column: usize },
    #[error("plan is not valid JSON at line {line}, column {column}: {message}")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "plan format version {found} is not supported by ckplan {tool_version} \
         (supports {supported})"
    )]
    UnsupportedVersion {
        found: u64,
        tool_version: &'static str,
        supported: u32,
    },
    #[error("plan has no checksum: it was not written by ckplan or was cut short")]
    ChecksumMissing,
    #[error("plan was modified after it was written: checksum mismatch")]
    ChecksumMismatch { expected: String, found: String },
    #[error("plan is invalid at `{path}`: {message}")]
    Structure { path: String, message: String },
    #[error(
        "plan change {index} ({record_type} `{record_name}`): `{side}` field `{field}`: {message}"
    )]
    FieldValue {
        index: usize,
        record_type: RecordType,
        record_name: RecordName,
        side: &'static str,
        field: String,
        message: String,
    },
    #[error("plan change {index} ({action} {record_type} `{record_name}`): {problem}")]
    Inconsistent {
        index: usize,
        action: Action,
        record_type: RecordType,
        record_name: RecordName,
        problem: &'static str,
    },
}

/// A ckplan plan: what `ckplan apply` will do, against which record versions, decided
/// when and from which inputs.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(title = "ckplan plan file"))]
struct PlanDocument {
    /// Always `ckplan-plan`.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::format_name_schema"))]
    format: String,
    /// The format version; this schema describes version 1.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::format_version_schema"))]
    format_version: u32,
    /// The ckplan version that wrote the plan.
    tool_version: String,
    /// When the plan was made, RFC 3339 in UTC.
    created_at: String,
    /// Where the records live.
    target: Target,
    options: OptionsDocument,
    /// BLAKE3 digests of the configuration file (first) and the data files.
    inputs: Vec<InputDocument>,
    /// Record types in dependency order: referenced types first.
    type_order: Vec<RecordType>,
    /// The comparison rules of each planned type, used by apply to judge conflicts.
    rules: BTreeMap<RecordType, RulesDocument>,
    /// Counts per record type, alphabetical.
    summary: Vec<SummaryDocument>,
    /// The changes, ordered by record type then record name.
    changes: Vec<ChangeDocument>,
    /// `blake3:` and the hex BLAKE3 of the canonical document without this member.
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^blake3:[0-9a-f]{64}$")))]
    checksum: String,
}

/// The options the plan was made with.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "PlanOptions"))]
struct OptionsDocument {
    /// Whether records only in CloudKit are deleted (`--delete-orphans`).
    delete_orphans: bool,
    /// The `--type` filter; null when every configured type was planned.
    types: Option<Vec<RecordType>>,
}

/// How one type's records were compared.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "CompareRules"))]
struct RulesDocument {
    /// Fields the app writes itself: never compared, never sent.
    ignore_fields: Vec<String>,
    /// Largest latitude or longitude difference still counted as equal, in degrees.
    location_tolerance: f64,
}

/// The digest of one input file.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "InputDigest"))]
struct InputDocument {
    /// Relative to the configuration file's directory, `/`-separated.
    path: String,
    /// Lowercase hex BLAKE3 of the file's bytes.
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    blake3: String,
}

/// What the plan found for one record type.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "TypeSummary"))]
struct SummaryDocument {
    record_type: RecordType,
    create: usize,
    update: usize,
    delete: usize,
    unchanged: usize,
    /// Records only in CloudKit, deleted or not.
    orphans: usize,
}

/// One planned change.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Change"))]
struct ChangeDocument {
    action: Action,
    record_type: RecordType,
    record_name: RecordName,
    /// The recordChangeTag the change was planned against (update, delete); null for create.
    change_tag: Option<ChangeTag>,
    /// CloudKit's values of the fields this change touches; null where CloudKit has none.
    before: BTreeMap<String, Option<FieldDocument>>,
    /// The full desired fields (create, update); null for delete.
    after: Option<BTreeMap<String, FieldDocument>>,
    /// Fields present in CloudKit and absent locally, removed by an update.
    removed: Vec<String>,
}

/// A field value in CloudKit's wire form.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "FieldValue"))]
struct FieldDocument {
    /// The value as CloudKit writes it (a string, number, list, or dictionary).
    value: Json,
    /// The CloudKit type: `STRING`, `INT64`, `TIMESTAMP`, `LOCATION`, `REFERENCE_LIST`, ...
    #[serde(rename = "type")]
    field_type: String,
}

/// JSON Schema generation (feature `schema`, on in the tests): the committed
/// `schemas/plan.schema.json` is generated from the document types above.
#[cfg(feature = "schema")]
mod schema {
    use super::{PlanDocument, FORMAT_NAME, FORMAT_VERSION};
    use schemars::gen::SchemaGenerator;
    use schemars::schema::{RootSchema, Schema, SchemaObject};
    use serde_json::Value as Json;

    pub(super) fn format_name_schema(_: &mut SchemaGenerator) -> Schema {
        const_schema(Json::from(FORMAT_NAME))
    }

    pub(super) fn format_version_schema(_: &mut SchemaGenerator) -> Schema {
        const_schema(Json::from(FORMAT_VERSION))
    }

    fn const_schema(value: Json) -> Schema {
        Schema::Object(SchemaObject {
            const_value: Some(value),
            ..SchemaObject::default()
        })
    }

    /// The JSON Schema of the plan file, as committed in `schemas/plan.schema.json`.
    pub fn plan_schema() -> RootSchema {
        schemars::schema_for!(PlanDocument)
    }
}

#[cfg(feature = "schema")]
pub use schema::plan_schema;

/// The plan file's text: deterministic for equal plans, checksum included.
pub fn to_text(plan: &Plan) -> String {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    write_to(plan, &mut bytes).expect("plans write to memory");
    // serde_json writes only UTF-8.
    String::from_utf8(bytes).expect("plan text is UTF-8")
}

/// Streams the plan file's text (as [`to_text`]) to `out`, one change at a time, without
/// holding the whole document; returns the checksum it wrote. Pass a buffered writer.
pub fn write_to(plan: &Plan, mut out: impl std::io::Write) -> std::io::Result<String> {
    let checksum = checksum(plan);
    let view = PlanView::new(plan, &plan.changes, Some(&checksum));
    serde_json::to_writer_pretty(&mut out, &view)?;
    out.write_all(b"\n")?;
    Ok(checksum)
}

/// The checksum `to_text` writes for `plan` (`blake3:<hex>`): the plan's identity in
/// journals and receipts. Computed change by change, without the whole document.
pub fn checksum(plan: &Plan) -> String {
    // Serializing these types cannot fail: every map has string keys.
    let header =
        serde_json::to_value(PlanView::new(plan, &[], None)).expect("plan documents serialize");
    let Json::Object(header) = header else {
        unreachable!("a plan document serializes to an object")
    };
    let mut hasher = blake3::Hasher::new();
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        let mut members: Vec<(&String, &Json)> = header.iter().collect();
        members.sort_by(|a, b| a.0.cmp(b.0));
        out.write_all(b"{").expect("hashing cannot fail");
        for (index, (key, member)) in members.into_iter().enumerate() {
            if index > 0 {
                out.write_all(b",").expect("hashing cannot fail");
            }
            write_key(key, &mut out);
            if key == "changes" {
                write_canonical_changes(&plan.changes, &mut out);
            } else {
                write_canonical(member, &mut out);
            }
        }
        out.write_all(b"}").expect("hashing cannot fail");
        out.flush().expect("hashing cannot fail");
    }
    format!("blake3:{}", hasher.finalize().to_hex())
}

/// `[` the canonical form of each change `]`, one small JSON value at a time.
fn write_canonical_changes(changes: &[Change], out: &mut impl std::io::Write) {
    out.write_all(b"[").expect("hashing cannot fail");
    for (index, change) in changes.iter().enumerate() {
        if index > 0 {
            out.write_all(b",").expect("hashing cannot fail");
        }
        let value =
            serde_json::to_value(ChangeDocument::from(change)).expect("plan documents serialize");
        write_canonical(&value, out);
    }
    out.write_all(b"]").expect("hashing cannot fail");
}

/// A plan read from a file whose checksum matched, with that checksum.
#[derive(Debug, PartialEq)]
pub struct VerifiedPlan {
    pub plan: Plan,
    /// `blake3:<hex>`, as [`checksum`] computes it for `plan`.
    pub checksum: String,
}

/// Reads and verifies a plan file's bytes (text that is not UTF-8 is refused with its place).
pub fn from_bytes(bytes: &[u8]) -> Result<Plan, PlanFileError> {
    read_bytes(bytes).map(|verified| verified.plan)
}

/// Reads and verifies a plan file's text.
pub fn from_text(text: &str) -> Result<Plan, PlanFileError> {
    read_text(text).map(|verified| verified.plan)
}

/// As [`from_bytes`], also returning the verified checksum so callers need not recompute it.
pub fn read_bytes(bytes: &[u8]) -> Result<VerifiedPlan, PlanFileError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => read_text(text),
        Err(error) => {
            let before = String::from_utf8_lossy(&bytes[..error.valid_up_to()]);
            Err(PlanFileError::NotJson {
                line: before.matches('\n').count() + 1,
                column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                message: "invalid UTF-8".to_owned(),
            })
        }
    }
}

/// As [`from_text`], also returning the verified checksum. The text is parsed once.
pub fn read_text(text: &str) -> Result<VerifiedPlan, PlanFileError> {
    let mut value = parse_json(text)?;
    check_identity(&value)?;
    let checksum = verify_checksum(&mut value)?;
    let document: PlanDocument =
        serde_path_to_error::deserialize(value).map_err(|error| PlanFileError::Structure {
            path: error.path().to_string(),
            message: error.inner().to_string(),
        })?;
    Ok(VerifiedPlan {
        plan: document.into_plan()?,
        checksum,
    })
}

fn parse_json(text: &str) -> Result<Json, PlanFileError> {
    if text.trim().is_empty() {
        return Err(PlanFileError::NotAPlan {
            reason: "the file is empty".to_owned(),
        });
    }
    serde_json::from_str(text).map_err(|error| {
        let (line, column) = (error.line(), error.column());
        if error.classify() == serde_json::error::Category::Eof {
            PlanFileError::Truncated { line, column }
        } else {
            // serde_json appends " at line L column C" itself; say it once.
            let message = error.to_string();
            let message = match message.rfind(" at line ") {
                Some(end) => message[..end].to_owned(),
                None => message,
            };
            PlanFileError::NotJson {
                line,
                column,
                message,
            }
        }
    })
}

fn check_identity(value: &Json) -> Result<(), PlanFileError> {
    let not_a_plan = |reason: String| PlanFileError::NotAPlan { reason };
    let object = value
        .as_object()
        .ok_or_else(|| not_a_plan("the document is not a JSON object".to_owned()))?;
    match object.get("format") {
        Some(Json::String(name)) if name == FORMAT_NAME => {}
        Some(other) => {
            return Err(not_a_plan(format!(
                "`format` is `{other}`, expected `{FORMAT_NAME}`"
            )))
        }
        None => return Err(not_a_plan("it has no `format` member".to_owned())),
    }
    let version = object.get("format_version");
    match version.and_then(Json::as_u64) {
        Some(found) if found == u64::from(FORMAT_VERSION) => Ok(()),
        Some(found) => Err(PlanFileError::UnsupportedVersion {
            found,
            tool_version: env!("CARGO_PKG_VERSION"),
            supported: FORMAT_VERSION,
        }),
        None => Err(PlanFileError::Structure {
            path: "format_version".to_owned(),
            message: match version {
                Some(other) => format!("expected a positive integer, found `{other}`"),
                None => "missing".to_owned(),
            },
        }),
    }
}

/// Checks the checksum, leaving the document as it was; returns the checksum.
fn verify_checksum(value: &mut Json) -> Result<String, PlanFileError> {
    let Some(object) = value.as_object_mut() else {
        return Err(PlanFileError::ChecksumMissing);
    };
    let found = match object.remove("checksum") {
        Some(Json::String(found)) => found,
        Some(other) => {
            return Err(PlanFileError::Structure {
                path: "checksum".to_owned(),
                message: format!("expected a string, found `{other}`"),
            })
        }
        None => return Err(PlanFileError::ChecksumMissing),
    };
    let expected = checksum_of(value);
    if found != expected {
        return Err(PlanFileError::ChecksumMismatch { expected, found });
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("checksum".to_owned(), Json::String(found.clone()));
    }
    Ok(found)
}

/// `blake3:<hex>` of the canonical form of `value` without a `checksum` member, streamed
/// into the hash.
fn checksum_of(value: &Json) -> String {
    let mut hasher = blake3::Hasher::new();
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        match value {
            Json::Object(map) => write_canonical_object(map, Some("checksum"), &mut out),
            other => write_canonical(other, &mut out),
        }
        out.flush().expect("hashing cannot fail");
    }
    format!("blake3:{}", hasher.finalize().to_hex())
}

/// Compact JSON with object members sorted by key, whatever order the map keeps. The
/// writers used here (memory, a hasher) cannot fail.
fn write_canonical(value: &Json, out: &mut impl std::io::Write) {
    match value {
        Json::Object(map) => write_canonical_object(map, None, out),
        Json::Array(items) => {
            out.write_all(b"[").expect("canonical writes cannot fail");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.write_all(b",").expect("canonical writes cannot fail");
                }
                write_canonical(item, out);
            }
            out.write_all(b"]").expect("canonical writes cannot fail");
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("canonical writes cannot fail"),
    }
}

/// An object's members sorted by key, leaving out the member named `skip`.
fn write_canonical_object(
    map: &serde_json::Map<String, Json>,
    skip: Option<&str>,
    out: &mut impl std::io::Write,
) {
    let mut members: Vec<(&String, &Json)> = map
        .iter()
        .filter(|(key, _)| Some(key.as_str()) != skip)
        .collect();
    members.sort_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{").expect("canonical writes cannot fail");
    for (index, (key, member)) in members.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",").expect("canonical writes cannot fail");
        }
        write_key(key, out);
        write_canonical(member, out);
    }
    out.write_all(b"}").expect("canonical writes cannot fail");
}

/// A member name and its colon, escaped as a JSON string.
fn write_key(key: &str, out: &mut impl std::io::Write) {
    serde_json::to_writer(&mut *out, key).expect("canonical writes cannot fail");
    out.write_all(b":").expect("canonical writes cannot fail");
}

fn field_document(value: &FieldValue) -> FieldDocument {
    let wire = WireField::from_value(value);
    FieldDocument {
        value: wire.value,
        field_type: wire
            .field_type
            .unwrap_or_else(|| value.field_type().to_string()),
    }
}

fn fields_document(fields: &Fields) -> BTreeMap<String, FieldDocument> {
    fields
        .iter()
        .map(|(name, value)| (name.clone(), field_document(value)))
        .collect()
}

/// What the writer serializes: [`PlanDocument`]'s members in the same order, borrowing the
/// plan and turning one change at a time into its document.
#[derive(Serialize)]
struct PlanView<'a> {
    format: &'static str,
    format_version: u32,
    tool_version: &'a str,
    created_at: &'a str,
    target: &'a Target,
    options: OptionsDocument,
    inputs: Vec<InputDocument>,
    type_order: &'a [RecordType],
    rules: BTreeMap<RecordType, RulesDocument>,
    summary: Vec<SummaryDocument>,
    changes: ChangesView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<&'a str>,
}

/// The changes, serialized one [`ChangeDocument`] at a time.
struct ChangesView<'a>(&'a [Change]);

impl Serialize for ChangesView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ChangeDocument::from))
    }
}

impl<'a> PlanView<'a> {
    /// The plan with `changes` in place of its own, and `checksum` if given.
    fn new(plan: &'a Plan, changes: &'a [Change], checksum: Option<&'a str>) -> Self {
        PlanView {
            format: FORMAT_NAME,
            format_version: plan.format_version,
            tool_version: &plan.tool_version,
            created_at: &plan.created_at,
            target: &plan.target,
            options: OptionsDocument {
                delete_orphans: plan.options.delete_orphans,
                types: plan.options.types.clone(),
            },
            inputs: plan
                .inputs
                .iter()
                .map(|input| InputDocument {
                    path: input.path.clone(),
                    blake3: input.blake3.clone(),
                })
                .collect(),
            type_order: &plan.type_order,
            rules: plan
                .rules
                .iter()
                .map(|(t, r)| {
                    let document = RulesDocument {
                        ignore_fields: r.ignore_fields.iter().cloned().collect(),
                        location_tolerance: r.location_tolerance,
                    };
                    (t.clone(), document)
                })
                .collect(),
            summary: plan.summary.iter().map(SummaryDocument::from).collect(),
            changes: ChangesView(changes),
            checksum,
        }
    }
}

impl PlanDocument {
    fn into_plan(self) -> Result<Plan, PlanFileError> {
        let changes = self
            .changes
            .into_iter()
            .enumerate()
            .map(|(index, change)| change.into_change(index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Plan {
            format_version: self.format_version,
            tool_version: self.tool_version,
            created_at: self.created_at,
            target: self.target,
            options: PlanOptions {
                delete_orphans: self.options.delete_orphans,
                types: self.options.types,
            },
            inputs: self
                .inputs
                .into_iter()
                .map(|input| InputDigest {
                    path: input.path,
                    blake3: input.blake3,
                })
                .collect(),
            summary: self.summary.into_iter().map(TypeSummary::from).collect(),
            type_order: self.type_order,
            rules: self
                .rules
                .into_iter()
                .map(|(t, r)| {
                    let rules = CompareRules {
                        ignore_fields: r.ignore_fields.into_iter().collect(),
                        location_tolerance: r.location_tolerance,
                    };
                    (t, rules)
                })
                .collect(),
            changes,
        })
    }
}

impl From<&TypeSummary> for SummaryDocument {
    fn from(summary: &TypeSummary) -> Self {
        SummaryDocument {
            record_type: summary.record_type.clone(),
            create: summary.create,
            update: summary.update,
            delete: summary.delete,
            unchanged: summary.unchanged,
            orphans: summary.orphans,
        }
    }
}

impl From<SummaryDocument> for TypeSummary {
    fn from(summary: SummaryDocument) -> Self {
        TypeSummary {
            record_type: summary.record_type,
            create: summary.create,
            update: summary.update,
            delete: summary.delete,
            unchanged: summary.unchanged,
            orphans: summary.orphans,
        }
    }
}

impl From<&Change> for ChangeDocument {
    fn from(change: &Change) -> Self {
        ChangeDocument {
            action: change.action,
            record_type: change.record_type.clone(),
            record_name: change.record_name.clone(),
            change_tag: change.change_tag.clone(),
            before: change
                .before
                .iter()
                .map(|(name, value)| (name.clone(), value.as_ref().map(field_document)))
                .collect(),
            after: change.after.as_ref().map(fields_document),
            removed: change.removed.clone(),
        }
    }
}

impl ChangeDocument {
    fn into_change(self, index: usize) -> Result<Change, PlanFileError> {
        self.check_consistency(index)?;
        let decode = |side: &'static str, field: &str, document: FieldDocument| {
            let wire = WireField {
                value: document.value,
                field_type: Some(document.field_type),
            };
            wire.to_value(None)
                .map_err(|message| PlanFileError::FieldValue {
                    index,
                    record_type: self.record_type.clone(),
                    record_name: self.record_name.clone(),
                    side,
                    field: field.to_owned(),
                    message,
                })
        };
        let mut before = BTreeMap::new();
        for (field, document) in self.before {
            let value = match document {
                Some(document) => Some(decode("before", &field, document)?),
                None => None,
            };
            before.insert(field, value);
        }
        let after = match self.after {
            Some(documents) => {
                let mut fields = Fields::new();
                for (field, document) in documents {
                    let value = decode("after", &field, document)?;
                    fields.insert(field, value);
                }
                Some(fields)
            }
            None => None,
        };
        Ok(Change {
            action: self.action,
            record_type: self.record_type,
            record_name: self.record_name,
            change_tag: self.change_tag,
            before,
            after,
            removed: self.removed,
        })
    }

    /// Refuses shapes apply could not execute: a create or update without desired fields,
    /// a delete with them, a create planned against a change tag.
    fn check_consistency(&self, index: usize) -> Result<(), PlanFileError> {
        let problem = match (self.action, &self.after, &self.change_tag) {
            (Action::Create, None, _) | (Action::Update, None, _) => {
                "`after` is missing: the desired fields are needed"
            }
            (Action::Delete, Some(_), _) => "`after` must be null for a delete",
            (Action::Create, _, Some(_)) => "`change_tag` must be null for a create",
            (Action::Create, _, None) if !self.removed.is_empty() => {
                "`removed` must be empty for a create"
            }
            _ => return Ok(()),
        };
        Err(PlanFileError::Inconsistent {
            index,
            action: self.action,
            record_type: self.record_type.clone(),
            record_name: self.record_name.clone(),
            problem,
        })
    }
}

/// The canonical bytes the checksum is computed over, for tests and other tools.
pub fn canonical_body(text: &str) -> Result<Vec<u8>, PlanFileError> {
    let value = parse_json(text)?;
    let mut bytes = Vec::new();
    match &value {
        Json::Object(map) => write_canonical_object(map, Some("checksum"), &mut bytes),
        other => write_canonical(other, &mut bytes),
    }
    Ok(bytes)
}
