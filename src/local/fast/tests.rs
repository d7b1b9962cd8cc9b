use super::*;
use crate::config::{Config, Origin, Place};
use crate::local::convert::Converter;
use crate::local::formats::{ndjson_record, Item};
use crate::record::{Record, RecordType};
use proptest::prelude::*;
use std::path::Path;

/// A type with a field of every kind the fast path decodes, a template over a key that is
/// also a declared field (`id`) and one that is not (`league`), and two ignored fields.
const TEAM: &str = "container: c\nenvironment: development\ntypes:\n  Team:\n    \
    file: teams.ndjson\n    record_name: \"team-{league}-{id}\"\n    fields:\n      \
    id: INT64\n      name: STRING\n      stadium: REFERENCE\n      founded: INT64\n      \
    opened: TIMESTAMP\n      colors: STRING_LIST\n      rivals: REFERENCE_LIST\n      \
    location: LOCATION\n      score: DOUBLE\n      logo: BYTES\n    \
    ignore_fields: [followers, likes]\n";

fn config() -> Config {
    Config::parse(Path::new("ckplan.yaml"), TEAM).unwrap()
}

/// A converter that has already warned about the ignored field `followers` (not `likes`).
fn converter(config: &Config) -> Converter<'_> {
    let (record_type, type_config) = config.types.iter().next().unwrap();
    let mut converter = Converter::new(record_type, type_config);
    let json = serde_json::json!({"id": 1, "league": "al", "followers": 1});
    converter.convert(json, &origin(), &mut Vec::new());
    converter
}

fn origin() -> Origin {
    Origin {
        file: Path::new("teams.ndjson").into(),
        place: Place::Line(1),
    }
}

/// The general path: the record, when it has no problem at all.
fn general(converter: &mut Converter, text: &str) -> Option<Record> {
    let mut problems = Vec::new();
    let record = match ndjson_record(text, 1) {
        Item::Record(json, _) => converter.convert(json, &origin(), &mut problems),
        _ => return None,
    };
    record.filter(|_| problems.is_empty())
}

fn fast(converter: &mut Converter, text: &str) -> Option<Record> {
    converter.convert_text(text)
}

#[test]
fn a_valid_plain_record_is_read_as_the_general_path_reads_it() {
    let config = config();
    // `na\u006de` is `name`, written with an escape.
    let text = [
        r#"{"id":7,"league":"al","na\u006de":"Sox \"B\"","stadium":"fenway","#,
        r#""founded":1901,"opened":"2001-04-05T00:00:00Z","colors":["red","navy"],"#,
        r#""rivals":["nyy"],"location":{"latitude":42.5,"longitude":-71,"altitude":3},"#,
        r#""score":1,"logo":"aGVsbG8=","followers":{"n":[1,2]}}"#,
    ]
    .concat();
    let expected = general(&mut converter(&config), &text).expect("the general path takes it");
    assert_eq!(fast(&mut converter(&config), &text), Some(expected.clone()));
    assert_eq!(expected.record_name.as_str(), "team-al-7");
    assert_eq!(expected.fields["name"], FieldValue::string("Sox \"B\""));
    assert_eq!(expected.fields["score"], FieldValue::double(1.0));
    assert_eq!(expected.fields["id"], FieldValue::int64(7));
    assert!(!expected.fields.contains_key("league"));
    assert!(!expected.fields.contains_key("followers"));
}

