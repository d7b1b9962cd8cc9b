use super::checksum::checksum_of_text;
use super::read::{read_checked, read_typed};
use super::*;
use crate::plan::{Change, InputDigest, PlanOptions, TypeSummary, FORMAT_VERSION};
use crate::record::{ChangeTag, FieldValue, Fields, Target, Timestamp};
use crate::record::{Database, Environment};
use crate::record::{Location, Reference, ScalarType, Value};
use proptest::prelude::*;
use serde_json::json;
use serde_json::Value as Json;
use std::collections::BTreeMap;

fn target() -> Target {
    Target {
        container: "iCloud.com.example.SportsTime".into(),
        environment: Environment::Development,
        database: Database::Public,
        zone: "_defaultZone".into(),
    }
}

/// A small plan with one change of each kind.
fn sample_plan() -> Plan {
    let after = Fields::from([
        ("capacity".to_owned(), FieldValue::int64(37755)),
        (
            "location".to_owned(),
            FieldValue::location(42.3467, -71.0972),
        ),
        ("name".to_owned(), FieldValue::string("Fenway Park")),
        (
            "opened".to_owned(),
            FieldValue::timestamp(-1_821_484_800_000),
        ),
    ]);
    let team = Fields::from([
        (
            "stadium".to_owned(),
            FieldValue::reference("stadium-fenway"),
        ),
        (
            "colors".to_owned(),
            FieldValue::List(
                ScalarType::String,
                vec![Value::String("red".into()), Value::String("navy".into())],
            ),
        ),
    ]);
    Plan {
        referenced_orphans: vec![crate::plan::ReferencedOrphan {
            record_type: "Stadium".into(),
            record_name: "stadium-9".into(),
            deleted: false,
            referenced_by: vec![crate::plan::Referrer {
                record_type: "Team".into(),
                record_name: "team-9".into(),
                field: "stadium".into(),
                action: "DELETE_SELF".into(),
                source: crate::plan::ReferenceSource::Local,
            }],
            cascade: vec![("Team".into(), "team-9".into())],
        }],
        schema: None,
        rules: BTreeMap::new(),
        format_version: FORMAT_VERSION,
        tool_version: "0.1.0".into(),
        created_at: "2025-01-02T03:04:05Z".parse().unwrap(),
        target: target(),
        endpoint: None,
        options: PlanOptions {
            delete_orphans: true,
            delete_referenced: false,
            types: None,
        },
        inputs: vec![InputDigest {
            path: "ckplan.yaml".into(),
            blake3: "0".repeat(64),
        }],
        summary: vec![
            TypeSummary {
                record_type: "Stadium".into(),
                create: 0,
                update: 1,
                delete: 0,
                unchanged: 29,
                orphans: 0,
            },
            TypeSummary {
                record_type: "Team".into(),
                create: 1,
                update: 0,
                delete: 1,
                unchanged: 4,
                orphans: 1,
            },
        ],
        type_order: vec!["Stadium".into(), "Team".into()],
        changes: vec![
            Change {
                action: Action::Update,
                record_type: "Stadium".into(),
                record_name: "stadium-fenway".into(),
                change_tag: Some(ChangeTag::new("k3")),
                before: BTreeMap::from([
                    ("capacity".to_owned(), Some(FieldValue::int64(37731))),
                    ("nickname".to_owned(), Some(FieldValue::string("Friendly"))),
                    ("opened".to_owned(), None),
                ]),
                after: Some(after),
                removed: vec!["nickname".into()],
            },
            Change {
                action: Action::Create,
                record_type: "Team".into(),
                record_name: "team-7".into(),
                change_tag: None,
                before: BTreeMap::new(),
                after: Some(team),
                removed: Vec::new(),
            },
            Change {
                action: Action::Delete,
                record_type: "Team".into(),
                record_name: "team-9".into(),
                change_tag: Some(ChangeTag::new("k9")),
                before: BTreeMap::new(),
                after: None,
                removed: Vec::new(),
            },
        ],
    }
}

