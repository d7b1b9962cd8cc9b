//! The final outcome of each planned change, shared by the journal, the receipt and the
//! terminal summary.

use super::resolve::{ConflictReason, FieldConflict};
use crate::cloudkit::wire::{ServerErrorCode, WireField};
use crate::plan::Action;
use crate::record::{ChangeTag, FieldValue, RecordName, RecordType, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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
        /// Someone else's values this update wrote over (`--on-conflict overwrite`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        overwritten: Vec<OverwrittenField>,
        /// Someone else's values in fields this update does not write, kept: the update
        /// was sent again over the fresh change tag (`overwritten` is then `written`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reapplied: Vec<OverwrittenField>,
    },
    Deleted {
        /// Someone else's values deleted with the record (`--on-conflict overwrite`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        overwritten: Vec<OverwrittenField>,
        /// The record was changed meanwhile and deleted over the fresh change tag, with
        /// no value of someone else's lost (only its change tag differed).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reapplied: bool,
    },
    /// Already as planned when looked at (an earlier run or someone else wrote it).
    AlreadyApplied {
        change_tag: Option<ChangeTag>,
    },
    /// Not written: reported for a person to decide.
    Conflict {
        reason: String,
        fields: Vec<ConflictField>,
    },
    /// Not applied, for a reason other than a conflict; a later run tries again.
    Failed {
        #[serde(flatten)]
        cause: Failure,
    },
}

/// Why a change was not applied, other than a conflict; written by name in `cause`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Failure {
    /// CloudKit refused it with this `serverErrorCode` (BAD_REQUEST, ACCESS_DENIED, ...)
    /// and its reason, e.g. `{"cause": "refused", "code": "BAD_REQUEST", "reason": "..."}`.
    Refused {
        code: ServerErrorCode,
        reason: String,
    },
    /// Still not applied after this many rounds of sending and resolving (the run's
    /// `max_rounds`): `{"cause": "gave_up", "rounds": 5}`.
    GaveUp { rounds: u32 },
}

impl fmt::Display for Failure {
    /// `BAD_REQUEST reason` or `still not applied after 5 rounds`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused { code, reason } => write!(f, "{code} {reason}"),
            Failure::GaveUp { rounds } => write!(f, "still not applied after {rounds} rounds"),
        }
    }
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

/// One field of a conflict resolved by writing over it (`--on-conflict overwrite`): the
/// value the plan saw, the value someone else had written since (now lost), and the value
/// written, in wire form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverwrittenField {
    pub field: String,
    pub planned_before: Option<WireField>,
    pub overwritten: Option<WireField>,
    pub written: Option<WireField>,
}

impl OverwrittenField {
    pub fn from_conflict(conflict: &FieldConflict) -> Self {
        Self {
            field: conflict.field.clone(),
            planned_before: wire(&conflict.planned_before),
            overwritten: wire(&conflict.now),
            written: wire(&conflict.wanted),
        }
    }
}

/// How a conflict ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Not written; reported for a person to decide.
    Reported,
    /// Written over someone else's values (`--on-conflict overwrite`).
    Overwritten,
    /// Sent again over the fresh change tag: someone else's edit touched none of the
    /// fields the change writes, and their values were kept.
    Reapplied,
}

/// One conflict of a run, in the receipt: every conflict is listed here with how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictEntry {
    pub record_type: RecordType,
    pub record_name: RecordName,
    pub resolution: Resolution,
    /// The fields involved: for `overwritten`, `now` is the value that was overwritten.
    pub fields: Vec<ConflictField>,
}

