//! The fast path for plain records read from NDJSON text: each declared field is decoded
//! straight into its `FieldValue` as the parser meets it, by its declared type, with no
//! JSON object built for the record and no JSON value for its strings and numbers.
//!
//! It accepts only a record the general path (`strict` + `convert`) would accept without a
//! word: every key declared, a name key of the `record_name` template or an ignored field
//! already warned about; no key twice at any depth; every value valid for its type; a valid
//! record name. Anything else — an unknown key, a wrong value, a duplicate, a parse error —
//! gives up ([`Fallback`]), and the caller reads the same text again by the general path,
//! which reports it with its usual messages. What the fast path returns is therefore what
//! the general path returns, never a different record, and every problem keeps its text.

use super::values::{decode, decode_text};
use crate::config::TypeConfig;
use crate::record::identifier::record_name_problem;
use crate::record::strict_json::UniqueKeys;
use crate::record::{FieldType, FieldValue, Fields, RecordName, ScalarType, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

/// Why the fast path gave up on a record: the general path reads it instead.
#[derive(Debug, PartialEq)]
pub(super) enum Fallback {
    /// The record holds a key the type does not declare (or the record is not an object):
    /// in a file of plain records this is an error, and a file whose records all have one
    /// (CloudKit-native records, with `fields`) is better read by the general path only.
    Shape,
    /// Anything else the general path has words for, or a parse error.
    Other,
}

/// What one key of a plain record is for.
#[derive(Clone, Copy, Debug)]
struct Role<'a> {
    /// A declared field of a known type, not ignored: decoded into the record.
    field: Option<&'a FieldType>,
    /// Listed in `ignore_fields`: skipped once the type has warned about it.
    ignored: bool,
    /// The slot of the value among those the record name is made from.
    name_slot: Option<usize>,
}

/// How a type's plain records are read on the fast path.
pub(super) struct PlainShape<'a> {
    /// Every key a valid record may hold, sorted by key.
    roles: Vec<(&'a str, Role<'a>)>,
    config: &'a TypeConfig,
    /// Per record: the keys seen (by role index).
    seen: Vec<bool>,
    /// Per record: the name keys' values, by slot (`null` when absent, which the template
    /// reads as missing), in the object the template renders.
    name_values: Vec<Json>,
    name_object: Map<String, Json>,
    name_keys: Vec<&'a str>,
}

impl<'a> PlainShape<'a> {
    /// The fast path for records of `config`, or `None` when the type's records cannot
    /// take it (no declared fields: its records are CloudKit-native or all errors; a
    /// declared field named `fields`, which makes a record native or plain by its value).
    pub(super) fn of(config: &'a TypeConfig) -> Option<Self> {
        if config.fields.is_empty() || config.fields.contains_key("fields") {
            return None;
        }
        let mut name_keys: Vec<&str> = Vec::new();
        let template_keys = config.record_name.as_ref().map(|template| template.keys());
        for key in template_keys.into_iter().flatten() {
            // A key the template reads twice has one slot.
            if !name_keys.contains(&key) {
                name_keys.push(key);
            }
        }
        if config.record_name.is_none() {
            name_keys.push("recordName");
        }
        let mut keys: BTreeSet<&str> = config.fields.keys().map(String::as_str).collect();
        keys.extend(config.ignore_fields.iter().map(String::as_str));
        keys.extend(name_keys.iter().copied());
        if keys.contains("fields") {
            return None;
        }
        let roles: Vec<(&str, Role)> = keys
            .into_iter()
            .map(|key| {
                let ignored = config.ignore_fields.contains(key);
                let field = config
                    .fields
                    .get(key)
                    .map(|spec| &spec.field_type)
                    .filter(|t| !ignored && !matches!(t, FieldType::Unknown(_)));
                let name_slot = name_keys.iter().position(|name| *name == key);
                let role = Role {
                    field,
                    ignored,
                    name_slot,
                };
                (key, role)
            })
            .collect();
        Some(Self {
            seen: vec![false; roles.len()],
            name_values: vec![Json::Null; name_keys.len()],
            name_object: name_keys
                .iter()
                .map(|key| ((*key).to_owned(), Json::Null))
                .collect(),
            roles,
            config,
            name_keys,
        })
    }

    /// The record in `text` (one NDJSON line) as its name and fields, or why the general
    /// path must read it. `warned` holds the ignored fields the type has warned about.
    pub(super) fn read(
        &mut self,
        text: &str,
        warned: &BTreeSet<String>,
    ) -> Result<(RecordName, Fields), Fallback> {
        self.seen.fill(false);
        self.name_values.fill(Json::Null);
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut shape_problem = false;
        let seed = RecordSeed {
            shape: self,
            warned,
            shape_problem: &mut shape_problem,
        };
        let fields = seed
            .deserialize(&mut deserializer)
            .and_then(|fields| deserializer.end().map(|()| fields));
        let fields = match fields {
            Ok(fields) => fields,
            Err(_) if shape_problem => return Err(Fallback::Shape),
            Err(_) => return Err(Fallback::Other),
        };
        let name = self.record_name().ok_or(Fallback::Other)?;
        if record_name_problem(&name).is_some() {
            return Err(Fallback::Other);
        }
        Ok((RecordName::new(name), fields))
    }

