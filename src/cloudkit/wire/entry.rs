//! Decoding of one entry of a reply's `records` array straight from the JSON stream: members
//! are read once into the union of a record and a record error, with no intermediate JSON
//! tree, and members neither models are kept in the record's `extra`.

use super::{RecordError, RecordResult, ServerErrorCode, WireRecord};
use serde::de::{Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;
use std::fmt;

impl<'de> Deserialize<'de> for RecordResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

/// The members only an error entry has; in a record entry they are unknown members.
#[derive(Default)]
struct ErrorMembers {
    server_error_code: Option<ServerErrorCode>,
    reason: Option<Json>,
    retry_after: Option<Json>,
    uuid: Option<Json>,
    redirect_url: Option<Json>,
}

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = RecordResult;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a record or a record error object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordResult, A::Error> {
        let mut record = WireRecord::default();
        let mut error = ErrorMembers::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "recordName" => record.record_name = map.next_value()?,
                "recordType" => record.record_type = map.next_value()?,
                "fields" => record.fields = map.next_value()?,
                "pluginFields" => record.plugin_fields = map.next_value()?,
                "recordChangeTag" => record.record_change_tag = map.next_value()?,
                "created" => record.created = map.next_value()?,
                "modified" => record.modified = map.next_value()?,
                "deleted" => record.deleted = map.next_value()?,
                "zoneID" => record.zone_id = map.next_value()?,
                "serverErrorCode" => error.server_error_code = Some(map.next_value()?),
                "reason" => error.reason = Some(map.next_value()?),
                "retryAfter" => error.retry_after = Some(map.next_value()?),
                "uuid" => error.uuid = Some(map.next_value()?),
                "redirectURL" => error.redirect_url = Some(map.next_value()?),
                _ => {
                    let value = map.next_value()?;
                    record.extra.insert(key, value);
                }
            }
        }
        match error.server_error_code.take() {
            Some(code) => record_error(record, code, error).map(RecordResult::Error),
            None => {
                keep_unknown(&mut record, error);
                Ok(RecordResult::Record(record))
            }
        }
    }
}

/// An error entry from its members; record members other than the name are ignored.
fn record_error<E: Error>(
    record: WireRecord,
    server_error_code: ServerErrorCode,
    error: ErrorMembers,
) -> Result<RecordError, E> {
    Ok(RecordError {
        record_name: record.record_name,
        reason: typed(error.reason)?,
        server_error_code,
        retry_after: typed(error.retry_after)?,
        uuid: typed(error.uuid)?,
        redirect_url: typed(error.redirect_url)?,
    })
}

fn typed<T: serde::de::DeserializeOwned, E: Error>(value: Option<Json>) -> Result<Option<T>, E> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(value) => serde_json::from_value(value).map(Some).map_err(E::custom),
    }
}

/// In a record entry, the members only errors have are unknown members.
fn keep_unknown(record: &mut WireRecord, error: ErrorMembers) {
    let members = [
        ("reason", error.reason),
        ("retryAfter", error.retry_after),
        ("uuid", error.uuid),
        ("redirectURL", error.redirect_url),
    ];
    for (name, value) in members {
        if let Some(value) = value {
            record.extra.insert(name.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(value: Json) -> RecordResult {
        serde_json::from_value(value).expect("entry decodes")
    }

    #[test]
    fn unknown_members_of_a_record_are_kept_in_extra() {
        let RecordResult::Record(record) = entry(json!({
            "recordName": "a",
            "recordType": "Team",
            "shortGUID": "xyz",
            "reason": "kept",
            "retryAfter": 3,
        })) else {
            panic!("a record entry")
        };
        assert_eq!(record.record_name.as_deref(), Some("a"));
        assert_eq!(record.extra["shortGUID"], json!("xyz"));
        assert_eq!(record.extra["reason"], json!("kept"));
        assert_eq!(record.extra["retryAfter"], json!(3));
        assert_eq!(record.extra.len(), 3);
    }

    #[test]
    fn an_entry_with_a_server_error_code_is_an_error() {
        let RecordResult::Error(error) = entry(json!({
            "reason": "gone",
            "recordName": "a",
            "serverErrorCode": "NOT_FOUND",
            "retryAfter": 1.5,
            "unrelated": [1, 2],
        })) else {
            panic!("an error entry")
        };
        assert_eq!(error.record_name.as_deref(), Some("a"));
        assert_eq!(error.server_error_code, ServerErrorCode::NotFound);
        assert_eq!(error.reason.as_deref(), Some("gone"));
        assert_eq!(error.retry_after, Some(1.5));
    }

    #[test]
    fn a_mistyped_member_is_refused() {
        for value in [
            json!({"recordName": "a", "recordChangeTag": 5}),
            json!({"serverErrorCode": "NOT_FOUND", "reason": 5}),
            json!("a string"),
        ] {
            assert!(serde_json::from_value::<RecordResult>(value).is_err());
        }
    }
}
