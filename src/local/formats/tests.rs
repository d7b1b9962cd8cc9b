use super::*;
use serde_json::json;

fn read(format: Format, text: &[u8]) -> Vec<Item> {
    let mut items = Vec::new();
    read_records(text, format, &mut |item| items.push(item));
    items
}

fn places(items: &[Item]) -> Vec<Place> {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Record(_, place) | Item::Flawed(_, place, _) => Some(*place),
            Item::Error(..) => None,
        })
        .collect()
}

#[test]
fn format_by_extension() {
    assert_eq!(Format::of(Path::new("a/b.JSON")), Some(Format::Json));
    assert_eq!(Format::of(Path::new("b.jsonl")), Some(Format::Ndjson));
    assert_eq!(Format::of(Path::new("b.yml")), Some(Format::Yaml));
    assert_eq!(Format::of(Path::new("b.csv")), None);
}

#[test]
fn json_array_elements_carry_their_lines() {
    let items = read(
        Format::Json,
        b"[\n  {\"a\": 1},\n\n  {\n    \"a\": 2\n  }, {\"a\": 3}\n]\n",
    );
    assert_eq!(
        places(&items),
        [Place::Line(2), Place::Line(4), Place::Line(6)]
    );
    assert_eq!(items[1], Item::Record(json!({"a": 2}), Place::Line(4)));
}

