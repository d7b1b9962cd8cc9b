//! The receipt: the audit record of an apply, written next to the plan. It names the plan
//! (checksum), when, by which key ID (never the key), each change's outcome with its new
//! change tag, every conflict and how it was resolved (reported, or overwritten with the
//! value that was lost), the plan's schema step (what was imported, when, and the digests
//! of the schema before and after), and totals.

use super::outcome::{ConflictEntry, Outcome, Outcomes, Receipt, ReceiptEntry, RecordKey, Totals};
use super::schema::{SchemaApplied, SentImport};
use super::{ApplyReport, OnConflict};
use crate::plan::{Change, Plan, PlanSchema};
use crate::record::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The receipt's format name; a reader refuses others. 2: a failed record says its `cause`
/// by name (`refused` with CloudKit's code and reason, or `gave_up` with the rounds tried);
/// 1 had a bare `code`.
pub const FORMAT: &str = "ckplan-receipt/2";

/// What the receipt says besides the outcomes.
pub struct Header<'a> {
    pub plan_checksum: &'a str,
    pub plan_file: &'a Path,
    pub key_id: &'a str,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub on_conflict: OnConflict,
    /// What this run did with the plan's schema part (none: the plan adds nothing to it).
    pub schema: Option<&'a SchemaStep>,
}

/// What an apply did with the plan's schema part, in the receipt and in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaStep {
    pub outcome: SchemaOutcome,
    /// When the step ended.
    pub at: Timestamp,
    /// The plan's schema additions, as `ckplan show` lists them.
    pub additions: Vec<String>,
    /// How many of them this run imported (the others were there already).
    pub imported: usize,
    /// The digest of the schema exported before the import (`blake3:`…), as the plan's
    /// `schema.digest`; none when the run stopped before reading it.
    pub digest_before: Option<String>,
    /// The digest of the schema exported after the import, confirming it (or, when
    /// `imported_unconfirmed`, showing what is missing); none when nothing was imported.
    pub digest_after: Option<String>,
    /// `imported_unconfirmed` only: what the export after the import lacks (additions
    /// still missing, or items the schema held before the import and lost).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// How the schema step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaOutcome {
    /// Imported into development and confirmed by an export.
    Imported,
    /// The environment held every addition already (a run before, or production deployed).
    AlreadyThere,
    /// Ctrl-C before the import was sent: the schema was not written, nor any record.
    Stopped,
    /// The import was sent (development's schema may have changed) but the export after it
    /// lacks something (`missing`): no record was written.
    ImportedUnconfirmed,
}

impl SchemaOutcome {
    /// Whether the step keeps the run from writing records: stopped before the import, or
    /// an import that was not confirmed.
    pub fn blocks_records(self) -> bool {
        matches!(
            self,
            SchemaOutcome::Stopped | SchemaOutcome::ImportedUnconfirmed
        )
    }

    /// Whether an import was sent.
    pub fn sent_import(self) -> bool {
        matches!(
            self,
            SchemaOutcome::Imported | SchemaOutcome::ImportedUnconfirmed
        )
    }
}

impl SchemaStep {
    /// The record of `applied`, the result of applying `part`, ended at `at`.
    pub fn of(applied: &SchemaApplied, part: &PlanSchema, at: Timestamp) -> Self {
        let (outcome, imported, digest_before, digest_after) = match applied.clone() {
            SchemaApplied::Imported {
                count,
                before,
                after,
            } => (SchemaOutcome::Imported, count, Some(before), Some(after)),
            SchemaApplied::AlreadyThere { digest } => {
                (SchemaOutcome::AlreadyThere, 0, Some(digest), None)
            }
            SchemaApplied::Stopped { digest } => (SchemaOutcome::Stopped, 0, digest, None),
        };
        SchemaStep {
            outcome,
            at,
            additions: part.additions.iter().map(ToString::to_string).collect(),
            imported,
            digest_before,
            digest_after,
            missing: Vec::new(),
        }
    }

    /// The record of an import that was sent but not confirmed (`sent`), ended at `at`.
    pub fn unconfirmed(sent: &SentImport, part: &PlanSchema, at: Timestamp) -> Self {
        SchemaStep {
            outcome: SchemaOutcome::ImportedUnconfirmed,
            at,
            additions: part.additions.iter().map(ToString::to_string).collect(),
            imported: sent.count,
            digest_before: Some(sent.before.clone()),
            digest_after: Some(sent.after.clone()),
            missing: sent.missing.clone(),
        }
    }
}

