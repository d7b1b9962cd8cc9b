//! Typed field values and their JSON encoding (the `value` member of CloudKit's field
//! dictionary). Types CloudKit may add later are kept as `Unknown` instead of rejected.

use super::RecordName;
use serde_json::{Map, Number, Value as Json};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The element types CloudKit knows; a field is one of these or a list of one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScalarType {
    String,
    Int64,
    Double,
    Timestamp,
    Bytes,
    Reference,
    Location,
    AssetId,
}

impl ScalarType {
    pub const ALL: [ScalarType; 8] = [
        ScalarType::String,
        ScalarType::Int64,
        ScalarType::Double,
        ScalarType::Timestamp,
        ScalarType::Bytes,
        ScalarType::Reference,
        ScalarType::Location,
        ScalarType::AssetId,
    ];

    pub fn wire_name(self) -> &'static str {
        match self {
            ScalarType::String => "STRING",
            ScalarType::Int64 => "INT64",
            ScalarType::Double => "DOUBLE",
            ScalarType::Timestamp => "TIMESTAMP",
            ScalarType::Bytes => "BYTES",
            ScalarType::Reference => "REFERENCE",
            ScalarType::Location => "LOCATION",
            ScalarType::AssetId => "ASSETID",
        }
    }

    fn from_wire_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.wire_name() == name)
    }
}

/// The type of a field as written in CloudKit's `type` member: `STRING`, `INT64_LIST`, ...
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldType {
    Scalar(ScalarType),
    List(ScalarType),
    /// A type name this version does not know (`UNKNOWN_LIST`, a future type): kept verbatim.
    Unknown(String),
}

impl FieldType {
    /// Parses a known type name; `None` for anything else (callers decide whether an unknown
    /// name is an error, as in a config file, or kept, as in a server reply).
    pub fn parse_known(name: &str) -> Option<Self> {
        if let Some(element) = name.strip_suffix("_LIST") {
            return ScalarType::from_wire_name(element).map(FieldType::List);
        }
        ScalarType::from_wire_name(name).map(FieldType::Scalar)
    }
}

impl FromStr for FieldType {
    type Err = std::convert::Infallible;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse_known(name).unwrap_or_else(|| FieldType::Unknown(name.to_owned())))
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Scalar(t) => f.write_str(t.wire_name()),
            FieldType::List(t) => write!(f, "{}_LIST", t.wire_name()),
            FieldType::Unknown(name) => f.write_str(name),
        }
    }
}

/// A reference to another record. `record_name` always takes part in comparisons; `action`
/// and `zone_id` only when stated (`Some`): local data that names only the target leaves
/// them `None`, and CloudKit's replies always state the action.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub record_name: RecordName,
    /// `NONE`, `DELETE_SELF` or `VALIDATE`; `None`: not stated, sent as `NONE`. Shared
    /// text ([`Reference::shared_action`]): most references of a read hold `NONE`.
    pub action: Option<Arc<str>>,
    /// The zone dictionary as given, kept for round trips; `None`: not stated. Boxed: most
    /// references state none, and a reference then takes 56 bytes instead of 80.
    pub zone_id: Option<Box<Json>>,
}

impl Reference {
    pub fn to(record_name: impl Into<RecordName>) -> Self {
        Self {
            record_name: record_name.into(),
            action: Some(Self::shared_action("NONE")),
            zone_id: None,
        }
    }

    /// A reference that names only its target: action and zone unstated, so that
    /// comparisons look at the recordName alone.
    pub fn named(record_name: impl Into<RecordName>) -> Self {
        Self {
            record_name: record_name.into(),
            action: None,
            zone_id: None,
        }
    }

    /// `text` as an action: one allocation shared by every reference for the actions
    /// CloudKit knows, a new one for any other text.
    pub fn shared_action(text: &str) -> Arc<str> {
        static KNOWN: OnceLock<[Arc<str>; 3]> = OnceLock::new();
        let known = KNOWN.get_or_init(|| ["NONE", "DELETE_SELF", "VALIDATE"].map(Arc::from));
        match known.iter().find(|action| ***action == *text) {
            Some(action) => Arc::clone(action),
            None => Arc::from(text),
        }
    }

    /// The action CloudKit holds or will hold: the stated one, else `NONE`.
    pub fn action_or_none(&self) -> &str {
        self.action.as_deref().unwrap_or("NONE")
    }
}

/// A location. Only latitude and longitude take part in comparisons; the other members
/// (accuracy, altitude, ...) are kept for round trips.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub extra: BTreeMap<String, Json>,
}

impl Location {
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
            extra: BTreeMap::new(),
        }
    }
}