#[test]
fn malformed_json_keeps_earlier_records_and_names_line_and_column() {
    let items = read(Format::Json, b"[\n{\"a\": 1},\n{\"a\": }\n]");
    assert_eq!(places(&items), [Place::Line(2)]);
    match &items[1] {
        Item::Error(Some(Place::LineColumn(3, 7)), message) => {
            assert!(
                message.starts_with("malformed JSON: expected value"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_that_is_not_an_array_is_an_error() {
    let items = read(Format::Json, b"{\"a\": 1}");
    assert!(
        matches!(&items[0], Item::Error(_, m) if m.contains("expected a JSON array of records"))
    );
    let trailing = read(Format::Json, b"[] x");
    assert!(matches!(
        &trailing[0],
        Item::Error(Some(Place::LineColumn(1, 4)), _)
    ));
}

#[test]
fn ndjson_reports_bad_lines_and_continues() {
    let items = read(
        Format::Ndjson,
        b"{\"a\": 1}\n\n{\"a\": \n\xff\xfe\n{\"a\": 4}\n",
    );
    assert_eq!(places(&items), [Place::Line(1), Place::Line(5)]);
    assert!(
        matches!(&items[1], Item::Error(Some(Place::LineColumn(3, _)), m) if m.starts_with("malformed JSON"))
    );
    assert_eq!(
        items[2],
        Item::Error(Some(Place::LineColumn(4, 1)), "invalid UTF-8".into())
    );
}

#[test]
fn yaml_items_carry_their_lines() {
    let items = read(
        Format::Yaml,
        b"# teams\n- id: 1\n  name: A\n- id: 2\n  name: B\n",
    );
    assert_eq!(places(&items), [Place::Line(2), Place::Line(4)]);
    assert_eq!(
        items[0],
        Item::Record(json!({"id": 1, "name": "A"}), Place::Line(2))
    );
    let flow = read(Format::Yaml, b"[{id: 1}, {id: 2}]");
    assert_eq!(places(&flow), [Place::Index(0), Place::Index(1)]);
    assert!(read(Format::Yaml, b"").is_empty());
}

#[test]
fn malformed_yaml_and_bad_utf8_name_the_place() {
    let items = read(Format::Yaml, b"- id: 1\n  name: [unclosed\n- id: 2\n");
    assert!(
        matches!(&items[0], Item::Error(Some(Place::LineColumn(3, _)), m) if m.starts_with("malformed YAML")),
        "{items:?}"
    );
    let utf8 = read(Format::Yaml, b"- id: 1\n  name: ab\xff\n");
    assert_eq!(
        utf8,
        [Item::Error(
            Some(Place::LineColumn(2, 11)),
            "invalid UTF-8".into()
        )]
    );
    let mapping = read(Format::Yaml, b"id: 1\n");
    assert!(matches!(&mapping[0], Item::Error(None, m) if m.contains("sequence")));
}

fn flaws(item: &Item) -> Vec<(Vec<&str>, FlawKind)> {
    match item {
        Item::Flawed(_, _, flaws) => flaws
            .iter()
            .map(|f| (f.path.iter().map(String::as_str).collect(), f.kind.clone()))
            .collect(),
        other => panic!("expected a flawed record, got {other:?}"),
    }
}

use super::super::strict::FlawKind;

#[test]
fn issue_12_a_leading_bom_is_skipped_in_every_format() {
    let mut json = BOM.to_vec();
    json.extend_from_slice(b"[\n{\"a\": 1}\n]");
    assert_eq!(
        read(Format::Json, &json),
        [Item::Record(json!({"a": 1}), Place::Line(2))]
    );
    let mut ndjson = BOM.to_vec();
    ndjson.extend_from_slice(b"{\"a\": 1}\n{\"a\": 2}\n");
    assert_eq!(
        places(&read(Format::Ndjson, &ndjson)),
        [Place::Line(1), Place::Line(2)]
    );
    let mut yaml = BOM.to_vec();
    yaml.extend_from_slice(b"- a: 1\n- a: 2\n");
    assert_eq!(
        places(&read(Format::Yaml, &yaml)),
        [Place::Line(1), Place::Line(2)]
    );
}

#[test]
fn issue_12_duplicate_json_keys_are_flaws_at_any_depth() {
    let items = read(
        Format::Json,
        b"[\n{\"id\": 1, \"name\": \"Old\", \"name\": \"New\"},\n\
          {\"id\": 2, \"location\": {\"latitude\": 1, \"latitude\": 2, \"longitude\": 3}}\n]",
    );
    assert_eq!(
        flaws(&items[0]),
        [(vec!["name"], FlawKind::DuplicateKey("name".into()))]
    );
    // The first value is kept; the record is refused anyway.
    assert!(matches!(&items[0], Item::Flawed(json, Place::Line(2), _) if json["name"] == "Old"));
    assert_eq!(
        flaws(&items[1]),
        [(
            vec!["location", "latitude"],
            FlawKind::DuplicateKey("latitude".into())
        )]
    );
    let lines = read(
        Format::Ndjson,
        b"{\"a\": 1}\n{\"f\": {\"x\": [{\"k\": 1, \"k\": 1}]}}\n",
    );
    assert_eq!(
        flaws(&lines[1]),
        [(vec!["f", "x", "0", "k"], FlawKind::DuplicateKey("k".into()))]
    );
}

#[test]
fn issue_12_yaml_non_finite_numbers_are_flaws_not_nulls() {
    let items = read(
        Format::Yaml,
        b"- value: .inf\n  label: .NaN\n- scores: [1.5, -.INF, .Inf]\n  location: {latitude: 1, longitude: 2, altitude: .nan}\n",
    );
    assert_eq!(
        flaws(&items[0]),
        [
            (vec!["value"], FlawKind::NonFinite(".inf")),
            (vec!["label"], FlawKind::NonFinite(".nan")),
        ]
    );
    assert_eq!(
        flaws(&items[1]),
        [
            (vec!["scores", "1"], FlawKind::NonFinite("-.inf")),
            (vec!["scores", "2"], FlawKind::NonFinite(".inf")),
            (vec!["location", "altitude"], FlawKind::NonFinite(".nan")),
        ]
    );
}

#[test]
fn issue_12_a_json_number_beyond_a_double_is_a_flaw_of_its_record() {
    let items = read(
        Format::Json,
        b"[\n{\"id\": 1},\n{\"id\": 2, \"values\": [1, 1e999]}\n]",
    );
    assert_eq!(places(&items), [Place::Line(2), Place::LineColumn(3, 30)]);
    assert_eq!(
        flaws(&items[1]),
        [(vec!["values", "1"], FlawKind::OutOfRange)]
    );
    // What was read before the number names the record.
    assert!(matches!(&items[1], Item::Flawed(json, ..) if json["id"] == 2));
    let lines = read(Format::Ndjson, b"{\"id\": 1, \"x\": -1e400}\n{\"id\": 2}\n");
    assert_eq!(flaws(&lines[0]), [(vec!["x"], FlawKind::OutOfRange)]);
    assert_eq!(places(&lines), [Place::LineColumn(1, 21), Place::Line(2)]);
}

/// Regression (issue 13): a file ending on an empty line was placed at column 0; columns
/// count from 1.
#[test]
fn issue_13_the_end_of_input_on_an_empty_line_is_column_1() {
    for (text, line) in [(&b""[..], 1), (&b"[\n{\"a\": 1},\n"[..], 3)] {
        match &read(Format::Json, text).last() {
            Some(Item::Error(Some(place), message)) => {
                assert_eq!(*place, Place::LineColumn(line, 1), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A reader of `total` generated bytes that counts what has been read.
struct Generated {
    text: Vec<u8>,
    at: std::rc::Rc<std::cell::Cell<usize>>,
}

impl std::io::Read for Generated {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let at = self.at.get();
        let count = buffer.len().min(self.text.len() - at);
        buffer[..count].copy_from_slice(&self.text[at..at + count]);
        self.at.set(at + count);
        Ok(count)
    }
}

/// Regression (issue 13, README "Large files are read as a stream"): JSON arrays and NDJSON
/// hand over their first record having read only the start of the file.
#[test]
fn issue_13_json_and_ndjson_are_read_as_a_stream() {
    let records: Vec<String> = (0..50_000).map(|i| format!("{{\"id\": {i}}}")).collect();
    for (format, text) in [
        (Format::Ndjson, records.join("\n")),
        (Format::Json, format!("[\n{}\n]", records.join(",\n"))),
    ] {
        let total = text.len();
        let at = std::rc::Rc::new(std::cell::Cell::new(0));
        let reader = Generated {
            text: text.into_bytes(),
            at: at.clone(),
        };
        let mut first_seen_at = None;
        let mut count = 0;
        read_records(reader, format, &mut |item| {
            assert!(matches!(item, Item::Record(..)), "{item:?}");
            first_seen_at.get_or_insert(at.get());
            count += 1;
        });
        assert_eq!(count, 50_000);
        let first = first_seen_at.unwrap();
        assert!(
            first < total / 20,
            "{format:?}: first record after {first} of {total} bytes"
        );
    }
}
