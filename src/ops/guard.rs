//! `--max-deletes N` and `--max-changes N`: limits a plan must stay within before it is
//! written (`plan`) or anything is sent (`apply`), against a data file emptied by mistake or
//! a filter that matched more than meant. The records CloudKit deletes by itself after the
//! plan's deletes (`DELETE_SELF` references, which the plan lists) count as deletes too: they
//! vanish all the same. Pure.

use crate::plan::Plan;
use crate::record::{RecordName, RecordType};
use std::collections::BTreeSet;

/// The limits given on the command line (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_deletes: Option<usize>,
    pub max_changes: Option<usize>,
}

/// A limit the plan goes over, with the counts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuardError {
    #[error(
        "the plan deletes {}, over --max-deletes {limit}",
        deleted_records(*deletes, cascaded)
    )]
    Deletes {
        /// Deletes the plan sends.
        deletes: usize,
        /// Records CloudKit then deletes by `DELETE_SELF`.
        cascaded: Vec<(RecordType, RecordName)>,
        limit: usize,
    },
    #[error(
        "the plan changes {changes} records ({creates} to create, {updates} to update, {deletes} to delete{}), over --max-changes {limit}",
        cascade_clause(cascaded)
    )]
    Changes {
        /// Records created, updated or deleted, by the plan or by the cascade.
        changes: usize,
        creates: usize,
        updates: usize,
        deletes: usize,
        cascaded: Vec<(RecordType, RecordName)>,
        limit: usize,
    },
}

/// `3 records`, or with a cascade `1 record and CloudKit then deletes 10 more by
/// DELETE_SELF (…): 11 records`.
fn deleted_records(deletes: usize, cascaded: &[(RecordType, RecordName)]) -> String {
    let records = |n: usize| format!("{n} record{}", if n == 1 { "" } else { "s" });
    if cascaded.is_empty() {
        return records(deletes);
    }
    format!(
        "{}{}: {} in all",
        records(deletes),
        cascade_clause(cascaded),
        records(deletes + cascaded.len())
    )
}

/// `, and CloudKit then deletes N more by DELETE_SELF: T `a`, T `b`, … and K more`.
fn cascade_clause(cascaded: &[(RecordType, RecordName)]) -> String {
    const NAMED: usize = 5;
    if cascaded.is_empty() {
        return String::new();
    }
    let mut named: Vec<String> = cascaded
        .iter()
        .take(NAMED)
        .map(|(record_type, name)| format!("{record_type} `{name}`"))
        .collect();
    if cascaded.len() > NAMED {
        named.push(format!("and {} more", cascaded.len() - NAMED));
    }
    format!(
        ", and CloudKit then deletes {} more by DELETE_SELF ({})",
        cascaded.len(),
        named.join(", ")
    )
}

/// `Ok` when `plan` is within `limits`; the deletes limit is checked first. Both count the
/// records the plan says CloudKit deletes by cascade.
pub fn check(plan: &Plan, limits: &Limits) -> Result<(), GuardError> {
    let (creates, updates, deletes) = plan.counts();
    let cascaded = plan.cascaded_deletes();
    if let Some(limit) = limits.max_deletes {
        if deletes + cascaded.len() > limit {
            return Err(GuardError::Deletes {
                deletes,
                cascaded,
                limit,
            });
        }
    }
    // A record the plan writes and CloudKit then deletes is one record changed.
    let written: BTreeSet<(&RecordType, &RecordName)> = plan
        .changes
        .iter()
        .map(|c| (&c.record_type, &c.record_name))
        .collect();
    let cascaded_only = cascaded
        .iter()
        .filter(|(record_type, name)| !written.contains(&(record_type, name)))
        .count();
    let changes = creates + updates + deletes + cascaded_only;
    if let Some(limit) = limits.max_changes {
        if changes > limit {
            return Err(GuardError::Changes {
                changes,
                creates,
                updates,
                deletes,
                cascaded,
                limit,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Category, RecordDiff, TypeDiff};
    use crate::plan::PlanOptions;
    use crate::record::{Database, Environment, Target};

    fn plan(new: usize, orphans: usize) -> Plan {
        let record = |name: String, category| RecordDiff {
            record_type: "Team".into(),
            record_name: name.as_str().into(),
            category,
            change_tag: None,
            changes: Vec::new(),
            desired: (category == Category::New).then(Default::default),
        };
        let records = (0..new)
            .map(|n| record(format!("new-{n}"), Category::New))
            .chain((0..orphans).map(|n| record(format!("old-{n}"), Category::Orphan)))
            .collect();
        Plan::build(
            Target {
                container: "iCloud.x".into(),
                environment: Environment::Development,
                database: Database::Public,
                zone: "_defaultZone".into(),
            },
            PlanOptions {
                delete_orphans: true,
                ..PlanOptions::default()
            },
            Vec::new(),
            vec!["Team".into()],
            vec![TypeDiff {
                record_type: "Team".into(),
                records,
            }],
            "2026-01-01T00:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn limits_are_inclusive_and_deletes_are_checked_first() {
        let plan = plan(2, 3);
        let limits = |max_deletes, max_changes| Limits {
            max_deletes,
            max_changes,
        };
        assert_eq!(check(&plan, &limits(None, None)), Ok(()));
        assert_eq!(check(&plan, &limits(Some(3), Some(5))), Ok(()));
        assert_eq!(
            check(&plan, &limits(Some(2), Some(4))),
            Err(GuardError::Deletes {
                deletes: 3,
                cascaded: Vec::new(),
                limit: 2
            })
        );
        assert_eq!(
            check(&plan, &limits(None, Some(4))).unwrap_err().to_string(),
            "the plan changes 5 records (2 to create, 0 to update, 3 to delete), over --max-changes 4"
        );
    }

    #[test]
    fn issue_19_deletes_cloudkit_cascades_count_toward_both_limits() {
        let mut plan = plan(0, 1);
        plan.referenced_orphans = vec![crate::plan::ReferencedOrphan {
            record_type: "Team".into(),
            record_name: "old-0".into(),
            deleted: true,
            referenced_by: Vec::new(),
            cascade: (0..7)
                .map(|n| ("Game".into(), format!("game-{n}").as_str().into()))
                .collect(),
        }];
        let limits = |max_deletes, max_changes| Limits {
            max_deletes,
            max_changes,
        };
        assert_eq!(check(&plan, &limits(Some(8), Some(8))), Ok(()));
        let deletes = check(&plan, &limits(Some(1), None))
            .unwrap_err()
            .to_string();
        assert_eq!(
            deletes,
            "the plan deletes 1 record, and CloudKit then deletes 7 more by DELETE_SELF \
             (Game `game-0`, Game `game-1`, Game `game-2`, Game `game-3`, Game `game-4`, and 2 more): \
             8 records in all, over --max-deletes 1"
        );
        let changes = check(&plan, &limits(None, Some(7)))
            .unwrap_err()
            .to_string();
        assert!(
            changes.starts_with("the plan changes 8 records (0 to create, 0 to update, 1 to delete, and CloudKit then deletes 7 more"),
            "{changes}"
        );
        // A kept orphan causes nothing.
        plan.referenced_orphans[0].deleted = false;
        assert_eq!(check(&plan, &limits(Some(1), Some(1))), Ok(()));
    }
}