    /// The record's name from the name keys' values, as `Converter::plain_name` makes it;
    /// `None` where that reports an error.
    fn record_name(&mut self) -> Option<String> {
        match &self.config.record_name {
            Some(template) => {
                // The object is kept from record to record: only its values change.
                for (key, value) in self.name_keys.iter().zip(&mut self.name_values) {
                    if let Some(slot) = self.name_object.get_mut(*key) {
                        *slot = std::mem::take(value);
                    }
                }
                template.render(&self.name_object).ok()
            }
            None => match std::mem::take(self.name_values.first_mut()?) {
                Json::String(name) if !name.is_empty() => Some(name),
                _ => None,
            },
        }
    }
}

/// Gives up on the record: an error the general path never sees (it reads the text again).
fn give_up<E: de::Error>() -> E {
    E::custom("read by the general path")
}

/// The record object: its declared fields decoded, its name keys' values kept.
struct RecordSeed<'s, 'a> {
    shape: &'s mut PlainShape<'a>,
    warned: &'s BTreeSet<String>,
    /// Set when the record gives up for its shape (see [`Fallback::Shape`]).
    shape_problem: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_> {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::new();
        while let Some(index) = map.next_key_seed(KeySeed(&self.shape.roles))? {
            let Some(index) = index else {
                *self.shape_problem = true;
                return Err(give_up());
            };
            if std::mem::replace(&mut self.shape.seen[index], true) {
                return Err(give_up());
            }
            let (key, role) = self.shape.roles[index];
            if role.ignored && !self.warned.contains(key) {
                return Err(give_up());
            }
            if let Some(slot) = role.name_slot {
                // The name reads the value as JSON; a declared field decodes that value.
                let value = map.next_value_seed(UniqueKeys)?;
                if let Some(field_type) = role.field.filter(|_| !value.is_null()) {
                    let decoded = decode(field_type, &value).map_err(|_| give_up())?;
                    fields.insert(key.to_owned(), decoded);
                }
                self.shape.name_values[slot] = value;
            } else if let Some(field_type) = role.field {
                if let Some(value) = map.next_value_seed(FieldSeed(field_type))? {
                    fields.insert(key.to_owned(), value);
                }
            } else {
                // An ignored field: read only to refuse a duplicated key inside it.
                map.next_value_seed(UniqueKeys)?;
            }
        }
        Ok(fields)
    }
}

/// A key of the record object: the index of its role, `None` for a key with no role.
struct KeySeed<'s, 'a>(&'s [(&'a str, Role<'a>)]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.binary_search_by(|(k, _)| (*k).cmp(key)).ok())
    }
}

/// A declared field's value, decoded by its type; `None` for `null` (no value).
struct FieldSeed<'a>(&'a FieldType);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<FieldValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl FieldSeed<'_> {
    /// A scalar field's element, or gives up (a list field given one element is an error).
    fn scalar<E: de::Error>(
        &self,
        element: Result<Value, String>,
    ) -> Result<Option<FieldValue>, E> {
        match (self.0, element) {
            (FieldType::Scalar(_), Ok(value)) => Ok(Some(FieldValue::Scalar(value))),
            _ => Err(give_up()),
        }
    }

    fn element_type(&self) -> ScalarType {
        match self.0 {
            FieldType::Scalar(t) | FieldType::List(t) => *t,
            // `PlainShape::of` gives no unknown type a field role.
            FieldType::Unknown(_) => ScalarType::String,
        }
    }

    /// A non-string scalar, decoded from its JSON value as `decode` does.
    fn json<E: de::Error>(&self, json: Json) -> Result<Option<FieldValue>, E> {
        match self.0 {
            FieldType::Scalar(_) => decode(self.0, &json).map(Some).map_err(|_| give_up()),
            _ => Err(give_up()),
        }
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<FieldValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
        self.json(Json::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        self.json(Json::from(number))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        self.json(Json::from(number))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        let number = serde_json::Number::from_f64(number).ok_or_else(give_up)?;
        self.json(Json::Number(number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        self.scalar(decode_text(self.element_type(), Cow::Borrowed(text)))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        self.scalar(decode_text(self.element_type(), Cow::Owned(text)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let json = UniqueKeys.visit_map(map)?;
        self.json(json)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let FieldType::List(element) = self.0 else {
            return Err(give_up());
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ElementSeed(*element))? {
            items.push(item);
        }
        Ok(Some(FieldValue::List(*element, items)))
    }
}

/// One element of a list field, decoded by the list's element type.
struct ElementSeed(ScalarType);

impl<'de> DeserializeSeed<'de> for ElementSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ElementSeed {
    fn json<E: de::Error>(&self, json: Json) -> Result<Value, E> {
        match decode(&FieldType::Scalar(self.0), &json) {
            Ok(FieldValue::Scalar(value)) => Ok(value),
            _ => Err(give_up()),
        }
    }
}

impl<'de> Visitor<'de> for ElementSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list element")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Value, E> {
        self.json(Json::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Value, E> {
        self.json(Json::from(number))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Value, E> {
        self.json(Json::from(number))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Value, E> {
        let number = serde_json::Number::from_f64(number).ok_or_else(give_up)?;
        self.json(Json::Number(number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        decode_text(self.0, Cow::Borrowed(text)).map_err(|_| give_up())
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Value, E> {
        decode_text(self.0, Cow::Owned(text)).map_err(|_| give_up())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let json = UniqueKeys.visit_map(map)?;
        self.json(json)
    }

    // Null, and a list inside a list, are errors the general path words.
}

#[cfg(test)]
mod tests;