#[test]
fn anything_the_general_path_would_report_falls_back() {
    let config = config();
    let base = r#""id":1,"league":"al""#;
    for (extra, why) in [
        (r#""nmae":"x""#, Fallback::Shape),
        (r#""fields":{}"#, Fallback::Shape),
        (r#""founded":"abc""#, Fallback::Other),
        (r#""founded":1.5"#, Fallback::Other),
        (r#""name":"a","name":"b""#, Fallback::Other),
        (
            r#""location":{"latitude":1,"latitude":2,"longitude":3}"#,
            Fallback::Other,
        ),
        (r#""colors":"red""#, Fallback::Other),
        (r#""colors":["red",null]"#, Fallback::Other),
        (r#""stadium":"""#, Fallback::Other),
        (r#""stadium":"a\nb""#, Fallback::Other),
        (r#""likes":3"#, Fallback::Other),
        (r#""followers":{"a":1,"a":2}"#, Fallback::Other),
        (r#""founded":1e999"#, Fallback::Other),
        (r#""sc\u006fre":1,"score":2"#, Fallback::Other),
    ] {
        let text = format!("{{{base},{extra}}}");
        let mut quick = converter(&config);
        let shape = quick.fast.as_mut().unwrap();
        let result = shape.read(&text, &quick.warned_ignored).map(|_| ());
        assert_eq!(result, Err(why), "{text}");
    }
    let mut quick = converter(&config);
    for text in [
        r#"{"id":1}"#,
        r#"{"id":1,"league":[1]}"#,
        r#"{"id":1,"league":"\u0007"}"#,
        "[1]",
        "{",
    ] {
        assert_eq!(fast(&mut quick, text), None, "{text}");
    }
}

#[test]
fn a_record_with_undeclared_keys_turns_the_fast_path_off_for_the_type() {
    let config = config();
    let mut quick = converter(&config);
    let valid = r#"{"id":1,"league":"al"}"#;
    assert!(fast(&mut quick, valid).is_some());
    assert_eq!(
        fast(&mut quick, r#"{"id":1,"league":"al","founded":"x"}"#),
        None
    );
    assert!(
        fast(&mut quick, valid).is_some(),
        "a bad value leaves it on"
    );
    assert_eq!(fast(&mut quick, r#"{"recordName":"a","fields":{}}"#), None);
    assert_eq!(fast(&mut quick, valid), None, "native records turn it off");
}

#[test]
fn a_template_may_read_a_key_twice() {
    let text = TEAM.replace("{league}-{id}", "{id}-{id}");
    let config = Config::parse(Path::new("ckplan.yaml"), &text).unwrap();
    let record = fast(&mut converter(&config), r#"{"id":4}"#).unwrap();
    assert_eq!(record.record_name.as_str(), "team-4-4");
}

#[test]
fn types_whose_records_cannot_be_plain_have_no_fast_path() {
    let native = "container: c\nenvironment: development\ntypes:\n  S:\n    file: s.ndjson\n";
    let declared = format!("{native}    fields:\n      fields: STRING\n");
    for text in [native.to_owned(), declared] {
        let config = Config::parse(Path::new("ckplan.yaml"), &text).unwrap();
        let type_config = &config.types[&RecordType::new("S")];
        assert!(PlainShape::of(type_config).is_none(), "{text}");
    }
}

/// JSON texts of values of every kind, valid and invalid for the declared types.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "null",
        "true",
        "false",
        "0",
        "-1",
        "7",
        "1.5",
        "2.0",
        "-0.0",
        "1e23",
        "1e999",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "8640000000000000",
        "\"\"",
        "\"fenway\"",
        "\"a b\"",
        "\"_0123456789abcdef0123456789abcdef\"",
        "\"caf\\u00e9\"",
        "\"x\\ny\"",
        "\"\\u202e\"",
        "\"2001-04-05T00:00:00Z\"",
        "\"2001-04-05T00:00:00.0001Z\"",
        "\"2001-04-05\"",
        "\"aGVsbG8=\"",
        "\"not base64!\"",
        "\"q\\\"uote\"",
        "{\"latitude\":42.5,\"longitude\":-71}",
        "{\"latitude\":1,\"longitude\":2,\"altitude\":3,\"timestamp\":4}",
        "{\"latitude\":1,\"longitude\":2,\"heading\":3}",
        "{\"latitude\":91,\"longitude\":2}",
        "{\"latitude\":1,\"latitude\":1,\"longitude\":2}",
        "{\"recordName\":\"nyy\"}",
        "{\"recordName\":\"nyy\",\"action\":\"DELETE_SELF\"}",
        "{}",
        "[]",
    ])
    .prop_map(str::to_owned);
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|items| format!("[{}]", items.join(",")))
    })
}

/// A member whose value fits its key's declared type, mostly.
fn fitting_member() -> impl Strategy<Value = (String, String)> {
    prop::sample::select(vec![
        ("name", "\"Sox\""),
        ("name", "\"caf\\u00e9 \\\"x\\\"\""),
        ("name", "null"),
        ("stadium", "\"fenway\""),
        ("stadium", "{\"recordName\":\"fenway\"}"),
        ("founded", "1901"),
        ("founded", "true"),
        ("founded", "-9223372036854775808"),
        ("opened", "\"2001-04-05T02:00:00.250+02:00\""),
        ("opened", "986428800000"),
        ("opened", "1000.0"),
        ("colors", "[\"red\",\"navy\"]"),
        ("colors", "[]"),
        ("rivals", "[\"nyy\",{\"recordName\":\"bos\"}]"),
        ("score", "1"),
        ("score", "-0.5"),
        ("score", "1e300"),
        ("location", "{\"latitude\":1,\"longitude\":2,\"speed\":0.5}"),
        ("logo", "\"aGVsbG8=\""),
        ("followers", "[1,{\"a\":{}}]"),
        ("likes", "1"),
    ])
    .prop_map(|(key, value)| (key.to_owned(), value.to_owned()))
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "id",
        "league",
        "name",
        "stadium",
        "founded",
        "opened",
        "colors",
        "rivals",
        "location",
        "score",
        "logo",
        "followers",
        "likes",
        "nmae",
        "fields",
        "recordName",
        "na\\u006de",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The fast path takes exactly the records the general path takes without a problem,
    /// and reads them alike.
    #[test]
    fn the_fast_path_agrees_with_the_general_path(
        members in prop::collection::vec(
            prop_oneof![fitting_member(), fitting_member(), (key(), value())],
            0..8,
        ),
        id in prop::sample::select(vec!["1", "\"7\"", "null", "true", "[1]", "-3"]),
        league in prop::sample::select(vec!["\"al\"", "2", "\"\"", "\"\\u0000\""]),
    ) {
        let mut parts = vec![format!("\"id\":{id}"), format!("\"league\":{league}")];
        parts.extend(members.iter().map(|(key, value)| format!("\"{key}\":{value}")));
        let text = format!("{{{}}}", parts.join(", "));
        let config = config();
        let expected = general(&mut converter(&config), &text);
        prop_assert_eq!(fast(&mut converter(&config), &text), expected, "{}", text);
    }
}
