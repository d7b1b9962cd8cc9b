use super::*;
use crate::config::Config;
use std::fs;

fn project(files: &[(&str, &str)], types: &str) -> (tempfile::TempDir, Config) {
    let directory = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs::write(directory.path().join(name), text).unwrap();
    }
    let path = directory.path().join("ckplan.yaml");
    let text = format!("container: c\nenvironment: development\ntypes:\n{types}");
    fs::write(&path, &text).unwrap();
    let config = Config::load(&path).unwrap();
    (directory, config)
}

fn messages(data: &LocalData) -> Vec<String> {
    data.problems()
        .map(|p| {
            let file = p.file.file_name().unwrap().to_string_lossy().into_owned();
            format!(
                "{file}{} {:?} {}",
                p.place.map(|p| p.to_string()).unwrap_or_default(),
                p.severity,
                p.message
            )
        })
        .collect()
}

#[test]
fn duplicates_across_files_name_both_places() {
    let (_directory, config) = project(
        &[
            (
                "a.ndjson",
                "{\"recordName\": \"x\"}\n{\"recordName\": \"y\"}\n",
            ),
            ("b.json", "[\n  {\"recordName\": \"y\"}\n]"),
        ],
        "  T:\n    file: [a.ndjson, b.json]\n",
    );
    let data = load_all(&config);
    assert_eq!(data.records(&"T".into()).len(), 2);
    let problems = messages(&data);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("b.json:2 Error duplicate recordName `y`: first defined at "));
    assert!(problems[0].ends_with("a.ndjson:2"), "{problems:?}");
}

#[test]
fn dangling_references_warn_once_per_name() {
    let (_directory, config) = project(
        &[
            ("s.json", "[{\"recordName\": \"fenway\"}]"),
            (
                "g.ndjson",
                "{\"id\": 1, \"venue\": \"fenway\", \"home\": \"t1\"}\n\
                 {\"id\": 2, \"venue\": \"wrigley\", \"home\": \"t1\"}\n\
                 {\"id\": 3, \"venue\": \"wrigley\", \"home\": \"t1\"}\n",
            ),
        ],
        "  Stadium:\n    file: s.json\n  Game:\n    file: g.ndjson\n    record_name: \"g{id}\"\n    \
         fields:\n      venue: REFERENCE(Stadium)\n      home: REFERENCE\n",
    );
    let data = load_all(&config);
    assert_eq!(data.error_count(), 0);
    assert_eq!(
        messages(&data),
        [
            "g.ndjson:1 Warning references `t1`, which no local record defines (it may exist \
             only in CloudKit); 3 references to it in this field",
            "g.ndjson:2 Warning references `wrigley`, which no local `Stadium` record defines \
             (it may exist only in CloudKit); 2 references to it in this field",
        ]
    );
    let order: Vec<String> = data
        .type_order(&config)
        .types
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(order, ["Stadium", "Game"]);
}

/// Regression (issue 13): a reference to a record that is defined but invalid was reported
/// as "no local record defines" it.
#[test]
fn issue_13_a_reference_to_an_invalid_record_says_it_is_invalid_not_undefined() {
    let (_directory, config) = project(
        &[
            ("s.ndjson", "{\"id\": \"fenway\", \"capacity\": \"many\"}\n"),
            ("g.ndjson", "{\"id\": 1, \"venue\": \"fenway\"}\n"),
        ],
        "  Stadium:\n    file: s.ndjson\n    record_name: \"{id}\"\n    fields:\n      capacity: INT64\n  \
         Game:\n    file: g.ndjson\n    record_name: \"g{id}\"\n    \
         fields:\n      venue: REFERENCE(Stadium)\n",
    );
    let data = load_all(&config);
    assert_eq!(data.error_count(), 1);
    let problems = messages(&data);
    assert!(
        problems.contains(
            &"g.ndjson:1 Warning references `fenway`, whose local `Stadium` record has errors \
              (reported on its own)"
                .to_owned()
        ),
        "{problems:?}"
    );
}

#[test]
fn missing_and_unsupported_files_are_errors() {
    let (_directory, config) = project(&[("t.csv", "")], "  T:\n    file: [nope.json, t.csv]\n");
    let data = load_all(&config);
    let problems = messages(&data);
    assert_eq!(problems.len(), 2);
    assert!(
        problems[0].starts_with("nope.json Error failed to read"),
        "{problems:?}"
    );
    assert!(problems[1].starts_with("t.csv Error unsupported data file extension"));
}

