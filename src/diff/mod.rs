//! Pure comparison of desired records with CloudKit's (DESIGN.md "Comparison rules").
//! No I/O.

mod compare;
mod report;
mod types;

pub use compare::{compare_type, values_equal, CompareRules, DEFAULT_LOCATION_TOLERANCE};
pub use report::{Category, FieldChange, RecordDiff, TypeDiff};
pub use types::{type_conflicts, TypeConflict};
