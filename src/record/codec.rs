//! Typed serde codecs for field values, without a `serde_json::Value` tree in between:
//! `FieldValue` serializes as the JSON `value` member of CloudKit's `{value, type}` (numbers
//! as numbers, members of dictionaries sorted by key, exactly what `FieldValue::to_json`
//! builds), and [`TypedValue`] deserializes a `value` member straight into a `FieldValue`
//! of a known type, with the same rules and messages as `FieldValue::from_json`. Objects
//! kept verbatim (assets, zone IDs, unknown types) are read refusing duplicated keys, as
//! every reader of checked files must (`strict_json`).

use super::strict_json::UniqueKeys;
use super::value::{expected_type, FieldType, FieldValue, Location, Reference, ScalarType};
use super::value::{Value, ValueError};
use super::RecordName;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Scalar(value) => value.serialize(serializer),
            FieldValue::List(_, items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            FieldValue::Unknown { value, .. } => value.serialize(serializer),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::String(s) | Value::Bytes(s) => serializer.serialize_str(s),
            Value::Int64(i) | Value::Timestamp(i) => serializer.serialize_i64(*i),
            // serde_json writes a non-finite number as `null`, as `to_json` does.
            Value::Double(d) => serializer.serialize_f64(*d),
            Value::Reference(reference) => {
                // Members in key order: action, recordName, zoneID.
                let mut map = serializer.serialize_map(None)?;
                if let Some(action) = &reference.action {
                    map.serialize_entry("action", &**action)?;
                }
                map.serialize_entry("recordName", reference.record_name.as_str())?;
                if let Some(zone) = &reference.zone_id {
                    map.serialize_entry("zoneID", zone)?;
                }
                map.end()
            }
            Value::Location(location) => serialize_location(location, serializer),
            Value::Asset(json) => json.serialize(serializer),
        }
    }
}

/// The length of `value`'s JSON, counted as it is written (nothing is kept).
pub fn encoded_length<T: Serialize + ?Sized>(value: &T) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    Ok(count.0)
}

/// The location's members sorted by key, `latitude` and `longitude` among the others.
fn serialize_location<S: Serializer>(
    location: &Location,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(None)?;
    let mut coordinates = [
        ("latitude", location.latitude),
        ("longitude", location.longitude),
    ]
    .into_iter()
    .peekable();
    for (key, value) in &location.extra {
        while let Some((name, number)) = coordinates.next_if(|(name, _)| *name < key.as_str()) {
            map.serialize_entry(name, &number)?;
        }
        map.serialize_entry(key, value)?;
    }
    for (name, number) in coordinates {
        map.serialize_entry(name, &number)?;
    }
    map.end()
}

/// Deserializes the `value` member of a field of this type into a `FieldValue`.
pub struct TypedValue<'a>(pub &'a FieldType);

impl<'de> DeserializeSeed<'de> for TypedValue<'_> {
    type Value = FieldValue;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FieldValue, D::Error> {
        match self.0 {
            FieldType::Scalar(t) => Element(*t)
                .deserialize(deserializer)
                .map(FieldValue::Scalar),
            FieldType::List(t) => {
                let items = deserializer.deserialize_any(ListVisitor {
                    element: *t,
                    list: self.0,
                })?;
                Ok(FieldValue::List(*t, items))
            }
            FieldType::Unknown(name) => Ok(FieldValue::Unknown {
                type_name: name.clone(),
                value: Box::new(UniqueKeys.deserialize(deserializer)?),
            }),
        }
    }
}

fn fail<E: de::Error>(error: ValueError) -> E {
    E::custom(error)
}

struct ListVisitor<'a> {
    element: ScalarType,
    list: &'a FieldType,
}