/// One element value. The rare large variants are boxed so that a value takes 32 bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Int64(i64),
    Double(f64),
    /// Milliseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Base64 text, as on the wire.
    Bytes(String),
    Reference(Box<Reference>),
    Location(Box<Location>),
    /// An asset dictionary, kept as given.
    Asset(Box<Json>),
}

impl Value {
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            Value::String(_) => ScalarType::String,
            Value::Int64(_) => ScalarType::Int64,
            Value::Double(_) => ScalarType::Double,
            Value::Timestamp(_) => ScalarType::Timestamp,
            Value::Bytes(_) => ScalarType::Bytes,
            Value::Reference(_) => ScalarType::Reference,
            Value::Location(_) => ScalarType::Location,
            Value::Asset(_) => ScalarType::AssetId,
        }
    }
}

/// A field's value: one element, a typed list, or a value of a type this version does not know.
/// The unknown variant's JSON is boxed so that a field value takes 40 bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Scalar(Value),
    List(ScalarType, Vec<Value>),
    Unknown { type_name: String, value: Box<Json> },
}

impl FieldValue {
    pub fn string(text: impl Into<String>) -> Self {
        FieldValue::Scalar(Value::String(text.into()))
    }
    pub fn int64(number: i64) -> Self {
        FieldValue::Scalar(Value::Int64(number))
    }
    pub fn double(number: f64) -> Self {
        FieldValue::Scalar(Value::Double(number))
    }
    pub fn timestamp(millis: i64) -> Self {
        FieldValue::Scalar(Value::Timestamp(millis))
    }
    pub fn reference(record_name: impl Into<RecordName>) -> Self {
        FieldValue::Scalar(Value::Reference(Box::new(Reference::to(record_name))))
    }
    pub fn location(latitude: f64, longitude: f64) -> Self {
        FieldValue::Scalar(Value::Location(Box::new(Location::new(
            latitude, longitude,
        ))))
    }

    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValue::Scalar(v) => FieldType::Scalar(v.scalar_type()),
            FieldValue::List(t, _) => FieldType::List(*t),
            FieldValue::Unknown { type_name, .. } => FieldType::Unknown(type_name.clone()),
        }
    }

    /// Decodes the JSON `value` of a field of the given type.
    pub fn from_json(field_type: &FieldType, json: &Json) -> Result<Self, ValueError> {
        match field_type {
            FieldType::Scalar(t) => decode_element(*t, json).map(FieldValue::Scalar),
            FieldType::List(t) => {
                let items = json
                    .as_array()
                    .ok_or(ValueError::Expected(field_type.clone()))?;
                let values = items
                    .iter()
                    .map(|item| decode_element(*t, item))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(FieldValue::List(*t, values))
            }
            FieldType::Unknown(name) => Ok(FieldValue::Unknown {
                type_name: name.clone(),
                value: Box::new(json.clone()),
            }),
        }
    }

    /// Encodes the JSON `value` member. With `numbers_as_strings`, INT64, DOUBLE and
    /// TIMESTAMP values are written as JSON strings (CloudKit's `numbersAsStrings`).
    pub fn to_json(&self, numbers_as_strings: bool) -> Json {
        match self {
            FieldValue::Scalar(v) => encode_element(v, numbers_as_strings),
            FieldValue::List(_, items) => Json::Array(
                items
                    .iter()
                    .map(|v| encode_element(v, numbers_as_strings))
                    .collect(),
            ),
            FieldValue::Unknown { value, .. } => Json::clone(value),
        }
    }

    /// Guesses the type of an untyped JSON value, as CloudKit does for a field sent without
    /// `type`: strings, integers, other numbers, `{latitude, longitude}`, `{recordName}`, and
    /// lists of those. `None` when nothing fits (null, booleans, empty lists).
    pub fn infer_type(json: &Json) -> Option<FieldType> {
        match json {
            Json::Array(items) => infer_element(items.first()?).map(FieldType::List),
            other => infer_element(other).map(FieldType::Scalar),
        }
    }
}

fn infer_element(json: &Json) -> Option<ScalarType> {
    match json {
        Json::String(_) => Some(ScalarType::String),
        Json::Number(n) if n.is_i64() || n.is_u64() => Some(ScalarType::Int64),
        Json::Number(_) => Some(ScalarType::Double),
        Json::Object(map) if map.contains_key("latitude") && map.contains_key("longitude") => {
            Some(ScalarType::Location)
        }
        Json::Object(map) if map.contains_key("recordName") => Some(ScalarType::Reference),
        Json::Object(map) if map.contains_key("fileChecksum") || map.contains_key("receipt") => {
            Some(ScalarType::AssetId)
        }
        _ => None,
    }
}

/// Why a JSON value is not a value of the expected type.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("invalid value, expected type {0}")]
    Expected(FieldType),
    #[error("invalid value, expected type TIMESTAMP (integer milliseconds)")]
    Timestamp,
    #[error("invalid value, INT64 out of range")]
    Int64Range,
}

