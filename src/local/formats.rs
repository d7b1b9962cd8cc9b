//! Reading record objects out of data files, one at a time: JSON arrays element by element
//! (never the whole file as one value), NDJSON line by line, YAML sequences. Every record
//! comes with its place (line, or index when lines are unknown); malformed input becomes
//! an error item with line and column. A leading UTF-8 byte-order mark is skipped (editors
//! on Windows write one); duplicate keys and numbers JSON cannot hold are kept as flaws
//! (see `strict`).

use super::strict::{Collector, Flaw, RecordSeed};
use crate::config::Place;
use serde::de::{DeserializeSeed, Deserializer as _, SeqAccess, Visitor};
use serde_json::Value as Json;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A data file format, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Yaml,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// What reading a file yields, in file order.
#[derive(Debug, PartialEq)]
pub enum Item {
    Record(Json, Place),
    /// A record with something its JSON value cannot show (a duplicate key, a number CloudKit
    /// cannot store); the converter refuses it, naming the record and field. A record cut
    /// short by an out-of-range number holds the members read before it.
    Flawed(Json, Place, Vec<Flaw>),
    Error(Option<Place>, String),
}

/// The UTF-8 encoding of U+FEFF, the byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the records of a file go.
pub trait RecordSink {
    /// Offered the text of one NDJSON record (one line, without its line ending) before it
    /// is parsed: `true` when the sink took the record from the text itself, `false` to
    /// have it read as an [`Item`].
    fn record_text(&mut self, text: &str, place: Place) -> bool;
    /// A record, flawed record or error, in file order.
    fn item(&mut self, item: Item);
}

/// A sink that takes every record as an [`Item`].
struct Items<'a>(&'a mut dyn FnMut(Item));

impl RecordSink for Items<'_> {
    fn record_text(&mut self, _: &str, _: Place) -> bool {
        false
    }
    fn item(&mut self, item: Item) {
        (self.0)(item)
    }
}

/// Reads every record of `reader` in `format`, handing each to `sink`.
pub fn read_records(reader: impl Read, format: Format, sink: &mut dyn FnMut(Item)) {
    read_records_into(reader, format, &mut Items(sink));
}

/// As [`read_records`], offering `sink` each NDJSON record's text first.
pub fn read_records_into(reader: impl Read, format: Format, sink: &mut dyn RecordSink) {
    let mut reader = BufReader::new(reader);
    if let Ok(start) = reader.fill_buf() {
        if start.starts_with(BOM) {
            reader.consume(BOM.len());
        }
    }
    match format {
        Format::Json => read_json(reader, &mut |item| sink.item(item)),
        Format::Ndjson => read_ndjson(reader, sink),
        Format::Yaml => read_yaml(reader, &mut |item| sink.item(item)),
    }
}

/// Counts the newlines read so far, so the line of each array element is known.
struct CountingReader<'a, R> {
    inner: R,
    newlines: &'a Cell<usize>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.inner.read(buffer)?;
        let newlines = buffer[..count].iter().filter(|b| **b == b'\n').count();
        self.newlines.set(self.newlines.get() + newlines);
        Ok(count)
    }
}

fn read_json(reader: impl BufRead, sink: &mut dyn FnMut(Item)) {
    let newlines = Cell::new(0);
    let counting = CountingReader {
        inner: reader,
        newlines: &newlines,
    };
    let mut deserializer = serde_json::Deserializer::from_reader(counting);
    let element = RefCell::new(None);
    let visitor = ArrayVisitor {
        newlines: &newlines,
        element: &element,
        sink,
    };
    let result = deserializer
        .deserialize_seq(visitor)
        .and_then(|()| deserializer.end());
    if let Err(error) = result {
        let cut_short = element.into_inner();
        let place = Place::LineColumn(error.line(), error.column());
        sink(out_of_range(&error, cut_short, place).unwrap_or_else(|| json_error(&error, None)));
    }
}

/// The record cut short by a number too large for a 64-bit float, as a flawed record
/// holding what was read of it; `None` for any other error.
fn out_of_range(
    error: &serde_json::Error,
    cut_short: Option<Collector>,
    place: Place,
) -> Option<Item> {
    let mut collector = cut_short?;
    if !error.to_string().starts_with("number out of range") || collector.path.is_empty() {
        return None;
    }
    collector.out_of_range();
    let partial = Json::Object(collector.partial);
    Some(Item::Flawed(partial, place, collector.flaws))
}

fn record_item(json: Json, place: Place, flaws: Vec<Flaw>) -> Item {
    if flaws.is_empty() {
        Item::Record(json, place)
    } else {
        Item::Flawed(json, place, flaws)
    }
}

fn json_error(error: &serde_json::Error, line: Option<usize>) -> Item {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.replacen(&suffix, "", 1);
    // serde_json says column 0 for the end of input on an empty line; columns count from 1.
    let column = error.column().max(1);
    let place = match (line, error.line()) {
        (Some(line), _) => Place::LineColumn(line, column),
        (None, 0) => return Item::Error(None, format!("malformed JSON: {message}")),
        (None, error_line) => Place::LineColumn(error_line, column),
    };
    Item::Error(Some(place), format!("malformed JSON: {message}"))
}

