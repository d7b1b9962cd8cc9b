//! Unit tests of the query filters: every comparator on both sides of its boundary, a
//! record lacking the field, values of different kinds, the system fields, sort keys, and
//! the decoding of `filterBy` entries written as JSON from `docs/protocol.md`.

use super::*;
use crate::emulator::store::{Indexes, Scope};
use crate::record::{Database, Environment};
use serde_json::json;

fn strings(items: &[&str]) -> FieldValue {
    FieldValue::List(
        ScalarType::String,
        items.iter().map(|s| Value::String((*s).into())).collect(),
    )
}

fn location(latitude: f64, longitude: f64) -> FieldValue {
    FieldValue::location(latitude, longitude)
}

fn on_field(comparator: Comparator, operand: FieldValue) -> Compiled {
    Compiled {
        subject: Subject::Field("f".into()),
        comparator,
        operand,
        distance: 0.0,
    }
}

/// Whether a record whose field `f` holds `subject` matches.
fn matches(comparator: Comparator, operand: FieldValue, subject: FieldValue) -> bool {
    on_field(comparator, operand).matches("r-1", &stored(Some(subject)))
}

fn stored(f: Option<FieldValue>) -> StoredRecord {
    StoredRecord {
        record_type: "Team".into(),
        fields: f.map(|value| ("f".to_owned(), value)).into_iter().collect(),
        change_tag: "t1".into(),
        created: 1_000,
        modified: 2_000,
    }
}

#[test]
fn ordering_comparators_on_both_sides_of_the_operand() {
    use Comparator as C;
    // (comparator, subject 4 / 5 / 6 against the operand 5)
    let table = [
        (C::Equals, [false, true, false]),
        (C::NotEquals, [true, false, true]),
        (C::LessThan, [true, false, false]),
        (C::LessThanOrEquals, [true, true, false]),
        (C::GreaterThan, [false, false, true]),
        (C::GreaterThanOrEquals, [false, true, true]),
    ];
    for (comparator, expected) in table {
        let got =
            [4, 5, 6].map(|n| matches(comparator, FieldValue::int64(5), FieldValue::int64(n)));
        assert_eq!(got, expected, "{comparator:?}");
        // INT64 and DOUBLE compare numerically.
        let got = [4.5, 5.0, 5.5]
            .map(|n| matches(comparator, FieldValue::int64(5), FieldValue::double(n)));
        assert_eq!(got, expected, "{comparator:?} across INT64 and DOUBLE");
        // Values of different kinds match no ordering comparator, NOT_EQUALS included.
        assert!(!matches(
            comparator,
            FieldValue::int64(5),
            FieldValue::string("5")
        ));
        // A record without the field matches none either.
        assert!(!on_field(comparator, FieldValue::int64(5)).matches("r-1", &stored(None)));
        // Nor does a list compared with a scalar.
        assert!(!matches(
            comparator,
            FieldValue::string("a"),
            strings(&["a"])
        ));
    }
}

#[test]
fn locations_and_assets_are_equal_only_to_themselves() {
    let here = location(42.0, -71.0);
    assert!(matches(Comparator::Equals, here.clone(), here.clone()));
    assert!(!matches(
        Comparator::Equals,
        here.clone(),
        location(42.0, -71.5)
    ));
    // Not comparable with text or numbers.
    assert!(!matches(
        Comparator::Equals,
        FieldValue::string("x"),
        here.clone()
    ));
    assert!(!matches(Comparator::Equals, here, FieldValue::string("x")));
    let asset = |checksum: &str| {
        FieldValue::Scalar(Value::Asset(Box::new(json!({"fileChecksum": checksum}))))
    };
    assert!(matches(Comparator::Equals, asset("a1"), asset("a1")));
    assert!(!matches(Comparator::Equals, asset("a1"), asset("b2")));
}

