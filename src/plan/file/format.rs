//! The plan file's serde document types, member by member, and its JSON Schema. These
//! are the on-disk format; the in-memory model (`plan::Plan`) converts to and from them in
//! `write` and `read`.

use crate::plan::Action;
use crate::record::{
    ChangeTag, Database, Environment, FieldType, FieldValue, RecordName, RecordType, Target,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A ckplan plan: what `ckplan apply` will do, against which record versions, decided
/// when and from which inputs.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(title = "ckplan plan file"))]
pub(super) struct PlanDocument {
    /// Always `ckplan-plan`.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "schema::format_name_schema")
    )]
    pub(super) format: String,
    /// The format version; this schema describes version 2 (version 1 differs in its
    /// checksum and in writing a field's `value` before its `type`, and is still read).
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "schema::format_version_schema")
    )]
    pub(super) format_version: u32,
    /// The ckplan version that wrote the plan.
    pub(super) tool_version: String,
    /// When the plan was made, RFC 3339 in UTC.
    pub(super) created_at: String,
    /// Where the records live.
    pub(super) target: TargetDocument,
    /// Where the plan's reads went: `embedded` (the in-process emulator) or the endpoint's
    /// base URL. Absent in plans written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) endpoint: Option<String>,
    pub(super) options: OptionsDocument,
    /// BLAKE3 digests of the configuration file (first) and the data files.
    pub(super) inputs: Vec<InputDocument>,
    /// Record types in dependency order: referenced types first.
    pub(super) type_order: Vec<RecordType>,
    /// The comparison rules of each planned type, used by apply to judge conflicts.
    pub(super) rules: BTreeMap<RecordType, RulesDocument>,
    /// Counts per record type, alphabetical.
    pub(super) summary: Vec<SummaryDocument>,
    /// The changes, ordered by record type then record name.
    pub(super) changes: Vec<ChangeDocument>,
    /// Orphans that records staying in CloudKit reference: kept, or (with
    /// `delete_referenced`) deleted with the cascade CloudKit then runs. Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) referenced_orphans: Vec<ReferencedOrphanDocument>,
    /// The CloudKit schema changes the records need (types, fields, indexes, grants to
    /// add). Absent when the plan could not read the schema (no management token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) schema: Option<super::schema_part::SchemaDocument>,
    /// `blake3:` and the hex BLAKE3 of the document's text without this member and without
    /// whitespace outside strings.
    #[cfg_attr(
        feature = "schema",
        schemars(regex(pattern = r"^blake3:[0-9a-f]{64}$"))
    )]
    pub(super) checksum: String,
}

// The plan file's own form of `record::Target`: the record model's type may be renamed or
// grow without changing what plans on disk say; `From` converts each way, member by member.
// (Plain comments here: doc comments would become schema descriptions.)
/// A container, environment, database and zone.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Target"))]
pub(super) struct TargetDocument {
    pub(super) container: String,
    pub(super) environment: EnvironmentDocument,
    pub(super) database: DatabaseDocument,
    pub(super) zone: String,
}

// CloudKit's environment names, as the plan file spells them.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "schema", schemars(rename = "Environment"))]
pub(super) enum EnvironmentDocument {
    Development,
    Production,
}

// CloudKit's database names, as the plan file spells them.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "schema", schemars(rename = "Database"))]
pub(super) enum DatabaseDocument {
    Public,
    Private,
    Shared,
}

