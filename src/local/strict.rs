//! Building a record's JSON value from a data file without losing what a JSON value
//! cannot hold: a key given twice in one object (serde_json keeps the last silently), a
//! YAML `.inf` / `-.inf` / `.nan` (serde_json turns it into `null`, which reads as "no
//! value" and plans a field removal) and a JSON number too large for a 64-bit float
//! (`1e999`, which serde_json refuses mid-parse). Each becomes a [`Flaw`] with the path to
//! it, so the converter can refuse the record naming its file, line, record and field.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value as Json};
use std::cell::RefCell;
use std::fmt;

/// What is wrong at one place inside a record.
#[derive(Clone, Debug, PartialEq)]
pub enum FlawKind {
    /// An object gives this key a second time (the first value is kept).
    DuplicateKey(String),
    /// A number that is not finite, as YAML spells it: `.inf`, `-.inf`, `.nan`.
    NonFinite(&'static str),
    /// A number too large for a 64-bit float, e.g. `1e999`.
    OutOfRange,
}

/// A flaw and where it is: the keys and list indexes from the record object down to the
/// value concerned (`["capacity"]`, `["fields", "location", "value", "altitude"]`,
/// `["colors", "2"]`); for a duplicate key, down to the member given twice.
#[derive(Clone, Debug, PartialEq)]
pub struct Flaw {
    pub path: Vec<String>,
    pub kind: FlawKind,
}

impl Flaw {
    /// The record field concerned: the first key of a plain record, the key under `fields`
    /// of a CloudKit-native one. `None` for a native record's own members (`recordName`).
    pub fn field(&self, native: bool) -> Option<&str> {
        match self.path.as_slice() {
            [fields, name, ..] if native && fields == "fields" => Some(name),
            [key, ..] if !native => Some(key),
            _ => None,
        }
    }

    /// The problem, e.g. ``duplicate key `name` `` or ``element 2: `.nan` is not a number
    /// CloudKit can store``, with the place inside the field when it is deeper than that.
    pub fn message(&self, native: bool) -> String {
        let mut inner: &[String] = &self.path;
        if self.field(native).is_some() {
            inner = &inner[if native { 2 } else { 1 }..];
        }
        if native && inner.first().is_some_and(|step| step == "value") {
            inner = &inner[1..];
        }
        if let FlawKind::DuplicateKey(_) = self.kind {
            inner = &inner[..inner.len().saturating_sub(1)];
        }
        let within = match inner {
            [] => String::new(),
            [index] if index.parse::<usize>().is_ok() => format!("element {index}: "),
            steps => format!(
                "in {}: ",
                crate::record::identifier::quoted(&steps.join("."))
            ),
        };
        let what = match &self.kind {
            FlawKind::DuplicateKey(key) => format!(
                "duplicate key {} (JSON keeps only one of them; give it once)",
                crate::record::identifier::quoted(key)
            ),
            FlawKind::NonFinite(text) => format!(
                "`{text}` is not a number CloudKit can store (numbers must be finite; \
                 quote it if it is meant as text)"
            ),
            FlawKind::OutOfRange => "number out of range: CloudKit stores 64-bit integers \
                                     and finite 64-bit floats"
                .to_owned(),
        };
        format!("{within}{what}")
    }
}

/// Where the value being built is, and what was found wrong so far. Shared by the seeds of
/// one record so that, when the parser fails inside it, the path to the failure is known.
#[derive(Debug, Default)]
pub struct Collector {
    pub path: Vec<String>,
    pub flaws: Vec<Flaw>,
    /// The record object's members read so far (the top-level object is built here so that
    /// a record cut short by a parse error can still be named).
    pub partial: Map<String, Json>,
}

impl Collector {
    fn flaw(&mut self, kind: FlawKind) {
        self.flaws.push(Flaw {
            path: self.path.clone(),
            kind,
        });
    }

    /// Records that the parser stopped at an out-of-range number here.
    pub fn out_of_range(&mut self) {
        self.flaw(FlawKind::OutOfRange);
    }
}

/// Deserializes one record value; the top-level object's members go to
/// `collector.partial` as they complete, and the result is that object.
pub struct RecordSeed<'a>(pub &'a RefCell<Collector>);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            collector: self.0,
            top: true,
        })
    }
}

