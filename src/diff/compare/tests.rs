use super::*;
use crate::record::{Location, ScalarType};
use proptest::prelude::*;

fn rules() -> CompareRules {
    CompareRules::default()
}

fn equal(a: FieldValue, b: FieldValue) -> bool {
    values_equal(&a, &b, &rules())
}

#[test]
fn location_tolerance_boundary_both_sides() {
    let base = FieldValue::location(42.0, -71.0);
    assert!(equal(base.clone(), FieldValue::location(42.0001, -71.0)));
    assert!(equal(base.clone(), FieldValue::location(41.9999, -71.0001)));
    assert!(!equal(base.clone(), FieldValue::location(42.00011, -71.0)));
    assert!(!equal(base.clone(), FieldValue::location(42.0, -70.99989)));
    let loose = CompareRules {
        location_tolerance: 0.01,
        ..rules()
    };
    assert!(values_equal(
        &base,
        &FieldValue::location(42.005, -71.0),
        &loose
    ));
}

#[test]
fn location_ignores_other_members() {
    let mut with_altitude = Location::new(42.0, -71.0);
    with_altitude
        .extra
        .insert("altitude".into(), serde_json::json!(12.0));
    assert!(equal(
        FieldValue::Scalar(Value::Location(Box::new(with_altitude))),
        FieldValue::location(42.0, -71.0)
    ));
}

fn named(name: &str) -> FieldValue {
    FieldValue::Scalar(Value::Reference(Box::new(Reference::named(name))))
}

fn stated(name: &str, action: &str, zone: Option<serde_json::Value>) -> FieldValue {
    FieldValue::Scalar(Value::Reference(Box::new(Reference {
        record_name: name.into(),
        action: Some(action.into()),
        zone_id: zone.map(Box::new),
    })))
}

#[test]
fn reference_that_names_only_its_target_compares_record_name_only() {
    let other = stated(
        "stadium-1",
        "DELETE_SELF",
        Some(serde_json::json!({"zoneName": "_defaultZone"})),
    );
    assert!(equal(named("stadium-1"), other));
    assert!(!equal(named("stadium-1"), named("stadium-2")));
}

#[test]
fn issue_17_a_stated_reference_action_or_zone_is_compared() {
    let cloud = stated("s-1", "DELETE_SELF", None);
    assert!(!equal(stated("s-1", "NONE", None), cloud.clone()));
    assert!(equal(stated("s-1", "DELETE_SELF", None), cloud.clone()));
    assert!(!equal(stated("s-1", "VALIDATE", None), cloud));
    // A current value without an action holds CloudKit's default.
    let bare = FieldValue::Scalar(Value::Reference(Box::new(Reference {
        record_name: "s-1".into(),
        action: None,
        zone_id: None,
    })));
    assert!(equal(stated("s-1", "NONE", None), bare.clone()));
    assert!(!equal(stated("s-1", "DELETE_SELF", None), bare));
    // Zones: by the members the desired value states; no zone is the default zone.
    let live_zone = serde_json::json!({"zoneName": "_defaultZone", "ownerRecordName": "_abc",
                                       "zoneType": "DEFAULT_ZONE"});
    let cloud = stated("s-1", "NONE", Some(live_zone));
    let zone = |z: serde_json::Value| stated("s-1", "NONE", Some(z));
    assert!(equal(
        zone(serde_json::json!({"zoneName": "_defaultZone"})),
        cloud.clone()
    ));
    assert!(!equal(
        zone(serde_json::json!({"zoneName": "Other"})),
        cloud.clone()
    ));
    assert!(!equal(
        zone(serde_json::json!({"zoneName": "_defaultZone", "ownerRecordName": "_x"})),
        cloud
    ));
    assert!(!equal(
        zone(serde_json::json!({"zoneName": "Other"})),
        stated("s-1", "NONE", None)
    ));
    // Lists, element by element.
    let list = |items: Vec<FieldValue>| {
        FieldValue::List(
            ScalarType::Reference,
            items
                .into_iter()
                .map(|item| match item {
                    FieldValue::Scalar(value) => value,
                    _ => unreachable!(),
                })
                .collect(),
        )
    };
    let cloud = list(vec![
        stated("a", "NONE", None),
        stated("b", "DELETE_SELF", None),
    ]);
    assert!(equal(list(vec![named("a"), named("b")]), cloud.clone()));
    assert!(!equal(
        list(vec![named("a"), stated("b", "NONE", None)]),
        cloud
    ));
}