/// The options the plan was made with.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "PlanOptions"))]
pub(super) struct OptionsDocument {
    /// Whether records only in CloudKit are deleted (`--delete-orphans`).
    pub(super) delete_orphans: bool,
    /// The `--type` filter; null when every configured type was planned.
    pub(super) types: Option<Vec<RecordType>>,
    /// Whether orphans that records staying in CloudKit reference are deleted too
    /// (`--delete-referenced-orphans`). Absent: false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) delete_referenced: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// An orphan that records staying in CloudKit reference.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "ReferencedOrphan"))]
pub(super) struct ReferencedOrphanDocument {
    pub(super) record_type: RecordType,
    pub(super) record_name: RecordName,
    /// Whether this plan deletes it.
    pub(super) deleted: bool,
    /// The references to it.
    pub(super) referenced_by: Vec<ReferrerDocument>,
    /// The records CloudKit deletes after it (their references have action DELETE_SELF).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) cascade: Vec<RecordKeyDocument>,
}

/// A record field holding a reference.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Referrer"))]
pub(super) struct ReferrerDocument {
    pub(super) record_type: RecordType,
    pub(super) record_name: RecordName,
    pub(super) field: String,
    /// NONE, DELETE_SELF or VALIDATE.
    pub(super) action: String,
    /// `local`: the local data holds it; `cloudkit`: CloudKit holds it in a record or
    /// field the apply leaves alone.
    pub(super) source: SourceDocument,
}

// Where a reference was seen, as the plan file spells it.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "schema", schemars(rename = "ReferenceSource"))]
pub(super) enum SourceDocument {
    Local,
    Cloudkit,
}

/// A record type and name.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "RecordKey"))]
pub(super) struct RecordKeyDocument {
    pub(super) record_type: RecordType,
    pub(super) record_name: RecordName,
}

impl From<&crate::plan::ReferencedOrphan> for ReferencedOrphanDocument {
    fn from(orphan: &crate::plan::ReferencedOrphan) -> Self {
        use crate::plan::ReferenceSource;
        ReferencedOrphanDocument {
            record_type: orphan.record_type.clone(),
            record_name: orphan.record_name.clone(),
            deleted: orphan.deleted,
            referenced_by: orphan
                .referenced_by
                .iter()
                .map(|r| ReferrerDocument {
                    record_type: r.record_type.clone(),
                    record_name: r.record_name.clone(),
                    field: r.field.clone(),
                    action: r.action.clone(),
                    source: match r.source {
                        ReferenceSource::Local => SourceDocument::Local,
                        ReferenceSource::CloudKit => SourceDocument::Cloudkit,
                    },
                })
                .collect(),
            cascade: orphan
                .cascade
                .iter()
                .map(|(record_type, record_name)| RecordKeyDocument {
                    record_type: record_type.clone(),
                    record_name: record_name.clone(),
                })
                .collect(),
        }
    }
}

impl From<ReferencedOrphanDocument> for crate::plan::ReferencedOrphan {
    fn from(document: ReferencedOrphanDocument) -> Self {
        use crate::plan::{ReferenceSource, Referrer};
        crate::plan::ReferencedOrphan {
            record_type: document.record_type,
            record_name: document.record_name,
            deleted: document.deleted,
            referenced_by: document
                .referenced_by
                .into_iter()
                .map(|r| Referrer {
                    record_type: r.record_type,
                    record_name: r.record_name,
                    field: r.field,
                    action: r.action,
                    source: match r.source {
                        SourceDocument::Local => ReferenceSource::Local,
                        SourceDocument::Cloudkit => ReferenceSource::CloudKit,
                    },
                })
                .collect(),
            cascade: document
                .cascade
                .into_iter()
                .map(|key| (key.record_type, key.record_name))
                .collect(),
        }
    }
}

/// How one type's records were compared.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "CompareRules"))]
pub(super) struct RulesDocument {
    /// Fields the app writes itself: never compared, never sent.
    pub(super) ignore_fields: Vec<String>,
    /// Largest latitude or longitude difference still counted as equal, in degrees.
    pub(super) location_tolerance: f64,
}

/// The digest of one input file.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "InputDigest"))]
pub(super) struct InputDocument {
    /// Relative to the configuration file's directory, `/`-separated.
    pub(super) path: String,
    /// Lowercase hex BLAKE3 of the file's bytes.
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[0-9a-f]{64}$")))]
    pub(super) blake3: String,
}

/// What the plan found for one record type.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "TypeSummary"))]
pub(super) struct SummaryDocument {
    pub(super) record_type: RecordType,
    pub(super) create: usize,
    pub(super) update: usize,
    pub(super) delete: usize,
    pub(super) unchanged: usize,
    /// Records only in CloudKit, deleted or not.
    pub(super) orphans: usize,
}

/// One planned change.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "Change"))]
pub(super) struct ChangeDocument {
    pub(super) action: Action,
    pub(super) record_type: RecordType,
    pub(super) record_name: RecordName,
    /// The recordChangeTag the change was planned against (update, delete); null for create.
    pub(super) change_tag: Option<ChangeTag>,
    /// CloudKit's values of the fields this change touches; null where CloudKit has none.
    pub(super) before: BTreeMap<String, Option<FieldDocument>>,
    /// The full desired fields (create, update); null for delete.
    pub(super) after: Option<BTreeMap<String, FieldDocument>>,
    /// Fields present in CloudKit and absent locally, removed by an update.
    pub(super) removed: Vec<String>,
}

/// A field value in CloudKit's wire form, written with its `type` first.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "FieldValue"))]
pub(super) struct FieldDocument {
    /// The CloudKit type: `STRING`, `INT64`, `TIMESTAMP`, `LOCATION`, `REFERENCE_LIST`, ...
    #[serde(rename = "type")]
    pub(super) field_type: String,
    /// The value as CloudKit writes it (a string, number, list, or dictionary).
    pub(super) value: Json,
}

/// JSON Schema generation (feature `schema`, on in the tests): the committed
/// `schemas/plan.schema.json` is generated from the document types above.
#[cfg(feature = "schema")]
mod schema {
    use super::super::FORMAT_NAME;
    use super::PlanDocument;
    use crate::plan::FORMAT_VERSION;
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

impl From<&Target> for TargetDocument {
    fn from(target: &Target) -> Self {
        TargetDocument {
            container: target.container.clone(),
            environment: match target.environment {
                Environment::Development => EnvironmentDocument::Development,
                Environment::Production => EnvironmentDocument::Production,
            },
            database: match target.database {
                Database::Public => DatabaseDocument::Public,
                Database::Private => DatabaseDocument::Private,
                Database::Shared => DatabaseDocument::Shared,
            },
            zone: target.zone.clone(),
        }
    }
}

impl From<TargetDocument> for Target {
    fn from(document: TargetDocument) -> Self {
        Target {
            container: document.container,
            environment: match document.environment {
                EnvironmentDocument::Development => Environment::Development,
                EnvironmentDocument::Production => Environment::Production,
            },
            database: match document.database {
                DatabaseDocument::Public => Database::Public,
                DatabaseDocument::Private => Database::Private,
                DatabaseDocument::Shared => Database::Shared,
            },
            zone: document.zone,
        }
    }
}

impl FieldDocument {
    /// Decodes the value by its own `type`; the message says what does not fit.
    pub(super) fn to_value(&self) -> Result<FieldValue, String> {
        let field_type = self
            .field_type
            .parse::<FieldType>()
            .unwrap_or_else(|never| match never {});
        FieldValue::from_json(&field_type, &self.value).map_err(|error| error.to_string())
    }
}
