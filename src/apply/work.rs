//! One operation to send for one planned change: which CloudKit operation, against which
//! change tag, with which fields (a `None` field is removed).

use super::journal::WriteKind;
use super::outcome::{Outcome, OverwrittenField, RecordKey};
use super::resolve::{wanted_fields, FieldConflict};
use crate::cloudkit::wire::{EncodedOperation, OperationType, RecordWrite};
use crate::diff::CompareRules;
use crate::plan::{Action, Change};
use crate::record::{ChangeTag, FieldValue, Fields, Record, ScalarType, Value};
use std::collections::BTreeMap;

pub fn key(change: &Change) -> RecordKey {
    RecordKey {
        record_type: change.record_type.clone(),
        record_name: change.record_name.clone(),
    }
}

pub struct Work<'a> {
    /// The change's index in the plan: how outcomes refer to it.
    pub index: usize,
    pub change: &'a Change,
    pub operation: WriteKind,
    pub change_tag: Option<ChangeTag>,
    /// Fields to remove besides the planned ones (a create that found the record there).
    pub also_removed: Vec<String>,
    /// Someone else's values this operation writes over (`--on-conflict overwrite`).
    pub overwritten: Vec<FieldConflict>,
    /// Sent again over the fresh tag after an edit that loses nothing: the values changed
    /// meanwhile (kept). `None`: not a re-application.
    pub reapplied: Option<Vec<FieldConflict>>,
    /// The record's fields as CloudKit held them when this work was decided after a
    /// conflict or a lost reply (`None`: sent as planned). A `replace` is rebuilt from them,
    /// so a field the plan neither sets nor removes keeps the value it has now.
    pub base: Option<Fields>,
}

/// A record's fields as sent: each name once, in name order, `None` removes the field.
type SentFields<'a> = Vec<(&'a str, Option<&'a FieldValue>)>;

/// The fields to send, borrowed from the change when the operation is sent (so a work item
/// holds no copy of them).
fn planned_fields<'a>(change: &'a Change, also_removed: &'a [String]) -> SentFields<'a> {
    if change.action == Action::Create && also_removed.is_empty() {
        // A create as planned sets exactly its desired fields, already in name order.
        let after = change.after.iter().flatten();
        return after
            .map(|(name, value)| (name.as_str(), Some(value)))
            .collect();
    }
    let mut fields = wanted_fields(change);
    for name in also_removed {
        fields.entry(name.as_str()).or_insert(None);
    }
    fields.into_iter().collect()
}

/// Every field a `replace` carries (the rest become null): as planned, every desired
/// field; rebuilt over `base` (the record as CloudKit holds it now), the fields the change
/// sets, and every field of `base` it neither sets nor removes, with the value it has now.
/// A `replace` sent as planned carries the plan's change tag, so `base` and the plan's view
/// are then the same record.
fn replace_fields<'a>(
    change: &'a Change,
    base: Option<&'a Fields>,
    also_removed: &[String],
) -> SentFields<'a> {
    let Some(base) = base else {
        let after = change.after.iter().flatten();
        return after
            .map(|(name, value)| (name.as_str(), Some(value)))
            .collect();
    };
    let wanted = wanted_fields(change);
    let mut fields: BTreeMap<&str, Option<&FieldValue>> = base
        .iter()
        .filter(|(name, _)| {
            !wanted.contains_key(name.as_str()) && !also_removed.iter().any(|n| n == name.as_str())
        })
        .map(|(name, value)| (name.as_str(), Some(value)))
        .collect();
    for (name, value) in wanted {
        if let Some(value) = value {
            fields.insert(name, Some(value));
        }
    }
    fields.into_iter().collect()
}

/// Whether the fields a `replace` would carry back unchanged — those of `base`, or of the
/// plan's `after` when sent as planned — hold one the write cannot send back: an asset,
/// which CloudKit saves only with the receipt of an upload (Apple, "Uploading Assets"),
/// and an unchanged asset (fetched, or a local file not uploaded by this apply) has none.
fn keeps_an_asset(change: &Change, base: Option<&Fields>) -> bool {
    let wanted = wanted_fields(change);
    let kept = base.or(change.after.as_ref());
    kept.into_iter().flatten().any(|(name, value)| {
        !wanted.contains_key(name.as_str())
            && (matches!(value, FieldValue::Scalar(Value::Asset(_)))
                || matches!(value, FieldValue::List(ScalarType::AssetId, _)))
    })
}

