//! Fields whose local type differs from the type CloudKit holds for them. CloudKit fixes a
//! field's type the first time a value is saved ("the server associates that type with the
//! key for all records of the same type", Apple, `CKRecord`), and a later write of another
//! type fails (`BAD_REQUEST`: "invalid attempt to set value type DOUBLE for field
//! 'capacity' … defined to be: INT64"). Such a change can never converge, so it is found
//! before planning instead of being planned as an ordinary update that fails on every apply.

use super::CompareRules;
use crate::record::{FieldType, Record, RecordName, RecordType};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// One field of one record type whose local values have another type than CloudKit's.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeConflict {
    pub record_type: RecordType,
    pub field: String,
    /// The type of the local values (as declared in the config, or given in the data).
    pub local: FieldType,
    /// The type CloudKit returned for the field.
    pub stored: FieldType,
    /// How many local records hold a value of the local type in this field.
    pub records: usize,
    /// The first of them by recordName.
    pub first: RecordName,
}

impl fmt::Display for TypeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let others = match self.records {
            1 => String::new(),
            2 => " and 1 other record".to_owned(),
            n => format!(" and {} other records", n - 1),
        };
        write!(
            f,
            "field `{field}` of type `{record_type}` is {local} in the local data but {stored} \
             in CloudKit (record `{first}`{others}): CloudKit cannot change a field's type. \
             deleting its values does not free the type, the schema keeps it. Either rename \
             the field (a new name starts with the new type), or remove `{field}` from the \
             development schema in the CloudKit console (a production schema field can never \
             be removed or retyped), or declare it {stored} again",
            field = self.field,
            record_type = self.record_type,
            local = self.local,
            stored = self.stored,
            first = self.first,
        )
    }
}

/// The fields of `desired` whose value type differs from the type the same field has in
/// any `current` record, one entry per field and local type, ordered by field. Ignored
/// fields are never sent, so they never conflict; nor do types this version does not know.
pub fn type_conflicts(
    record_type: &RecordType,
    desired: &[Record],
    current: &[Record],
    rules: &CompareRules,
) -> Vec<TypeConflict> {
    let mut stored = StoredTypes::new();
    for record in current {
        stored_types(&mut stored, record);
    }
    type_conflicts_with(record_type, desired, &stored, rules)
}

/// The type CloudKit holds for each field, from the first record read that holds it.
pub type StoredTypes = HashMap<String, FieldType>;

/// Adds the types of `record`'s fields not yet in `stored` (records in the order read).
pub fn stored_types(stored: &mut StoredTypes, record: &Record) {
    for (name, value) in &record.fields {
        if !stored.contains_key(name.as_str()) {
            stored.insert(name.as_str().to_owned(), value.field_type());
        }
    }
}

/// As [`type_conflicts`], against the types `stored_types` gathered from the records read.
pub fn type_conflicts_with(
    record_type: &RecordType,
    desired: &[Record],
    stored: &StoredTypes,
    rules: &CompareRules,
) -> Vec<TypeConflict> {
    let mut found: BTreeMap<(&str, FieldType), TypeConflict> = BTreeMap::new();
    for record in desired {
        for (name, value) in &record.fields {
            let Some(stored_type) = stored.get(name.as_str()) else {
                continue;
            };
            let local = value.field_type();
            if local == *stored_type
                || rules.ignore_fields.contains(name.as_str())
                || matches!(local, FieldType::Unknown(_))
                || matches!(stored_type, FieldType::Unknown(_))
            {
                continue;
            }
            let conflict = found
                .entry((name.as_str(), local.clone()))
                .or_insert_with(|| TypeConflict {
                    record_type: record_type.clone(),
                    field: name.to_string(),
                    local,
                    stored: stored_type.clone(),
                    records: 0,
                    first: record.record_name.clone(),
                });
            conflict.records += 1;
            if record.record_name < conflict.first {
                conflict.first = record.record_name.clone();
            }
        }
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests;
