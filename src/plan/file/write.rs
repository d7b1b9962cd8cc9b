//! Plan → document: the plan file's text, streamed in pieces.

use super::format::{
    InputDocument, OptionsDocument, ReferencedOrphanDocument, RulesDocument, SummaryDocument,
    TargetDocument,
};
use super::hashing::{CompactHash, HashingFormatter, Indented};
use super::FORMAT_NAME;
use crate::plan::{Action, Change, Plan, TypeSummary};
use crate::record::{ChangeTag, FieldValue, Fields, RecordName, RecordType};
use serde::Serialize;
use std::collections::BTreeMap;

/// The plan file's text: deterministic for equal plans, checksum included.
pub fn to_text(plan: &Plan) -> String {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    write_to(plan, &mut bytes).expect("plans write to memory");
    // serde_json writes only UTF-8.
    String::from_utf8(bytes).expect("plan text is UTF-8")
}

/// Streams the plan file's text (as [`to_text`]) to `out`, in pieces of about 64 KiB,
/// without holding the whole document; returns the checksum it wrote.
///
/// serde_json writes each token on its own; into `out` (a buffered file behind
/// `dyn Write`) every token was a call through it. Tokens go into a buffer of this
/// module's own type instead, which `out` gets whole, laid out by [`Indented`] (serde_json's
/// pretty layout in fewer pieces: the tests hold it to `PrettyFormatter`'s bytes).
pub fn write_to(plan: &Plan, out: impl std::io::Write) -> std::io::Result<String> {
    let mut pieces = Pieces {
        out,
        buffer: Vec::with_capacity(2 * PIECE),
    };
    let checksum = write_formatted(plan, &mut pieces, Indented::default())?;
    pieces.out.write_all(&pieces.buffer)?;
    pieces.out.flush()?;
    Ok(checksum)
}

/// How much [`Pieces`] gathers before writing.
const PIECE: usize = 1 << 16;

/// A buffer that writes to `out` when it holds [`PIECE`] bytes (and never flushes `out`
/// itself before the end).
struct Pieces<W> {
    out: W,
    buffer: Vec<u8>,
}

impl<W: std::io::Write> std::io::Write for Pieces<W> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes).map(|()| bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PIECE {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// As [`write_to`], laid out by `formatter` (a pretty formatter: the checksum member is
/// written in its layout): the same document for display (`ckplan show --json` escapes
/// invisible characters in strings; the checksum, over the strings' content, is the file's).
/// With serde_json's `PrettyFormatter` it writes exactly what [`write_to`] writes.
///
/// The document is serialized once, without its checksum, by a formatter that hashes its
/// compact form as it goes ([`HashingFormatter`], see [`super::checksum`]); the `checksum`
/// member is written last, and closes the document.
pub fn write_formatted(
    plan: &Plan,
    mut out: impl std::io::Write,
    formatter: impl serde_json::ser::Formatter,
) -> std::io::Result<String> {
    let view = PlanView::new(plan);
    let mut hash = CompactHash::new();
    let formatter = HashingFormatter::new(formatter, &mut hash);
    view.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, formatter,
    ))?;
    let checksum = hash.finish();
    write!(out, ",\n  \"checksum\": \"{checksum}\"\n}}\n")?;
    out.flush()?;
    Ok(checksum)
}

/// What the writer serializes: [`PlanDocument`]'s members in the same order, borrowing the
/// plan and turning one change at a time into its document.
#[derive(Serialize)]
pub(super) struct PlanView<'a> {
    format: &'static str,
    format_version: u32,
    tool_version: &'a str,
    created_at: String,
    target: TargetDocument,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    options: OptionsDocument,
    inputs: Vec<InputDocument>,
    type_order: &'a [RecordType],
    rules: BTreeMap<RecordType, RulesDocument>,
    summary: Vec<SummaryDocument>,
    changes: ChangesView<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    referenced_orphans: Vec<ReferencedOrphanDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<super::schema_part::SchemaDocument>,
}

/// The changes, serialized one at a time from the plan's own values.
struct ChangesView<'a>(&'a [Change]);

impl Serialize for ChangesView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ChangeView::from))
    }
}

/// One change as `format::ChangeDocument` lays it out, borrowing the plan.
#[derive(Serialize)]
struct ChangeView<'a> {
    action: Action,
    record_type: &'a RecordType,
    record_name: &'a RecordName,
    change_tag: &'a Option<ChangeTag>,
    before: BeforeView<'a>,
    after: Option<FieldsView<'a>>,
    removed: &'a [String],
}

impl<'a> From<&'a Change> for ChangeView<'a> {
    fn from(change: &'a Change) -> Self {
        ChangeView {
            action: change.action,
            record_type: &change.record_type,
            record_name: &change.record_name,
            change_tag: &change.change_tag,
            before: BeforeView(&change.before),
            after: change.after.as_ref().map(FieldsView),
            removed: &change.removed,
        }
    }
}

/// `before`: field name → `{type, value}`, or null where CloudKit has none.
struct BeforeView<'a>(&'a BTreeMap<String, Option<FieldValue>>);

impl Serialize for BeforeView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.0.iter();
        serializer.collect_map(fields.map(|(name, value)| (name, value.as_ref().map(FieldView))))
    }
}

/// `after`: field name → `{type, value}`.
struct FieldsView<'a>(&'a Fields);

impl Serialize for FieldsView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, FieldView(value))))
    }
}

/// A field value as `{"type": "...", "value": ...}` (format version 2 puts the type first,
/// so that a reader decodes the value as it meets it).
struct FieldView<'a>(&'a FieldValue);

impl Serialize for FieldView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        match self.0 {
            FieldValue::Scalar(value) => {
                map.serialize_entry("type", value.scalar_type().wire_name())?
            }
            FieldValue::List(element, _) => {
                map.serialize_entry("type", &ListType(element.wire_name()))?
            }
            FieldValue::Unknown { type_name, .. } => map.serialize_entry("type", type_name)?,
        }
        map.serialize_entry("value", self.0)?;
        map.end()
    }
}

/// `STRING_LIST` and the like, written without building the string.
struct ListType(&'static str);

impl Serialize for ListType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}_LIST", self.0))
    }
}

impl<'a> PlanView<'a> {
    /// The plan's document without its checksum.
    pub(super) fn new(plan: &'a Plan) -> Self {
        PlanView {
            format: FORMAT_NAME,
            format_version: plan.format_version,
            tool_version: &plan.tool_version,
            created_at: plan.created_at.to_string(),
            target: TargetDocument::from(&plan.target),
            endpoint: plan.endpoint.as_deref(),
            options: OptionsDocument {
                delete_orphans: plan.options.delete_orphans,
                types: plan.options.types.clone(),
                delete_referenced: plan.options.delete_referenced,
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
            changes: ChangesView(&plan.changes),
            referenced_orphans: plan.referenced_orphans.iter().map(Into::into).collect(),
            schema: plan.schema.as_ref().map(Into::into),
        }
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