#[test]
fn large_json_array_loads() {
    let mut text = String::from("[\n");
    for index in 0..20_000 {
        let separator = if index == 0 { "" } else { ",\n" };
        text.push_str(&format!(
            "{separator}{{\"id\": {index}, \"name\": \"n{index}\"}}"
        ));
    }
    text.push_str("\n]\n");
    let (_directory, config) = project(
        &[("t.json", &text)],
        "  T:\n    file: t.json\n    record_name: \"t{id}\"\n    fields:\n      name: STRING\n",
    );
    let data = load_all(&config);
    let loaded = &data.types[&RecordType::from("T")];
    assert_eq!(loaded.records.len(), 20_000);
    assert_eq!(loaded.origins[19_999].place, Place::Line(20_001));
    assert!(!data.has_errors());
}

/// Regression (bad-input corpus `generated_json_huge_string`): a record over CloudKit's
/// 1 MB limit was accepted and sent, to fail halfway through an apply.
#[test]
fn a_record_over_the_size_limit_is_an_error_naming_it() {
    let big = "x".repeat(MAX_RECORD_BYTES + 1);
    let text = format!("{{\"id\": 1, \"name\": \"{big}\"}}\n{{\"id\": 2, \"name\": \"small\"}}\n");
    let (_directory, config) = project(
        &[("t.ndjson", &text)],
        "  T:\n    file: t.ndjson\n    record_name: \"t-{id}\"\n    fields: {name: STRING}\n",
    );
    let data = load_all(&config);
    let found = messages(&data);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("t.ndjson:1 Error record is "),
        "{found:?}"
    );
    assert!(found[0].contains("1 MB record size limit"));
    assert_eq!(data.records(&"T".into()).len(), 1);
}

/// Each problem as the `validate` line shows it, file name only.
fn shown(data: &LocalData) -> Vec<String> {
    data.problems()
        .map(|p| {
            let text = p.to_string();
            let name = p.file.file_name().unwrap().to_string_lossy().into_owned();
            let full = p.file.display().to_string();
            text.replacen(&full, &name, 1)
        })
        .collect()
}

#[test]
fn issue_12_yaml_non_finite_values_are_errors_not_removals() {
    let (_directory, config) = project(
        &[(
            "p.yaml",
            "- id: 1\n  value: .inf\n  label: .nan\n- id: 2\n  scores: [1.5, .NaN]\n  \
             place: {latitude: 1, longitude: 2, altitude: -.Inf}\n",
        )],
        "  P:\n    file: p.yaml\n    record_name: \"p-{id}\"\n    fields:\n      \
         value: DOUBLE\n      label: STRING\n      scores: DOUBLE_LIST\n      place: LOCATION\n",
    );
    let data = load_all(&config);
    assert!(data.records(&"P".into()).is_empty());
    assert_eq!(
        shown(&data),
        [
            "p.yaml:1: P `p-1` field `value`: `.inf` is not a number CloudKit can store \
             (numbers must be finite; quote it if it is meant as text)",
            "p.yaml:1: P `p-1` field `label`: `.nan` is not a number CloudKit can store \
             (numbers must be finite; quote it if it is meant as text)",
            "p.yaml:4: P `p-2` field `scores`: element 1: `.nan` is not a number CloudKit \
             can store (numbers must be finite; quote it if it is meant as text)",
            "p.yaml:4: P `p-2` field `place`: in `altitude`: `-.inf` is not a number \
             CloudKit can store (numbers must be finite; quote it if it is meant as text)",
        ]
    );
}

#[test]
fn issue_12_duplicate_json_keys_are_refused() {
    let (_directory, config) = project(
        &[
            (
                "t.json",
                "[\n{\"id\":1,\"name\":\"Old\",\"city\":\"Boston\",\"name\":\"New\"}\n]",
            ),
            (
                "s.ndjson",
                "{\"recordName\": \"s-1\", \"fields\": {\"where\": {\"value\": \
                 {\"latitude\": 1, \"longitude\": 2, \"longitude\": 3}}}}\n",
            ),
        ],
        "  T:\n    file: t.json\n    record_name: \"t-{id}\"\n    fields:\n      \
         name: STRING\n      city: STRING\n  S:\n    file: s.ndjson\n",
    );
    let data = load_all(&config);
    assert!(data.records(&"T".into()).is_empty());
    assert!(data.records(&"S".into()).is_empty());
    assert_eq!(
        shown(&data),
        [
            "s.ndjson:1: S `s-1` field `where`: duplicate key `longitude` (JSON keeps only \
             one of them; give it once)",
            "t.json:2: T `t-1` field `name`: duplicate key `name` (JSON keeps only one of \
             them; give it once)",
        ]
    );
}

