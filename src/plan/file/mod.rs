//! The on-disk plan format, and the only code that knows it: pretty-printed JSON
//! (two-space indent, members in a fixed order, maps sorted by key, a final newline), with a
//! format name, a format version and a checksum, described by `schemas/plan.schema.json`.
//!
//! Field values use the form of CloudKit's wire `{"type": "...", "value": ...}`, so they
//! read like CloudKit's own JSON and round-trip exactly, but the plan file owns that
//! encoding, as it owns its form of the target (`format::TargetDocument`): nothing here uses
//! the transport's types, so a change there cannot silently change plans on disk. An absent
//! value in `before` is `null`. Version 2 writes `type` before `value` so that a reader
//! decodes each value as it meets it; version 1 (value first) is still read.
//!
//! The checksum and the bytes it hashes are described in [`checksum`].
//!
//! Writing serializes the plan's own values once (no JSON tree), hashing the compact form
//! as the bytes go out, in pieces of 64 KiB (`hashing`). Reading takes one typed pass over the text and one hashing pass over the same
//! bytes (`typed`); a text that pass does not accept, and every version 1 plan, is read by
//! the checked path, which checks in this order so that the message is the useful one: JSON
//! syntax (with line and column), the format name, the format version, the checksum, the
//! structure (naming the JSON path), every field value against its type, then the summary
//! against the changes.
//!
//! Parts: [`format`] (the serde document types and the JSON Schema), `write` (plan →
//! text, streamed), `typed` (the one-pass reader's types), `read` (text → verified plan),
//! [`checksum`].

mod checksum;
mod format;
mod hashing;
mod read;
mod schema_part;
#[cfg(test)]
mod tests;
mod typed;
mod write;

pub use checksum::{canonical_body, checksum};
#[cfg(feature = "schema")]
pub use format::plan_schema;
pub use read::{from_bytes, from_text, read_bytes, read_text};
pub use write::{to_text, write_formatted, write_to};

use super::{Action, Plan};
use crate::record::{RecordName, RecordType};

/// The value of the `format` member of every plan file.
pub const FORMAT_NAME: &str = "ckplan-plan";

/// The format versions this build reads, as its messages say them: version 1 (field
/// values `{value, type}`, a checksum over a canonical re-serialization) and the version it
/// writes, [`crate::plan::FORMAT_VERSION`].
pub const SUPPORTED_VERSIONS: &str = "1 and 2";

/// Text from the plan file, as an error shows it: escaped (whoever edited the plan chose
/// it; a line break could forge a line of output).
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    crate::render::escape::escape(text)
}

/// Why a plan file cannot be used.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PlanFileError {
    #[error("not a ckplan plan: {reason}")]
    NotAPlan { reason: String },
    #[error("plan is truncated: it ends at line {line}, column {column}")]
    Truncated { line: usize, column: usize },
    #[error("plan is not valid JSON at line {line}, column {column}: {message}")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "plan format version {found} is not supported by ckplan {tool_version} \
         (supports {supported})"
    )]
    UnsupportedVersion {
        found: u64,
        tool_version: &'static str,
        supported: &'static str,
    },
    #[error("plan has no checksum: it was not written by ckplan or was cut short")]
    ChecksumMissing,
    #[error("plan was modified after it was written: checksum mismatch")]
    ChecksumMismatch { expected: String, found: String },
    /// `path` and `message` quote the plan's own text (a key, a value serde could not
    /// read): shown escaped, since whoever edited the plan chose them.
    #[error("plan is invalid at `{}`: {}", shown(path), shown(message))]
    Structure { path: String, message: String },
    #[error(
        "plan change {index} ({} `{}`): `{side}` field `{}`: {}",
        shown(record_type.as_str()),
        shown(record_name.as_str()),
        shown(field),
        shown(message)
    )]
    FieldValue {
        index: usize,
        record_type: RecordType,
        record_name: RecordName,
        side: &'static str,
        field: String,
        message: String,
    },
    #[error(
        "plan summary for `{}` says {summary} but its changes are {changes}",
        shown(record_type.as_str())
    )]
    SummaryMismatch {
        record_type: RecordType,
        summary: String,
        changes: String,
    },
    #[error(
        "plan change {index} ({action} {} `{}`): {problem}",
        shown(record_type.as_str()),
        shown(record_name.as_str())
    )]
    Inconsistent {
        index: usize,
        action: Action,
        record_type: RecordType,
        record_name: RecordName,
        problem: &'static str,
    },
}

/// A plan read from a file whose checksum matched, with that checksum.
#[derive(Debug, PartialEq)]
pub struct VerifiedPlan {
    pub plan: Plan,
    /// `blake3:<hex>`, as [`checksum`] computes it for `plan`.
    pub checksum: String,
}