#[test]
fn issue_17_unstated_reference_actions_are_settled_from_cloudkit_or_none() {
    let desired = vec![
        Record::new("Team", "t-1").with_field("stadium", named("s-1")),
        Record::new("Team", "t-2").with_field("stadium", stated("s-1", "NONE", None)),
        Record::new("Team", "t-3").with_field("stadium", named("s-3")),
    ];
    let current = vec![
        Record::new("Team", "t-1").with_field("stadium", stated("s-1", "DELETE_SELF", None)),
        Record::new("Team", "t-2").with_field("stadium", stated("s-1", "DELETE_SELF", None)),
    ];
    let diff = compare_type(&"Team".into(), desired, current, &rules());
    let [t1, t2, t3] = &diff.records[..] else {
        panic!("three records");
    };
    assert_eq!(t1.category, Category::Unchanged);
    // The desired state keeps CloudKit's action, so a whole-record write does not reset it.
    assert_eq!(
        t1.desired.as_ref().unwrap()["stadium"],
        stated("s-1", "DELETE_SELF", None)
    );
    assert_eq!(t2.category, Category::Updated);
    assert_eq!(t2.changes[0].field, "stadium");
    assert_eq!(t3.category, Category::New);
    assert_eq!(
        t3.desired.as_ref().unwrap()["stadium"],
        stated("s-3", "NONE", None)
    );
}

#[test]
fn scalars_compare_by_value_and_type() {
    assert!(equal(FieldValue::string("a"), FieldValue::string("a")));
    assert!(!equal(FieldValue::string("a"), FieldValue::string("b")));
    assert!(!equal(FieldValue::int64(1), FieldValue::timestamp(1)));
    assert!(!equal(FieldValue::int64(1), FieldValue::double(1.0)));
    assert!(equal(FieldValue::double(0.0), FieldValue::double(-0.0)));
    assert!(equal(
        FieldValue::double(f64::NAN),
        FieldValue::double(f64::NAN)
    ));
    // NaN equals only NaN.
    assert!(!equal(
        FieldValue::double(f64::NAN),
        FieldValue::double(1.0)
    ));
    assert!(!equal(
        FieldValue::double(1.0),
        FieldValue::double(f64::NAN)
    ));
    let asset = |checksum: &str| {
        FieldValue::Scalar(Value::Asset(Box::new(serde_json::json!({
            "fileChecksum": checksum,
            "size": 10,
        }))))
    };
    assert!(equal(asset("abc"), asset("abc")));
    assert!(!equal(asset("abc"), asset("abd")));
    // Issue 21: a downloadURL (minted per read) and a receipt never make a difference; a
    // local file compares by the checksum learned for it, and without one it differs.
    let fetched = FieldValue::Scalar(Value::Asset(Box::new(serde_json::json!({
        "fileChecksum": "abc", "size": 10, "downloadURL": "http://h/x/${f}",
    }))));
    assert!(equal(asset("abc"), fetched.clone()));
    let local = |learned: Option<&str>| {
        let mut json = serde_json::json!({"file": "a.png", "size": 10, "sha256": "00"});
        if let Some(checksum) = learned {
            json["fileChecksum"] = serde_json::json!(checksum);
        }
        FieldValue::Scalar(Value::Asset(Box::new(json)))
    };
    assert!(equal(local(Some("abc")), fetched.clone()));
    assert!(!equal(local(Some("abd")), fetched.clone()));
    assert!(!equal(local(None), fetched));
    assert!(equal(local(None), local(Some("abc"))));
    let unknown = |v| FieldValue::Unknown {
        type_name: "BOOLEAN".into(),
        value: Box::new(serde_json::json!(v)),
    };
    assert!(equal(unknown(true), unknown(true)));
    assert!(!equal(unknown(true), unknown(false)));
}

