//! Comparing a type's records as their pages arrive, so that a read keeps only what the plan
//! and the confirming lookups need. A record CloudKit holds as the local data has it
//! (`diff::fields_equal`, after the unmanaged assets are left out as `compare` leaves them
//! out) is kept without its compared fields: its name, change tag and the fields its type
//! ignores (references there still guard orphans, see `references`). Every other record is
//! kept whole: orphans (their references guard others), records that differ (compared again
//! and confirmed by lookup), and every record of a type whose local data holds an asset
//! (what the asset ledger learns can still change the comparison). The field types CloudKit
//! holds are gathered first, from every record as read (`diff::type_conflicts`).

use super::assets;
use crate::config::{Config, FieldSpec};
use crate::diff::{
    fields_equal, stored_types, unchanged_record, CompareRules, StoredTypes, TypeDiff,
};
use crate::local::LocalData;
use crate::record::{ChangeTag, Record, RecordName, RecordType};
use std::collections::{BTreeMap, HashMap};

/// What a read keeps of one type's records (see the module's documentation).
pub(super) struct Settler<'a> {
    desired: HashMap<&'a str, &'a Record>,
    rules: CompareRules,
    /// The type's `fields:`; `None` for a type the config does not name.
    declared: Option<&'a BTreeMap<String, FieldSpec>>,
    /// The local data of the type holds an asset: every record is kept whole.
    assets: bool,
    stored: StoredTypes,
}

impl<'a> Settler<'a> {
    pub(super) fn new(config: &'a Config, local: &'a LocalData, record_type: &RecordType) -> Self {
        let desired = local.records(record_type);
        Settler {
            desired: desired
                .iter()
                .map(|record| (record.record_name.as_str(), record))
                .collect(),
            rules: super::rules_for(config, record_type),
            declared: config.types.get(record_type).map(|t| &t.fields),
            assets: desired
                .iter()
                .any(|record| record.fields.values().any(assets::is_asset)),
            stored: StoredTypes::new(),
        }
    }

    /// `record` as the read keeps it, and whether it equals its local record.
    pub(super) fn keep(&mut self, mut record: Record) -> (Record, bool) {
        stored_types(&mut self.stored, &record);
        if self.assets {
            return (record, false);
        }
        let Some(desired) = self.desired.get(record.record_name.as_str()) else {
            return (record, false);
        };
        if let Some(declared) = self.declared {
            assets::drop_unmanaged(declared, Some(&desired.fields), &mut record);
        }
        if !fields_equal(&desired.fields, &record.fields, &self.rules) {
            return (record, false);
        }
        let ignored = &self.rules.ignore_fields;
        record
            .fields
            .retain(|name, _| ignored.contains(name.as_str()));
        (record, true)
    }

    /// The field types CloudKit holds, from the records read.
    pub(super) fn stored(&self) -> &StoredTypes {
        &self.stored
    }
}

/// Compares each type's desired records with the current ones, as `super::compare` does,
/// where `equal` says which current records a `Settler` found equal to their local ones
/// (in the same order as the records).
pub(super) fn compare_settled(
    config: &Config,
    local: &mut LocalData,
    current: Vec<(RecordType, Vec<Record>)>,
    equal: Vec<Vec<bool>>,
) -> Vec<TypeDiff> {
    current
        .into_iter()
        .zip(equal)
        .map(|((record_type, records), equal)| {
            let rules = super::rules_for(config, &record_type);
            let desired = local.take_records(&record_type);
            let mut same: Vec<(RecordName, Option<ChangeTag>)> = Vec::new();
            let mut others = Vec::with_capacity(records.len());
            for (record, equal) in records.into_iter().zip(equal) {
                match equal {
                    true => same.push((record.record_name, record.change_tag)),
                    false => others.push(record),
                }
            }
            if same.is_empty() {
                return super::compare_one(config, &record_type, desired, others, &rules);
            }
            let (unchanged, rest) = split_unchanged(desired, same, &rules);
            let diff = super::compare_one(config, &record_type, rest, others, &rules);
            TypeDiff {
                record_type,
                records: merge_by_name(unchanged, diff.records),
            }
        })
        .collect()
}

/// The unchanged comparisons of the desired records named in `same`, and the other
/// desired records, both ordered by recordName.
fn split_unchanged(
    mut desired: Vec<Record>,
    mut same: Vec<(RecordName, Option<ChangeTag>)>,
    rules: &CompareRules,
) -> (Vec<crate::diff::RecordDiff>, Vec<Record>) {
    if !desired.is_sorted_by(|a, b| a.record_name <= b.record_name) {
        desired.sort_unstable_by(|a, b| a.record_name.cmp(&b.record_name));
    }
    same.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut unchanged = Vec::with_capacity(same.len());
    let mut rest = Vec::with_capacity(desired.len().saturating_sub(same.len()));
    let mut same = same.into_iter().peekable();
    for record in desired {
        match same.next_if(|(name, _)| *name == record.record_name) {
            Some((_, change_tag)) => unchanged.push(unchanged_record(record, change_tag, rules)),
            None => rest.push(record),
        }
    }
    (unchanged, rest)
}

/// Two lists of comparisons ordered by recordName, as one (the first's on a tie).
fn merge_by_name(
    first: Vec<crate::diff::RecordDiff>,
    second: Vec<crate::diff::RecordDiff>,
) -> Vec<crate::diff::RecordDiff> {
    let mut merged = Vec::with_capacity(first.len() + second.len());
    let mut second = second.into_iter().peekable();
    for record in first {
        while let Some(before) = second.next_if(|other| other.record_name < record.record_name) {
            merged.push(before);
        }
        merged.push(record);
    }
    merged.extend(second);
    merged
}

#[cfg(test)]
mod tests;
