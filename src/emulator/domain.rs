//! The store's own vocabulary: what a write asks for and what each write or read did,
//! free of JSON request and reply shapes. `translate` turns wire requests into these and
//! these into wire replies; `store` and `query` take and return only these (a query's
//! `filterBy`/`sortBy` are compiled by `filter` from the request).

use super::faults::PageFault;
use super::store::StoredRecord;
use crate::cloudkit::wire::ServerErrorCode;

/// The seven record operations of records/modify (Apple, `ModifyRecords`; protocol notes §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    Create,
    Update,
    ForceUpdate,
    Replace,
    ForceReplace,
    Delete,
    ForceDelete,
}

impl WriteKind {
    /// Whether CloudKit requires `recordChangeTag` for this operation.
    pub fn needs_tag(self) -> bool {
        matches!(
            self,
            WriteKind::Update | WriteKind::Replace | WriteKind::Delete
        )
    }

    /// Creates the record when it is absent.
    pub fn creates(self) -> bool {
        matches!(
            self,
            WriteKind::Create | WriteKind::ForceUpdate | WriteKind::ForceReplace
        )
    }

    /// Keeps the fields the write does not name.
    pub fn merges(self) -> bool {
        matches!(self, WriteKind::Update | WriteKind::ForceUpdate)
    }

    pub fn deletes(self) -> bool {
        matches!(self, WriteKind::Delete | WriteKind::ForceDelete)
    }

    /// The wire name (`create`, `forceReplace`, …), also the key of the counters.
    pub fn name(self) -> &'static str {
        match self {
            WriteKind::Create => "create",
            WriteKind::Update => "update",
            WriteKind::ForceUpdate => "forceUpdate",
            WriteKind::Replace => "replace",
            WriteKind::ForceReplace => "forceReplace",
            WriteKind::Delete => "delete",
            WriteKind::ForceDelete => "forceDelete",
        }
    }
}

/// One field of a write. Values stay JSON here: their type comes from the declared type
/// name, else the schema (fixed by the field's first write), else inference, which only
/// the store can decide.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldInput {
    Set {
        value: serde_json::Value,
        /// The request's `type`, if given.
        declared: Option<String>,
    },
    /// `"field": null` or `{"value": null}`.
    Remove,
}

/// One operation of a modify request.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub kind: WriteKind,
    /// `None` on a create: the store generates one.
    pub record_name: Option<String>,
    pub record_type: Option<String>,
    pub change_tag: Option<String>,
    pub fields: Vec<(String, FieldInput)>,
}

/// A records/modify request: writes in order, default zone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    pub writes: Vec<Write>,
    /// `atomic: true` was asked for.
    pub atomic: bool,
}

/// A per-record failure, answered as an error entry inside a 200.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordFailure {
    pub record_name: String,
    pub code: ServerErrorCode,
    pub reason: String,
    /// Seconds, sent as `retryAfter`.
    pub retry_after: Option<f64>,
}

impl RecordFailure {
    pub fn new(record_name: &str, code: ServerErrorCode, reason: &str) -> Self {
        Self {
            record_name: record_name.to_owned(),
            code,
            reason: reason.to_owned(),
            retry_after: None,
        }
    }
}

/// What one write did.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOutcome {
    Saved { name: String, record: StoredRecord },
    Deleted { name: String },
    Failed(RecordFailure),
}

/// What one read by name found (borrowed from the store while it is locked).
#[derive(Clone, Debug, PartialEq)]
pub enum ReadOutcome<'a> {
    Found {
        name: &'a str,
        record: &'a StoredRecord,
    },
    Failed(RecordFailure),
}

/// One page of a query (borrowed from the store while it is locked).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<'a> {
    pub records: Vec<(&'a String, &'a StoredRecord)>,
    /// Present only when more records follow.
    pub continuation_marker: Option<String>,
    /// The page fault the hook injected, when it changed the page.
    pub fault: Option<PageFault>,
}
