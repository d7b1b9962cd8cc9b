//! CloudKit's schema language as data: the record types, fields, indexes, security roles
//! and grants of one container environment, as `xcrun cktool export-schema` and the
//! Database API v1 (`…/schema/export`) write them (`docs/protocol.md`, "Schema"). `parse`
//! reads the text (errors carry line and column), `print` writes it deterministically
//! (`parse(print(s)) == s`), `diff` compares what a configuration needs with what an
//! environment holds and merges the two. Pure: no I/O, no configuration, no HTTP.

mod additions;
mod coherence;
mod diff;
mod names;
mod parse;
mod print;
mod strict;

pub use additions::{digest, holds, lacking, with_additions, UnknownKeyword};
pub use coherence::contradiction;
pub use diff::{merged, missing, Addition, Conflict, SchemaDiff};
pub use names::{identifier_problem, quotable_problem, team_problem, USERS};
pub use parse::{parse, parse_strict, SchemaError};
pub use print::{print, Unprintable};
pub use strict::DEFAULT_GRANTS;

use crate::record::{FieldType, ScalarType};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The system fields every record type has, in the order exports list them, with their
/// types. Their names are written quoted (they begin with `___`).
pub const SYSTEM_FIELDS: [(&str, Primitive); 6] = [
    ("___createTime", Primitive::Timestamp),
    ("___createdBy", Primitive::Reference),
    ("___etag", Primitive::String),
    ("___modTime", Primitive::Timestamp),
    ("___modifiedBy", Primitive::Reference),
    ("___recordID", Primitive::Reference),
];

/// The system field holding the record name (`recordName` in queries).
pub const RECORD_ID: &str = "___recordID";
/// The system field holding the creation time (`___createTime`, `createdTimestamp`).
pub const CREATE_TIME: &str = "___createTime";

/// A whole schema: roles and record types, each kept sorted so that equal schemas print
/// equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    /// Roles created with `CREATE ROLE` (the built-in `_world`, `_icloud`, `_creator` are
    /// never created).
    pub roles: BTreeSet<String>,
    pub types: BTreeMap<String, RecordTypeDef>,
}

/// `RECORD TYPE Name ( fields…, grants… )`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordTypeDef {
    pub fields: BTreeMap<String, FieldDef>,
    /// Per role, the permissions granted to it.
    pub grants: BTreeMap<String, BTreeSet<Permission>>,
}

/// One field: its type and the indexes it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    pub data_type: DataType,
    pub indexes: BTreeSet<Index>,
}

/// A field's type: a primitive, or a `LIST<primitive>`; `ENCRYPTED` as a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataType {
    pub primitive: Primitive,
    pub list: bool,
    pub encrypted: bool,
}

impl DataType {
    pub fn scalar(primitive: Primitive) -> Self {
        Self {
            primitive,
            list: false,
            encrypted: false,
        }
    }

    /// The schema type of a record field type (`ASSETID` is an `ASSET` field, `INT64_LIST`
    /// a `LIST<INT64>`); `None` for a type name ckplan does not know.
    pub fn of_field_type(field_type: &FieldType) -> Option<Self> {
        let (scalar, list) = match field_type {
            FieldType::Scalar(scalar) => (*scalar, false),
            FieldType::List(scalar) => (*scalar, true),
            FieldType::Unknown(_) => return None,
        };
        let primitive = match scalar {
            ScalarType::String => Primitive::String,
            ScalarType::Int64 => Primitive::Int64,
            ScalarType::Double => Primitive::Double,
            ScalarType::Timestamp => Primitive::Timestamp,
            ScalarType::Bytes => Primitive::Bytes,
            ScalarType::Reference => Primitive::Reference,
            ScalarType::Location => Primitive::Location,
            ScalarType::AssetId => Primitive::Asset,
        };
        Some(Self {
            primitive,
            list,
            encrypted: false,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encrypted = if self.encrypted { "ENCRYPTED " } else { "" };
        let primitive = self.primitive.keyword();
        if self.list {
            write!(f, "LIST<{encrypted}{primitive}>")
        } else {
            write!(f, "{encrypted}{primitive}")
        }
    }
}

/// The primitive types of the schema language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Primitive {
    Asset,
    Bytes,
    Double,
    Int64,
    Location,
    Number,
    /// `NUMBER PREFERRED AS INT64`.
    NumberInt64,
    /// `NUMBER PREFERRED AS DOUBLE`.
    NumberDouble,
    Reference,
    String,
    Timestamp,
}

impl Primitive {
    pub const ALL: [Primitive; 11] = [
        Primitive::Asset,
        Primitive::Bytes,
        Primitive::Double,
        Primitive::Int64,
        Primitive::Location,
        Primitive::Number,
        Primitive::NumberInt64,
        Primitive::NumberDouble,
        Primitive::Reference,
        Primitive::String,
        Primitive::Timestamp,
    ];