#[test]
fn lists_compare_element_wise_in_order() {
    let list = |items: &[i64]| {
        FieldValue::List(
            ScalarType::Int64,
            items.iter().copied().map(Value::Int64).collect(),
        )
    };
    assert!(equal(list(&[1, 2]), list(&[1, 2])));
    assert!(!equal(list(&[1, 2]), list(&[2, 1])));
    assert!(!equal(list(&[1, 2]), list(&[1, 2, 3])));
    assert!(!equal(list(&[1]), FieldValue::int64(1)));
    assert!(equal(
        list(&[]),
        FieldValue::List(ScalarType::String, vec![])
    ));
    let locations = |latitude| {
        FieldValue::List(
            ScalarType::Location,
            vec![Value::Location(Box::new(Location::new(latitude, 0.0)))],
        )
    };
    assert!(equal(locations(1.0), locations(1.00005)));
    assert!(!equal(locations(1.0), locations(1.0002)));
}

fn cloud(name: &str, tag: &str) -> Record {
    let mut record = Record::new("Team", name);
    record.change_tag = Some(tag.into());
    record
}

#[test]
fn categories_and_order() {
    let desired = vec![
        Record::new("Team", "c").with_field("n", FieldValue::int64(1)),
        Record::new("Team", "a").with_field("n", FieldValue::int64(1)),
        Record::new("Team", "b").with_field("n", FieldValue::int64(1)),
    ];
    let current = vec![
        cloud("d", "t4"),
        cloud("b", "t2").with_field("n", FieldValue::int64(1)),
        cloud("c", "t3").with_field("n", FieldValue::int64(2)),
    ];
    let diff = compare_type(&"Team".into(), desired, current, &rules());
    let summary: Vec<(&str, Category, Option<&str>)> = diff
        .records
        .iter()
        .map(|r| {
            (
                r.record_name.as_str(),
                r.category,
                r.change_tag.as_ref().map(|t| t.as_str()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a", Category::New, None),
            ("b", Category::Unchanged, Some("t2")),
            ("c", Category::Updated, Some("t3")),
            ("d", Category::Orphan, Some("t4")),
        ]
    );
    assert_eq!(
        diff.records[2].changes,
        [FieldChange {
            field: "n".into(),
            before: Some(FieldValue::int64(2)),
            after: Some(FieldValue::int64(1)),
        }]
    );
    assert!(diff.records[3].desired.is_none());
    assert_eq!(diff.count(Category::Unchanged), 1);
}

#[test]
fn records_in_descending_order_are_sorted_before_the_merge() {
    let desired = vec![
        Record::new("Team", "c").with_field("n", FieldValue::int64(1)),
        Record::new("Team", "b").with_field("n", FieldValue::int64(1)),
        Record::new("Team", "a").with_field("n", FieldValue::int64(1)),
    ];
    let current = vec![
        cloud("c", "t3").with_field("n", FieldValue::int64(1)),
        cloud("b", "t2").with_field("n", FieldValue::int64(1)),
        cloud("a", "t1").with_field("n", FieldValue::int64(1)),
    ];
    let diff = compare_type(&"Team".into(), desired, current, &rules());
    let names: Vec<(&str, Category)> = diff
        .records
        .iter()
        .map(|r| (r.record_name.as_str(), r.category))
        .collect();
    assert_eq!(
        names,
        [
            ("a", Category::Unchanged),
            ("b", Category::Unchanged),
            ("c", Category::Unchanged),
        ]
    );
}

#[test]
fn missing_and_present_fields_both_directions() {
    let desired = vec![Record::new("Team", "a")
        .with_field("local_only", FieldValue::string("x"))
        .with_field("same", FieldValue::int64(1))];
    let current = vec![cloud("a", "t")
        .with_field("cloud_only", FieldValue::string("y"))
        .with_field("same", FieldValue::int64(1))];
    let diff = compare_type(&"Team".into(), desired, current, &rules());
    assert_eq!(
        diff.records[0].changes,
        [
            FieldChange {
                field: "cloud_only".into(),
                before: Some(FieldValue::string("y")),
                after: None,
            },
            FieldChange {
                field: "local_only".into(),
                before: None,
                after: Some(FieldValue::string("x")),
            },
        ]
    );
}

#[test]
fn ignored_fields_are_never_compared_nor_desired() {
    let rules = CompareRules {
        ignore_fields: ["followers".to_owned()].into(),
        ..rules()
    };
    let desired = vec![
        Record::new("Team", "a").with_field("followers", FieldValue::int64(1)),
        Record::new("Team", "b").with_field("followers", FieldValue::int64(1)),
    ];
    let current = vec![cloud("a", "t").with_field("followers", FieldValue::int64(99))];
    let diff = compare_type(&"Team".into(), desired, current, &rules);
    assert_eq!(diff.records[0].category, Category::Unchanged);
    for record in &diff.records {
        assert_eq!(record.desired.as_ref().map(|f| f.len()), Some(0));
    }
}

#[test]
fn system_metadata_is_not_compared() {
    // The change tag (and created / modified, which never reach `fields`) differ freely.
    let desired = vec![Record::new("Team", "a").with_field("n", FieldValue::int64(1))];
    let current = vec![cloud("a", "other-tag").with_field("n", FieldValue::int64(1))];
    let diff = compare_type(&"Team".into(), desired, current, &rules());
    assert_eq!(diff.records[0].category, Category::Unchanged);
    assert_eq!(
        diff.records[0].change_tag.as_ref().map(|t| t.as_str()),
        Some("other-tag")
    );
}

fn element() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(Value::Int64),
        any::<f64>().prop_map(Value::Double),
        any::<i64>().prop_map(Value::Timestamp),
        "[a-z]{1,8}".prop_map(|name| Value::Reference(Box::new(Reference::to(name.as_str())))),
        (-90.0..90.0f64, -180.0..180.0f64).prop_map(|(latitude, longitude)| Value::Location(
            Box::new(Location::new(latitude, longitude))
        )),
    ]
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        element().prop_map(FieldValue::Scalar),
        proptest::collection::vec(any::<i64>().prop_map(Value::Int64), 0..4)
            .prop_map(|items| FieldValue::List(ScalarType::Int64, items)),
    ]
}

