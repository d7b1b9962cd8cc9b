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
            Item::Record(_, place) => Some(*place),
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
