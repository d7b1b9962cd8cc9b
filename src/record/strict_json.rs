//! JSON text → `serde_json::Value`, refusing an object that names one key twice at any
//! depth. serde_json keeps the last of duplicated keys silently, so text a reader checked
//! (a checksum, a review) could mean something else than it shows; any reader of files
//! whose content must be exactly what it says parses them here.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `text` as JSON like `serde_json::from_str::<Value>`, but an object holding the
/// same key twice is an error `duplicate key `KEY`` carrying the line and column where
/// the second one ends (errors: every `serde_json::Error` of the plain parse, too).
pub fn from_str_unique_keys(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = de::DeserializeSeed::deserialize(UniqueKeys, &mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Deserializes any JSON value as a `serde_json::Value`, refusing duplicated keys.
pub(crate) struct UniqueKeys;

impl<'de> de::DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(UniqueKeys)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::from_str_unique_keys;

    #[test]
    fn issue_12_duplicate_keys_are_refused_at_any_depth() {
        let error = from_str_unique_keys(r#"{"a":[{"b":1,"c":{"d":1,"d":2}}]}"#).unwrap_err();
        assert!(
            error.to_string().starts_with("duplicate key `d`"),
            "{error}"
        );
        let error = from_str_unique_keys("{\"format\":1,\n\"format\":2}").unwrap_err();
        assert!(
            error.to_string().starts_with("duplicate key `format`"),
            "{error}"
        );
        assert_eq!(error.line(), 2);
    }

    #[test]
    fn unique_keys_parse_like_serde_json() {
        let text = r#"{"a":[1,-2,1.5,18446744073709551615,"s",null,true,{}],"b":{"c":[]}}"#;
        let plain: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(from_str_unique_keys(text).unwrap(), plain);
        assert!(from_str_unique_keys("{} x").is_err());
    }
}
