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