/// The error for a value that is not of scalar type `t`.
pub(super) fn expected_type(t: ScalarType) -> ValueError {
    ValueError::Expected(FieldType::Scalar(t))
}

fn integer(json: &Json, t: ScalarType) -> Result<i64, ValueError> {
    match json {
        Json::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None if n.is_u64() => Err(ValueError::Int64Range),
            None if t == ScalarType::Timestamp => Err(ValueError::Timestamp),
            None => Err(expected_type(t)),
        },
        // numbersAsStrings replies carry numbers as strings.
        Json::String(s) => s.parse::<i64>().map_err(|_| match t {
            ScalarType::Timestamp => ValueError::Timestamp,
            _ => expected_type(t),
        }),
        _ if t == ScalarType::Timestamp => Err(ValueError::Timestamp),
        _ => Err(expected_type(t)),
    }
}

fn decode_element(t: ScalarType, json: &Json) -> Result<Value, ValueError> {
    Ok(match t {
        ScalarType::String => Value::String(json.as_str().ok_or(expected_type(t))?.to_owned()),
        ScalarType::Int64 => Value::Int64(integer(json, t)?),
        ScalarType::Timestamp => Value::Timestamp(integer(json, t)?),
        ScalarType::Double => match json {
            Json::Number(n) => Value::Double(n.as_f64().ok_or(expected_type(t))?),
            Json::String(s) => Value::Double(s.parse().map_err(|_| expected_type(t))?),
            _ => return Err(expected_type(t)),
        },
        ScalarType::Bytes => Value::Bytes(json.as_str().ok_or(expected_type(t))?.to_owned()),
        ScalarType::Reference => {
            let map = json.as_object().ok_or(expected_type(t))?;
            let name = map
                .get("recordName")
                .and_then(Json::as_str)
                .ok_or(expected_type(t))?;
            Value::Reference(Box::new(Reference {
                record_name: RecordName::new(name),
                action: map
                    .get("action")
                    .and_then(Json::as_str)
                    .map(Reference::shared_action),
                zone_id: map
                    .get("zoneID")
                    .filter(|z| !z.is_null())
                    .map(|z| Box::new(z.clone())),
            }))
        }
        ScalarType::Location => {
            let map = json.as_object().ok_or(expected_type(t))?;
            let coordinate = |key: &str| match map.get(key) {
                Some(Json::Number(n)) => n.as_f64().ok_or(expected_type(t)),
                Some(Json::String(s)) => s.parse::<f64>().map_err(|_| expected_type(t)),
                _ => Err(expected_type(t)),
            };
            let latitude = coordinate("latitude")?;
            let longitude = coordinate("longitude")?;
            let extra = map
                .iter()
                .filter(|(k, _)| *k != "latitude" && *k != "longitude")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Location(Box::new(Location {
                latitude,
                longitude,
                extra,
            }))
        }
        ScalarType::AssetId => {
            if !json.is_object() {
                return Err(expected_type(t));
            }
            Value::Asset(Box::new(json.clone()))
        }
    })
}

fn number_json(n: Number, as_string: bool) -> Json {
    if as_string {
        Json::String(n.to_string())
    } else {
        Json::Number(n)
    }
}