fn records() -> impl Strategy<Value = Vec<Record>> {
    proptest::collection::btree_map(
        "[a-z]{1,6}",
        proptest::collection::btree_map("[a-z]{1,4}", field_value(), 0..5),
        0..12,
    )
    .prop_map(|by_name| {
        by_name
            .into_iter()
            .map(|(name, fields)| Record {
                fields: fields.into_iter().collect(),
                ..cloud(&name, "tag")
            })
            .collect()
    })
}

/// Fields of one record, often alike: few names, few values, so that pairs are often equal.
fn alike_fields() -> impl Strategy<Value = Fields> {
    let value = prop_oneof![
        (0i64..3).prop_map(FieldValue::int64),
        (0i64..2).prop_map(FieldValue::timestamp),
        prop_oneof![Just(0.0f64), Just(-0.0), Just(f64::NAN), Just(1.0)]
            .prop_map(FieldValue::double),
        "[ab]".prop_map(FieldValue::string),
        (
            "[ab]",
            proptest::option::of(prop_oneof![Just("NONE"), Just("DELETE_SELF")])
        )
            .prop_map(|(name, action)| {
                let mut reference = Reference::named(name.as_str());
                reference.action = action.map(Reference::shared_action);
                FieldValue::Scalar(Value::Reference(Box::new(reference)))
            }),
        (0i64..2, 0i64..2).prop_map(|(a, b)| FieldValue::location(a as f64 * 0.00005, b as f64)),
        proptest::collection::vec((0i64..2).prop_map(Value::Int64), 0..2)
            .prop_map(|items| FieldValue::List(ScalarType::Int64, items)),
        Just(FieldValue::List(ScalarType::String, Vec::new())),
    ];
    proptest::collection::btree_map("[a-c]", value, 0..4)
        .prop_map(|fields| fields.into_iter().collect())
}