impl<'a> Work<'a> {
    /// What the journal's `sent` entry says of this work, borrowed from it.
    pub fn sent(&self) -> super::journal::SentRef<'_> {
        super::journal::SentRef {
            key: super::journal::KeyRef {
                record_type: &self.change.record_type,
                record_name: &self.change.record_name,
            },
            operation: self.operation,
            change_tag: self.change_tag.as_ref(),
        }
    }

    /// The change as planned: `create`, `update` with the planned tag and the changed fields
    /// (removed fields as null), or `delete` with the planned tag. Never a `force*` operation.
    pub fn fresh(index: usize, change: &'a Change) -> Self {
        Self::resend(index, change, change.change_tag.clone())
    }

    /// The same operation against `change_tag` (the tag a lost request carried).
    pub fn resend(index: usize, change: &'a Change, change_tag: Option<ChangeTag>) -> Self {
        let operation = match (change.action, &change_tag) {
            (Action::Create, None) => WriteKind::Create,
            (Action::Create | Action::Update, _) => WriteKind::Update,
            (Action::Delete, _) => WriteKind::Delete,
        };
        Self {
            index,
            change,
            operation,
            change_tag,
            also_removed: Vec::new(),
            overwritten: Vec::new(),
            reapplied: None,
            base: None,
        }
    }

    /// Sending again after a conflict was resolved as "send": over the fresh tag. A create
    /// that found the record already there becomes an update that also removes the
    /// record's other (not ignored) fields, so the result equals the desired record.
    pub fn after_conflict(
        index: usize,
        change: &'a Change,
        change_tag: Option<ChangeTag>,
        current: Option<&Record>,
        rules: &CompareRules,
    ) -> Self {
        let mut work = Self::resend(index, change, change_tag);
        work.base = current.map(|record| record.fields.clone());
        if change.action == Action::Create {
            let wanted = change.after.as_ref();
            for name in current.into_iter().flat_map(|r| r.fields.keys()) {
                let planned = wanted.is_some_and(|fields| fields.contains_key(name));
                if !rules.ignore_fields.contains(name.as_str()) && !planned {
                    work.also_removed.push(name.to_string());
                }
            }
        }
        work
    }

    /// The operation to send. An update that removes fields is sent as a `replace` (tag
    /// checked like an update) carrying every desired field, the documented way to remove
    /// fields (see `cloudkit::wire`, "Removing fields"), unless the type has
    /// `ignore_fields` (a replace would erase the fields the app writes) or the record
    /// holds an asset the change does not send (a replace cannot send it back without an
    /// upload's receipt, and CloudKit refuses the whole request): there the
    /// removal goes as `"field": null` in the update. After a conflict the replace is
    /// rebuilt over the record as CloudKit holds it now (`base`), never re-sent as planned.
    pub fn operation(&self, rules: &CompareRules) -> Result<EncodedOperation, serde_json::Error> {
        let removes = !self.also_removed.is_empty() || !self.change.removed.is_empty();
        let whole = self.operation == WriteKind::Update
            && removes
            && rules.ignore_fields.is_empty()
            && !keeps_an_asset(self.change, self.base.as_ref());
        let fields = match self.operation {
            WriteKind::Delete => None,
            _ if whole => Some(replace_fields(
                self.change,
                self.base.as_ref(),
                &self.also_removed,
            )),
            _ => Some(planned_fields(self.change, &self.also_removed)),
        };
        let operation_type = match self.operation {
            _ if whole => OperationType::Replace,
            WriteKind::Create => OperationType::Create,
            WriteKind::Update => OperationType::Update,
            WriteKind::Delete => OperationType::Delete,
        };
        RecordWrite {
            operation_type,
            record_name: self.change.record_name.as_str(),
            record_type: self.change.record_type.as_str(),
            change_tag: self.change_tag.as_ref().map(ChangeTag::as_str),
            fields: fields.as_deref(),
            // Only the new change tag is read from a save's reply: ask for no fields back.
            tag_only: self.operation != WriteKind::Delete,
        }
        .encode()
    }

    /// The outcome of this work's write when its reply was lost and a lookup found the
    /// record as planned (`change_tag`: the record's tag then; `None` for a deletion): the
    /// planned action, as if the reply had arrived.
    pub fn confirmed(&self, change_tag: Option<ChangeTag>) -> Outcome {
        match (self.change.action, change_tag) {
            (Action::Delete, _) => self.deleted(),
            (Action::Create, Some(change_tag)) => Outcome::Created { change_tag },
            (Action::Update, Some(change_tag)) => Outcome::Updated {
                change_tag,
                overwritten: listed(&self.overwritten),
                reapplied: listed(self.reapplied.as_deref().unwrap_or_default()),
            },
            (_, None) => Outcome::AlreadyApplied { change_tag: None },
        }
    }

    /// The outcome of a successful save.
    pub fn saved(&self, record: Record) -> Outcome {
        let change_tag = record.change_tag.unwrap_or_else(|| ChangeTag::new(""));
        match self.operation {
            WriteKind::Create => Outcome::Created { change_tag },
            _ => Outcome::Updated {
                change_tag,
                overwritten: listed(&self.overwritten),
                reapplied: listed(self.reapplied.as_deref().unwrap_or_default()),
            },
        }
    }

    /// The outcome of a successful delete.
    pub fn deleted(&self) -> Outcome {
        Outcome::Deleted {
            overwritten: listed(&self.overwritten),
            reapplied: self.reapplied.is_some(),
        }
    }
}

