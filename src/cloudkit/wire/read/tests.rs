use super::*;
use crate::cloudkit::wire::RecordResult;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

/// What the general decoding makes of one entry: the record with its `modified` time and
/// `deleted` flag, or the error entry; `None` where it fails.
fn general(text: &str) -> Option<ReadEntry> {
    match serde_json::from_str::<RecordResult>(text).ok()? {
        RecordResult::Record(wire) => Some(ReadEntry::Record {
            record: wire.to_record().ok()?,
            modified: wire.modified.as_ref().map(|m| m.timestamp),
            deleted: wire.deleted == Some(true),
        }),
        RecordResult::Error(error) => Some(ReadEntry::Error(error)),
    }
}

fn fast(text: &str) -> Option<ReadEntry> {
    serde_json::from_str::<ReadEntry>(text).ok()
}

#[test]
fn a_live_record_decodes_as_the_general_way_decodes_it() {
    let text = json!({
        "recordName": "game-1", "recordType": "Game",
        "fields": {
            "season": {"value": 2024, "type": "INT64"},
            "home": {"value": {"recordName": "team-1", "action": "NONE",
                "zoneID": {"zoneName": "_defaultZone", "ownerRecordName": "_abc", "zoneType": "DEFAULT_ZONE"}},
                "type": "REFERENCE"},
            "where": {"type": "LOCATION", "value": {"latitude": 1.5, "longitude": -2, "altitude": 3}},
            "tags": {"value": ["a", "b"], "type": "STRING_LIST"},
            "gone": {"value": null, "type": "STRING"},
            "none": null,
            "later": {"value": {"x": 1}, "type": "SOMETHING_NEW"}
        },
        "pluginFields": {}, "recordChangeTag": "k1",
        "created": {"timestamp": 10, "userRecordName": "_u", "deviceID": "2"},
        "modified": {"timestamp": 20, "userRecordName": "_u", "deviceID": "2"},
        "deleted": false,
        "zoneID": {"zoneName": "_defaultZone", "ownerRecordName": "_abc", "zoneType": "DEFAULT_ZONE"},
        "shortGUID": "x"
    })
    .to_string();
    let decoded = fast(&text).expect("the fast way takes a live record");
    assert_eq!(Some(&decoded), general(&text).as_ref());
    let ReadEntry::Record {
        record, modified, ..
    } = decoded
    else {
        panic!("a record")
    };
    assert_eq!(modified, Some(20));
    assert_eq!(record.fields.len(), 5);
}

#[test]
fn error_entries_decode_as_the_general_way_decodes_them() {
    let text = json!({"recordName": "a", "reason": "gone", "serverErrorCode": "NOT_FOUND",
        "retryAfter": 2, "uuid": "u", "unrelated": [1]})
    .to_string();
    let decoded = fast(&text).expect("an error entry");
    assert_eq!(Some(decoded), general(&text));
}

#[test]
fn what_the_fast_way_refuses_is_left_to_the_general_way() {
    for entry in [
        json!({"recordName": "a", "recordType": "T", "fields": {"f": {"value": 1}}}),
        json!({"recordName": "a", "recordType": "T", "fields": {"f": {"value": "x", "type": "INT64"}}}),
        json!({"recordName": "a", "fields": {}}),
        json!({"recordName": "a", "recordType": "T", "fields": {"f": [1, "INT64"]}}),
    ] {
        assert_eq!(fast(&entry.to_string()), None, "{entry}");
    }
}

/// Values of every shape a field can hold, well-typed or not.
fn any_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        (-1e6f64..1e6).prop_map(Json::from),
        "[a-zA-Z0-9_ =+/\\\\\"\u{e9}]{0,8}".prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        let keys = prop_oneof![
            Just("recordName".to_owned()),
            Just("action".to_owned()),
            Just("zoneID".to_owned()),
            Just("zoneName".to_owned()),
            Just("latitude".to_owned()),
            Just("longitude".to_owned()),
            Just("fileChecksum".to_owned()),
            Just("size".to_owned()),
            "[a-z]{1,3}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::from),
            proptest::collection::btree_map(keys, inner, 0..4)
                .prop_map(|map| Json::Object(map.into_iter().collect())),
        ]
    })
}