proptest! {
    /// Issue 18: `fields_equal` says unchanged exactly when `compare_type` does, with or
    /// without ignored fields.
    #[test]
    fn issue_18_fields_equal_agrees_with_compare_type(
        desired in alike_fields(),
        current in alike_fields(),
        ignore in proptest::option::of("[a-c]"),
    ) {
        let rules = CompareRules {
            ignore_fields: ignore.into_iter().collect(),
            ..rules()
        };
        let diff = compare_type(
            &"Team".into(),
            vec![Record { fields: desired.clone(), ..Record::new("Team", "a") }],
            vec![Record { fields: current.clone(), ..cloud("a", "tag") }],
            &rules,
        );
        let unchanged = diff.records[0].category == Category::Unchanged;
        prop_assert_eq!(fields_equal(&desired, &current, &rules), unchanged);
        if unchanged {
            let record = unchanged_record(Record { fields: desired, ..Record::new("Team", "a") }, Some(ChangeTag::new("tag")), &rules);
            prop_assert_eq!(record.category, Category::Unchanged);
            prop_assert_eq!(record.change_tag, diff.records[0].change_tag.clone());
            prop_assert_eq!(record.desired.map(|d| d.keys().cloned().collect::<Vec<_>>()), diff.records[0].desired.as_ref().map(|d| d.keys().cloned().collect::<Vec<_>>()));
        }
    }

    #[test]
    fn comparing_records_with_themselves_finds_no_changes(records in records()) {
        let diff = compare_type(&"Team".into(), records.clone(), records.clone(), &rules());
        prop_assert_eq!(diff.records.len(), records.len());
        for record in &diff.records {
            prop_assert_eq!(record.category, Category::Unchanged);
            prop_assert!(record.changes.is_empty());
        }
    }
}

/// Process CPU time (user + system, all threads) from `/proc/self/stat`, in seconds; Linux
/// counts it in clock ticks of 1/100 s.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("linux /proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); field 3 is the first after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// A game record of six fields, as the SportsTime example has.
fn game(index: usize) -> Record {
    Record::new("Game", format!("game-{index:08}"))
        .with_field(
            "homeTeam",
            FieldValue::reference(format!("team-{}", index % 30)),
        )
        .with_field(
            "awayTeam",
            FieldValue::reference(format!("team-{}", (index + 7) % 30)),
        )
        .with_field(
            "venue",
            FieldValue::string(format!("Stadium {}", index % 30)),
        )
        .with_field("homeScore", FieldValue::int64((index % 11) as i64))
        .with_field(
            "startTime",
            FieldValue::timestamp(1_700_000_000_000 + index as i64 * 60_000),
        )
        .with_field(
            "location",
            FieldValue::location(42.0 + (index % 90) as f64 / 10.0, -71.0),
        )
}

fn measure(label: &str, desired: Vec<Record>, current: Vec<Record>) {
    let count = desired.len();
    let (cpu_start, wall_start) = (process_cpu_seconds(), std::time::Instant::now());
    let diff = compare_type(&"Game".into(), desired, current, &rules());
    let (cpu, wall) = (
        process_cpu_seconds() - cpu_start,
        wall_start.elapsed().as_secs_f64(),
    );
    println!(
        "{label}: {count} records, wall {wall:.3} s ({:.0} records/s), cpu {cpu:.2} s ({:.0} records/cpu-s)",
        count as f64 / wall,
        count as f64 / cpu.max(0.01),
    );
    assert_eq!(diff.records.len(), count);
    drop(diff);
}

/// `cargo test --release --lib diff::compare::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore = "a release-mode measurement, run by hand"]
fn throughput() {
    const COUNT: usize = 1_000_000;
    let desired: Vec<Record> = (0..COUNT).map(game).collect();
    let cloud_copy = |records: &[Record], changed_every: usize| -> Vec<Record> {
        let mut current = records.to_vec();
        for (index, record) in current.iter_mut().enumerate() {
            record.change_tag = Some(format!("tag-{index}").into());
            if changed_every > 0 && index % changed_every == 0 {
                record.fields.insert("homeScore", FieldValue::int64(-1));
            }
        }
        current
    };
    let unchanged = cloud_copy(&desired, 0);
    measure("sorted, unchanged", desired.clone(), unchanged);
    let changed = cloud_copy(&desired, 50);
    measure("sorted, 2 % changed", desired.clone(), changed);
    let changed = cloud_copy(&desired, 50);
    let mut shuffled = desired;
    // A fixed permutation: reversed halves interleaved, so that neither side is sorted.
    shuffled.reverse();
    shuffled.swap(0, COUNT / 2);
    measure("local unsorted, 2 % changed", shuffled, changed);
}