impl<'de> Visitor<'de> for ListVisitor<'_> {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {}", self.element.wire_name())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(Element(self.element))? {
            items.push(item);
        }
        Ok(items)
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Vec<Value>, A::Error> {
        Err(fail(ValueError::Expected(self.list.clone())))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<Value>, E> {
        Err(fail(ValueError::Expected(self.list.clone())))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<Value>, E> {
        Err(fail(ValueError::Expected(self.list.clone())))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<Value>, E> {
        Err(fail(ValueError::Expected(self.list.clone())))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<Value>, E> {
        Err(fail(ValueError::Expected(self.list.clone())))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<Value>, E> {
        Err(fail(ValueError::Expected(self.list.clone())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<Value>, E> {
        Err(fail(ValueError::Expected(self.list.clone())))
    }
}

/// One element of a known scalar type.
#[derive(Clone, Copy)]
struct Element(ScalarType);

impl<'de> DeserializeSeed<'de> for Element {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            ScalarType::AssetId => {
                let json = UniqueKeys.deserialize(deserializer)?;
                if !json.is_object() {
                    return Err(fail(expected_type(self.0)));
                }
                Ok(Value::Asset(Box::new(json)))
            }
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl Element {
    /// The error for a JSON value of the wrong kind (as `from_json` reports it).
    fn wrong<E: de::Error>(self) -> E {
        match self.0 {
            ScalarType::Timestamp => fail(ValueError::Timestamp),
            t => fail(expected_type(t)),
        }
    }
}

impl<'de> Visitor<'de> for Element {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value of type {}", self.0.wire_name())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        match self.0 {
            ScalarType::Int64 => Ok(Value::Int64(v)),
            ScalarType::Timestamp => Ok(Value::Timestamp(v)),
            ScalarType::Double => Ok(Value::Double(v as f64)),
            _ => Err(self.wrong()),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match (self.0, i64::try_from(v)) {
            (_, Ok(signed)) => self.visit_i64(signed),
            (ScalarType::Int64 | ScalarType::Timestamp, Err(_)) => {
                Err(fail(ValueError::Int64Range))
            }
            (ScalarType::Double, Err(_)) => Ok(Value::Double(v as f64)),
            _ => Err(self.wrong()),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match self.0 {
            ScalarType::Double => Ok(Value::Double(v)),
            _ => Err(self.wrong()),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        match self.0 {
            ScalarType::String => Ok(Value::String(v.to_owned())),
            ScalarType::Bytes => Ok(Value::Bytes(v.to_owned())),
            // numbersAsStrings replies carry numbers as strings.
            ScalarType::Int64 => v.parse().map(Value::Int64).map_err(|_| self.wrong()),
            ScalarType::Timestamp => v.parse().map(Value::Timestamp).map_err(|_| self.wrong()),
            ScalarType::Double => v.parse().map(Value::Double).map_err(|_| self.wrong()),
            _ => Err(self.wrong()),
        }
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        match self.0 {
            ScalarType::String => Ok(Value::String(v)),
            ScalarType::Bytes => Ok(Value::Bytes(v)),
            _ => self.visit_str(&v),
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        Err(self.wrong())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Err(self.wrong())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(self.wrong())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        match self.0 {
            ScalarType::Reference => reference(map).map(|r| Value::Reference(Box::new(r))),
            ScalarType::Location => location(map).map(|l| Value::Location(Box::new(l))),
            _ => Err(self.wrong()),
        }
    }
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key `{key}`"))
}

/// `{recordName, action?, zoneID?}`; other members are skipped, as `from_json` does.
fn reference<'de, A: MapAccess<'de>>(mut map: A) -> Result<Reference, A::Error> {
    let mut record_name: Option<Option<String>> = None;
    let mut action: Option<Option<String>> = None;
    let mut zone_id: Option<Json> = None;
    let mut others: Vec<String> = Vec::new();
    while let Some(key) = map.next_key::<Key>()? {
        let seen = match key.0.as_ref() {
            "recordName" => record_name
                .replace(map.next_value::<StrOrOther>()?.0)
                .is_some(),
            "action" => action.replace(map.next_value::<StrOrOther>()?.0).is_some(),
            "zoneID" => zone_id.replace(map.next_value_seed(UniqueKeys)?).is_some(),
            _ => {
                map.next_value_seed(UniqueKeys)?;
                others.iter().any(|seen| *seen == key.0) || {
                    others.push(key.0.to_string());
                    false
                }
            }
        };
        if seen {
            return Err(duplicate(&key.0));
        }
    }
    let record_name = record_name
        .flatten()
        .ok_or_else(|| fail(expected_type(ScalarType::Reference)))?;
    Ok(Reference {
        record_name: RecordName::new(record_name),
        action: action.flatten().as_deref().map(Reference::shared_action),
        zone_id: zone_id.filter(|z| !z.is_null()).map(Box::new),
    })
}

/// A member name, borrowed from the text when it holds no escape.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A string member, or `None` for any other JSON value (read and dropped).
struct StrOrOther(Option<String>);

impl<'de> de::Deserialize<'de> for StrOrOther {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match UniqueKeys.deserialize(deserializer)? {
            Json::String(text) => Ok(StrOrOther(Some(text))),
            _ => Ok(StrOrOther(None)),
        }
    }
}

/// `{latitude, longitude, ...}`: coordinates as numbers or numeric strings, the other
/// members kept.
fn location<'de, A: MapAccess<'de>>(mut map: A) -> Result<Location, A::Error> {
    let mut latitude = None;
    let mut longitude = None;
    let mut extra = BTreeMap::new();
    while let Some(key) = map.next_key::<Key>()? {
        let seen = match key.0.as_ref() {
            "latitude" => latitude.replace(map.next_value_seed(UniqueKeys)?).is_some(),
            "longitude" => longitude
                .replace(map.next_value_seed(UniqueKeys)?)
                .is_some(),
            _ => {
                let value = map.next_value_seed(UniqueKeys)?;
                extra.insert(key.0.to_string(), value).is_some()
            }
        };
        if seen {
            return Err(duplicate(&key.0));
        }
    }
    let coordinate = |json: Option<Json>| match json {
        Some(Json::Number(n)) => n.as_f64().ok_or(expected_type(ScalarType::Location)),
        Some(Json::String(s)) => s
            .parse::<f64>()
            .map_err(|_| expected_type(ScalarType::Location)),
        _ => Err(expected_type(ScalarType::Location)),
    };
    Ok(Location {
        latitude: coordinate(latitude).map_err(fail)?,
        longitude: coordinate(longitude).map_err(fail)?,
        extra,
    })
}

/// A field's `type` name parsed as it is read (known names allocate nothing; an unknown
/// name is kept), shared by the reply and plan-file readers.
pub struct TypeName(pub FieldType);

impl<'de> serde::Deserialize<'de> for TypeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = TypeName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CloudKit type name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<TypeName, E> {
                Ok(TypeName(
                    name.parse().unwrap_or_else(|never| match never {}),
                ))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(type_name: &str, text: &str) -> Result<FieldValue, String> {
        let field_type: FieldType = type_name.parse().unwrap();
        let mut deserializer = serde_json::Deserializer::from_str(text);
        TypedValue(&field_type)
            .deserialize(&mut deserializer)
            .map_err(|error| error.to_string())
    }

    fn unstated_action(value: &FieldValue) -> bool {
        let unstated = |v: &Value| matches!(v, Value::Reference(r) if r.action.is_none());
        match value {
            FieldValue::Scalar(v) => unstated(v),
            FieldValue::List(_, items) => items.iter().any(unstated),
            FieldValue::Unknown { .. } => false,
        }
    }

    /// The typed codec agrees with the `Value`-tree codec, value for value and error for
    /// error: `serialize` writes `to_json`'s text, `TypedValue` reads what `from_json` reads.
    fn agrees(type_name: &str, json: Json) {
        let field_type: FieldType = type_name.parse().unwrap();
        let text = serde_json::to_string(&json).unwrap();
        let reference = FieldValue::from_json(&field_type, &json).map_err(|e| e.to_string());
        let typed = decode(type_name, &text);
        match (&reference, &typed) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{type_name} {text}");
                // One difference, on purpose: the wire form states an unstated reference
                // action as `NONE` (CloudKit requires one), while the plan file keeps it
                // unstated, so that a plan reads back as the plan it was.
                if !unstated_action(a) {
                    assert_eq!(
                        serde_json::to_string(b).unwrap(),
                        serde_json::to_string(&a.to_json(false)).unwrap(),
                        "{type_name} {text}"
                    );
                }
            }
            (Err(a), Err(b)) => assert!(b.starts_with(a.as_str()), "{type_name} {text}: {b}"),
            _ => panic!("{type_name} {text}: {reference:?} but {typed:?}"),
        }
    }

    #[test]
    fn typed_codec_agrees_with_the_json_codec() {
        let cases = [
            ("STRING", json!("Fenway Park")),
            ("STRING", json!(7)),
            ("INT64", json!(1912)),
            ("INT64", json!("7")),
            ("INT64", json!(1.5)),
            ("INT64", json!(18446744073709551615_u64)),
            ("INT64", json!(null)),
            ("DOUBLE", json!(0.1546950340270996)),
            ("DOUBLE", json!(3)),
            ("DOUBLE", json!("2.5")),
            ("DOUBLE", json!(true)),
            ("TIMESTAMP", json!(1762819443586_i64)),
            ("TIMESTAMP", json!(1.5)),
            ("TIMESTAMP", json!("x")),
            ("BYTES", json!("aGVsbG8=")),
            (
                "REFERENCE",
                json!({"recordName": "s-1", "action": "NONE",
                "zoneID": {"zoneName": "_defaultZone"}}),
            ),
            (
                "REFERENCE",
                json!({"recordName": "s-1", "zoneID": null, "other": [1]}),
            ),
            ("REFERENCE", json!({"action": "NONE"})),
            ("REFERENCE", json!("s-1")),
            (
                "LOCATION",
                json!({"latitude": 42.3467, "longitude": -71.0972, "altitude": 5.0,
                "accuracy": 1, "zzz": "x"}),
            ),
            ("LOCATION", json!({"latitude": "1.5", "longitude": 2})),
            ("LOCATION", json!({"latitude": 1.5})),
            ("ASSETID", json!({"fileChecksum": "abc", "size": 12})),
            ("ASSETID", json!("abc")),
            ("STRING_LIST", json!(["red", "blue"])),
            ("STRING_LIST", json!("red")),
            ("INT64_LIST", json!([1, 2, "3"])),
            ("INT64_LIST", json!([1, "x"])),
            (
                "LOCATION_LIST",
                json!([{"latitude": 1.0, "longitude": 2.0}]),
            ),
            (
                "REFERENCE_LIST",
                json!([{"recordName": "a", "action": "DELETE_SELF"}]),
            ),
            ("UNKNOWN_LIST", json!([{"a": 1}])),
            ("BOOLEAN", json!(true)),
        ];
        for (type_name, json) in cases {
            agrees(type_name, json);
        }
    }

    #[test]
    fn duplicated_keys_inside_values_are_refused() {
        let error = decode("REFERENCE", r#"{"recordName": "a", "recordName": "b"}"#).unwrap_err();
        assert!(error.starts_with("duplicate key `recordName`"), "{error}");
        let error = decode(
            "LOCATION",
            r#"{"latitude": 1, "longitude": 2, "x": 1, "x": 2}"#,
        )
        .unwrap_err();
        assert!(error.starts_with("duplicate key `x`"), "{error}");
        let error = decode("ASSETID", r#"{"size": 1, "size": 2}"#).unwrap_err();
        assert!(error.starts_with("duplicate key `size`"), "{error}");
    }
}
