//! Property tests over every parser of outside input: `ckplan.yaml`, local data files in
//! each format (bytes, and well-formed JSON of arbitrary shape against fields of every
//! type), and plan files (arbitrary text, byte edits of a real plan, and structural edits
//! with a recomputed checksum, which reach the plan's own validation). Property: no input
//! makes them panic; a plan they accept writes back to a plan they accept.

use ckplan::config::Config;
use ckplan::local::{self, Format};
use ckplan::plan::file;
use proptest::prelude::*;
use serde_json::Value as Json;
use std::path::Path;

const BASE_CONFIG: &str = include_str!("bad_input/base/ckplan.yaml");

fn valid_plan() -> String {
    let snapshot = include_str!(
        "../src/plan/file/snapshots/ckplan__plan__file__tests__the_format_reads_as_documented.snap"
    );
    // After the insta header (`---` ... `---`).
    let body = snapshot.splitn(3, "---\n").nth(2).expect("a snapshot body");
    assert!(file::from_text(body).is_ok(), "the sample plan is valid");
    body.to_owned()
}

fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Json::from),
        "[a-z0-9:T.Z/_ -]{0,12}".prop_map(Json::String),
        "\\PC{0,8}".prop_map(Json::String),
        prop_oneof![
            Just("2025-04-01T19:05:00Z"),
            Just("STRING"),
            Just("INT64"),
            Just("LOCATION"),
            Just("REFERENCE"),
            Just("TIMESTAMP_LIST"),
            Just("team-1"),
        ]
        .prop_map(|s| Json::String(s.to_owned())),
    ]
}

fn json_value() -> impl Strategy<Value = Json> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|map| Json::Object(map.into_iter().collect())),
        ]
    })
}

/// Keys that mean something to the loaders, and some that do not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "recordName",
            "recordType",
            "fields",
            "value",
            "type",
            "latitude",
            "longitude",
            "s",
            "i",
            "d",
            "t",
            "b",
            "r",
            "l",
            "a",
            "sl",
            "il",
            "tl",
            "ll",
            "rl",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,6}",
    ]
}

const ALL_TYPES_CONFIG: &str = "container: c\nenvironment: development\ntypes:\n  \
    T:\n    file: t.json\n    record_name: \"r-{id}\"\n    fields: {s: STRING, i: INT64, \
    d: DOUBLE, t: TIMESTAMP, b: BYTES, r: REFERENCE, l: LOCATION, a: ASSETID, \
    sl: STRING_LIST, il: INT64_LIST, tl: TIMESTAMP_LIST, ll: LOCATION_LIST, \
    rl: REFERENCE_LIST}\n  \
    N:\n    file: [n.ndjson, n.yaml]\n    fields: {s: STRING, i: INT64, l: LOCATION, \
    r: REFERENCE(T), tl: TIMESTAMP_LIST}\n";

fn format_of(index: u8) -> Format {
    match index % 3 {
        0 => Format::Json,
        1 => Format::Ndjson,
        _ => Format::Yaml,
    }
}

/// Edits `text` at seeded places: delete, insert or replace one character each.
fn edit(text: &str, edits: &[(usize, char, u8)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, character, kind) in edits {
        if chars.is_empty() {
            chars.push(character);
            continue;
        }
        let at = at % chars.len();
        match kind % 3 {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, character),
            _ => chars[at] = character,
        }
    }
    chars.into_iter().collect()
}

fn edits() -> impl Strategy<Value = Vec<(usize, char, u8)>> {
    prop::collection::vec(
        (
            any::<usize>(),
            prop_oneof![
                prop::sample::select(vec!['{', '}', '[', ']', ':', '"', ',', '\n', ' ', '-', '0']),
                any::<char>()
            ],
            any::<u8>(),
        ),
        1..6,
    )
}

/// Replaces the node at `path` (indexes chosen modulo each container's size) by `value`;
/// a path that runs past a leaf stops there.
fn replace_node(node: &mut Json, path: &[usize], value: Json) {
    let Some((&step, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    match node {
        Json::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().expect("a key");
            replace_node(map.get_mut(&key).expect("the key"), rest, value);
        }
        Json::Array(items) if !items.is_empty() => {
            let index = step % items.len();
            replace_node(&mut items[index], rest, value);
        }
        _ => *node = value,
    }
}

/// A plan document with a checksum that matches its (edited) content.
fn with_checksum(mut document: Json) -> String {
    if let Some(object) = document.as_object_mut() {
        object.remove("checksum");
    }
    let text = serde_json::to_string_pretty(&document).expect("json");
    let Ok(body) = file::canonical_body(&text) else {
        return text;
    };
    if let Some(object) = document.as_object_mut() {
        let sum = format!("blake3:{}", blake3::hash(&body).to_hex());
        object.insert("checksum".into(), Json::String(sum));
    }
    serde_json::to_string_pretty(&document).expect("json")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn config_text_never_panics(text in "\\PC{0,300}") {
        let _ = Config::parse(Path::new("ckplan.yaml"), &text);
    }

    #[test]
    fn edited_configs_never_panic(edits in edits()) {
        let _ = Config::parse(Path::new("/nowhere/ckplan.yaml"), &edit(BASE_CONFIG, &edits));
    }

    #[test]
    fn data_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), format in any::<u8>()) {
        let mut items = 0;
        local::read_records(&bytes[..], format_of(format), &mut |_| items += 1);
    }

    #[test]
    fn plan_text_never_panics(text in "\\PC{0,300}") {
        let _ = file::from_text(&text);
        let _ = file::from_bytes(text.as_bytes());
    }

    #[test]
    fn edited_plans_never_panic(edits in edits()) {
        let _ = file::from_text(&edit(&valid_plan(), &edits));
    }

    #[test]
    fn plans_edited_with_a_valid_checksum_never_panic_and_round_trip(
        path in prop::collection::vec(any::<usize>(), 1..6),
        value in json_value(),
    ) {
        let mut document: Json = serde_json::from_str(&valid_plan()).expect("json");
        replace_node(&mut document, &path, value);
        if let Ok(plan) = file::from_text(&with_checksum(document)) {
            let again = file::from_text(&file::to_text(&plan));
            prop_assert_eq!(again.as_ref(), Ok(&plan));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Well-formed files of arbitrary records against fields of every type, in every format.
    #[test]
    fn arbitrary_records_never_panic(
        json_records in prop::collection::vec(json_value(), 0..6),
        ndjson_records in prop::collection::vec(json_value(), 0..6),
        yaml_records in prop::collection::vec(json_value(), 0..6),
    ) {
        let directory = tempfile::tempdir().expect("temp dir");
        let root = directory.path();
        std::fs::write(root.join("t.json"), serde_json::to_string(&json_records).unwrap()).unwrap();
        let lines: String = ndjson_records.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(root.join("n.ndjson"), lines).unwrap();
        std::fs::write(root.join("n.yaml"), serde_yaml::to_string(&yaml_records).unwrap()).unwrap();
        let path = root.join("ckplan.yaml");
        std::fs::write(&path, ALL_TYPES_CONFIG).unwrap();
        let config = Config::load(&path).expect("the config is valid");
        let data = local::load_all(&config);
        let loaded: usize = data.types.values().map(|t| t.records.len()).sum();
        prop_assert!(loaded <= json_records.len() + ndjson_records.len() + yaml_records.len());
    }
}