#[test]
fn prefixes() {
    use Comparator as C;
    let name = FieldValue::string("Boston");
    assert!(matches(
        C::BeginsWith,
        FieldValue::string("Bos"),
        name.clone()
    ));
    assert!(!matches(
        C::BeginsWith,
        FieldValue::string("Cam"),
        name.clone()
    ));
    assert!(!matches(
        C::NotBeginsWith,
        FieldValue::string("Bos"),
        name.clone()
    ));
    assert!(matches(C::NotBeginsWith, FieldValue::string("Cam"), name));
    // Only text has prefixes; a list is not a scalar.
    assert!(!matches(
        C::BeginsWith,
        FieldValue::string("1"),
        FieldValue::int64(12)
    ));
    assert!(!matches(
        C::BeginsWith,
        FieldValue::string("a"),
        strings(&["ab"])
    ));
    assert!(!matches(
        C::NotBeginsWith,
        FieldValue::string("a"),
        strings(&["b"])
    ));
    let names = strings(&["Boston", "Cambridge"]);
    assert!(matches(
        C::ListMemberBeginsWith,
        FieldValue::string("Cam"),
        names.clone()
    ));
    assert!(!matches(
        C::ListMemberBeginsWith,
        FieldValue::string("Den"),
        names.clone()
    ));
    assert!(!matches(
        C::NotListMemberBeginsWith,
        FieldValue::string("Cam"),
        names.clone()
    ));
    assert!(matches(
        C::NotListMemberBeginsWith,
        FieldValue::string("Den"),
        names
    ));
}

#[test]
fn membership_of_a_scalar() {
    use Comparator as C;
    let set = strings(&["a", "b"]);
    assert!(matches(C::In, set.clone(), FieldValue::string("b")));
    assert!(!matches(C::In, set.clone(), FieldValue::string("c")));
    assert!(!matches(C::NotIn, set.clone(), FieldValue::string("b")));
    assert!(matches(C::NotIn, set.clone(), FieldValue::string("c")));
    // A list subject is neither in nor not in.
    assert!(!matches(C::In, set.clone(), strings(&["a"])));
    assert!(!matches(C::NotIn, set, strings(&["c"])));
}

#[test]
fn list_containment() {
    use Comparator as C;
    let list = strings(&["a", "b"]);
    let table = [
        (C::ListContains, FieldValue::string("a"), true),
        (C::ListContains, FieldValue::string("c"), false),
        (C::NotListContains, FieldValue::string("a"), false),
        (C::NotListContains, FieldValue::string("c"), true),
        (C::ListContainsAny, strings(&["x", "a"]), true),
        (C::ListContainsAny, strings(&["x", "y"]), false),
        (C::NotListContainsAny, strings(&["x", "a"]), false),
        (C::NotListContainsAny, strings(&["x", "y"]), true),
        (C::ListContainsAll, strings(&["b", "a"]), true),
        (C::ListContainsAll, strings(&["a", "x"]), false),
        (C::NotListContainsAll, strings(&["b", "a"]), false),
        (C::NotListContainsAll, strings(&["a", "x"]), true),
    ];
    for (comparator, operand, expected) in table {
        assert_eq!(
            matches(comparator, operand.clone(), list.clone()),
            expected,
            "{comparator:?} {operand:?}"
        );
    }
    // Without an operand, neither LIST_CONTAINS nor its negation holds.
    assert!(!matches(C::ListContains, strings(&[]), list.clone()));
    assert!(!matches(C::NotListContains, strings(&[]), list));
}

#[test]
fn tokens_are_words_compared_without_case() {
    use Comparator as C;
    let text = FieldValue::string("The Red-Sox, Boston");
    assert!(matches(
        C::ContainsAllTokens,
        FieldValue::string("red SOX"),
        text.clone()
    ));
    assert!(!matches(
        C::ContainsAllTokens,
        FieldValue::string("red yankees"),
        text.clone()
    ));
    assert!(matches(
        C::ContainsAnyTokens,
        FieldValue::string("red yankees"),
        text.clone()
    ));
    assert!(!matches(
        C::ContainsAnyTokens,
        FieldValue::string("blue yankees"),
        text.clone()
    ));
    // "Red-Sox" is two tokens, never "red-sox" nor an empty one.
    assert!(!matches(
        C::ContainsAnyTokens,
        FieldValue::string("redsox"),
        text.clone()
    ));
    assert_eq!(tokens(" a--B "), ["a", "b"]);
    assert!(!matches(
        C::ContainsAnyTokens,
        FieldValue::string("5"),
        FieldValue::int64(5)
    ));
    assert!(!matches(C::ContainsAllTokens, FieldValue::int64(5), text));
}

