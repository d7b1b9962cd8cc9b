//! The record model shared by every other part: names, types, change tags, typed field
//! values. It knows nothing of files, HTTP or plans; `cloudkit::wire` converts to and from
//! the JSON shapes on the wire, and `local` (local data) builds these from files.

mod codec;
mod fields;
pub mod identifier;
pub mod strict_json;
mod target;
mod timestamp;
mod value;

pub use codec::{encoded_length, TypeName, TypedValue};
pub use fields::{FieldName, Fields};
pub use target::{container_problem, Database, Environment, Target};
pub use timestamp::{Timestamp, TimestampError};
/// The largest asset file: 15 MB, read as 15,000,000 bytes (Apple, CloudKit Web Services
/// Reference, "Uploading Assets": "maximum file size is 15 MB"; its "Data Size Limits" page
/// says 50 MB: the stricter of the two, see `docs/protocol.md`).
pub const MAX_ASSET_BYTES: usize = 15_000_000;

pub use value::{FieldType, FieldValue, Location, Reference, ScalarType, Value, ValueError};

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A record's name, unique within its zone.
    RecordName
);
string_newtype!(
    /// A record type such as `Stadium`.
    RecordType
);
string_newtype!(
    /// CloudKit's opaque version token of one record; it changes on every write.
    ChangeTag
);

/// One record: the desired state from local files, or the current state read from CloudKit.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub record_type: RecordType,
    pub record_name: RecordName,
    /// Present for records read from CloudKit.
    pub change_tag: Option<ChangeTag>,
    pub fields: Fields,
    /// When CloudKit created and last modified the record; present for records read from
    /// CloudKit whose reply carried them. System metadata: never compared.
    pub stamps: Option<Stamps>,
}

/// A record's `created` and `modified` timestamps, milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamps {
    pub created: i64,
    pub modified: i64,
}

impl Record {
    pub fn new(record_type: impl Into<RecordType>, record_name: impl Into<RecordName>) -> Self {
        Self {
            record_type: record_type.into(),
            record_name: record_name.into(),
            change_tag: None,
            fields: Fields::new(),
            stamps: None,
        }
    }

    pub fn with_field(mut self, name: &str, value: FieldValue) -> Self {
        self.fields.insert(name, value);
        self
    }
}