fn listed(fields: &[FieldConflict]) -> Vec<OverwrittenField> {
    fields.iter().map(OverwrittenField::from_conflict).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::wire::{Operation, WireField};
    use crate::record::FieldValue;

    /// The operation `work` sends, read back from its JSON.
    fn sent(work: &Work<'_>, rules: &CompareRules) -> Operation {
        let encoded = work.operation(rules).expect("encodes");
        serde_json::from_slice(encoded.json()).expect("an operation")
    }

    fn removing_update() -> Change {
        Change {
            action: Action::Update,
            record_type: "Team".into(),
            record_name: "team-1".into(),
            change_tag: Some(ChangeTag::new("t1")),
            before: [("city".to_owned(), Some(FieldValue::string("Boston")))].into(),
            after: Some([("name".to_owned(), FieldValue::string("A"))].into()),
            removed: vec!["city".to_owned()],
        }
    }

    #[test]
    fn issue_11_a_field_removal_is_sent_as_a_tag_checked_replace_with_every_desired_field() {
        let change = removing_update();
        let operation = sent(&Work::fresh(0, &change), &CompareRules::default());
        assert_eq!(operation.operation_type, OperationType::Replace);
        assert_eq!(operation.record.record_change_tag.as_deref(), Some("t1"));
        let fields = operation.record.fields.unwrap();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["name"]);
        assert!(fields.values().all(Option::is_some), "no null sent");
    }

    #[test]
    fn with_ignored_fields_a_removal_stays_an_update_so_app_fields_survive() {
        let change = removing_update();
        let rules = CompareRules {
            ignore_fields: ["followers".to_owned()].into_iter().collect(),
            ..CompareRules::default()
        };
        let operation = sent(&Work::fresh(0, &change), &rules);
        assert_eq!(operation.operation_type, OperationType::Update);
        assert_eq!(operation.record.fields.unwrap()["city"], None);
    }

    fn current(fields: &[(&str, FieldValue)]) -> Record {
        let mut record = Record::new("Team", "team-1");
        record.change_tag = Some(ChangeTag::new("t2"));
        for (name, value) in fields {
            record.fields.insert((*name).to_owned(), value.clone());
        }
        record
    }

    #[test]
    fn issue_17_a_replace_after_a_conflict_is_rebuilt_over_the_record_as_it_is_now() {
        let change = removing_update();
        let now = current(&[
            ("name", FieldValue::string("A")),
            ("city", FieldValue::string("Boston")),
            ("likes", FieldValue::int64(42)),
        ]);
        let rules = CompareRules::default();
        let work = Work::after_conflict(0, &change, now.change_tag.clone(), Some(&now), &rules);
        let operation = sent(&work, &rules);
        assert_eq!(operation.operation_type, OperationType::Replace);
        assert_eq!(operation.record.record_change_tag.as_deref(), Some("t2"));
        let fields = operation.record.fields.unwrap();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["likes", "name"]);
        assert_eq!(
            fields["likes"],
            Some(WireField::from_value(&FieldValue::int64(42)))
        );
    }

    #[test]
    fn issue_17_a_field_the_plan_keeps_but_someone_changed_keeps_their_value_in_the_replace() {
        let change = removing_update();
        let now = current(&[
            ("name", FieldValue::string("B")),
            ("city", FieldValue::string("Boston")),
        ]);
        let rules = CompareRules::default();
        let work = Work::after_conflict(0, &change, now.change_tag.clone(), Some(&now), &rules);
        let fields = sent(&work, &rules).record.fields.unwrap();
        // `name` is in the plan's `after` but not changed by it: their value stays.
        assert_eq!(
            fields["name"],
            Some(WireField::from_value(&FieldValue::string("B")))
        );
        assert!(!fields.contains_key("city"));
    }

    #[test]
    fn issue_17_a_record_holding_an_asset_the_change_does_not_own_gets_an_update_with_nulls() {
        let change = removing_update();
        let asset = FieldValue::Scalar(Value::Asset(Box::new(serde_json::json!({
            "fileChecksum": "AQ", "size": 3, "downloadURL": "https://example.invalid/${f}"
        }))));
        let now = current(&[
            ("name", FieldValue::string("A")),
            ("city", FieldValue::string("Boston")),
            ("photo", asset),
        ]);
        let rules = CompareRules::default();
        let work = Work::after_conflict(0, &change, now.change_tag.clone(), Some(&now), &rules);
        let operation = sent(&work, &rules);
        assert_eq!(operation.operation_type, OperationType::Update);
        let fields = operation.record.fields.unwrap();
        assert_eq!(fields.get("city"), Some(&None));
        assert!(!fields.contains_key("photo"));
    }

    #[test]
    fn a_planned_removal_beside_an_unchanged_local_asset_is_an_update_with_nulls() {
        let mut change = removing_update();
        let local = FieldValue::Scalar(Value::Asset(Box::new(serde_json::json!({
            "path": "a.png", "file": "data/a.png", "size": 3, "sha256": "00"
        }))));
        change
            .after
            .as_mut()
            .unwrap()
            .insert("photo".to_owned(), local);
        let operation = sent(&Work::fresh(0, &change), &CompareRules::default());
        assert_eq!(operation.operation_type, OperationType::Update);
        assert_eq!(operation.record.record_change_tag.as_deref(), Some("t1"));
        let fields = operation.record.fields.unwrap();
        assert_eq!(fields.get("city"), Some(&None));
        assert!(!fields.contains_key("photo"));
    }

    #[test]
    fn a_create_that_found_the_record_replaces_it_with_exactly_the_desired_fields() {
        let change = Change {
            action: Action::Create,
            record_type: "Team".into(),
            record_name: "team-1".into(),
            change_tag: None,
            before: BTreeMap::new(),
            after: Some([("name".to_owned(), FieldValue::string("A"))].into()),
            removed: vec![],
        };
        let now = current(&[("likes", FieldValue::int64(1))]);
        let rules = CompareRules::default();
        let work = Work::after_conflict(0, &change, now.change_tag.clone(), Some(&now), &rules);
        let operation = sent(&work, &rules);
        assert_eq!(operation.operation_type, OperationType::Replace);
        let fields = operation.record.fields.unwrap();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["name"]);
    }
}
