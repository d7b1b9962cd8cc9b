//! The closed vocabulary of query filters, shared by the client and the emulator: the
//! comparators of Apple's *CloudKit Web Services Reference* ("Comparator Values", plus
//! CloudKit JS's `LIST_CONTAINS_ANY`) and the system fields a filter or sort may name with
//! `systemFieldName`, each with the index CloudKit names in its "not marked queryable"
//! refusals.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A filter's `comparator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparator {
    Equals,
    NotEquals,
    LessThan,
    LessThanOrEquals,
    GreaterThan,
    GreaterThanOrEquals,
    BeginsWith,
    NotBeginsWith,
    In,
    NotIn,
    ListContains,
    NotListContains,
    ListContainsAny,
    NotListContainsAny,
    ListContainsAll,
    NotListContainsAll,
    ListMemberBeginsWith,
    NotListMemberBeginsWith,
    ContainsAllTokens,
    ContainsAnyTokens,
    Near,
}

const COMPARATORS: [(&str, Comparator); 21] = [
    ("EQUALS", Comparator::Equals),
    ("NOT_EQUALS", Comparator::NotEquals),
    ("LESS_THAN", Comparator::LessThan),
    ("LESS_THAN_OR_EQUALS", Comparator::LessThanOrEquals),
    ("GREATER_THAN", Comparator::GreaterThan),
    ("GREATER_THAN_OR_EQUALS", Comparator::GreaterThanOrEquals),
    ("BEGINS_WITH", Comparator::BeginsWith),
    ("NOT_BEGINS_WITH", Comparator::NotBeginsWith),
    ("IN", Comparator::In),
    ("NOT_IN", Comparator::NotIn),
    ("LIST_CONTAINS", Comparator::ListContains),
    ("NOT_LIST_CONTAINS", Comparator::NotListContains),
    ("LIST_CONTAINS_ANY", Comparator::ListContainsAny),
    ("NOT_LIST_CONTAINS_ANY", Comparator::NotListContainsAny),
    ("LIST_CONTAINS_ALL", Comparator::ListContainsAll),
    ("NOT_LIST_CONTAINS_ALL", Comparator::NotListContainsAll),
    ("LIST_MEMBER_BEGINS_WITH", Comparator::ListMemberBeginsWith),
    (
        "NOT_LIST_MEMBER_BEGINS_WITH",
        Comparator::NotListMemberBeginsWith,
    ),
    ("CONTAINS_ALL_TOKENS", Comparator::ContainsAllTokens),
    ("CONTAINS_ANY_TOKENS", Comparator::ContainsAnyTokens),
    ("NEAR", Comparator::Near),
];

impl Comparator {
    /// The name on the wire, such as `GREATER_THAN_OR_EQUALS`.
    pub fn name(self) -> &'static str {
        COMPARATORS
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(name, _)| name)
    }

    pub fn parse(name: &str) -> Option<Comparator> {
        COMPARATORS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Comparator {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Comparator {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Comparator::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown comparator '{name}'")))
    }
}

/// A system field a filter or sort names with `systemFieldName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemField {
    RecordName,
    Share,
    Parent,
    CreatedUserRecordName,
    CreatedTimestamp,
    ModifiedTimestamp,
    ModifiedUserRecordName,
}

/// Every system field: its `systemFieldName` and the index CloudKit names in a refusal
/// (Apple, QueryingRecords: "Field '___createTime' is not marked queryable").
const SYSTEM_FIELDS: [(SystemField, &str, &str); 7] = [
    (SystemField::RecordName, "recordName", "___recordId"),
    (SystemField::Share, "share", "___share"),
    (SystemField::Parent, "parent", "___parent"),
    (
        SystemField::CreatedUserRecordName,
        "createdUserRecordName",
        "___createdBy",
    ),
    (
        SystemField::CreatedTimestamp,
        "createdTimestamp",
        "___createTime",
    ),
    (
        SystemField::ModifiedTimestamp,
        "modifiedTimestamp",
        "___modTime",
    ),
    (
        SystemField::ModifiedUserRecordName,
        "modifiedUserRecordName",
        "___modifiedBy",
    ),
];

impl SystemField {
    fn entry(self) -> &'static (SystemField, &'static str, &'static str) {
        SYSTEM_FIELDS
            .iter()
            .find(|(field, _, _)| *field == self)
            .unwrap_or(&SYSTEM_FIELDS[0])
    }

    /// The `systemFieldName`, such as `createdTimestamp`.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The index name, such as `___createTime`.
    pub fn index_name(self) -> &'static str {
        self.entry().2
    }

    /// The system field called `name` (its `systemFieldName` or its index name).
    pub fn parse(name: &str) -> Option<SystemField> {
        SYSTEM_FIELDS
            .iter()
            .find(|(_, field, index)| *field == name || *index == name)
            .map(|(field, _, _)| *field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparators_round_trip_by_name_and_unknown_ones_are_refused() {
        for (name, comparator) in COMPARATORS {
            let json = serde_json::to_string(&comparator).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Comparator>(&json).unwrap(),
                comparator
            );
        }
        let error = serde_json::from_str::<Comparator>("\"LIKE\"").unwrap_err();
        assert!(
            error.to_string().contains("unknown comparator 'LIKE'"),
            "{error}"
        );
    }

    #[test]
    fn system_fields_parse_by_name_or_index() {
        for (field, name, index) in SYSTEM_FIELDS {
            assert_eq!(field.name(), name);
            assert_eq!(field.index_name(), index);
            assert_eq!(SystemField::parse(name), Some(field));
            assert_eq!(SystemField::parse(index), Some(field));
        }
        assert_eq!(SystemField::parse("etag"), None);
    }
}
