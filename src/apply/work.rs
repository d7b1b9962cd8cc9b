//! One operation to send for one planned change: which CloudKit operation, against which
//! change tag, with which fields (a `None` field is removed).

use super::outcome::{Outcome, RecordKey};
use super::resolve::wanted_fields;
use crate::cloudkit::wire::{Operation, OperationType, WireField, WireRecord};
use crate::diff::CompareRules;
use crate::plan::{Action, Change};
use crate::record::{ChangeTag, Record};
use std::collections::BTreeMap;

pub fn key(change: &Change) -> RecordKey {
    RecordKey {
        record_type: change.record_type.clone(),
        record_name: change.record_name.clone(),
    }
}

pub struct Work<'a> {
    pub change: &'a Change,
    pub operation: OperationType,
    pub change_tag: Option<ChangeTag>,
    /// Fields to send; `None` removes the field.
    pub fields: BTreeMap<String, Option<WireField>>,
}

fn planned_fields(change: &Change) -> BTreeMap<String, Option<WireField>> {
    wanted_fields(change)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.map(WireField::from_value)))
        .collect()
}

impl<'a> Work<'a> {
    /// The change as planned: `create`, `update` with the planned tag and the changed fields
    /// (removed fields as null), or `delete` with the planned tag. Never a `force*` operation.
    pub fn fresh(change: &'a Change) -> Self {
        Self::resend(change, change.change_tag.clone())
    }

    /// The same operation against `change_tag` (the tag a lost request carried).
    pub fn resend(change: &'a Change, change_tag: Option<ChangeTag>) -> Self {
        let operation = match (change.action, &change_tag) {
            (Action::Create, None) => OperationType::Create,
            (Action::Create | Action::Update, _) => OperationType::Update,
            (Action::Delete, _) => OperationType::Delete,
        };
        Self {
            change,
            operation,
            change_tag,
            fields: planned_fields(change),
        }
    }

    /// Sending again after a conflict was resolved as "send": over the fresh tag. A create
    /// that found the record already there becomes an update that also removes the
    /// record's other (not ignored) fields, so the result equals the desired record.
    pub fn after_conflict(
        change: &'a Change,
        change_tag: Option<ChangeTag>,
        current: Option<&Record>,
        rules: &CompareRules,
    ) -> Self {
        let mut work = Self::resend(change, change_tag);
        if change.action == Action::Create {
            for name in current.into_iter().flat_map(|r| r.fields.keys()) {
                if !rules.ignore_fields.contains(name) && !work.fields.contains_key(name) {
                    work.fields.insert(name.clone(), None);
                }
            }
        }
        work
    }

    pub fn key(&self) -> RecordKey {
        key(self.change)
    }

    pub fn operation(&self) -> Operation {
        let record = WireRecord {
            record_name: Some(self.change.record_name.0.clone()),
            record_type: Some(self.change.record_type.0.clone()),
            record_change_tag: self.change_tag.as_ref().map(|t| t.0.clone()),
            fields: (self.operation != OperationType::Delete).then(|| self.fields.clone()),
            ..WireRecord::default()
        };
        Operation {
            operation_type: self.operation,
            record,
            desired_keys: None,
        }
    }

    /// The outcome of a successful save.
    pub fn saved(&self, record: Record) -> Outcome {
        let change_tag = record.change_tag.unwrap_or_else(|| ChangeTag::new(""));
        match self.operation {
            OperationType::Create => Outcome::Created { change_tag },
            _ => Outcome::Updated { change_tag },
        }
    }
}