struct ValueSeed<'a>(&'a RefCell<Collector>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            collector: self.0,
            top: false,
        })
    }
}

struct ValueVisitor<'a> {
    collector: &'a RefCell<Collector>,
    top: bool,
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Json, E> {
        Ok(Json::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Json, E> {
        Ok(Json::from(number))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Json, E> {
        Ok(Json::from(number))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Json, E> {
        Ok(finite(number, &mut self.collector.borrow_mut()))
    }

    fn visit_str<E>(self, text: &str) -> Result<Json, E> {
        Ok(Json::String(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Json, E> {
        Ok(Json::String(text))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        ValueSeed(self.collector).deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        loop {
            self.collector
                .borrow_mut()
                .path
                .push(items.len().to_string());
            let Some(item) = seq.next_element_seed(ValueSeed(self.collector))? else {
                self.collector.borrow_mut().path.pop();
                break;
            };
            self.collector.borrow_mut().path.pop();
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.collector.borrow_mut().path.push(key);
            let value = map.next_value_seed(ValueSeed(self.collector))?;
            let mut collector = self.collector.borrow_mut();
            let key = collector.path.pop().expect("pushed the key");
            let mut partial = std::mem::take(&mut collector.partial);
            let members = if self.top { &mut partial } else { &mut object };
            // One lookup: insert when new, keep the first value when repeated.
            match members.entry(key) {
                Entry::Vacant(vacant) => {
                    vacant.insert(value);
                }
                Entry::Occupied(occupied) => {
                    let key = occupied.key().clone();
                    collector.path.push(key.clone());
                    collector.flaw(FlawKind::DuplicateKey(key));
                    collector.path.pop();
                }
            }
            collector.partial = partial;
        }
        if self.top {
            object = std::mem::take(&mut self.collector.borrow_mut().partial);
        }
        Ok(Json::Object(object))
    }
}

/// `number` as JSON, or `null` and a flaw when it is not finite.
fn finite(number: f64, collector: &mut Collector) -> Json {
    match serde_json::Number::from_f64(number) {
        Some(number) => Json::Number(number),
        None => {
            let text = if number.is_nan() {
                ".nan"
            } else if number > 0.0 {
                ".inf"
            } else {
                "-.inf"
            };
            collector.flaw(FlawKind::NonFinite(text));
            Json::Null
        }
    }
}

/// Converts one YAML record to JSON, noting non-finite numbers (YAML refuses duplicate
/// keys itself). Keys that are numbers or booleans become their text.
pub fn from_yaml(value: serde_yaml::Value, collector: &mut Collector) -> Result<Json, String> {
    use serde_yaml::Value as Yaml;
    Ok(match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(flag) => Json::Bool(flag),
        Yaml::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(integer), _, _) => Json::from(integer),
            (None, Some(integer), _) => Json::from(integer),
            (None, None, Some(float)) => finite(float, collector),
            (None, None, None) => return Err(format!("unsupported YAML number `{number}`")),
        },
        Yaml::String(text) => Json::String(text),
        Yaml::Sequence(items) => {
            let mut converted = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                collector.path.push(index.to_string());
                let item = from_yaml(item, collector);
                collector.path.pop();
                converted.push(item?);
            }
            Json::Array(converted)
        }
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, item) in mapping {
                let key = match key {
                    Yaml::String(text) => text,
                    Yaml::Number(number) => number.to_string(),
                    Yaml::Bool(flag) => flag.to_string(),
                    _ => return Err("key must be a string".to_owned()),
                };
                collector.path.push(key.clone());
                let item = from_yaml(item, collector);
                collector.path.pop();
                object.insert(key, item?);
            }
            Json::Object(object)
        }
        Yaml::Tagged(tagged) => {
            return Err(format!("YAML tag `{}` is not supported", tagged.tag));
        }
    })
}

#[cfg(test)]
mod tests;
