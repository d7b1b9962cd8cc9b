//! Pure comparison of desired records with CloudKit's (the comparison rules of README "The
//! workflow"). No I/O.

mod clash;
mod compare;
mod report;
mod types;

pub use clash::NameClash;
pub use compare::{compare_type, values_equal, CompareRules, DEFAULT_LOCATION_TOLERANCE};
pub use report::{Category, FieldChange, RecordDiff, TypeDiff};
pub use types::{type_conflicts, TypeConflict};