impl ConflictEntry {
    /// The conflict `outcome` records for `key`, if any.
    pub fn of(key: &RecordKey, outcome: &Outcome) -> Option<Self> {
        let listed = |fields: &[OverwrittenField]| {
            fields
                .iter()
                .map(|f| ConflictField {
                    field: f.field.clone(),
                    planned_before: f.planned_before.clone(),
                    now: f.overwritten.clone(),
                    wanted: f.written.clone(),
                })
                .collect()
        };
        let (resolution, fields) = match outcome {
            Outcome::Conflict { fields, .. } => (Resolution::Reported, fields.clone()),
            Outcome::Updated { overwritten, .. } | Outcome::Deleted { overwritten, .. }
                if !overwritten.is_empty() =>
            {
                (Resolution::Overwritten, listed(overwritten))
            }
            Outcome::Updated { reapplied, .. } if !reapplied.is_empty() => {
                (Resolution::Reapplied, listed(reapplied))
            }
            Outcome::Deleted {
                reapplied: true, ..
            } => (Resolution::Reapplied, Vec::new()),
            _ => return None,
        };
        Some(Self {
            record_type: key.record_type.clone(),
            record_name: key.record_name.clone(),
            resolution,
            fields,
        })
    }
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
            ConflictReason::ChangedBeforeDelete(fields) => {
                ("changed meanwhile; not deleted", fields)
            }
            ConflictReason::Aborted(Action::Create, fields) => (
                "created meanwhile with other values; apply aborted (--on-conflict abort)",
                fields,
            ),
            ConflictReason::Aborted(_, fields) => (
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
    /// Conflicts reported and not written.
    pub conflicts: usize,
    /// Conflicts resolved by writing over someone else's values.
    #[serde(default)]
    pub overwritten: usize,
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
                Outcome::Updated { overwritten, .. } => {
                    totals.updated += 1;
                    if !overwritten.is_empty() {
                        totals.overwritten += 1;
                    }
                }
                Outcome::Deleted { overwritten, .. } => {
                    totals.deleted += 1;
                    if !overwritten.is_empty() {
                        totals.overwritten += 1;
                    }
                }
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
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub on_conflict: super::OnConflict,
    pub complete: bool,
    /// What this run did with the plan's schema part; absent for a plan that adds
    /// nothing to the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<super::receipt::SchemaStep>,
    pub totals: Totals,
    /// Every conflict met, reported or overwritten, with its resolution.
    #[serde(default)]
    pub conflicts: Vec<ConflictEntry>,
    pub records: Vec<ReceiptEntry>,
}

/// Why a receipt could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("failed to read receipt `{}`", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("receipt `{}` is not a ckplan receipt: {message}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
}

impl Receipt {
    /// Reads a receipt written by [`super::receipt::write`].
    pub fn read(path: &std::path::Path) -> Result<Receipt, ReceiptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReceiptError::Read {
            path: path.to_owned(),
            source,
        })?;
        let receipt: Receipt =
            serde_json::from_str(&text).map_err(|error| ReceiptError::Invalid {
                path: path.to_owned(),
                message: error.to_string(),
            })?;
        if receipt.format != super::receipt::FORMAT {
            return Err(ReceiptError::Invalid {
                path: path.to_owned(),
                message: format!("format `{}`", receipt.format),
            });
        }
        Ok(receipt)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_10_a_receipt_entry_names_the_failure_cause() {
        let entry = ReceiptEntry {
            record_type: "Team".into(),
            record_name: "a".into(),
            action: crate::plan::Action::Create,
            planned_change_tag: None,
            outcome: Outcome::Failed {
                cause: Failure::GaveUp { rounds: 5 },
            },
        };
        let value = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"record_type": "Team", "record_name": "a", "action": "create",
                "planned_change_tag": null, "outcome": "failed", "cause": "gave_up", "rounds": 5})
        );
        assert_eq!(
            serde_json::from_value::<ReceiptEntry>(value).unwrap(),
            entry
        );
        let refused = Failure::Refused {
            code: ServerErrorCode::Other("SOMETHING_NEW".into()),
            reason: "why".into(),
        };
        assert_eq!(refused.to_string(), "SOMETHING_NEW why");
        assert_eq!(
            Failure::GaveUp { rounds: 5 }.to_string(),
            "still not applied after 5 rounds"
        );
    }

    /// Regression (issue 13): `--on-conflict abort` on a record created meanwhile said
    /// "changed meanwhile".
    #[test]
    fn issue_13_an_aborted_create_says_created_meanwhile() {
        let reason = |action| match Outcome::conflict(&ConflictReason::Aborted(action, vec![])) {
            Outcome::Conflict { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(Action::Create),
            "created meanwhile with other values; apply aborted (--on-conflict abort)"
        );
        assert_eq!(
            reason(Action::Update),
            "changed meanwhile; apply aborted (--on-conflict abort)"
        );
    }
}