#[test]
fn issue_12_numbers_out_of_range_are_errors_in_every_format() {
    let (_directory, config) = project(
        &[
            ("a.json", "[\n{\"id\": 1,\n \"n\": 1e999}\n]"),
            ("b.ndjson", "{\"id\": 2, \"n\": 99999999999999999999999}\n"),
            ("c.yaml", "- id: 3\n  when: 99999999999999999\n"),
        ],
        "  A:\n    file: [a.json, b.ndjson, c.yaml]\n    record_name: \"r-{id}\"\n    \
         fields:\n      n: INT64\n      when: TIMESTAMP\n",
    );
    let data = load_all(&config);
    assert!(data.records(&"A".into()).is_empty());
    let problems = shown(&data);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("a.json:3:12: A `r-1` field `n`: number out of range"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("b.ndjson:1: A `r-2` field `n`: INT64 `1e+23` is out of range"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("c.yaml:1: A `r-3` field `when`: TIMESTAMP"),
        "{problems:#?}"
    );
}

#[test]
fn issue_12_forbidden_record_and_field_names_are_errors() {
    let long = "x".repeat(256);
    let (_directory, config) = project(
        &[
            (
                "c.ndjson",
                &format!(
                    "{{\"slug\": \"city-zürich\"}}\n{{\"slug\": \"_private\"}}\n\
                     {{\"slug\": \"{long}\"}}\n{{\"slug\": \"ok\"}}\n{{\"slug\": \"a\\u001b[2Jb\"}}\n"
                ),
            ),
            (
                "n.json",
                "[{\"recordName\": \"n-1\", \"fields\": {\"bad name\": {\"value\": 1}, \
                 \"good\": {\"value\": 2}}}]",
            ),
        ],
        "  City:\n    file: c.ndjson\n    record_name: \"{slug}\"\n  N:\n    file: n.json\n",
    );
    let data = load_all(&config);
    assert_eq!(data.records(&"City".into()).len(), 1);
    assert!(data.records(&"N".into()).is_empty());
    let problems = shown(&data);
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problems[0]
        .starts_with("c.ndjson:1: City `city-zürich`: recordName `city-zürich` contains"));
    assert!(problems[0].contains("ASCII only"));
    assert!(problems[1]
        .starts_with("c.ndjson:2: City `_private`: recordName `_private` starts with `_`"));
    assert!(problems[2].contains("256 characters, over CloudKit's limit of 255"));
    assert!(problems[3].starts_with(
        "c.ndjson:5: City `a\\u{1b}[2Jb`: recordName `a\\u{1b}[2Jb` contains the control \
         character U+001B"
    ));
    assert!(!problems[3].contains('\u{1b}'));
    assert!(problems[4]
        .starts_with("n.json:1: N `n-1` field `bad name`: field name `bad name` contains a space"));
}

#[test]
fn issue_12_a_field_with_two_types_in_one_record_type_is_an_error() {
    // CloudKit keeps one type per field of a record type; the second type would fail every
    // apply with BAD_REQUEST.
    let (_directory, config) = project(
        &[
            (
                "t.json",
                "[{\"recordName\":\"a\",\"fields\":{\"x\":{\"value\":1,\"type\":\"INT64\"}}},\n\
                 {\"recordName\":\"b\",\"fields\":{\"x\":{\"value\":1.5,\"type\":\"DOUBLE\"}}}]",
            ),
            (
                "u.ndjson",
                "{\"recordName\":\"c\",\"fields\":{\"x\":{\"value\":[1],\"type\":\"INT64_LIST\"}}}",
            ),
            (
                "s.ndjson",
                "{\"recordName\":\"s-1\",\"fields\":{\"y\":{\"value\":1,\"type\":\"INT64\"}}}\n\
                 {\"recordName\":\"s-2\",\"fields\":{\"y\":{\"value\":\"1\",\"type\":\"STRING\"}}}\n\
                 {\"recordName\":\"s-3\",\"fields\":{\"y\":{\"value\":2,\"type\":\"INT64\"}}}",
            ),
        ],
        "  T:\n    file: [t.json, u.ndjson]\n  S:\n    file: s.ndjson\n",
    );
    let data = load_all(&config);
    let shown = shown(&data);
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(
        shown[0].starts_with(
            "s.ndjson:2: S `s-2` field `y`: field `y` is STRING here but INT64 in record \
             `s-1` ("
        ),
        "{shown:?}"
    );
    assert!(shown[0].contains("s.ndjson:1)"), "{shown:?}");
    assert!(shown[1].starts_with(
        "t.json:2: T `b` field `x`: field `x` is DOUBLE here but INT64 in record `a`"
    ));
    assert!(shown[2].starts_with(
        "u.ndjson:1: T `c` field `x`: field `x` is INT64_LIST here but INT64 in record `a`"
    ));
    assert!(data.has_errors());
}
