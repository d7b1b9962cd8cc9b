use super::*;

fn flaw(path: &[&str], kind: FlawKind) -> Flaw {
    Flaw {
        path: path.iter().map(|s| s.to_string()).collect(),
        kind,
    }
}

#[test]
fn flaws_name_the_field_of_plain_and_native_records() {
    let plain = flaw(&["location", "altitude"], FlawKind::NonFinite(".inf"));
    assert_eq!(plain.field(false), Some("location"));
    assert!(plain
        .message(false)
        .starts_with("in `altitude`: `.inf` is not a number"));
    let native = flaw(
        &["fields", "scores", "value", "2"],
        FlawKind::NonFinite(".nan"),
    );
    assert_eq!(native.field(true), Some("scores"));
    assert!(native.message(true).starts_with("element 2: `.nan`"));
    let duplicate = flaw(&["name"], FlawKind::DuplicateKey("name".into()));
    assert_eq!(duplicate.field(false), Some("name"));
    assert!(duplicate.message(false).starts_with("duplicate key `name`"));
    let own = flaw(&["recordName"], FlawKind::DuplicateKey("recordName".into()));
    assert_eq!(own.field(true), None);
    assert!(own.message(true).starts_with("duplicate key `recordName`"));
    let range = flaw(&["fields", "capacity", "value"], FlawKind::OutOfRange);
    assert_eq!(range.field(true), Some("capacity"));
    assert!(range.message(true).starts_with("number out of range"));
}

#[test]
fn yaml_converts_like_json_and_keeps_integers_exact() {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str("{a: 9007199254740993, b: [1.5, x], 3: true, c: null}").unwrap();
    let mut collector = Collector::default();
    let json = from_yaml(yaml, &mut collector).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"a": 9007199254740993_i64, "b": [1.5, "x"], "3": true, "c": null})
    );
    assert!(collector.flaws.is_empty());
    let tagged: serde_yaml::Value = serde_yaml::from_str("!thing 1").unwrap();
    assert!(from_yaml(tagged, &mut Collector::default())
        .unwrap_err()
        .contains("tag"));
}