fn encode_element(value: &Value, numbers_as_strings: bool) -> Json {
    match value {
        Value::String(s) | Value::Bytes(s) => Json::String(s.clone()),
        Value::Int64(i) | Value::Timestamp(i) => number_json(Number::from(*i), numbers_as_strings),
        Value::Double(d) => match Number::from_f64(*d) {
            Some(n) => number_json(n, numbers_as_strings),
            None => Json::Null,
        },
        Value::Reference(r) => {
            let mut map = Map::new();
            map.insert("recordName".into(), Json::String(r.record_name.0.clone()));
            // CloudKit requires `action` outside query filters; unstated is `NONE`.
            map.insert("action".into(), Json::String(r.action_or_none().to_owned()));
            if let Some(zone) = &r.zone_id {
                map.insert("zoneID".into(), Json::clone(zone));
            }
            Json::Object(map)
        }
        Value::Location(l) => {
            let mut map: Map<String, Json> = l
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            map.insert(
                "latitude".into(),
                Number::from_f64(l.latitude).map_or(Json::Null, Json::Number),
            );
            map.insert(
                "longitude".into(),
                Number::from_f64(l.longitude).map_or(Json::Null, Json::Number),
            );
            Json::Object(map)
        }
        Value::Asset(json) => Json::clone(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(type_name: &str, json: Json) {
        let t: FieldType = type_name.parse().unwrap();
        let value = FieldValue::from_json(&t, &json).unwrap();
        assert_eq!(value.field_type().to_string(), type_name);
        assert_eq!(value.to_json(false), json, "{type_name}");
    }

    #[test]
    fn every_type_round_trips() {
        round_trip("STRING", json!("Fenway Park"));
        round_trip("INT64", json!(1912));
        round_trip("DOUBLE", json!(0.1546950340270996));
        round_trip("TIMESTAMP", json!(1762819443586_i64));
        round_trip("BYTES", json!("aGVsbG8="));
        round_trip(
            "REFERENCE",
            json!({"recordName": "stadium-1", "action": "NONE",
                   "zoneID": {"zoneName": "_defaultZone", "ownerRecordName": "_abc", "zoneType": "DEFAULT_ZONE"}}),
        );
        round_trip(
            "LOCATION",
            json!({"latitude": 42.3467, "longitude": -71.0972, "altitude": 5.0}),
        );
        round_trip(
            "ASSETID",
            json!({"fileChecksum": "abc", "size": 12, "downloadURL": "https://cvws.icloud-content.com/x/${f}"}),
        );
        round_trip("STRING_LIST", json!(["red", "blue"]));
        round_trip("INT64_LIST", json!([1, 2, 3]));
        round_trip("DOUBLE_LIST", json!([1.5, 2.25]));
        round_trip("TIMESTAMP_LIST", json!([978307200000_i64]));
        round_trip("BYTES_LIST", json!(["AA=="]));
        round_trip(
            "REFERENCE_LIST",
            json!([{"recordName": "a", "action": "DELETE_SELF"}]),
        );
        round_trip(
            "LOCATION_LIST",
            json!([{"latitude": 1.0, "longitude": 2.0}]),
        );
        round_trip("ASSETID_LIST", json!([{"fileChecksum": "c", "size": 1}]));
        round_trip("UNKNOWN_LIST", json!([]));
        round_trip("BOOLEAN", json!(true));
    }

    #[test]
    fn values_stay_small() {
        // Was 80 and 88 bytes before the large rare variants were boxed. A list's element
        // type cannot share the niche of the element's tag, hence the 8 more bytes.
        assert_eq!(std::mem::size_of::<Value>(), 32);
        assert_eq!(std::mem::size_of::<FieldValue>(), 40);
        // Every game holds three references on each side of a diff: 48 bytes (a 64-byte
        // allocation) instead of 80 (96) since the rarely stated zone is boxed and the
        // action shared.
        assert_eq!(std::mem::size_of::<Reference>(), 48);
    }

    #[test]
    fn known_actions_are_shared() {
        let t = FieldType::Scalar(ScalarType::Reference);
        let action = |json: Json| match FieldValue::from_json(&t, &json).unwrap() {
            FieldValue::Scalar(Value::Reference(r)) => r.action.unwrap(),
            other => panic!("{other:?}"),
        };
        let a = action(json!({"recordName": "a", "action": "NONE"}));
        let b = action(json!({"recordName": "b", "action": "NONE"}));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&a, Reference::to("c").action.as_ref().unwrap()));
        let odd = action(json!({"recordName": "a", "action": "LATER"}));
        assert_eq!(&*odd, "LATER");
    }

    #[test]
    fn fractional_timestamp_is_rejected() {
        let t = FieldType::Scalar(ScalarType::Timestamp);
        assert_eq!(
            FieldValue::from_json(&t, &json!(1.5)),
            Err(ValueError::Timestamp)
        );
        assert_eq!(
            FieldValue::from_json(&t, &json!("x")),
            Err(ValueError::Timestamp)
        );
    }

    #[test]
    fn numbers_as_strings_round_trip() {
        let t = FieldType::Scalar(ScalarType::Int64);
        let v = FieldValue::int64(7);
        assert_eq!(v.to_json(true), json!("7"));
        assert_eq!(FieldValue::from_json(&t, &json!("7")).unwrap(), v);
    }

    #[test]
    fn infers_untyped_values() {
        assert_eq!(
            FieldValue::infer_type(&json!("x")).unwrap().to_string(),
            "STRING"
        );
        assert_eq!(
            FieldValue::infer_type(&json!(3)).unwrap().to_string(),
            "INT64"
        );
        assert_eq!(
            FieldValue::infer_type(&json!(3.5)).unwrap().to_string(),
            "DOUBLE"
        );
        assert_eq!(
            FieldValue::infer_type(&json!({"latitude": 1, "longitude": 2}))
                .unwrap()
                .to_string(),
            "LOCATION"
        );
        assert_eq!(
            FieldValue::infer_type(&json!([{"recordName": "a"}]))
                .unwrap()
                .to_string(),
            "REFERENCE_LIST"
        );
        assert_eq!(FieldValue::infer_type(&json!([])), None);
        assert_eq!(FieldValue::infer_type(&json!(null)), None);
    }
}
