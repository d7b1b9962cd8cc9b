use super::*;
use crate::record::{FieldValue, Fields};

fn record(name: &str, fields: &[(&str, FieldValue)]) -> Record {
    Record {
        record_type: "Stadium".into(),
        record_name: name.into(),
        change_tag: None,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<Fields>(),
        stamps: None,
    }
}

#[test]
fn issue_12_a_field_retyped_locally_is_a_conflict_not_an_update() {
    let current = [
        record("s-1", &[("capacity", FieldValue::int64(41000))]),
        record("s-9", &[("name", FieldValue::string("Orphan"))]),
    ];
    let desired = [
        record("s-2", &[("capacity", FieldValue::double(5.0))]),
        record("s-1", &[("capacity", FieldValue::double(41000.0))]),
        record("s-3", &[("name", FieldValue::string("New"))]),
    ];
    let conflicts = type_conflicts(
        &"Stadium".into(),
        &desired,
        &current,
        &CompareRules::default(),
    );
    assert_eq!(
        conflicts,
        [TypeConflict {
            record_type: "Stadium".into(),
            field: "capacity".into(),
            local: "DOUBLE".parse().unwrap(),
            stored: "INT64".parse().unwrap(),
            records: 2,
            first: "s-1".into(),
        }]
    );
    let message = conflicts[0].to_string();
    assert!(message.starts_with(
        "field `capacity` of type `Stadium` is DOUBLE in the local data but INT64 in CloudKit \
         (record `s-1` and 1 other record): CloudKit cannot change a field's type"
    ));
    assert!(message.contains("rename the field") && message.contains("development schema"));
    // Deleting the values never frees the type (the schema keeps it), so that advice loops.
    assert!(!message.contains("delete every value"));
}

#[test]
fn issue_12_the_stored_type_comes_from_any_record_even_an_orphan() {
    // A new record's field meets the type an orphan fixed for it.
    let current = [record("s-9", &[("opened", FieldValue::int64(1))])];
    let desired = [record("s-1", &[("opened", FieldValue::timestamp(1))])];
    let conflicts = type_conflicts(
        &"Stadium".into(),
        &desired,
        &current,
        &CompareRules::default(),
    );
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].stored.to_string(), "INT64");
    assert_eq!(conflicts[0].local.to_string(), "TIMESTAMP");
}

#[test]
fn same_types_unknown_types_and_ignored_fields_do_not_conflict() {
    let current = [record(
        "s-1",
        &[
            ("capacity", FieldValue::int64(1)),
            ("followers", FieldValue::int64(1)),
            (
                "future",
                FieldValue::Unknown {
                    type_name: "VECTOR".into(),
                    value: Box::new(serde_json::json!([1])),
                },
            ),
        ],
    )];
    let desired = [record(
        "s-1",
        &[
            ("capacity", FieldValue::int64(2)),
            ("followers", FieldValue::string("x")),
            ("future", FieldValue::string("x")),
        ],
    )];
    let rules = CompareRules {
        ignore_fields: ["followers".to_string()].into(),
        ..CompareRules::default()
    };
    assert_eq!(
        type_conflicts(&"Stadium".into(), &desired, &current, &rules),
        []
    );
}