fn any_type() -> impl Strategy<Value = Json> {
    let names = [
        "STRING",
        "INT64",
        "DOUBLE",
        "TIMESTAMP",
        "BYTES",
        "REFERENCE",
        "LOCATION",
        "ASSETID",
        "STRING_LIST",
        "INT64_LIST",
        "DOUBLE_LIST",
        "TIMESTAMP_LIST",
        "REFERENCE_LIST",
        "LOCATION_LIST",
        "ASSETID_LIST",
        "BYTES_LIST",
        "UNKNOWN_LIST",
        "NEW_TYPE",
    ];
    prop_oneof![
        8 => proptest::sample::select(names.to_vec()).prop_map(Json::from),
        1 => Just(Json::Null),
        1 => Just(Json::from(5)),
    ]
}

/// A value that fits its type more often than not, so that both ways mostly succeed.
fn typed_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!({"value": n, "type": "INT64"})),
        any::<i64>().prop_map(|n| json!({"value": n, "type": "TIMESTAMP"})),
        (-1e9f64..1e9).prop_map(|n| json!({"value": n, "type": "DOUBLE"})),
        "[a-z\u{e9}\"\\\\]{0,6}".prop_map(|s| json!({"value": s, "type": "STRING"})),
        "[a-z]{1,4}".prop_map(|s| json!({"type": "REFERENCE", "value": {"recordName": s, "action": "NONE"}})),
        ("[a-z]{1,4}", any_value()).prop_map(|(s, zone)| json!({"value": {"recordName": s, "zoneID": zone}, "type": "REFERENCE"})),
        (-90f64..90.0, -180f64..180.0, any_value()).prop_map(|(a, b, x)| json!({"value": {"latitude": a, "longitude": b, "x": x}, "type": "LOCATION"})),
        proptest::collection::vec(any::<i64>(), 0..3).prop_map(|v| json!({"value": v, "type": "INT64_LIST"})),
        proptest::collection::vec("[a-z]{0,3}", 0..3).prop_map(|v| json!({"value": v, "type": "STRING_LIST"})),
        any_value().prop_map(|v| json!({"value": {"fileChecksum": "c", "size": 3, "x": v}, "type": "ASSETID"})),
        (any_value(), any_type()).prop_map(|(value, field_type)| json!({"value": value, "type": field_type})),
        any_value().prop_map(|value| json!({"value": value})),
        Just(Json::Null),
        any_value(),
    ]
}

fn any_entry() -> impl Strategy<Value = Json> {
    let stamp = prop_oneof![
        any::<i64>().prop_map(|t| json!({"timestamp": t, "userRecordName": "_u", "deviceID": "2"})),
        any_value(),
    ];
    let members = (
        proptest::option::of(
            prop_oneof![4 => "[a-z-]{1,6}".prop_map(Json::from), 1 => any_value()],
        ),
        proptest::option::of(prop_oneof![4 => Just(Json::from("Game")), 1 => any_value()]),
        proptest::option::of(proptest::collection::btree_map(
            "[a-c]{1,2}",
            typed_value(),
            0..5,
        )),
        proptest::option::of(
            prop_oneof![4 => "[a-z0-9]{1,4}".prop_map(Json::from), 1 => any_value()],
        ),
        (
            proptest::option::of(stamp.clone()),
            proptest::option::of(stamp),
        ),
        proptest::option::of(prop_oneof![
            Just(json!(false)),
            Just(json!(true)),
            any_value()
        ]),
        proptest::option::of(prop_oneof![
            Just(json!({"zoneName": "_defaultZone"})),
            any_value()
        ]),
        proptest::option::of(prop_oneof![
            Just(json!("NOT_FOUND")),
            Just(json!("ODD")),
            any_value()
        ]),
        proptest::option::of(any_value()),
    );
    members.prop_map(
        |(name, record_type, fields, tag, (created, modified), deleted, zone, code, extra)| {
            let mut entry = serde_json::Map::new();
            let mut put = |key: &str, value: Option<Json>| {
                if let Some(value) = value {
                    entry.insert(key.to_owned(), value);
                }
            };
            put("recordName", name);
            put("recordType", record_type);
            put(
                "fields",
                fields.map(|f| Json::Object(f.into_iter().collect())),
            );
            put("recordChangeTag", tag);
            put("created", created);
            put("modified", modified);
            put("deleted", deleted);
            put("zoneID", zone);
            put("serverErrorCode", code);
            put("reason", extra.clone());
            put("pluginFields", extra);
            Json::Object(entry)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Issue 18: whatever the fast decoding accepts, it decodes to what the general one
    /// gives; what it refuses goes the general way.
    #[test]
    fn issue_18_the_fast_decoding_agrees_with_the_general_one(entry in any_entry()) {
        let text = entry.to_string();
        if let Some(decoded) = fast(&text) {
            prop_assert_eq!(Some(decoded), general(&text), "{}", text);
        }
    }
}