pub fn build(plan: &Plan, header: &Header<'_>, report: &ApplyReport) -> Receipt {
    let mut conflicts = Vec::new();
    let mut outcomes = OutcomeOf::new(&plan.changes, &report.outcomes);
    let records = plan
        .changes
        .iter()
        .filter_map(|change| {
            let (key, outcome) = outcomes.of(change)?;
            conflicts.extend(ConflictEntry::of(key, outcome));
            Some(ReceiptEntry {
                record_type: change.record_type.clone(),
                record_name: change.record_name.clone(),
                action: change.action,
                planned_change_tag: change.change_tag.clone(),
                outcome: outcome.clone(),
            })
        })
        .collect::<Vec<_>>();
    let unchanged = plan.summary.iter().map(|s| s.unchanged).sum();
    Receipt {
        format: FORMAT.to_owned(),
        plan_checksum: header.plan_checksum.to_owned(),
        plan_file: header.plan_file.display().to_string(),
        target: plan.target.clone(),
        key_id: header.key_id.to_owned(),
        started_at: header.started_at,
        finished_at: header.finished_at,
        on_conflict: header.on_conflict,
        complete: report.complete,
        schema: header.schema.cloned(),
        totals: Totals::count(records.iter().map(|r| &r.outcome), unchanged),
        conflicts,
        records,
    }
}

/// The outcome of each change, asked in plan order. A plan's changes are in key order (by
/// type, then name), as the outcomes are: then both are walked side by side, with no
/// search or key built per change; any other order is looked up.
struct OutcomeOf<'a> {
    outcomes: &'a Outcomes,
    /// The outcomes from the current change's key on, when the changes are in key order.
    walk: Option<std::iter::Peekable<std::collections::btree_map::Iter<'a, RecordKey, Outcome>>>,
}

impl<'a> OutcomeOf<'a> {
    fn new(changes: &[Change], outcomes: &'a Outcomes) -> Self {
        let in_order = changes.is_sorted_by(|a, b| place(a) <= place(b));
        Self {
            outcomes,
            walk: in_order.then(|| outcomes.iter().peekable()),
        }
    }

    fn of(&mut self, change: &Change) -> Option<(&'a RecordKey, &'a Outcome)> {
        let Some(walk) = &mut self.walk else {
            return self.outcomes.get_key_value(&super::work::key(change));
        };
        let wanted = place(change);
        while walk.next_if(|(key, _)| key_place(key) < wanted).is_some() {}
        walk.peek()
            .copied()
            .filter(|(key, _)| key_place(key) == wanted)
    }
}

/// A change's place in key order.
fn place(change: &Change) -> (&str, &str) {
    (change.record_type.as_str(), change.record_name.as_str())
}

fn key_place(key: &RecordKey) -> (&str, &str) {
    (key.record_type.as_str(), key.record_name.as_str())
}

/// Writes `receipt` to `path` atomically (mode 0600).
pub fn write(receipt: &Receipt, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(receipt).map_err(std::io::Error::other)?;
    crate::durable::write_atomically(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::record::ChangeTag;
    use proptest::prelude::*;

    fn change(record_type: &str, name: &str) -> Change {
        Change {
            action: Action::Create,
            record_type: record_type.into(),
            record_name: name.into(),
            change_tag: None,
            before: Default::default(),
            after: Some(Default::default()),
            removed: Vec::new(),
        }
    }

    proptest! {
        #[test]
        fn each_change_finds_the_outcome_a_lookup_finds(
            keys in prop::collection::vec((0..3usize, 0..12usize), 0..24),
            with_outcome in prop::collection::vec(any::<bool>(), 24),
            sorted in any::<bool>(),
        ) {
            let types = ["Game", "Stadium", "Team"];
            let mut changes: Vec<Change> = keys
                .iter()
                .map(|(t, n)| change(types[*t], &format!("r-{n}")))
                .collect();
            if sorted {
                changes.sort_by(|a, b| place(a).cmp(&place(b)));
            }
            let outcomes: Outcomes = changes
                .iter()
                .zip(&with_outcome)
                .filter(|(_, has)| **has)
                .map(|(c, _)| {
                    let tag = ChangeTag::new(c.record_name.as_str());
                    (super::super::work::key(c), Outcome::Created { change_tag: tag })
                })
                .collect();
            let mut of = OutcomeOf::new(&changes, &outcomes);
            for change in &changes {
                let looked_up = outcomes.get_key_value(&super::super::work::key(change));
                prop_assert_eq!(of.of(change), looked_up);
            }
        }
    }
}