    /// As written in schema text.
    pub fn keyword(self) -> &'static str {
        match self {
            Primitive::Asset => "ASSET",
            Primitive::Bytes => "BYTES",
            Primitive::Double => "DOUBLE",
            Primitive::Int64 => "INT64",
            Primitive::Location => "LOCATION",
            Primitive::Number => "NUMBER",
            Primitive::NumberInt64 => "NUMBER PREFERRED AS INT64",
            Primitive::NumberDouble => "NUMBER PREFERRED AS DOUBLE",
            Primitive::Reference => "REFERENCE",
            Primitive::String => "STRING",
            Primitive::Timestamp => "TIMESTAMP",
        }
    }

    /// Whether `ENCRYPTED` may precede it.
    pub fn may_be_encrypted(self) -> bool {
        matches!(
            self,
            Primitive::Bytes
                | Primitive::String
                | Primitive::Double
                | Primitive::Int64
                | Primitive::Location
                | Primitive::Timestamp
        )
    }
}

/// A field index option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Index {
    Queryable,
    Searchable,
    Sortable,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::Queryable, Index::Searchable, Index::Sortable];

    pub fn keyword(self) -> &'static str {
        match self {
            Index::Queryable => "QUERYABLE",
            Index::Searchable => "SEARCHABLE",
            Index::Sortable => "SORTABLE",
        }
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The indexes a field of `data_type` may have, the strict reading of what CloudKit
/// Console offers (`docs/protocol.md`, "Indexes by type"): STRING all three; INT64,
/// DOUBLE, NUMBER, TIMESTAMP and LOCATION QUERYABLE and SORTABLE; REFERENCE QUERYABLE;
/// ASSET and BYTES none; a list QUERYABLE (none for a list of assets or bytes); an
/// ENCRYPTED field none.
pub fn allowed_indexes(data_type: DataType) -> &'static [Index] {
    use Primitive::*;
    const ALL: &[Index] = &[Index::Queryable, Index::Searchable, Index::Sortable];
    const ORDERED: &[Index] = &[Index::Queryable, Index::Sortable];
    const EQUALITY: &[Index] = &[Index::Queryable];
    if data_type.encrypted {
        return &[];
    }
    match (data_type.primitive, data_type.list) {
        (Asset | Bytes, _) => &[],
        (_, true) => EQUALITY,
        (String, false) => ALL,
        (Int64 | Double | Number | NumberInt64 | NumberDouble | Timestamp | Location, false) => {
            ORDERED
        }
        (Reference, false) => EQUALITY,
    }
}

/// Why a field of `data_type` cannot have `index`; `None` when it can.
pub fn index_problem(data_type: DataType, index: Index) -> Option<String> {
    let allowed = allowed_indexes(data_type);
    if allowed.contains(&index) {
        return None;
    }
    let may = match allowed {
        [] => "no index".to_owned(),
        some => some
            .iter()
            .map(|i| i.keyword())
            .collect::<Vec<_>>()
            .join(" and "),
    };
    Some(format!(
        "{data_type} cannot be {index}: CloudKit allows {may} on a {data_type} field"
    ))
}

/// A permission a grant gives a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Read,
    Create,
    Write,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Create, Permission::Write];

    pub fn keyword(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Create => "CREATE",
            Permission::Write => "WRITE",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

#[cfg(test)]
mod tests;
