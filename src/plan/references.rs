//! Orphans that kept records still reference (issue 17): a plan made with
//! `--delete-orphans` does not delete a record that a record staying in CloudKit after the
//! apply refers to, unless it was made with `--delete-referenced-orphans` too; either way
//! it names every such reference, and the records CloudKit then deletes by itself (a
//! reference with action `DELETE_SELF` makes CloudKit delete its holder when the target
//! is deleted). Pure: the references come from `sync`, which read them.

use super::{Action, Plan};
use crate::record::{RecordName, RecordType};
use std::collections::{BTreeMap, BTreeSet};

/// Where a reference was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReferenceSource {
    /// A record of the local data: it will hold the reference after the apply.
    Local,
    /// A record as CloudKit holds it, in a field the apply leaves alone (a type outside
    /// `--type`, an ignored field, an orphan the plan keeps).
    CloudKit,
}

impl ReferenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceSource::Local => "local",
            ReferenceSource::CloudKit => "cloudkit",
        }
    }
}

/// A record field holding a reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Referrer {
    pub record_type: RecordType,
    pub record_name: RecordName,
    pub field: String,
    /// `NONE`, `DELETE_SELF` or `VALIDATE` (`NONE` when not stated).
    pub action: String,
    pub source: ReferenceSource,
}

impl Referrer {
    pub fn deletes_self(&self) -> bool {
        self.action == "DELETE_SELF"
    }
}

/// One reference a read found: `referrer` points at `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundReference {
    pub target: RecordName,
    pub referrer: Referrer,
}

/// A record the plan found only in CloudKit that records staying in CloudKit reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferencedOrphan {
    pub record_type: RecordType,
    pub record_name: RecordName,
    /// Whether the plan deletes it (`--delete-referenced-orphans`) or keeps it.
    pub deleted: bool,
    /// The references to it, ordered by type, name and field.
    pub referenced_by: Vec<Referrer>,
    /// The records CloudKit deletes after this one is deleted (`DELETE_SELF`, followed
    /// transitively): what the plan causes, or, for a kept orphan, would cause.
    pub cascade: Vec<(RecordType, RecordName)>,
}

impl Plan {
    /// Applies the reference guard to the planned deletes: without
    /// `options.delete_referenced`, a delete of a record that a record staying in
    /// CloudKit references is dropped (repeatedly: a kept orphan keeps what it
    /// references); with it the deletes stay. Every such orphan is listed in
    /// `referenced_orphans` with its references and cascade.
    pub fn guard_references(mut self, found: Vec<FoundReference>) -> Plan {
        let mut by_target: BTreeMap<RecordName, Vec<Referrer>> = BTreeMap::new();
        for reference in found {
            by_target
                .entry(reference.target)
                .or_default()
                .push(reference.referrer);
        }
        for referrers in by_target.values_mut() {
            referrers.sort();
            referrers.dedup();
        }
        let planned: BTreeMap<RecordName, RecordType> = self
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| (c.record_name.clone(), c.record_type.clone()))
            .collect();
        let mut deleted: BTreeSet<RecordName> = planned.keys().cloned().collect();
        let staying = |deleted: &BTreeSet<RecordName>, name: &RecordName| {
            by_target
                .get(name)
                .into_iter()
                .flatten()
                .any(|r| !deleted.contains(&r.record_name))
        };
        if !self.options.delete_referenced {
            loop {
                let kept: Vec<RecordName> = deleted
                    .iter()
                    .filter(|name| staying(&deleted, name))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    break;
                }
                for name in kept {
                    deleted.remove(&name);
                }
            }
        }
        let mut listed = Vec::new();
        for (name, record_type) in &planned {
            let referenced_by: Vec<Referrer> = by_target
                .get(name)
                .into_iter()
                .flatten()
                .filter(|r| !deleted.contains(&r.record_name))
                .cloned()
                .collect();
            if referenced_by.is_empty() {
                continue;
            }
            let is_deleted = deleted.contains(name);
            let cascade = cascade_of(name, &by_target, &deleted);
            listed.push(ReferencedOrphan {
                record_type: record_type.clone(),
                record_name: name.clone(),
                deleted: is_deleted,
                referenced_by,
                cascade,
            });
        }
        listed.sort_by(|a, b| {
            (&a.record_type, &a.record_name).cmp(&(&b.record_type, &b.record_name))
        });
        self.changes
            .retain(|c| c.action != Action::Delete || deleted.contains(&c.record_name));
        for summary in &mut self.summary {
            summary.delete = self
                .changes
                .iter()
                .filter(|c| c.action == Action::Delete && c.record_type == summary.record_type)
                .count();
        }
        self.referenced_orphans = listed;
        self
    }

    /// Orphans the plan keeps although it was made with `--delete-orphans`, because
    /// records staying in CloudKit reference them.
    pub fn referenced_orphans_kept(&self) -> usize {
        self.referenced_orphans
            .iter()
            .filter(|o| !o.deleted)
            .count()
    }
}

impl Plan {
    /// The records CloudKit deletes by itself after this plan's deletes (`DELETE_SELF`
    /// references to a record the plan deletes, followed transitively), as the plan lists
    /// them: each once, sorted, none the plan deletes itself.
    pub fn cascaded_deletes(&self) -> Vec<(RecordType, RecordName)> {
        let planned: BTreeSet<(&RecordType, &RecordName)> = self
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| (&c.record_type, &c.record_name))
            .collect();
        let cascaded: BTreeSet<(RecordType, RecordName)> = self
            .referenced_orphans
            .iter()
            .filter(|orphan| orphan.deleted)
            .flat_map(|orphan| orphan.cascade.iter().cloned())
            .filter(|(record_type, name)| !planned.contains(&(record_type, name)))
            .collect();
        cascaded.into_iter().collect()
    }
}