/// Re-serializes an edited document with a correct checksum, as a tool that knows the
/// format would: the checks after the checksum must still catch what is wrong.
fn resealed(mut value: Json) -> String {
    value
        .as_object_mut()
        .expect("a plan is an object")
        .remove("checksum");
    let text = serde_json::to_string_pretty(&value).unwrap();
    value["checksum"] = Json::String(checksum_of_text(&text).0);
    serde_json::to_string_pretty(&value).unwrap()
}

/// `text` without whitespace outside strings.
fn compacted(text: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in text.chars() {
        if in_string {
            (escaped, in_string) = (!escaped && c == '\\', escaped || c != '"');
        } else if c.is_ascii_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        out.push(c);
    }
    out
}

fn sample_value() -> Json {
    serde_json::from_str(&to_text(&sample_plan())).unwrap()
}

#[test]
fn the_format_reads_as_documented() {
    insta::assert_snapshot!(to_text(&sample_plan()));
}

#[test]
fn sample_round_trips() {
    let plan = sample_plan();
    assert_eq!(from_text(&to_text(&plan)), Ok(plan));
}

#[test]
fn version_1_canonical_form_is_compact_and_sorted() {
    let text = r#"{"checksum": "x", "format_version": 1, "b": [1, 2.5, "x\n", -0.0, 1e20, 0.0000001, 123456789012345678.0], "a": {"d": null, "c": true}}"#;
    let bytes = canonical_body(text).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"a":{"c":true,"d":null},"b":[1,2.5,"x\n",-0.0,1e+20,1e-7,1.2345678901234568e+17],"format_version":1}"#
    );
}

#[test]
fn version_2_hashes_the_text_without_whitespace_or_checksum_member() {
    let text =
        "{\n  \"format_version\": 2,\n  \"checksum\": \"x\",\r\n  \"b\": [1, 1.50, \"x y\\\"\"]\n}";
    let bytes = canonical_body(text).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"format_version":2,"b":[1,1.50,"x y\""]}"#
    );
    let first = "{\"checksum\": \"x\", \"a\": 1}";
    assert_eq!(canonical_body(first).unwrap(), br#"{"a":1}"#);
    let nested = "{\"a\": {\"checksum\": \"x\"}, \"checksum\": \"y\"}";
    assert_eq!(
        canonical_body(nested).unwrap(),
        br#"{"a":{"checksum":"x"}}"#
    );
}

/// Issue 18: version 1 plans (written before field values were typed and the checksum was
/// taken over the bytes) still read, as the same plan, with their own checksum.
#[test]
fn issue_18_a_version_1_plan_still_reads() {
    let text = include_str!("fixtures/sample-v1.plan");
    assert!(text.contains("\"format_version\": 1,"));
    let verified = read_text(text).unwrap();
    // The fixture predates referenced orphans (issue 17), which the sample now has.
    let sample = Plan {
        referenced_orphans: Vec::new(),
        ..sample_plan()
    };
    assert_eq!(verified.plan, sample);
    assert_eq!(
        verified.checksum,
        "blake3:cb8c5b04ef01e52a354a75976d925ff1723d8673933f02e89f66822c85475b73"
    );
    // Its checksum still guards it.
    let edited = text.replace("37755", "37756");
    assert!(matches!(
        read_text(&edited),
        Err(PlanFileError::ChecksumMismatch { .. })
    ));
    // Written again, it is a plan of the current version.
    assert!(to_text(&verified.plan).contains("\"format_version\": 2,"));
}

/// Issue 18: a plan ckplan wrote is read by the one-pass path, not the checked one.
#[test]
fn issue_18_written_plans_take_the_one_pass_path() {
    let text = to_text(&sample_plan());
    assert_eq!(read_typed(&text), Some(read_checked(&text)));
    assert!(matches!(read_typed(&text), Some(Ok(_))));
    // A value before its type is still read.
    let swapped = resealed(sample_value());
    assert_eq!(from_text(&swapped), Ok(sample_plan()));
}

