//! The typed query the client sends: a record type, filters on fields or system fields with
//! a comparator from the closed set shared with the emulator (`wire::Comparator`), and a
//! sort order. `QuerySpec::to_wire` is the one place it becomes a `records/query` body.

use super::wire::{Comparator, Filter, Query, Sort, SystemField, WireField};
use crate::record::{FieldValue, RecordType};

/// What a filter or sort reads: a field of the record, or a system field.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryField {
    Field(String),
    System(SystemField),
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueryFilter {
    pub field: QueryField,
    pub comparator: Comparator,
    pub value: FieldValue,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QuerySort {
    pub field: QueryField,
    pub ascending: bool,
}

/// One query: every record of `record_type` that passes every filter, in `sort` order.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySpec {
    pub record_type: RecordType,
    pub filters: Vec<QueryFilter>,
    pub sort: Vec<QuerySort>,
}

impl QuerySpec {
    /// Every record of `record_type`, in CloudKit's default order.
    pub fn all(record_type: &RecordType) -> Self {
        Self {
            record_type: record_type.clone(),
            filters: Vec::new(),
            sort: Vec::new(),
        }
    }

    pub fn filter(mut self, field: QueryField, comparator: Comparator, value: FieldValue) -> Self {
        self.filters.push(QueryFilter {
            field,
            comparator,
            value,
        });
        self
    }

    pub fn sort_by(mut self, field: QueryField, ascending: bool) -> Self {
        self.sort.push(QuerySort { field, ascending });
        self
    }

    /// The `query` member of a `records/query` body.
    pub fn to_wire(&self) -> Query {
        Query {
            record_type: self.record_type.0.clone(),
            filter_by: self
                .filters
                .iter()
                .map(|filter| {
                    let (field_name, system_field_name) = names(&filter.field);
                    Filter {
                        comparator: filter.comparator,
                        field_name,
                        system_field_name,
                        field_value: WireField::from_value(&filter.value),
                        distance: None,
                    }
                })
                .collect(),
            sort_by: self
                .sort
                .iter()
                .map(|sort| {
                    let (field_name, system_field_name) = names(&sort.field);
                    Sort {
                        field_name,
                        system_field_name,
                        ascending: Some(sort.ascending),
                    }
                })
                .collect(),
        }
    }
}

fn names(field: &QueryField) -> (Option<String>, Option<String>) {
    match field {
        QueryField::Field(name) => (Some(name.clone()), None),
        QueryField::System(system) => (None, Some(system.name().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_system_field_range_is_sent_with_system_field_names() {
        let spec = QuerySpec::all(&RecordType::from("Game"))
            .filter(
                QueryField::System(SystemField::CreatedTimestamp),
                Comparator::GreaterThanOrEquals,
                FieldValue::timestamp(5),
            )
            .sort_by(QueryField::System(SystemField::CreatedTimestamp), true);
        assert_eq!(
            serde_json::to_value(spec.to_wire()).unwrap(),
            json!({
                "recordType": "Game",
                "filterBy": [{"comparator": "GREATER_THAN_OR_EQUALS",
                              "systemFieldName": "createdTimestamp",
                              "fieldValue": {"value": 5, "type": "TIMESTAMP"}}],
                "sortBy": [{"systemFieldName": "createdTimestamp", "ascending": true}],
            })
        );
        assert_eq!(
            serde_json::to_value(QuerySpec::all(&"Team".into()).to_wire()).unwrap(),
            json!({"recordType": "Team"})
        );
    }
}
