//! The receipt: the audit record of an apply, written next to the plan. It names the plan
//! (checksum), when, by which key ID (never the key), each change's outcome with its new
//! change tag, every conflict and how it was resolved, and totals.

use super::outcome::{Receipt, ReceiptEntry, Totals};
use super::{now, ApplyReport, OnConflict};
use crate::plan::Plan;
use crate::record::Timestamp;
use std::path::Path;

/// The receipt's format name. 2: a failed record says its `cause` by name (`refused` with
/// CloudKit's code and reason, or `gave_up` with the rounds tried); 1 had a bare `code`.
pub const FORMAT: &str = "ckplan-receipt/2";

pub fn build(
    plan: &Plan,
    plan_checksum: &str,
    plan_file: &Path,
    key_id: &str,
    started_at: Timestamp,
    on_conflict: OnConflict,
    report: &ApplyReport,
) -> Receipt {
    let records = plan
        .changes
        .iter()
        .filter_map(|change| {
            let key = super::work::key(change);
            report.outcomes.get(&key).map(|outcome| ReceiptEntry {
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
        plan_checksum: plan_checksum.to_owned(),
        plan_file: plan_file.display().to_string(),
        target: plan.target.clone(),
        key_id: key_id.to_owned(),
        started_at,
        finished_at: now(),
        on_conflict,
        complete: report.complete,
        totals: Totals::count(records.iter().map(|r| &r.outcome), unchanged),
        records,
    }
}