#[test]
fn near_is_a_great_circle_distance_in_metres() {
    // 0.001° of latitude is 111.2 m on the sphere.
    let near = |distance: f64, subject: FieldValue| {
        Compiled {
            distance,
            ..on_field(Comparator::Near, location(42.0, -71.0))
        }
        .matches("r-1", &stored(Some(subject)))
    };
    assert!(near(112.0, location(42.001, -71.0)));
    assert!(!near(111.0, location(42.001, -71.0)));
    // Along a parallel at 42°N, 0.001° of longitude is 82.6 m (cos 42° × 111.2 m).
    assert!(near(83.0, location(42.0, -71.001)));
    assert!(!near(82.0, location(42.0, -71.001)));
    // Both latitudes count: from 0° to 60°N the same longitude step shrinks by half.
    let from_equator = Compiled {
        distance: 56.0,
        ..on_field(Comparator::Near, location(60.0, 0.0))
    };
    assert!(from_equator.matches("r-1", &stored(Some(location(60.0, 0.001)))));
    assert!(!from_equator.matches("r-1", &stored(Some(location(59.999, 0.001)))));
    assert!(!near(1e9, FieldValue::string("Boston")));
}

#[test]
fn system_fields_are_the_name_and_the_timestamps() {
    let by = |subject: Subject, comparator: Comparator, operand: FieldValue| {
        Compiled {
            subject,
            comparator,
            operand,
            distance: 0.0,
        }
        .matches("team-7", &stored(None))
    };
    assert!(by(
        Subject::RecordName,
        Comparator::Equals,
        FieldValue::string("team-7")
    ));
    assert!(!by(
        Subject::RecordName,
        Comparator::Equals,
        FieldValue::string("team-8")
    ));
    assert!(by(
        Subject::Created,
        Comparator::Equals,
        FieldValue::timestamp(1_000)
    ));
    assert!(!by(
        Subject::Created,
        Comparator::Equals,
        FieldValue::timestamp(2_000)
    ));
    assert!(by(
        Subject::Modified,
        Comparator::Equals,
        FieldValue::timestamp(2_000)
    ));
    assert!(!by(
        Subject::Modified,
        Comparator::Equals,
        FieldValue::timestamp(1_000)
    ));
    // A reference compares by its record name.
    assert!(matches(
        Comparator::Equals,
        FieldValue::string("stadium-1"),
        FieldValue::reference("stadium-1")
    ));
}

#[test]
fn sort_values_order_missing_first_then_numbers_then_text() {
    use SortValue as S;
    let ordered = [
        S::Missing,
        S::Float(-1.5),
        S::Integer(-1),
        S::Float(0.5),
        S::Integer(1),
        S::Text("A".into()),
        S::Text("a".into()),
    ];
    for (i, a) in ordered.iter().enumerate() {
        for (j, b) in ordered.iter().enumerate() {
            assert_eq!(a.compare(b), i.cmp(&j), "{a:?} against {b:?}");
        }
    }
    assert_eq!(S::Integer(2).compare(&S::Float(2.0)), Ordering::Equal);
    assert_eq!(S::Float(2.0).compare(&S::Integer(2)), Ordering::Equal);
    assert!(S::Integer(3).same_kind(&S::Float(1.0)));
    assert!(!S::Integer(3).same_kind(&S::Text("3".into())));
    assert!(!S::Missing.same_kind(&S::Integer(0)));
}

