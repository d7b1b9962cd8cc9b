//! `--max-deletes N` and `--max-changes N`: limits a plan must stay within before it is
//! written (`plan`) or anything is sent (`apply`), against a data file emptied by mistake or
//! a filter that matched more than meant. Pure.

use crate::plan::Plan;

/// The limits given on the command line (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_deletes: Option<usize>,
    pub max_changes: Option<usize>,
}

/// A limit the plan goes over, with the counts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuardError {
    #[error("the plan deletes {deletes} records, over --max-deletes {limit}")]
    Deletes { deletes: usize, limit: usize },
    #[error(
        "the plan changes {changes} records ({creates} to create, {updates} to update, {deletes} to delete), over --max-changes {limit}"
    )]
    Changes {
        changes: usize,
        creates: usize,
        updates: usize,
        deletes: usize,
        limit: usize,
    },
}

/// `Ok` when `plan` is within `limits`; the deletes limit is checked first.
pub fn check(plan: &Plan, limits: &Limits) -> Result<(), GuardError> {
    let (creates, updates, deletes) = plan.counts();
    if let Some(limit) = limits.max_deletes {
        if deletes > limit {
            return Err(GuardError::Deletes { deletes, limit });
        }
    }
    let changes = creates + updates + deletes;
    if let Some(limit) = limits.max_changes {
        if changes > limit {
            return Err(GuardError::Changes {
                changes,
                creates,
                updates,
                deletes,
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
                limit: 2
            })
        );
        assert_eq!(
            check(&plan, &limits(None, Some(4))).unwrap_err().to_string(),
            "the plan changes 5 records (2 to create, 0 to update, 3 to delete), over --max-changes 4"
        );
    }
}