struct ArrayVisitor<'a, 'b> {
    newlines: &'a Cell<usize>,
    /// The element being read, until it is complete.
    element: &'a RefCell<Option<Collector>>,
    sink: &'b mut dyn FnMut(Item),
}

impl<'de> Visitor<'de> for ArrayVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let seed = || ElementSeed {
            newlines: self.newlines,
            element: self.element,
        };
        while let Some((line, json)) = seq.next_element_seed(seed())? {
            let flaws = self
                .element
                .borrow_mut()
                .take()
                .map(|collector| collector.flaws)
                .unwrap_or_default();
            (self.sink)(record_item(json, Place::Line(line), flaws));
        }
        Ok(())
    }
}

/// Deserializes one element, noting its line: serde_json has consumed the whitespace and
/// peeked the element's first byte when it calls the seed, so the newline count is exact.
struct ElementSeed<'a> {
    newlines: &'a Cell<usize>,
    element: &'a RefCell<Option<Collector>>,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = (usize, Json);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let line = self.newlines.get() + 1;
        let collector = RefCell::new(Collector::default());
        let result = RecordSeed(&collector).deserialize(d);
        *self.element.borrow_mut() = Some(collector.into_inner());
        Ok((line, result?))
    }
}

fn read_ndjson(mut reader: impl BufRead, sink: &mut dyn RecordSink) {
    let mut buffer = Vec::new();
    for line_number in 1.. {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) => {
                let message = format!("failed to read: {error}");
                return sink.item(Item::Error(Some(Place::Line(line_number)), message));
            }
        }
        let text = match std::str::from_utf8(&buffer) {
            Ok(text) => text,
            Err(error) => {
                let column = error.valid_up_to() + 1;
                let place = Some(Place::LineColumn(line_number, column));
                sink.item(Item::Error(place, "invalid UTF-8".into()));
                continue;
            }
        };
        // Without its line ending, an error at the end of the line gets that line's column.
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        if !sink.record_text(text, Place::Line(line_number)) {
            sink.item(ndjson_record(text, line_number));
        }
    }
}

/// The record on NDJSON line `line_number`, as an item.
pub(super) fn ndjson_record(text: &str, line_number: usize) -> Item {
    let collector = RefCell::new(Collector::default());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = RecordSeed(&collector)
        .deserialize(&mut deserializer)
        .and_then(|json| deserializer.end().map(|()| json));
    let collector = collector.into_inner();
    match result {
        Ok(json) => record_item(json, Place::Line(line_number), collector.flaws),
        Err(error) => {
            let place = Place::LineColumn(line_number, error.column());
            out_of_range(&error, Some(collector), place)
                .unwrap_or_else(|| json_error(&error, Some(line_number)))
        }
    }
}

fn read_yaml(mut reader: impl Read, sink: &mut dyn FnMut(Item)) {
    let mut bytes = Vec::new();
    if let Err(error) = reader.read_to_end(&mut bytes) {
        return sink(Item::Error(None, format!("failed to read: {error}")));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let column =
                valid.len() - valid.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1) + 1;
            return sink(Item::Error(
                Some(Place::LineColumn(line, column)),
                "invalid UTF-8".into(),
            ));
        }
    };
    let document: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(document) => document,
        Err(error) => return sink(yaml_error(&error)),
    };
    let items = match document {
        serde_yaml::Value::Null => return,
        serde_yaml::Value::Sequence(items) => items,
        _ => {
            return sink(Item::Error(
                None,
                "expected a YAML sequence of records".into(),
            ))
        }
    };
    let lines = item_lines(&text).filter(|lines| lines.len() == items.len());
    for (index, item) in items.into_iter().enumerate() {
        let place = match &lines {
            Some(lines) => Place::Line(lines[index]),
            None => Place::Index(index),
        };
        let mut collector = Collector::default();
        match super::strict::from_yaml(item, &mut collector) {
            Ok(json) => sink(record_item(json, place, collector.flaws)),
            Err(error) => sink(Item::Error(
                Some(place),
                format!("unsupported YAML value: {error}"),
            )),
        }
    }
}

fn yaml_error(error: &serde_yaml::Error) -> Item {
    let text = error.to_string();
    match error.location() {
        Some(l) => {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            let message = text.replacen(&suffix, "", 1);
            let place = Some(Place::LineColumn(l.line(), l.column()));
            Item::Error(place, format!("malformed YAML: {message}"))
        }
        None => Item::Error(None, format!("malformed YAML: {text}")),
    }
}

/// The lines of a top-level block sequence's items (`- ` in column 1). serde_yaml keeps no
/// positions, so the caller uses these only when their count matches the items.
fn item_lines(text: &str) -> Option<Vec<usize>> {
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| *line == "-" || line.starts_with("- ") || line.starts_with("-\t"))
        .map(|(index, _)| index + 1)
        .collect();
    (!lines.is_empty()).then_some(lines)
}

#[cfg(test)]
mod tests;