#[test]
fn sort_keys_of_fields_and_system_fields() {
    let sort = |body: serde_json::Value| -> Sort { serde_json::from_value(body).unwrap() };
    let record = stored(Some(FieldValue::int64(9)));
    let key = |s: Sort| sort_value(&s, "team-7", &record);
    assert_eq!(key(sort(json!({"fieldName": "f"}))), SortValue::Integer(9));
    assert_eq!(key(sort(json!({"fieldName": "other"}))), SortValue::Missing);
    assert_eq!(
        key(sort(json!({"systemFieldName": "recordName"}))),
        SortValue::Text("team-7".into())
    );
    assert_eq!(
        key(sort(json!({"systemFieldName": "createdTimestamp"}))),
        SortValue::Integer(1_000)
    );
    assert_eq!(
        key(sort(json!({"systemFieldName": "modifiedTimestamp"}))),
        SortValue::Integer(2_000)
    );
    assert_eq!(
        key(sort(json!({"systemFieldName": "etag"}))),
        SortValue::Missing
    );
    let listed = stored(Some(strings(&["a"])));
    assert_eq!(
        sort_value(&sort(json!({"fieldName": "f"})), "r", &listed),
        SortValue::Missing
    );
    let placed = stored(Some(location(1.0, 2.0)));
    assert_eq!(
        sort_value(&sort(json!({"fieldName": "f"})), "r", &placed),
        SortValue::Missing
    );
}

fn scope() -> Scope {
    Scope {
        container: "iCloud.test".into(),
        environment: Environment::Development,
        database: Database::Public,
    }
}

/// A store whose `Team` type has `when` fixed as TIMESTAMP and `tags` as STRING_LIST.
fn store_with_schema() -> Store {
    let mut store = Store::new(Indexes::default());
    let types = [
        ("when".to_owned(), FieldType::Scalar(ScalarType::Timestamp)),
        ("tags".to_owned(), FieldType::List(ScalarType::String)),
    ];
    store
        .scopes
        .entry(scope())
        .or_default()
        .schema
        .insert("Team".into(), types.into_iter().collect());
    store
}

fn compile_json(store: &Store, filters: serde_json::Value) -> Result<Vec<Compiled>, RequestError> {
    let query: Query =
        serde_json::from_value(json!({"recordType": "Team", "filterBy": filters})).unwrap();
    compile(store, &scope(), &query)
}

#[test]
fn filters_decode_with_their_own_type_the_schemas_or_an_inferred_one() {
    let store = store_with_schema();
    // Untyped number on a TIMESTAMP field: the schema's type.
    let compiled = compile_json(
        &store,
        json!([{"comparator": "EQUALS", "fieldName": "when", "fieldValue": {"value": 5}}]),
    )
    .unwrap();
    assert_eq!(compiled[0].operand, FieldValue::timestamp(5));
    assert_eq!(compiled[0].comparator, Comparator::Equals);
    // A list comparator on a list field: the list of its elements.
    let compiled = compile_json(
        &store,
        json!([{"comparator": "LIST_CONTAINS_ANY", "fieldName": "tags",
                "fieldValue": {"value": ["a", "b"]}}]),
    )
    .unwrap();
    assert_eq!(compiled[0].operand, strings(&["a", "b"]));
    // LIST_CONTAINS on a list field: one element.
    let compiled = compile_json(
        &store,
        json!([{"comparator": "LIST_CONTAINS", "fieldName": "tags", "fieldValue": {"value": "a"}}]),
    )
    .unwrap();
    assert_eq!(compiled[0].operand, FieldValue::string("a"));
    // An explicit type wins over the schema's.
    let compiled = compile_json(
        &store,
        json!([{"comparator": "EQUALS", "fieldName": "when",
                "fieldValue": {"value": 5, "type": "INT64"}}]),
    )
    .unwrap();
    assert_eq!(compiled[0].operand, FieldValue::int64(5));
    // Unknown field: inferred. System timestamps: TIMESTAMP. Distance kept.
    let compiled = compile_json(
        &store,
        json!([
            {"comparator": "GREATER_THAN", "fieldName": "n", "fieldValue": {"value": 2.5}},
            {"comparator": "LESS_THAN", "systemFieldName": "modifiedTimestamp",
             "fieldValue": {"value": 7}},
            {"comparator": "NEAR", "fieldName": "at", "distance": 250.0,
             "fieldValue": {"value": {"latitude": 1.0, "longitude": 2.0}, "type": "LOCATION"}},
        ]),
    )
    .unwrap();
    assert_eq!(compiled[0].operand, FieldValue::double(2.5));
    assert!(matches!(compiled[1].subject, Subject::Modified));
    assert_eq!(compiled[1].operand, FieldValue::timestamp(7));
    assert_eq!(compiled[2].distance, 250.0);
    assert_eq!(compiled[2].operand, location(1.0, 2.0));
}

