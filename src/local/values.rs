//! Decoding one field value from local data, given its declared type. Accepts what people
//! write by hand as well as CloudKit's own encoding: TIMESTAMP as integer milliseconds or
//! RFC 3339, REFERENCE as a recordName or `{recordName}`, LOCATION as `{latitude,
//! longitude}`, INT64 from integers and from booleans (`true` → 1, `false` → 0, as a
//! Swift `Bool` is stored in CloudKit). Errors read `expected INT64, found string "abc"`.

use crate::record::{FieldType, FieldValue, RecordName, Reference, ScalarType, Value};
use base64::Engine as _;
use serde_json::Value as Json;
use std::borrow::Cow;

/// Decodes `json` as a value of `field_type`.
pub fn decode(field_type: &FieldType, json: &Json) -> Result<FieldValue, String> {
    match field_type {
        FieldType::Scalar(t) => decode_element(*t, json).map(FieldValue::Scalar),
        FieldType::List(t) => {
            let Json::Array(items) = json else {
                return Err(format!(
                    "expected {field_type} (an array), found {}",
                    describe(json)
                ));
            };
            let values = items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    decode_element(*t, item)
                        .map_err(|message| format!("element {index}: {message}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(FieldValue::List(*t, values))
        }
        FieldType::Unknown(name) => Ok(FieldValue::Unknown {
            type_name: name.clone(),
            value: Box::new(json.clone()),
        }),
    }
}

/// `string "abc"`, `number 1.5`, `boolean true`, `null`, `an array`, `an object`.
pub fn describe(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(flag) => format!("boolean {flag}"),
        Json::Number(number) => format!("number {number}"),
        Json::String(text) if text.chars().count() > 40 => {
            let head: String = text.chars().take(40).collect();
            format!("string {:?}...", head)
        }
        Json::String(text) => format!("string {text:?}"),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

fn mismatch(t: ScalarType, json: &Json) -> String {
    format!("expected {}, found {}", t.wire_name(), describe(json))
}

fn decode_element(t: ScalarType, json: &Json) -> Result<Value, String> {
    if let Json::String(text) = json {
        return decode_text(t, Cow::Borrowed(text));
    }
    match t {
        ScalarType::Int64 => match json {
            Json::Number(n) if n.is_i64() => Ok(Value::Int64(n.as_i64().unwrap_or_default())),
            // Any other whole number is beyond the INT64 range (an unsigned one from 2^63 up,
            // or one too large for 64 bits, read as a float: `1e23`), or within it but
            // written as a float (`2.0`, `1e5`), which is not an integer literal.
            Json::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                // INT64 spans [-2^63, 2^63).
                let in_range = |f: f64| (i64::MIN as f64..-(i64::MIN as f64)).contains(&f);
                match n.as_f64().is_some_and(in_range) {
                    true => Err(format!(
                        "INT64 `{n}` is not an integer (write it without a decimal point or \
                         exponent)"
                    )),
                    false => Err(int64_out_of_range(n)),
                }
            }
            Json::Bool(flag) => Ok(Value::Int64(i64::from(*flag))),
            _ => Err(mismatch(t, json)),
        },
        // Only a JSON number has an f64 value.
        ScalarType::Double => json
            .as_f64()
            .map(Value::Double)
            .ok_or_else(|| mismatch(t, json)),
        ScalarType::Timestamp => decode_timestamp(json).map(Value::Timestamp),
        ScalarType::Reference => {
            decode_reference(json).map(|reference| Value::Reference(Box::new(reference)))
        }
        ScalarType::Location => decode_location(json),
        ScalarType::AssetId => match json {
            Json::Object(_) => Ok(Value::Asset(Box::new(json.clone()))),
            _ => Err(mismatch(t, json)),
        },
        ScalarType::String | ScalarType::Bytes => Err(mismatch(t, json)),
    }
}

/// Decodes a JSON string as an element of type `t`, exactly as [`decode`] decodes it from
/// a `Json::String`: the local reader's fast path hands strings over as it parses them,
/// without a JSON value around them (and without copying an owned one).
pub(super) fn decode_text(t: ScalarType, text: Cow<'_, str>) -> Result<Value, String> {
    // Errors describe the value as `decode` does: the JSON value is built only for them.
    let json = |text: Cow<'_, str>| Json::String(text.into_owned());
    match t {
        ScalarType::String => Ok(Value::String(text.into_owned())),
        ScalarType::Bytes => match base64::engine::general_purpose::STANDARD.decode(&*text) {
            Ok(_) => Ok(Value::Bytes(text.into_owned())),
            Err(error) => Err(format!("BYTES value is not base64: {error}")),
        },
        ScalarType::Timestamp => timestamp_text(&text).map(Value::Timestamp),
        // A bare name states only the target: its action and zone are not compared.
        ScalarType::Reference if !text.is_empty() => match referenced_name_problem(&text) {
            Some(problem) => Err(format!("reference target: {problem}")),
            None => Ok(Value::Reference(Box::new(Reference::named(
                text.into_owned(),
            )))),
        },
        ScalarType::Reference => Err(format!(
            "expected REFERENCE (a recordName or {{recordName}}), found {}",
            describe(&json(text))
        )),
        ScalarType::Location => decode_location(&json(text)),
        // A file, relative to the data file: resolved by `asset::resolve_all`.
        ScalarType::AssetId if !text.is_empty() => Ok(Value::Asset(Box::new(
            serde_json::json!({ super::asset::WRITTEN: text }),
        ))),
        ScalarType::AssetId | ScalarType::Int64 | ScalarType::Double => {
            Err(mismatch(t, &json(text)))
        }
    }
}

fn int64_out_of_range(n: &serde_json::Number) -> String {
    format!("INT64 `{n}` is out of range (-9223372036854775808 to 9223372036854775807)")
}

const TIMESTAMP: &str = "TIMESTAMP (integer milliseconds or RFC 3339)";

/// The largest TIMESTAMP magnitude, in milliseconds: the range of an ECMAScript time value
/// (±100,000,000 days around 1970, ECMA-262 "Time Values and Time Range"), which CloudKit JS
/// dates and CloudKit Web Services timestamps share. Further out is a unit mistake, such
/// as nanoseconds given as milliseconds.
pub const MAX_TIMESTAMP_MILLIS: i64 = 8_640_000_000_000_000;

fn decode_timestamp(json: &Json) -> Result<i64, String> {
    let in_range = |millis: i64| {
        millis
            .checked_abs()
            .is_some_and(|m| m <= MAX_TIMESTAMP_MILLIS)
    };
    match json {
        Json::Number(n) => {
            if let Some(millis) = n.as_i64() {
                return match in_range(millis) {
                    true => Ok(millis),
                    false => Err(format!(
                        "TIMESTAMP `{n}` is out of range (at most {MAX_TIMESTAMP_MILLIS} \
                         milliseconds from 1970; is it in nanoseconds?)"
                    )),
                };
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() <= MAX_TIMESTAMP_MILLIS as f64 => {
                    Ok(f as i64)
                }
                Some(f) if f.is_finite() && f.abs() <= MAX_TIMESTAMP_MILLIS as f64 => Err(format!(
                    "TIMESTAMP `{n}` is not a whole number of milliseconds"
                )),
                _ => Err(format!("TIMESTAMP `{n}` is out of range")),
            }
        }
        Json::String(text) => timestamp_text(text),
        _ => Err(format!("expected {TIMESTAMP}, found {}", describe(json))),
    }
}

/// A TIMESTAMP written as RFC 3339 text.
fn timestamp_text(text: &str) -> Result<i64, String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| {
        let json = Json::String(text.to_owned());
        format!("expected {TIMESTAMP}, found {}", describe(&json))
    })?;
    if parsed.timestamp_subsec_nanos() % 1_000_000 != 0 {
        return Err(format!(
            "TIMESTAMP `{text}` has sub-millisecond precision, which CloudKit cannot store"
        ));
    }
    Ok(parsed.timestamp_millis())
}

