//! Pure comparison of desired records with CloudKit's (DESIGN.md "Comparison rules").
//! No I/O.

mod report;

pub use report::{Category, FieldChange, RecordDiff, TypeDiff};
