//! Text → verified plan: JSON syntax, identity, version, checksum, structure, then every
//! field value, each failure a [`PlanFileError`] saying where.

use super::checksum::{checksum_of, checksum_of_text};
use super::format::{ChangeDocument, FieldDocument, InputDocument, OptionsDocument};
use super::format::{
    PlanDocument, ReferencedOrphanDocument, RulesDocument, SummaryDocument, TargetDocument,
};
use super::typed::TypedDocument;
use super::{PlanFileError, VerifiedPlan, FORMAT_NAME, SUPPORTED_VERSIONS};
use crate::diff::CompareRules;
use crate::plan::{Action, Change, InputDigest, Plan, PlanOptions, TypeSummary, FORMAT_VERSION};
use crate::record::{Fields, RecordName, RecordType, Target, TimestampError};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

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

/// As [`from_text`], also returning the verified checksum. A leading byte-order mark
/// (added by an editor that saved the file) is layout, like indentation: it is skipped, and
/// the checksum still covers every byte of content.
///
/// A version 2 plan is read in one pass straight into the plan's values, and its checksum
/// computed in one pass over the same bytes ([`super::typed`]). Anything that pass does not
/// accept, and every version 1 plan, goes through the checked path, which parses the text
/// as JSON first and checks in the documented order, so that the message is the useful one.
pub fn read_text(text: &str) -> Result<VerifiedPlan, PlanFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(verified) = read_typed(text) {
        return verified;
    }
    read_checked(text)
}

/// The fast path: `None` when the text is not a plan of this version this path can read
/// (the checked path then says why).
pub(super) fn read_typed(text: &str) -> Option<Result<VerifiedPlan, PlanFileError>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let document = TypedDocument::deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    if document.format != FORMAT_NAME || document.format_version != FORMAT_VERSION {
        return None;
    }
    let (expected, found) = checksum_of_text(text);
    if found.as_deref() != Some(document.checksum.as_str()) {
        return None;
    }
    if expected != document.checksum {
        return Some(Err(PlanFileError::ChecksumMismatch {
            expected,
            found: document.checksum,
        }));
    }
    let changes = document.changes.0;
    for (index, change) in changes.iter().enumerate() {
        let consistent = check_consistency(
            index,
            change.action,
            change.after.is_some(),
            change.change_tag.is_some(),
            change.removed.is_empty(),
            (&change.record_type, &change.record_name),
        );
        if let Err(error) = consistent {
            return Some(Err(error));
        }
    }
    let header = Header {
        tool_version: document.tool_version,
        created_at: document.created_at,
        target: document.target,
        endpoint: document.endpoint,
        options: document.options,
        inputs: document.inputs,
        type_order: document.type_order,
        rules: document.rules.0,
        summary: document.summary,
        referenced_orphans: document.referenced_orphans,
        schema: document.schema,
    };
    Some(header.into_plan(changes).map(|plan| VerifiedPlan {
        plan,
        checksum: document.checksum,
    }))
}