fn decode_reference(json: &Json) -> Result<Reference, String> {
    let reference = decode_reference_shape(json)?;
    match referenced_name_problem(reference.record_name.as_str()) {
        Some(problem) => Err(format!("reference target: {problem}")),
        None => Ok(reference),
    }
}

/// Why no record CloudKit holds could be named `name`. A leading `_` is allowed here
/// (unlike for the local records' own names): CloudKit's user records are named `_` and 32
/// hex digits (`userRecordName`, docs/protocol.md "Records and fields"), and a
/// record may reference one.
fn referenced_name_problem(name: &str) -> Option<String> {
    use crate::record::identifier::{record_name_problem, MAX_NAME_CHARS};
    let user_record = name
        .strip_prefix('_')
        .is_some_and(|rest| !rest.is_empty() && record_name_problem(rest).is_none());
    if user_record && name.len() <= MAX_NAME_CHARS {
        return None;
    }
    record_name_problem(name)
}

/// A reference written as `{recordName, action?, zoneID?}`.
fn decode_reference_shape(json: &Json) -> Result<Reference, String> {
    let bad = || {
        format!(
            "expected REFERENCE (a recordName or {{recordName}}), found {}",
            describe(json)
        )
    };
    // Strings are decoded by `decode_text`.
    match json {
        Json::Object(map) => {
            let name = map
                .get("recordName")
                .and_then(Json::as_str)
                .filter(|name| !name.is_empty())
                .ok_or_else(bad)?;
            let action = match map.get("action") {
                None | Some(Json::Null) => None,
                Some(Json::String(action))
                    if ["NONE", "DELETE_SELF", "VALIDATE"].contains(&action.as_str()) =>
                {
                    Some(Reference::shared_action(action))
                }
                Some(other) => {
                    return Err(format!(
                        "reference action must be NONE, DELETE_SELF or VALIDATE, found {}",
                        describe(other)
                    ))
                }
            };
            Ok(Reference {
                record_name: RecordName::new(name),
                action,
                zone_id: map
                    .get("zoneID")
                    .filter(|zone| !zone.is_null())
                    .map(|zone| Box::new(zone.clone())),
            })
        }
        _ => Err(bad()),
    }
}

