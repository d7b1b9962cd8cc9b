//! Pure comparison of desired records with CloudKit's (the comparison rules of README "The
//! workflow"). No I/O.

mod clash;
mod compare;
mod report;
mod types;

pub use clash::NameClash;
pub use compare::{
    compare_type, fields_equal, unchanged_record, values_equal, CompareRules,
    DEFAULT_LOCATION_TOLERANCE,
};
pub use report::{Category, FieldChange, RecordDiff, TypeDiff};
pub use types::{stored_types, type_conflicts, type_conflicts_with, StoredTypes, TypeConflict};