/// The checked path: JSON syntax, identity, version, checksum, structure by path, every
/// field value naming its change, in that order.
pub(super) fn read_checked(text: &str) -> Result<VerifiedPlan, PlanFileError> {
    let mut value = parse_json(text)?;
    let version = check_identity(&value)?;
    let checksum = verify_checksum(&mut value, text, version)?;
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

pub(super) fn parse_json(text: &str) -> Result<Json, PlanFileError> {
    if text.trim().is_empty() {
        return Err(PlanFileError::NotAPlan {
            reason: "the file is empty".to_owned(),
        });
    }
    crate::record::strict_json::from_str_unique_keys(text).map_err(|error| {
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

fn check_identity(value: &Json) -> Result<u64, PlanFileError> {
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
        Some(found) if found == 1 || found == u64::from(FORMAT_VERSION) => Ok(found),
        Some(found) => Err(PlanFileError::UnsupportedVersion {
            found,
            tool_version: env!("CARGO_PKG_VERSION"),
            supported: SUPPORTED_VERSIONS,
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

/// Checks the checksum as `version` defines it, leaving the document as it was; returns
/// the checksum.
fn verify_checksum(value: &mut Json, text: &str, version: u64) -> Result<String, PlanFileError> {
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
    let expected = if version == 1 {
        checksum_of(object)
    } else {
        checksum_of_text(text).0
    };
    if found != expected {
        return Err(PlanFileError::ChecksumMismatch { expected, found });
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("checksum".to_owned(), Json::String(found.clone()));
    }
    Ok(found)
}

impl PlanDocument {
    fn into_plan(self) -> Result<Plan, PlanFileError> {
        let changes = self
            .changes
            .into_iter()
            .enumerate()
            .map(|(index, change)| change.into_change(index))
            .collect::<Result<Vec<_>, _>>()?;
        let header = Header {
            tool_version: self.tool_version,
            created_at: self.created_at,
            target: self.target,
            endpoint: self.endpoint,
            options: self.options,
            inputs: self.inputs,
            type_order: self.type_order,
            rules: self.rules,
            summary: self.summary,
            referenced_orphans: self.referenced_orphans,
            schema: self.schema,
        };
        header.into_plan(changes)
    }
}

/// Everything of a plan document but its changes and checksum, as read by either path.
struct Header {
    tool_version: String,
    created_at: String,
    target: TargetDocument,
    endpoint: Option<String>,
    options: OptionsDocument,
    inputs: Vec<InputDocument>,
    type_order: Vec<RecordType>,
    rules: BTreeMap<RecordType, RulesDocument>,
    summary: Vec<SummaryDocument>,
    referenced_orphans: Vec<ReferencedOrphanDocument>,
    schema: Option<super::schema_part::SchemaDocument>,
}

impl Header {
    /// The plan with `changes`; refuses a summary that disagrees with them.
    fn into_plan(self, changes: Vec<Change>) -> Result<Plan, PlanFileError> {
        if let Some(message) = crate::record::container_problem(&self.target.container) {
            return Err(PlanFileError::Structure {
                path: "target.container".to_owned(),
                message,
            });
        }
        let plan = Plan {
            // A version 1 plan read is the same plan; it is written as the current version.
            format_version: FORMAT_VERSION,
            tool_version: self.tool_version,
            created_at: self.created_at.parse().map_err(|error: TimestampError| {
                PlanFileError::Structure {
                    path: "created_at".to_owned(),
                    message: error.to_string(),
                }
            })?,
            target: Target::from(self.target),
            endpoint: self.endpoint,
            options: PlanOptions {
                delete_orphans: self.options.delete_orphans,
                types: self.options.types,
                delete_referenced: self.options.delete_referenced,
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
            referenced_orphans: self
                .referenced_orphans
                .into_iter()
                .map(Into::into)
                .collect(),
            schema: self.schema.map(|part| part.into_part()).transpose()?,
        };
        if let Some((record_type, summary, changes)) = plan.summary_disagreement() {
            let counts = |[c, u, d]: [usize; 3]| format!("create {c}, update {u}, delete {d}");
            return Err(PlanFileError::SummaryMismatch {
                record_type,
                summary: counts(summary),
                changes: counts(changes),
            });
        }
        Ok(plan)
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

impl ChangeDocument {
    fn into_change(self, index: usize) -> Result<Change, PlanFileError> {
        check_consistency(
            index,
            self.action,
            self.after.is_some(),
            self.change_tag.is_some(),
            self.removed.is_empty(),
            (&self.record_type, &self.record_name),
        )?;
        let decode = |side: &'static str, field: &str, document: FieldDocument| {
            document
                .to_value()
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
}

/// Refuses shapes apply could not execute: a create or update without desired fields, a
/// delete with them, a create planned against a change tag.
fn check_consistency(
    index: usize,
    action: Action,
    has_after: bool,
    has_change_tag: bool,
    removes_nothing: bool,
    (record_type, record_name): (&RecordType, &RecordName),
) -> Result<(), PlanFileError> {
    let problem = match (action, has_after, has_change_tag) {
        (Action::Create, false, _) | (Action::Update, false, _) => {
            "`after` is missing: the desired fields are needed"
        }
        (Action::Delete, true, _) => "`after` must be null for a delete",
        (Action::Create, _, true) => "`change_tag` must be null for a create",
        (Action::Create, _, false) if !removes_nothing => "`removed` must be empty for a create",
        _ => return Ok(()),
    };
    Err(PlanFileError::Inconsistent {
        index,
        action,
        record_type: record_type.clone(),
        record_name: record_name.clone(),
        problem,
    })
}