fn decode_location(json: &Json) -> Result<Value, String> {
    let bad = || {
        format!(
            "expected LOCATION {{latitude, longitude}}, found {}",
            describe(json)
        )
    };
    let Json::Object(map) = json else {
        return Err(bad());
    };
    let coordinate = |key: &str| {
        map.get(key)
            .filter(|v| v.is_number())
            .and_then(Json::as_f64)
    };
    let (Some(latitude), Some(longitude)) = (coordinate("latitude"), coordinate("longitude"))
    else {
        return Err(bad());
    };
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return Err(format!(
            "LOCATION latitude `{latitude}` / longitude `{longitude}` is out of range"
        ));
    }
    for (key, value) in map {
        check_location_member(key, value)?;
    }
    let location =
        FieldValue::from_json(&FieldType::Scalar(ScalarType::Location), json).map_err(|_| bad())?;
    match location {
        FieldValue::Scalar(value) => Ok(value),
        _ => Err(bad()),
    }
}

/// The members of CloudKit's location dictionary besides latitude and longitude (all
/// numbers; `timestamp` in milliseconds), per CloudKit Web Services Reference, "Location
/// Dictionary".
const LOCATION_MEMBERS: [&str; 6] = [
    "horizontalAccuracy",
    "verticalAccuracy",
    "altitude",
    "speed",
    "course",
    "timestamp",
];

