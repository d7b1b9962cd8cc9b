use super::*;
use crate::config::Config;
use crate::local::Place;
use serde_json::json;
use std::path::Path;

fn config(types: &str) -> Config {
    let text = format!("container: c\nenvironment: development\ntypes:\n{types}");
    Config::parse(Path::new("ckplan.yaml"), &text).unwrap()
}

const TEAM: &str =
    "  Team:\n    file: teams.yaml\n    record_name: \"team-{id}\"\n    fields:\n      \
                    name: STRING\n      stadium: REFERENCE\n      founded: INT64\n      \
                    opened: TIMESTAMP\n    ignore_fields: [followers]\n";

fn convert(config: &Config, json: Json) -> (Option<Record>, Vec<String>) {
    let (record_type, type_config) = config.types.iter().next().unwrap();
    let mut converter = Converter::new(record_type, type_config);
    let origin = Origin {
        file: std::path::Path::new("teams.yaml").into(),
        place: Place::Line(3),
    };
    let mut problems = Vec::new();
    let record = converter.convert(json, &origin, &mut problems);
    (record, problems.iter().map(|p| p.to_string()).collect())
}

#[test]
fn plain_record_is_typed_and_named_by_the_config() {
    let (record, problems) = convert(
        &config(TEAM),
        json!({"id": 7, "name": "Sox", "stadium": "fenway", "founded": 1901,
               "opened": "2001-04-05T00:00:00Z", "followers": 10}),
    );
    let record = record.unwrap();
    assert_eq!(record.record_name.as_str(), "team-7");
    assert_eq!(
        record.fields.keys().collect::<Vec<_>>(),
        ["founded", "name", "opened", "stadium"],
        "template keys and ignored fields are not uploaded"
    );
    // A bare name states only the target (issue 17): action and zone are not compared.
    assert_eq!(
        record.fields["stadium"],
        FieldValue::Scalar(crate::record::Value::Reference(Box::new(
            crate::record::Reference::named("fenway")
        )))
    );
    assert_eq!(
        problems,
        [
            "teams.yaml:3: Team `team-7` field `followers`: is listed in `ignore_fields`, so its \
          local values are never sent (further occurrences in this type are not reported)"
        ]
    );
}

#[test]
fn plain_record_problems_are_all_reported() {
    let (record, problems) = convert(
        &config(TEAM),
        json!({"id": 7, "founded": "abc", "nmae": "Sox", "opened": 1.5}),
    );
    assert_eq!(record, None);
    assert_eq!(
        problems,
        [
            "teams.yaml:3: Team `team-7` field `founded`: expected INT64, found string \"abc\"",
            "teams.yaml:3: Team `team-7` field `nmae`: unknown key `nmae`: not listed under \
             `fields:` of type `Team` (a typo?)",
            "teams.yaml:3: Team `team-7` field `opened`: TIMESTAMP `1.5` is not a whole number \
             of milliseconds",
        ]
    );
}

#[test]
fn template_with_missing_key_is_an_error() {
    let (record, problems) = convert(&config(TEAM), json!({"name": "Sox"}));
    assert_eq!(record, None);
    assert_eq!(
        problems,
        ["teams.yaml:3: Team: record_name template `team-{id}` needs key `id`, which this record lacks"]
    );
}

#[test]
fn plain_record_without_template_uses_record_name_key() {
    let config = config("  Team:\n    file: t.json\n    fields:\n      name: STRING\n");
    let (record, _) = convert(&config, json!({"recordName": "t1", "name": "x"}));
    assert_eq!(record.unwrap().record_name.as_str(), "t1");
    let (record, problems) = convert(&config, json!({"name": "x"}));
    assert_eq!(record, None);
    assert!(problems[0].contains("no `record_name` template and no `recordName` key"));
}

#[test]
fn native_record_types_come_from_value_config_or_inference() {
    let config = config("  Stadium:\n    file: s.json\n");
    let (record, problems) = convert(
        &config,
        json!({"recordName": "fenway", "recordType": "Stadium", "recordChangeTag": "x",
        "fields": {
            "name": {"value": "Fenway"},
            "capacity": {"value": 37755, "type": "INT64"},
            "location": {"value": {"latitude": 42.3, "longitude": -71.1}},
            "gone": {"value": null}
        }}),
    );
    assert_eq!(problems, Vec::<String>::new());
    let record = record.unwrap();
    assert_eq!(record.fields["name"], FieldValue::string("Fenway"));
    assert_eq!(record.fields["capacity"], FieldValue::int64(37755));
    assert_eq!(record.fields["location"], FieldValue::location(42.3, -71.1));
    assert!(!record.fields.contains_key("gone"));
}

#[test]
fn native_record_problems() {
    let config = config("  Stadium:\n    file: s.json\n    fields:\n      opened: TIMESTAMP\n");
    let (record, problems) = convert(
        &config,
        json!({"recordName": "fenway", "recordType": "Team", "extra": 1,
        "fields": {
            "opened": {"value": 5, "type": "INT64"},
            "nmae": {"value": "x"}
        }}),
    );
    assert_eq!(record, None);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0]
        .contains("`recordType` is string \"Team\", but this file holds `Stadium` records"));
    assert!(problems[1].contains("unknown key `extra` in a CloudKit record"));
    assert!(problems[2].contains("field `nmae`: unknown key `nmae`"));
    assert!(problems[3]
        .contains("field `opened`: has type `INT64`, but the config declares `TIMESTAMP`"));
}

#[test]
fn non_object_is_an_error() {
    let (record, problems) = convert(&config(TEAM), json!([1]));
    assert_eq!(record, None);
    assert_eq!(
        problems,
        ["teams.yaml:3: Team: expected a record object, found an array"]
    );
}

#[test]
fn issue_12_an_unknown_key_in_a_native_field_object_is_an_error_naming_it() {
    let (record, problems) = convert(
        &config("  T:\n    file: t.ndjson\n"),
        json!({"recordName": "t-1", "fields": {
            "x": {"value": 1, "type": "INT64", "extra": 2},
            "y": {"value": null, "typo": "STRING"}}}),
    );
    assert!(record.is_none());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("field `x`") && problems[0].contains("unknown key `extra`"));
    assert!(problems[1].contains("field `y`") && problems[1].contains("unknown key `typo`"));
}
