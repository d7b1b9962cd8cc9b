//! The result of comparing desired records with the current ones: what `diff` prints and
//! what `plan` turns into changes.

use crate::record::{ChangeTag, FieldValue, Fields, RecordName, RecordType};
use serde::Serialize;

/// What comparing one record found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Only local: to be created.
    New,
    /// On both sides, fields differ.
    Updated,
    /// On both sides, equal under the comparison rules.
    Unchanged,
    /// Only in CloudKit: an orphan, deleted only with `--delete-orphans` (then planned as
    /// a delete).
    Orphan,
}

/// One field that differs. `before` is the CloudKit value (absent: not set there),
/// `after` the desired value (absent: to be removed).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<FieldValue>,
    pub after: Option<FieldValue>,
}

/// The comparison of one record.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordDiff {
    pub record_type: RecordType,
    pub record_name: RecordName,
    pub category: Category,
    /// The CloudKit record's change tag (updated, unchanged and orphan records).
    pub change_tag: Option<ChangeTag>,
    /// Field-level differences, ordered by field name (updated records only).
    pub changes: Vec<FieldChange>,
    /// The full desired fields (new, updated and unchanged records).
    pub desired: Option<Fields>,
}

/// Every record of one type, ordered by record name, with counts per category.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeDiff {
    pub record_type: RecordType,
    pub records: Vec<RecordDiff>,
}

impl TypeDiff {
    pub fn count(&self, category: Category) -> usize {
        self.records
            .iter()
            .filter(|r| r.category == category)
            .count()
    }
}