#[test]
fn reindented_plan_stays_valid() {
    let text = to_text(&sample_plan());
    assert_eq!(from_text(&compacted(&text)), Ok(sample_plan()));
    assert_eq!(from_text(&text.replace('\n', "\r\n")), Ok(sample_plan()));
    assert_eq!(
        from_text(&text.replace("\n  ", "\n\t  ")),
        Ok(sample_plan())
    );
}

#[test]
fn issue_12_a_plan_saved_with_a_bom_reads_with_its_checksum() {
    let plan = sample_plan();
    let text = format!("\u{feff}{}", to_text(&plan));
    let verified = read_bytes(text.as_bytes()).unwrap();
    assert_eq!(verified.plan, plan);
    assert_eq!(verified.checksum, checksum(&plan));
    // Content after the mark is still covered.
    let edited = text.replacen("\"action\": \"create\"", "\"action\": \"delete\"", 1);
    assert_ne!(edited, text);
    assert!(read_bytes(edited.as_bytes()).is_err());
}

#[test]
fn unknown_version_is_refused_before_the_checksum() {
    let text = to_text(&sample_plan()).replace("\"format_version\": 2,", "\"format_version\": 7,");
    let error = from_text(&text).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "plan format version 7 is not supported by ckplan {} (supports 1 and 2)",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn missing_checksum_is_refused() {
    let mut value = sample_value();
    value.as_object_mut().unwrap().remove("checksum");
    let text = serde_json::to_string_pretty(&value).unwrap();
    assert_eq!(from_text(&text), Err(PlanFileError::ChecksumMissing));
}

#[test]
fn reordered_changes_are_refused() {
    let mut value = sample_value();
    value["changes"].as_array_mut().unwrap().swap(0, 2);
    let text = serde_json::to_string_pretty(&value).unwrap();
    let error = from_text(&text).unwrap_err();
    assert!(matches!(error, PlanFileError::ChecksumMismatch { .. }));
    assert_eq!(
        error.to_string(),
        "plan was modified after it was written: checksum mismatch"
    );
}

#[test]
fn other_documents_are_not_plans() {
    for text in [
        "",
        "  \n",
        "[]",
        r#"{"hello": 1}"#,
        r#"{"format": "tfplan"}"#,
    ] {
        let error = from_text(text).unwrap_err();
        assert!(
            matches!(error, PlanFileError::NotAPlan { .. }),
            "{text:?}: {error}"
        );
    }
    assert_eq!(
        from_text(r#"{"format": "tfplan"}"#)
            .unwrap_err()
            .to_string(),
        "not a ckplan plan: `format` is `\"tfplan\"`, expected `ckplan-plan`"
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let error = from_text("{\n  \"format\": ckplan\n}").unwrap_err();
    assert_eq!(
        error.to_string(),
        "plan is not valid JSON at line 2, column 13: expected value"
    );
    let error = from_text("{\n  \"format\": \"ckplan-plan\",\n").unwrap_err();
    assert_eq!(error, PlanFileError::Truncated { line: 3, column: 0 });
}

#[test]
fn structure_errors_name_the_path() {
    let mut value = sample_value();
    value["changes"][1]["action"] = json!("upsert");
    let error = from_text(&resealed(value)).unwrap_err();
    let PlanFileError::Structure { path, message } = &error else {
        panic!("{error}");
    };
    assert_eq!(path, "changes[1].action");
    assert!(message.contains("unknown variant `upsert`"), "{message}");
}

#[test]
fn unknown_members_are_refused() {
    let mut value = sample_value();
    value["changes"][0]["force"] = json!(true);
    let error = from_text(&resealed(value)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("plan is invalid at `changes[0].force`: unknown field `force`"),
        "{error}"
    );
}

#[test]
fn values_not_matching_their_type_name_change_record_and_field() {
    let mut value = sample_value();
    value["changes"][0]["after"]["capacity"]["value"] = json!("lots");
    let error = from_text(&resealed(value)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plan change 0 (Stadium `stadium-fenway`): `after` field `capacity`: \
         invalid value, expected type INT64"
    );
}

/// Regression (issue 13): a plan whose summary counted a Stadium create and delete while its
/// changes held a Team create and delete was read as valid.
#[test]
fn issue_13_a_summary_that_disagrees_with_the_changes_is_refused() {
    let mut value = sample_value();
    value["summary"][0]["create"] = json!(1);
    let error = from_text(&resealed(value)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plan summary for `Stadium` says create 1, update 1, delete 0 but its changes are \
         create 0, update 1, delete 0"
    );
    let mut value = sample_value();
    value["summary"].as_array_mut().unwrap().remove(1);
    let error = from_text(&resealed(value)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plan summary for `Team` says create 0, update 0, delete 0 but its changes are \
         create 1, update 0, delete 1"
    );
}

#[test]
fn a_delete_with_desired_fields_is_refused() {
    let mut value = sample_value();
    value["changes"][2]["after"] = json!({});
    let error = from_text(&resealed(value)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plan change 2 (delete Team `team-9`): `after` must be null for a delete"
    );
}

#[test]
fn changes_whose_members_contradict_their_action_are_refused() {
    // (change, member, value, message): 0 is an update, 1 a create.
    let cases = [
        (0, "after", json!(null), "plan change 0 (update Stadium `stadium-fenway`): `after` is missing: the desired fields are needed"),
        (1, "after", json!(null), "plan change 1 (create Team `team-7`): `after` is missing: the desired fields are needed"),
        (1, "change_tag", json!("k1"), "plan change 1 (create Team `team-7`): `change_tag` must be null for a create"),
        (1, "removed", json!(["name"]), "plan change 1 (create Team `team-7`): `removed` must be empty for a create"),
    ];
    for (index, member, bad, message) in cases {
        let mut value = sample_value();
        value["changes"][index][member] = bad;
        let error = from_text(&resealed(value)).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
    // An update may remove fields; the sample's does.
    assert!(from_text(&to_text(&sample_plan())).is_ok());
}

fn arb_element(element: ScalarType) -> BoxedStrategy<Value> {
    let finite = any::<f64>().prop_filter("finite", |f| f.is_finite());
    match element {
        ScalarType::String => any::<String>().prop_map(Value::String).boxed(),
        ScalarType::Int64 => any::<i64>().prop_map(Value::Int64).boxed(),
        ScalarType::Double => finite.prop_map(Value::Double).boxed(),
        ScalarType::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
        ScalarType::Bytes => "[A-Za-z0-9+/]{0,12}={0,2}".prop_map(Value::Bytes).boxed(),
        ScalarType::Reference => (
            "[a-z0-9-]{1,12}",
            // A plan states every action (the diff settles unstated ones); the file
            // writes an unstated one as `NONE`.
            prop_oneof!["NONE", "DELETE_SELF", "VALIDATE"].prop_map(Some),
            any::<bool>(),
        )
            .prop_map(|(name, action, zoned)| {
                Value::Reference(Box::new(Reference {
                    record_name: RecordName::new(name),
                    action: action.map(Into::into),
                    zone_id: zoned.then(|| Box::new(json!({"zoneName": "_defaultZone"}))),
                }))
            })
            .boxed(),
        ScalarType::Location => (finite.clone(), finite.clone(), proptest::option::of(finite))
            .prop_map(|(latitude, longitude, altitude)| {
                let mut location = Location::new(latitude, longitude);
                if let Some(altitude) = altitude {
                    location.extra.insert("altitude".into(), json!(altitude));
                }
                Value::Location(Box::new(location))
            })
            .boxed(),
        ScalarType::AssetId => ("[a-f0-9]{8}", any::<u32>())
            .prop_map(|(sum, size)| {
                Value::Asset(Box::new(json!({"fileChecksum": sum, "size": size})))
            })
            .boxed(),
    }
}

fn arb_field_value() -> impl Strategy<Value = FieldValue> {
    let element = proptest::sample::select(ScalarType::ALL.to_vec());
    prop_oneof![
        4 => element.clone().prop_flat_map(arb_element).prop_map(FieldValue::Scalar),
        2 => element.prop_flat_map(|t| {
            proptest::collection::vec(arb_element(t), 0..4)
                .prop_map(move |items| FieldValue::List(t, items))
        }),
        1 => any::<bool>().prop_map(|b| FieldValue::Unknown {
            type_name: "BOOLEAN".into(),
            value: Box::new(json!(b)),
        }),
    ]
}

fn arb_fields() -> impl Strategy<Value = Fields> {
    proptest::collection::btree_map("[a-z][a-zA-Z_]{0,7}", arb_field_value(), 0..4)
        .prop_map(|fields| fields.into_iter().collect())
}

fn arb_change() -> impl Strategy<Value = Change> {
    let before = proptest::collection::btree_map(
        "[a-z]{1,6}",
        proptest::option::of(arb_field_value()),
        0..3,
    );
    (
        proptest::sample::select(vec![Action::Create, Action::Update, Action::Delete]),
        "[A-Z][a-z]{0,6}",
        "[a-z0-9-]{1,10}",
        "[a-zA-Z0-9]{1,6}",
        before,
        arb_fields(),
        proptest::collection::vec("[a-z]{1,6}", 0..2),
    )
        .prop_map(|(action, record_type, name, tag, before, after, removed)| {
            let is = |a| action == a;
            Change {
                action,
                record_type: RecordType::new(record_type),
                record_name: RecordName::new(name),
                change_tag: (!is(Action::Create)).then(|| ChangeTag::new(tag)),
                before: if is(Action::Create) {
                    BTreeMap::new()
                } else {
                    before
                },
                after: (!is(Action::Delete)).then_some(after),
                removed: if is(Action::Update) {
                    removed
                } else {
                    Vec::new()
                },
            }
        })
}

/// A summary that agrees with `changes`, with `quiet` (types without changes) added.
fn summary_of(changes: &[Change], quiet: Vec<TypeSummary>) -> Vec<TypeSummary> {
    let mut by_type: BTreeMap<RecordType, TypeSummary> = BTreeMap::new();
    for entry in quiet {
        by_type.insert(entry.record_type.clone(), entry);
    }
    for change in changes {
        let entry = by_type
            .entry(change.record_type.clone())
            .or_insert_with(|| TypeSummary {
                record_type: change.record_type.clone(),
                create: 0,
                update: 0,
                delete: 0,
                unchanged: 3,
                orphans: 0,
            });
        match change.action {
            Action::Create => entry.create += 1,
            Action::Update => entry.update += 1,
            Action::Delete => entry.delete += 1,
        }
    }
    by_type.into_values().collect()
}

fn arb_plan() -> impl Strategy<Value = Plan> {
    // Types with no change; the types of the changes get their entries from the changes.
    let summary = ("[A-Z][a-z]{0,6}", any::<[u16; 2]>()).prop_map(|(t, n)| TypeSummary {
        record_type: RecordType::new(format!("Quiet{t}")),
        create: 0,
        update: 0,
        delete: 0,
        unchanged: n[0].into(),
        orphans: n[1].into(),
    });
    let input = ("[a-z/]{1,12}\\.(yaml|json)", "[0-9a-f]{64}")
        .prop_map(|(path, blake3)| InputDigest { path, blake3 });
    let options = (
        any::<bool>(),
        proptest::option::of(proptest::collection::vec("[A-Z][a-z]{0,5}", 0..3)),
    )
        .prop_map(|(delete_orphans, types)| PlanOptions {
            delete_orphans,
            delete_referenced: delete_orphans,
            types: types.map(|t| t.into_iter().map(RecordType::new).collect()),
        });
    (
        options,
        proptest::collection::vec(input, 0..3),
        proptest::collection::vec(summary, 0..3),
        proptest::collection::vec("[A-Z][a-z]{0,5}", 0..3),
        proptest::collection::vec(arb_change(), 0..5),
        arb_timestamp(),
    )
        .prop_map(
            |(options, inputs, quiet, order, changes, created_at)| Plan {
                referenced_orphans: Vec::new(),
                schema: None,
                summary: summary_of(&changes, quiet),
                format_version: FORMAT_VERSION,
                tool_version: "0.1.0".into(),
                created_at,
                target: target(),
                endpoint: None,
                options,
                inputs,
                type_order: order.into_iter().map(RecordType::new).collect(),
                rules: [(
                    RecordType::new("Stadium"),
                    crate::diff::CompareRules {
                        ignore_fields: ["followers".to_owned()].into(),
                        location_tolerance: 0.0001,
                    },
                )]
                .into(),
                changes,
            },
        )
}

/// Any instant from year 1 to 9999, to the nanosecond.
fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (-62_135_596_800i64..253_402_300_799, 0u32..1_000_000_000).prop_map(|(seconds, nanos)| {
        chrono::DateTime::from_timestamp(seconds, nanos)
            .expect("in range")
            .into()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn read_of_write_is_identity(plan in arb_plan()) {
        let text = to_text(&plan);
        prop_assert_eq!(&text, &to_text(&plan.clone()), "not deterministic");
        prop_assert_eq!(from_text(&text), Ok(plan));
    }

    /// Issue 10: the writer (hashing as it writes) and the reader (hashing the text it
    /// read) agree with each other and with the documented bytes.
    #[test]
    fn issue_10_writer_and_reader_hash_the_same_canonical_bytes(plan in arb_plan()) {
        let text = to_text(&plan);
        let documented = format!("blake3:{}", blake3::hash(&canonical_body(&text).unwrap()).to_hex());
        let value: Json = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&checksum(&plan), &documented);
        prop_assert_eq!(&checksum_of_text(&text).0, &documented);
        prop_assert_eq!(&value["checksum"], &json!(documented));
    }

    /// Issue 18: the file's writer (compact, then laid out) writes the bytes and checksum
    /// that serde_json's pretty formatter with the hashing formatter writes.
    #[test]
    fn issue_18_the_laid_out_writer_writes_what_the_pretty_formatter_writes(plan in arb_plan()) {
        let (mut laid_out, mut formatted) = (Vec::new(), Vec::new());
        let written = write_to(&plan, &mut laid_out).unwrap();
        let pretty = serde_json::ser::PrettyFormatter::new();
        let expected = write_formatted(&plan, &mut formatted, pretty).unwrap();
        prop_assert_eq!(String::from_utf8(laid_out).unwrap(), String::from_utf8(formatted).unwrap());
        prop_assert_eq!(&written, &expected);
        prop_assert_eq!(checksum(&plan), expected);
    }

    /// Issue 18: the one-pass reader and the checked reader read every written plan alike.
    #[test]
    fn issue_18_the_one_pass_and_checked_readers_agree(plan in arb_plan()) {
        let text = to_text(&plan);
        prop_assert_eq!(read_typed(&text), Some(read_checked(&text)));
    }

    #[test]
    fn single_byte_edits_are_refused(plan in arb_plan(), at in any::<prop::sample::Index>(),
                                     byte in 0x21u8..0x7f) {
        let text = to_text(&plan);
        let index = at.index(text.len());
        let original = text.as_bytes()[index];
        prop_assume!(!original.is_ascii_whitespace() && original != byte);
        let mut edited = text.clone().into_bytes();
        edited[index] = byte;
        let Ok(edited) = String::from_utf8(edited) else { return Ok(()) };
        if from_text(&edited).is_ok() {
            // Only a spelling of the same content may pass (`1e20` and `1E20`, `\u001f`
            // and `\u001F`): the checksum covers content, not layout.
            let same: Result<Json, _> = serde_json::from_str(&edited);
            prop_assert_eq!(same.ok(), serde_json::from_str::<Json>(&text).ok(),
                "edit at {} accepted", index);
        }
    }

    #[test]
    fn truncations_are_refused(plan in arb_plan(), at in any::<prop::sample::Index>()) {
        let text = to_text(&plan);
        let body = text.trim_end();
        let cut = at.index(body.len());
        if let Some(prefix) = body.get(..cut) {
            prop_assert!(from_text(prefix).is_err());
        }
    }
}

/// Regression (bad-input case `generated_plan_not_utf8`): a plan with a byte that is not
/// UTF-8 was refused as "stream did not contain valid UTF-8", with no place.
#[test]
fn bytes_that_are_not_utf8_are_refused_with_their_place() {
    let mut bytes = b"{\n  \"format\": \"ckplan-plan\",\n  \"x\": \"".to_vec();
    bytes.push(0xFF);
    assert_eq!(
        from_bytes(&bytes),
        Err(PlanFileError::NotJson {
            line: 3,
            column: 9,
            message: "invalid UTF-8".into()
        })
    );
}

#[test]
fn issue_10_the_plan_file_spells_every_target_in_its_own_form() {
    for environment in [Environment::Development, Environment::Production] {
        for database in [Database::Public, Database::Private, Database::Shared] {
            let plan = Plan {
                target: Target {
                    environment,
                    database,
                    ..target()
                },
                ..sample_plan()
            };
            let text = to_text(&plan);
            let value: Json = serde_json::from_str(&text).unwrap();
            assert_eq!(
                value["target"],
                json!({
                    "container": "iCloud.com.example.SportsTime",
                    "environment": environment.as_str(),
                    "database": database.as_str(),
                    "zone": "_defaultZone",
                })
            );
            assert_eq!(from_text(&text), Ok(plan));
        }
    }
}

#[test]
fn issue_10_a_created_at_that_is_not_a_timestamp_is_refused_by_path() {
    let mut value = sample_value();
    value["created_at"] = json!("yesterday");
    match from_text(&resealed(value)) {
        Err(PlanFileError::Structure { path, message }) => {
            assert_eq!(path, "created_at");
            assert!(message.contains("not an RFC 3339 timestamp"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn issue_12_a_plan_with_a_duplicated_key_is_refused_naming_the_key() {
    // serde_json keeps the last of two equal keys, and the checksum is computed over the
    // parsed value, so an inserted key would pass every check and change the plan.
    let text = to_text(&sample_plan());
    let evil = text.replacen(
        "\"record_name\": \"team-7\"",
        "\"record_name\": \"t-EVIL\",\n      \"record_name\": \"team-7\"",
        1,
    );
    assert_ne!(evil, text);
    let format = text.replacen("\"format\":", "\"format\": \"x\",\n  \"format\":", 1);
    assert_ne!(format, text);
    for (edited, key) in [(evil, "record_name"), (format, "format")] {
        match read_bytes(edited.as_bytes()) {
            Err(PlanFileError::NotJson { message, .. }) => {
                assert!(
                    message.contains(&format!("duplicate key `{key}`")),
                    "{message}"
                )
            }
            other => panic!("{key}: {other:?}"),
        }
    }
}

/// Issue 18: version 2's checksum is over the text as written, yet strings escaped another
/// way (`ckplan show --json` escapes invisible characters) hash as the same content.
#[test]
fn issue_18_strings_escaped_another_way_keep_the_checksum() {
    let mut plan = sample_plan();
    plan.changes[1].record_name = "team\u{202e}7".into();
    let text = to_text(&plan);
    let escaped = text.replace('\u{202e}', "\\u202e");
    assert_ne!(escaped, text);
    let verified = read_text(&escaped).unwrap();
    assert_eq!(verified.plan, plan);
    assert_eq!(verified.checksum, checksum(&plan));
    // A changed character is still an edit.
    let edited = text.replace('\u{202e}', "\\u202f");
    assert!(matches!(
        read_text(&edited),
        Err(PlanFileError::ChecksumMismatch { .. })
    ));
}

/// A plan whose container could leave the request path (`/`, `?`) is refused on reading,
/// checksum or not: `apply` from the plan alone takes its target from it.
#[test]
fn a_plan_for_a_container_that_would_leave_its_path_is_refused() {
    let mut plan = sample_plan();
    plan.target.container = "iCloud.x/production/public/records/modify?".to_owned();
    let error = read_text(&to_text(&plan)).unwrap_err().to_string();
    assert!(error.contains("target.container"), "{error}");
}