/// A member other than latitude/longitude must be one CloudKit knows, holding a number it
/// can store: anything else would be refused at apply time, or dropped.
fn check_location_member(key: &str, value: &Json) -> Result<(), String> {
    if key == "latitude" || key == "longitude" {
        return Ok(());
    }
    if !LOCATION_MEMBERS.contains(&key) {
        return Err(format!(
            "unknown LOCATION member {} (CloudKit knows latitude, longitude, {})",
            crate::record::identifier::quoted(key),
            LOCATION_MEMBERS.join(", ")
        ));
    }
    match value {
        Json::Number(n) if key != "timestamp" || n.is_i64() => Ok(()),
        Json::Number(n) => Err(format!(
            "LOCATION `timestamp` `{n}` is not whole milliseconds in range"
        )),
        other => Err(format!(
            "LOCATION `{key}` must be a number, found {}",
            describe(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference that names only its target (action and zone unstated).
    fn named(name: &str) -> FieldValue {
        FieldValue::Scalar(Value::Reference(Box::new(Reference::named(name))))
    }
    use serde_json::json;

    fn decode_as(type_name: &str, json: Json) -> Result<FieldValue, String> {
        decode(&type_name.parse().unwrap(), &json)
    }

    #[test]
    fn plain_values_decode() {
        assert_eq!(decode_as("INT64", json!(7)), Ok(FieldValue::int64(7)));
        assert_eq!(decode_as("INT64", json!(true)), Ok(FieldValue::int64(1)));
        assert_eq!(decode_as("DOUBLE", json!(3)), Ok(FieldValue::double(3.0)));
        assert_eq!(
            decode_as("TIMESTAMP", json!("2001-04-05T00:00:00Z")),
            Ok(FieldValue::timestamp(986_428_800_000))
        );
        assert_eq!(
            decode_as("TIMESTAMP", json!("2001-04-05T02:00:00.250+02:00")),
            Ok(FieldValue::timestamp(986_428_800_250))
        );
        assert_eq!(
            decode_as("TIMESTAMP", json!(1000.0)),
            Ok(FieldValue::timestamp(1000))
        );
        assert_eq!(decode_as("REFERENCE", json!("s-1")), Ok(named("s-1")));
        assert_eq!(
            decode_as("REFERENCE", json!({"recordName": "s-1"})),
            Ok(named("s-1"))
        );
        assert_eq!(
            decode_as("LOCATION", json!({"latitude": 42.5, "longitude": -71})),
            Ok(FieldValue::location(42.5, -71.0))
        );
        assert_eq!(
            decode_as("STRING_LIST", json!(["a", "b"])),
            Ok(FieldValue::List(
                ScalarType::String,
                vec![Value::String("a".into()), Value::String("b".into())]
            ))
        );
    }

    #[test]
    fn wrong_values_are_described() {
        assert_eq!(
            decode_as("INT64", json!("abc")),
            Err("expected INT64, found string \"abc\"".into())
        );
        assert_eq!(
            decode_as("INT64", json!(1.5)),
            Err("expected INT64, found number 1.5".into())
        );
        assert_eq!(
            decode_as("INT64", json!(u64::MAX)),
            Err(format!(
                "INT64 `{}` is out of range (-9223372036854775808 to 9223372036854775807)",
                u64::MAX
            ))
        );
        assert_eq!(
            decode_as("TIMESTAMP", json!(1.5)),
            Err("TIMESTAMP `1.5` is not a whole number of milliseconds".into())
        );
        assert!(decode_as("TIMESTAMP", json!("2001-04-05T00:00:00.0001Z"))
            .unwrap_err()
            .contains("sub-millisecond"));
        assert!(decode_as("TIMESTAMP", json!(1_700_000_000_000_000_000_i64))
            .unwrap_err()
            .contains("out of range"));
        assert!(decode_as("TIMESTAMP", json!(-MAX_TIMESTAMP_MILLIS)).is_ok());
        assert!(decode_as("TIMESTAMP", json!(i64::MIN))
            .unwrap_err()
            .contains("out of range"));
        assert!(decode_as("TIMESTAMP", json!(1e300))
            .unwrap_err()
            .contains("out of range"));
        assert_eq!(
            decode_as("STRING_LIST", json!(["a", 2])),
            Err("element 1: expected STRING, found number 2".into())
        );
        assert!(decode_as("STRING_LIST", json!("a"))
            .unwrap_err()
            .contains("an array"));
        assert!(
            decode_as("LOCATION", json!({"latitude": 91, "longitude": 0}))
                .unwrap_err()
                .contains("out of range")
        );
        assert!(decode_as("BYTES", json!("not base64!")).is_err());
        assert!(decode_as("INT64", json!(1e23))
            .unwrap_err()
            .contains("out of range"));
        let list = decode_as("INT64_LIST", json!([1, 1e19])).unwrap_err();
        assert!(
            list.starts_with("element 1: INT64") && list.contains("is out of range"),
            "{list}"
        );
        assert!(decode_as("REFERENCE", json!({"recordName": "a", "action": "X"})).is_err());
    }

    #[test]
    fn bytes_assets_and_doubles_decode_only_from_their_own_shapes() {
        assert_eq!(
            decode_as("BYTES", json!("aGVsbG8=")),
            Ok(FieldValue::Scalar(Value::Bytes("aGVsbG8=".into())))
        );
        assert_eq!(
            decode_as("BYTES", json!(5)),
            Err("expected BYTES, found number 5".into())
        );
        let asset = json!({"fileChecksum": "abc", "size": 3});
        assert_eq!(
            decode_as("ASSETID", asset.clone()),
            Ok(FieldValue::Scalar(Value::Asset(Box::new(asset))))
        );
        assert_eq!(
            decode_as("ASSETID", json!(1)),
            Err("expected ASSETID, found number 1".into())
        );
        assert_eq!(
            decode_as("DOUBLE", json!(-0.5)),
            Ok(FieldValue::double(-0.5))
        );
        assert_eq!(
            decode_as("DOUBLE", json!("1.5")),
            Err("expected DOUBLE, found string \"1.5\"".into())
        );
        assert_eq!(
            decode_as("DOUBLE", json!(true)),
            Err("expected DOUBLE, found boolean true".into())
        );
    }

    #[test]
    fn references_keep_their_action_and_zone_and_need_a_name() {
        let empty = "expected REFERENCE (a recordName or {recordName}), found string \"\"";
        assert_eq!(decode_as("REFERENCE", json!("")), Err(empty.into()));
        let Ok(FieldValue::Scalar(Value::Reference(reference))) = decode_as(
            "REFERENCE",
            json!({"recordName": "s-1", "action": "DELETE_SELF", "zoneID": {"zoneName": "z"}}),
        ) else {
            panic!("a reference");
        };
        assert_eq!(reference.action.as_deref(), Some("DELETE_SELF"));
        assert_eq!(reference.zone_id, Some(Box::new(json!({"zoneName": "z"}))));
        assert_eq!(
            decode_as("REFERENCE", json!({"recordName": "s-1", "action": 1})),
            Err("reference action must be NONE, DELETE_SELF or VALIDATE, found number 1".into())
        );
        let Ok(FieldValue::Scalar(Value::Reference(reference))) =
            decode_as("REFERENCE", json!({"recordName": "s-1", "zoneID": null}))
        else {
            panic!("a reference");
        };
        assert_eq!(
            (reference.action.as_deref(), reference.zone_id),
            (None, None)
        );
        assert!(decode_as("REFERENCE", json!({"recordName": ""}))
            .unwrap_err()
            .starts_with("expected REFERENCE"));
    }

    #[test]
    fn int64_stops_exactly_at_its_range() {
        // 2^63; the floats next to it are 1024 below and 2048 beyond.
        const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
        assert_eq!(
            decode_as("INT64", json!(i64::MAX)),
            Ok(FieldValue::int64(i64::MAX))
        );
        assert_eq!(
            decode_as("INT64", json!(i64::MIN)),
            Ok(FieldValue::int64(i64::MIN))
        );
        // 2^63, as an integer and as a float: out of range, not "not an integer".
        for json in [json!(9_223_372_036_854_775_808_u64), json!(TWO_TO_63)] {
            let error = decode_as("INT64", json.clone()).unwrap_err();
            assert!(error.contains("is out of range"), "{json}: {error}");
        }
        // The largest whole float below 2^63 is in range, but written as a float.
        let error = decode_as("INT64", json!(TWO_TO_63 - 1024.0)).unwrap_err();
        assert!(error.contains("is not an integer"), "{error}");
        // -2^63 is INT64's least value: in range, written as a float.
        let error = decode_as("INT64", json!(-TWO_TO_63)).unwrap_err();
        assert!(error.contains("is not an integer"), "{error}");
        let error = decode_as("INT64", json!(-TWO_TO_63 - 2048.0)).unwrap_err();
        assert!(error.contains("is out of range"), "{error}");
    }

    #[test]
    fn long_strings_are_described_by_their_first_40_characters() {
        let forty = "é".repeat(40);
        assert_eq!(describe(&json!(forty)), format!("string {forty:?}"));
        let forty_one = format!("{forty}x");
        assert_eq!(describe(&json!(forty_one)), format!("string {forty:?}..."));
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!(false)), "boolean false");
        assert_eq!(describe(&json!(-2.5)), "number -2.5");
        assert_eq!(describe(&json!([1])), "an array");
        assert_eq!(describe(&json!({"a": 1})), "an object");
    }

    #[test]
    fn issue_12_location_members_are_cloudkits_and_numbers() {
        let at = |extra: Json| {
            let mut location = json!({"latitude": 1.0, "longitude": 2.0});
            location
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            decode_as("LOCATION", location)
        };
        assert!(at(json!({"altitude": 5.5, "horizontalAccuracy": 3, "timestamp": 1000})).is_ok());
        assert!(at(json!({"altitude": "high"}))
            .unwrap_err()
            .contains("LOCATION `altitude` must be a number"));
        assert!(at(json!({"altitude": null})).is_err());
        assert!(at(json!({"timestamp": 1.5})).is_err());
        assert!(at(json!({"heading": 1}))
            .unwrap_err()
            .contains("unknown LOCATION member `heading`"));
        assert!(decode_as(
            "LOCATION_LIST",
            json!([{"latitude": 1, "longitude": 2, "speed": "x"}])
        )
        .unwrap_err()
        .starts_with("element 0: LOCATION `speed`"));
    }

    #[test]
    fn issue_12_a_reference_to_a_name_no_record_can_have_is_an_error() {
        for name in ["caf\u{e9}", "a\u{202e}b", "a\nb", "_\u{e9}x", "_"] {
            for json in [json!(name), json!({"recordName": name})] {
                let error = decode_as("REFERENCE", json.clone()).unwrap_err();
                assert!(
                    error.starts_with("reference target: recordName"),
                    "{json}: {error}"
                );
            }
            let error = decode_as("REFERENCE_LIST", json!(["ok", name])).unwrap_err();
            assert!(error.contains("reference target: recordName"), "{error}");
        }
        // CloudKit's user records are named `_` and 32 hex digits, and may be referenced.
        let user = "_0123456789abcdef0123456789abcdef";
        assert_eq!(decode_as("REFERENCE", json!(user)), Ok(named(user)));
    }

    #[test]
    fn issue_12_a_whole_float_in_range_is_not_an_integer_not_out_of_range() {
        let error = decode_as("INT64_LIST", json!([1, 2.0])).unwrap_err();
        assert!(error.contains("INT64 `2.0` is not an integer"), "{error}");
        assert!(!error.contains("out of range"), "{error}");
        let error = decode_as("INT64", json!(1e23)).unwrap_err();
        assert!(error.contains("out of range"), "{error}");
    }
}
