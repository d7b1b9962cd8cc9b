//! Plan → document: the plan file's text, streamed one change at a time.

use super::checksum::checksum;
use super::format::{
    ChangeDocument, FieldDocument, InputDocument, OptionsDocument, ReferencedOrphanDocument,
    RulesDocument, SummaryDocument, TargetDocument,
};
use super::FORMAT_NAME;
use crate::plan::{Change, Plan, TypeSummary};
use crate::record::{Fields, RecordType};
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

/// Streams the plan file's text (as [`to_text`]) to `out`, one change at a time, without
/// holding the whole document; returns the checksum it wrote. Pass a buffered writer.
pub fn write_to(plan: &Plan, out: impl std::io::Write) -> std::io::Result<String> {
    write_formatted(plan, out, serde_json::ser::PrettyFormatter::new())
}

/// As [`write_to`], laid out by `formatter`: the same document for display (`ckplan show
/// --json` escapes invisible characters in strings). A formatter other than
/// `PrettyFormatter` writes other bytes, which [`super::from_text`] still reads, checksum
/// included, as long as the strings decode to the same text.
pub fn write_formatted(
    plan: &Plan,
    mut out: impl std::io::Write,
    formatter: impl serde_json::ser::Formatter,
) -> std::io::Result<String> {
    let checksum = checksum(plan);
    let view = PlanView::new(plan, &plan.changes, Some(&checksum));
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    view.serialize(&mut serializer)?;
    out.write_all(b"\n")?;
    Ok(checksum)
}

fn fields_document(fields: &Fields) -> BTreeMap<String, FieldDocument> {
    fields
        .iter()
        .map(|(name, value)| (name.clone(), FieldDocument::from_value(value)))
        .collect()
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
    pub(super) fn new(plan: &'a Plan, changes: &'a [Change], checksum: Option<&'a str>) -> Self {
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
            changes: ChangesView(changes),
            referenced_orphans: plan.referenced_orphans.iter().map(Into::into).collect(),
            checksum,
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
                .map(|(name, value)| (name.clone(), value.as_ref().map(FieldDocument::from_value)))
                .collect(),
            after: change.after.as_ref().map(fields_document),
            removed: change.removed.clone(),
        }
    }
}
