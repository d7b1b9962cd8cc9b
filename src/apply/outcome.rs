//! The final outcome of each planned change, shared by the journal, the receipt and the
//! terminal summary.

use super::resolve::{ConflictReason, FieldConflict};
use crate::cloudkit::wire::WireField;
use crate::record::{ChangeTag, FieldValue, RecordName, RecordType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey {
    pub record_type: RecordType,
    pub record_name: RecordName,
}

/// How one change ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Created {
        change_tag: ChangeTag,
    },
    Updated {
        change_tag: ChangeTag,
    },
    Deleted,
    /// Already as planned when looked at (an earlier run or someone else wrote it).
    AlreadyApplied {
        change_tag: Option<ChangeTag>,
    },
    /// Not written: reported for a person to decide.
    Conflict {
        reason: String,
        fields: Vec<ConflictField>,
    },
    /// CloudKit refused it for another reason (BAD_REQUEST, ACCESS_DENIED, ...).
    Failed {
        code: String,
        reason: String,
    },
}

impl Outcome {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Outcome::Conflict { .. })
    }
}

/// One field of a reported conflict, in wire form for the receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictField {
    pub field: String,
    pub planned_before: Option<WireField>,
    pub now: Option<WireField>,
    pub wanted: Option<WireField>,
}

fn wire(value: &Option<FieldValue>) -> Option<WireField> {
    value.as_ref().map(WireField::from_value)
}

impl Outcome {
    pub fn conflict(reason: &ConflictReason) -> Self {
        let (text, fields): (&str, &[FieldConflict]) = match reason {
            ConflictReason::ConcurrentEdit(fields) => {
                ("changed meanwhile in fields this plan also changes", fields)
            }
            ConflictReason::CreatedMeanwhile(fields) => {
                ("created meanwhile with other values", fields)
            }
            ConflictReason::DeletedMeanwhile => ("deleted meanwhile; not re-created", &[]),
            ConflictReason::ChangedBeforeDelete => ("changed meanwhile; not deleted", &[]),
            ConflictReason::Aborted(fields) => (
                "changed meanwhile; apply aborted (--on-conflict abort)",
                fields,
            ),
        };
        Outcome::Conflict {
            reason: text.to_owned(),
            fields: fields
                .iter()
                .map(|f| ConflictField {
                    field: f.field.clone(),
                    planned_before: wire(&f.planned_before),
                    now: wire(&f.now),
                    wanted: wire(&f.wanted),
                })
                .collect(),
        }
    }
}

/// Counts per outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub already_applied: usize,
    pub conflicts: usize,
    pub failed: usize,
    /// Records the plan left unchanged.
    pub unchanged_skipped: usize,
}

impl Totals {
    pub fn count<'a>(outcomes: impl Iterator<Item = &'a Outcome>, unchanged: usize) -> Self {
        let mut totals = Totals {
            unchanged_skipped: unchanged,
            ..Totals::default()
        };
        for outcome in outcomes {
            match outcome {
                Outcome::Created { .. } => totals.created += 1,
                Outcome::Updated { .. } => totals.updated += 1,
                Outcome::Deleted => totals.deleted += 1,
                Outcome::AlreadyApplied { .. } => totals.already_applied += 1,
                Outcome::Conflict { .. } => totals.conflicts += 1,
                Outcome::Failed { .. } => totals.failed += 1,
            }
        }
        totals
    }
}

/// The audit record of an apply, written next to the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: String,
    pub plan_checksum: String,
    pub plan_file: String,
    pub target: crate::record::Target,
    pub key_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub on_conflict: super::OnConflict,
    pub complete: bool,
    pub totals: Totals,
    pub records: Vec<ReceiptEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptEntry {
    pub record_type: RecordType,
    pub record_name: RecordName,
    pub action: crate::plan::Action,
    pub planned_change_tag: Option<ChangeTag>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Outcomes by record, ordered like the plan.
pub type Outcomes = BTreeMap<RecordKey, Outcome>;