/// What CloudKit deletes after `name`: holders of a `DELETE_SELF` reference to it that
/// the plan does not delete itself, then theirs, in the order found.
fn cascade_of(
    name: &RecordName,
    by_target: &BTreeMap<RecordName, Vec<Referrer>>,
    deleted: &BTreeSet<RecordName>,
) -> Vec<(RecordType, RecordName)> {
    let mut cascade = Vec::new();
    let mut seen: BTreeSet<RecordName> = BTreeSet::from([name.clone()]);
    let mut queue = vec![name.clone()];
    while let Some(target) = queue.pop() {
        for referrer in by_target.get(&target).into_iter().flatten() {
            let gone = deleted.contains(&referrer.record_name);
            if referrer.deletes_self() && !gone && seen.insert(referrer.record_name.clone()) {
                cascade.push((referrer.record_type.clone(), referrer.record_name.clone()));
                queue.push(referrer.record_name.clone());
            }
        }
    }
    cascade.sort();
    cascade
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Category, RecordDiff, TypeDiff};
    use crate::plan::PlanOptions;
    use crate::record::{ChangeTag, Database, Environment, Target};

    fn orphan(record_type: &str, name: &str) -> RecordDiff {
        RecordDiff {
            record_type: record_type.into(),
            record_name: name.into(),
            category: Category::Orphan,
            change_tag: Some(ChangeTag::new("t1")),
            changes: Vec::new(),
            desired: None,
        }
    }

    fn plan(delete_referenced: bool) -> Plan {
        let diffs = vec![
            TypeDiff {
                record_type: "Stadium".into(),
                records: vec![orphan("Stadium", "s-8"), orphan("Stadium", "s-9")],
            },
            TypeDiff {
                record_type: "Team".into(),
                records: vec![orphan("Team", "t-8")],
            },
        ];
        let options = PlanOptions {
            delete_orphans: true,
            delete_referenced,
            types: None,
        };
        let target = Target {
            container: "c".into(),
            environment: Environment::Development,
            database: Database::Public,
            zone: "_defaultZone".into(),
        };
        Plan::build(
            target,
            options,
            Vec::new(),
            Vec::new(),
            diffs,
            "2026-01-02T03:04:05Z".parse().unwrap(),
        )
    }

    fn reference(
        from: (&str, &str),
        target: &str,
        action: &str,
        source: ReferenceSource,
    ) -> FoundReference {
        FoundReference {
            target: target.into(),
            referrer: Referrer {
                record_type: from.0.into(),
                record_name: from.1.into(),
                field: "stadium".into(),
                action: action.into(),
                source,
            },
        }
    }

    /// Local team-1 references s-9 (DELETE_SELF); game-1 in CloudKit references team-1
    /// (DELETE_SELF); the orphan t-8 references s-8, so s-8 is kept only while t-8 is.
    fn found() -> Vec<FoundReference> {
        vec![
            reference(
                ("Team", "team-1"),
                "s-9",
                "DELETE_SELF",
                ReferenceSource::Local,
            ),
            reference(
                ("Game", "game-1"),
                "team-1",
                "DELETE_SELF",
                ReferenceSource::CloudKit,
            ),
            reference(("Team", "t-8"), "s-8", "NONE", ReferenceSource::CloudKit),
        ]
    }

    #[test]
    fn issue_17_referenced_orphans_are_kept_by_default_and_named() {
        let guarded = plan(false).guard_references(found());
        let deleted: Vec<&str> = guarded
            .changes
            .iter()
            .map(|c| c.record_name.as_str())
            .collect();
        // s-8 is referenced only by the orphan t-8, which this plan deletes.
        assert_eq!(deleted, ["s-8", "t-8"]);
        assert_eq!(guarded.referenced_orphans.len(), 1);
        let kept = &guarded.referenced_orphans[0];
        assert_eq!((kept.record_name.as_str(), kept.deleted), ("s-9", false));
        assert_eq!(kept.referenced_by[0].record_name.as_str(), "team-1");
        assert_eq!(
            kept.cascade,
            [
                ("Game".into(), "game-1".into()),
                ("Team".into(), "team-1".into())
            ],
            "what deleting it would make CloudKit delete"
        );
        assert_eq!(guarded.summary[0].delete, 1);
        assert_eq!(guarded.orphans_kept(), 1);
        assert!(guarded.summary_disagreement().is_none());
    }

    #[test]
    fn issue_17_a_kept_orphan_keeps_what_it_references() {
        let mut found = found();
        // team-2, local, references t-8: t-8 stays, and so does s-8.
        found.push(reference(
            ("Team", "team-2"),
            "t-8",
            "NONE",
            ReferenceSource::Local,
        ));
        let guarded = plan(false).guard_references(found);
        assert!(guarded.changes.is_empty());
        let names: Vec<&str> = guarded
            .referenced_orphans
            .iter()
            .map(|o| o.record_name.as_str())
            .collect();
        assert_eq!(names, ["s-8", "s-9", "t-8"]);
    }

    #[test]
    fn issue_17_delete_referenced_deletes_and_names_the_cascade() {
        let guarded = plan(true).guard_references(found());
        assert_eq!(guarded.changes.len(), 3);
        let deleted = &guarded.referenced_orphans[0];
        assert_eq!(
            (deleted.record_name.as_str(), deleted.deleted),
            ("s-9", true)
        );
        assert_eq!(deleted.cascade.len(), 2);
        assert_eq!(guarded.orphans_kept(), 0);
    }
}