#[test]
fn untyped_membership_filters_are_dropped_as_live_cloudkit_does() {
    let store = store_with_schema();
    let compiled = compile_json(
        &store,
        json!([
            {"comparator": "IN", "fieldName": "n", "fieldValue": {"value": [1, 2]}},
            {"comparator": "NOT_IN", "fieldName": "n", "fieldValue": {"value": [1, 2]}},
            {"comparator": "IN", "fieldName": "n", "fieldValue": {"value": [1, 2], "type": "INT64_LIST"}},
        ]),
    )
    .unwrap();
    assert_eq!(compiled.len(), 1);
    assert_eq!(compiled[0].comparator, Comparator::In);
    assert_eq!(
        compiled[0].operand,
        FieldValue::List(ScalarType::Int64, vec![Value::Int64(1), Value::Int64(2)])
    );
}

#[test]
fn unusable_filters_are_bad_requests_that_say_why() {
    let store = store_with_schema();
    let reason = |filter: serde_json::Value| {
        let error = compile_json(&store, json!([filter])).expect_err("a 400");
        assert_eq!(
            error.code,
            crate::cloudkit::wire::ServerErrorCode::BadRequest
        );
        error.reason
    };
    // An unknown comparator does not decode as a query at all (`wire::Comparator`).
    let body = json!({"query": {"recordType": "Team", "filterBy": [
        {"comparator": "LIKE", "fieldName": "n", "fieldValue": {"value": 1}}]}});
    let error = crate::emulator::protocol::parse_body::<crate::cloudkit::wire::QueryRequest>(
        body.to_string().as_bytes(),
    )
    .expect_err("a 400");
    assert!(
        error.reason.contains("unknown comparator 'LIKE'"),
        "{}",
        error.reason
    );
    assert_eq!(
        reason(
            json!({"comparator": "EQUALS", "systemFieldName": "etag", "fieldValue": {"value": 1}})
        ),
        "BadRequestException: system field 'etag' is not supported by the emulator"
    );
    assert_eq!(
        reason(json!({"comparator": "EQUALS", "fieldValue": {"value": 1}})),
        "BadRequestException: missing required field 'fieldName'"
    );
    assert_eq!(
        reason(
            json!({"comparator": "EQUALS", "fieldName": "when", "fieldValue": {"value": "soon"}})
        ),
        "BadRequestException: invalid filter value for field 'when'"
    );
    assert_eq!(
        reason(json!({"comparator": "EQUALS", "fieldName": "n", "fieldValue": {"value": null}})),
        "BadRequestException: invalid filter value for field 'n'"
    );
    assert_eq!(
        reason(
            json!({"comparator": "EQUALS", "systemFieldName": "recordName",
                      "fieldValue": {"value": 1, "type": "NOPE"}})
        ),
        "BadRequestException: invalid filter value for field 'recordName'"
    );
}

#[test]
fn every_comparator_name_decodes_to_its_own_comparator() {
    let store = store_with_schema();
    let names = [
        "EQUALS",
        "NOT_EQUALS",
        "LESS_THAN",
        "LESS_THAN_OR_EQUALS",
        "GREATER_THAN",
        "GREATER_THAN_OR_EQUALS",
        "BEGINS_WITH",
        "NOT_BEGINS_WITH",
        "LIST_CONTAINS",
        "NOT_LIST_CONTAINS",
        "LIST_MEMBER_BEGINS_WITH",
        "NOT_LIST_MEMBER_BEGINS_WITH",
        "CONTAINS_ALL_TOKENS",
        "CONTAINS_ANY_TOKENS",
    ];
    let mut seen = Vec::new();
    for name in names {
        let compiled = compile_json(
            &store,
            json!([{"comparator": name, "fieldName": "s", "fieldValue": {"value": "x"}}]),
        )
        .unwrap();
        let found = Comparator::parse(name).unwrap();
        assert_eq!(compiled[0].comparator, found, "{name}");
        seen.push(format!("{found:?}"));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        names.len(),
        "two names decode to one comparator"
    );
    assert_eq!(field_label(Some("f"), Some("recordName")), "f");
    assert_eq!(field_label(None, Some("recordName")), "recordName");
    assert_eq!(field_label(None, None), "");
}
