//! Modify operations encoded once, as the request JSON they are sent as. A write built from
//! values the caller already holds ([`RecordWrite`]) is written straight from its
//! `FieldValue`s, with no `WireField` or `serde_json::Value` per field; an [`Operation`] is
//! encoded by its serde form. Either way the bytes are exactly `serde_json::to_vec` of the
//! equivalent [`Operation`], so the request on the wire does not depend on the path that
//! built it. The encoded operation also knows what the client needs without reading the
//! JSON again: the record's name and type (to match the reply), its size as CloudKit
//! counts it against the 1 MB record limit, and whether only the change tag is wanted back.

use super::{Operation, OperationType, RecordError, RecordResult, WireRecord};
use crate::record::{FieldValue, Value};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;
use std::fmt;

/// One modify operation, encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedOperation {
    pub operation_type: OperationType,
    pub record_name: Option<String>,
    pub record_type: Option<String>,
    /// The operation asked for no fields back (`desiredKeys: []`): of a saved record the
    /// reply is read for its name, type and change tag only.
    pub tag_only: bool,
    /// The record's size as CloudKit counts it: each field's name plus its value's JSON
    /// (`null` for a removal).
    pub record_bytes: usize,
    json: Box<[u8]>,
}

impl EncodedOperation {
    /// Encodes `operation` by its serde form.
    pub fn new(operation: &Operation) -> Result<Self, serde_json::Error> {
        Ok(Self {
            operation_type: operation.operation_type,
            record_name: operation.record.record_name.clone(),
            record_type: operation.record.record_type.clone(),
            tag_only: operation.desired_keys.as_ref().is_some_and(Vec::is_empty),
            record_bytes: record_bytes(&operation.record)?,
            json: serde_json::to_vec(operation)?.into_boxed_slice(),
        })
    }

    /// The operation's JSON, as it goes into the request's `operations` array.
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

/// The size of `record` as CloudKit counts it against its 1 MB limit: each field's name plus
/// its value's JSON (`null`, 4 bytes, for a removal).
pub fn record_bytes(record: &WireRecord) -> Result<usize, serde_json::Error> {
    let mut bytes = 0;
    for (name, field) in record.fields.iter().flatten() {
        let value = match field {
            Some(field) => crate::record::encoded_length(&field.value)?,
            None => 4,
        };
        bytes += name.len() + value;
    }
    Ok(bytes)
}

/// A write of one record, borrowed from what the caller holds.
#[derive(Clone, Copy, Debug)]
pub struct RecordWrite<'a> {
    pub operation_type: OperationType,
    pub record_name: &'a str,
    pub record_type: &'a str,
    pub change_tag: Option<&'a str>,
    /// The fields to send, each name once and in name order (as a `BTreeMap` would give
    /// them), a removal as `None` (sent as `null`); `None` sends no `fields` (a delete).
    pub fields: Option<&'a [(&'a str, Option<&'a FieldValue>)]>,
    /// Asks for no fields back (`desiredKeys: []`).
    pub tag_only: bool,
}

impl RecordWrite<'_> {
    /// The operation's JSON, written once: the bytes of `serde_json::to_vec` of the
    /// equivalent [`Operation`] (member order as `Operation` and `WireRecord` declare it).
    pub fn encode(&self) -> Result<EncodedOperation, serde_json::Error> {
        let mut out = Vec::with_capacity(128 + 96 * self.fields.map_or(0, <[_]>::len));
        out.extend_from_slice(b"{\"operationType\":");
        serde_json::to_writer(&mut out, &self.operation_type)?;
        out.extend_from_slice(b",\"record\":{\"recordName\":");
        serde_json::to_writer(&mut out, self.record_name)?;
        out.extend_from_slice(b",\"recordType\":");
        serde_json::to_writer(&mut out, self.record_type)?;
        let mut record_bytes = 0;
        if let Some(fields) = self.fields {
            debug_assert!(fields.windows(2).all(|pair| pair[0].0 < pair[1].0));
            out.extend_from_slice(b",\"fields\":{");
            for (index, (name, value)) in fields.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, name)?;
                out.push(b':');
                let value_bytes = match value {
                    None => {
                        out.extend_from_slice(b"null");
                        4
                    }
                    Some(value) => {
                        out.extend_from_slice(b"{\"value\":");
                        let start = out.len();
                        serde_json::to_writer(&mut out, &WireValue(value))?;
                        let length = out.len() - start;
                        out.extend_from_slice(b",\"type\":");
                        serde_json::to_writer(&mut out, &TypeName(value))?;
                        out.push(b'}');
                        length
                    }
                };
                record_bytes += name.len() + value_bytes;
            }
            out.push(b'}');
        }
        if let Some(tag) = self.change_tag {
            out.extend_from_slice(b",\"recordChangeTag\":");
            serde_json::to_writer(&mut out, tag)?;
        }
        out.push(b'}');
        if self.tag_only {
            out.extend_from_slice(b",\"desiredKeys\":[]");
        }
        out.push(b'}');
        Ok(EncodedOperation {
            operation_type: self.operation_type,
            record_name: Some(self.record_name.to_owned()),
            record_type: Some(self.record_type.to_owned()),
            tag_only: self.tag_only,
            record_bytes,
            json: out.into_boxed_slice(),
        })
    }
}

/// A field value's `value` member as CloudKit takes it, serialized straight from the value:
/// exactly the JSON of `FieldValue::to_json(false)` (a reference always states its action,
/// `NONE` when the value does not; dictionaries' members sorted by key; a non-finite
/// number as `null`).
pub struct WireValue<'a>(pub &'a FieldValue);

impl Serialize for WireValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            FieldValue::Scalar(value) => WireElement(value).serialize(serializer),
            FieldValue::List(_, items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&WireElement(item))?;
                }
                seq.end()
            }
            FieldValue::Unknown { value, .. } => value.serialize(serializer),
        }
    }
}

struct WireElement<'a>(&'a Value);

impl Serialize for WireElement<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::String(text) | Value::Bytes(text) => serializer.serialize_str(text),
            Value::Int64(number) | Value::Timestamp(number) => serializer.serialize_i64(*number),
            Value::Double(number) => finite(*number).serialize(serializer),
            Value::Reference(reference) => {
                // Members in key order: action, recordName, zoneID.
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("action", reference.action_or_none())?;
                map.serialize_entry("recordName", reference.record_name.as_str())?;
                if let Some(zone) = &reference.zone_id {
                    map.serialize_entry("zoneID", zone)?;
                }
                map.end()
            }
            Value::Location(location) => {
                // The other members and the two coordinates, merged in key order; a member
                // named like a coordinate gives way to it, as in `to_json`.
                let coordinates = [
                    ("latitude", finite(location.latitude)),
                    ("longitude", finite(location.longitude)),
                ];
                let mut coordinates = coordinates.into_iter().peekable();
                let mut map = serializer.serialize_map(None)?;
                for (key, value) in &location.extra {
                    while let Some((name, number)) =
                        coordinates.next_if(|(name, _)| *name <= key.as_str())
                    {
                        map.serialize_entry(name, &number)?;
                    }
                    if key != "latitude" && key != "longitude" {
                        map.serialize_entry(key, value)?;
                    }
                }
                for (name, number) in coordinates {
                    map.serialize_entry(name, &number)?;
                }
                map.end()
            }
            Value::Asset(json) => Json::serialize(json, serializer),
        }
    }
}

/// A number as `to_json` writes it: `None` (`null`) when it is not finite.
fn finite(number: f64) -> Option<f64> {
    number.is_finite().then_some(number)
}

/// A field value's `type` member (`STRING`, `INT64_LIST`, an unknown name as given),
/// written without building the name.
struct TypeName<'a>(&'a FieldValue);

impl Serialize for TypeName<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            FieldValue::Scalar(value) => serializer.serialize_str(value.scalar_type().wire_name()),
            FieldValue::List(element, _) => {
                serializer.collect_str(&format_args!("{}_LIST", element.wire_name()))
            }
            FieldValue::Unknown { type_name, .. } => serializer.serialize_str(type_name),
        }
    }
}

/// The `records` of a modify reply to `operations`, one entry per operation in order. The
/// entry of a tag-only operation (see [`EncodedOperation::tag_only`]) is read for what its
/// result holds, the name, type and change tag of a saved record or the code, reason and
/// `retryAfter` of an error, and its other members are skipped unread; the others are read
/// in full. Fails where the full reading would, and perhaps elsewhere (then read the reply
/// as a [`super::RecordsResponse`], which says why).
pub fn decode_modify_reply(
    body: &[u8],
    operations: &[EncodedOperation],
) -> Result<Vec<RecordResult>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let records = deserializer.deserialize_map(ReplyVisitor(operations))?;
    deserializer.end()?;
    Ok(records)
}

struct ReplyVisitor<'a>(&'a [EncodedOperation]);

impl<'de> Visitor<'de> for ReplyVisitor<'_> {
    type Value = Vec<RecordResult>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a modify reply")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = None;
        while let Some(key) = map.next_key::<ReplyMember>()? {
            match key {
                ReplyMember::Records if records.is_some() => {
                    return Err(de::Error::duplicate_field("records"))
                }
                ReplyMember::Records => records = Some(map.next_value_seed(EntriesSeed(self.0))?),
                ReplyMember::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(records.unwrap_or_default())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ReplyMember {
    Records,
    #[serde(other)]
    Other,
}

struct EntriesSeed<'a>(&'a [EncodedOperation]);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Vec<RecordResult>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Vec<RecordResult>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(self.0.len());
        loop {
            let tag_only = self.0.get(entries.len()).is_some_and(|o| o.tag_only);
            let entry = match tag_only {
                true => seq.next_element_seed(TagOnlyEntry)?,
                false => seq.next_element::<RecordResult>()?,
            };
            match entry {
                Some(entry) => entries.push(entry),
                None => return Ok(entries),
            }
        }
    }
}

/// The reply entry of a tag-only operation.
struct TagOnlyEntry;

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum EntryMember {
    RecordName,
    RecordType,
    RecordChangeTag,
    ServerErrorCode,
    Reason,
    RetryAfter,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for TagOnlyEntry {
    type Value = RecordResult;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TagOnlyEntry {
    type Value = RecordResult;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record or a record error object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordResult, A::Error> {
        let mut record = WireRecord::default();
        let mut code = None;
        let (mut reason, mut retry_after) = (None, None);
        while let Some(key) = map.next_key::<EntryMember>()? {
            match key {
                EntryMember::RecordName => record.record_name = map.next_value()?,
                EntryMember::RecordType => record.record_type = map.next_value()?,
                EntryMember::RecordChangeTag => record.record_change_tag = map.next_value()?,
                EntryMember::ServerErrorCode => code = Some(map.next_value()?),
                EntryMember::Reason => reason = map.next_value()?,
                EntryMember::RetryAfter => retry_after = map.next_value()?,
                EntryMember::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match code {
            Some(server_error_code) => RecordResult::Error(RecordError {
                record_name: record.record_name,
                reason,
                server_error_code,
                retry_after,
                uuid: None,
                redirect_url: None,
            }),
            None => RecordResult::Record(record),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::wire::WireField;
    use crate::record::{Location, Reference, ScalarType};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 _-]{0,12}",
            any::<String>(),
            Just("quote \" back \\ line\n tab\t \u{1} é".to_owned()),
        ]
    }

    fn arb_number() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1e-7),
            Just(1e20),
            -1000.0..1000.0,
        ]
    }

    fn arb_json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::from),
            any::<i64>().prop_map(Json::from),
            arb_text().prop_map(Json::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Json::from),
                prop::collection::btree_map(arb_text(), inner, 0..3)
                    .prop_map(|map| Json::Object(map.into_iter().collect())),
            ]
        })
    }

    fn arb_element(element: ScalarType) -> BoxedStrategy<Value> {
        match element {
            ScalarType::String => arb_text().prop_map(Value::String).boxed(),
            ScalarType::Bytes => "[A-Za-z0-9+/=]{0,12}".prop_map(Value::Bytes).boxed(),
            ScalarType::Int64 => any::<i64>().prop_map(Value::Int64).boxed(),
            ScalarType::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
            ScalarType::Double => arb_number().prop_map(Value::Double).boxed(),
            ScalarType::Reference => (
                arb_text(),
                prop::option::of(prop_oneof![Just("NONE"), Just("DELETE_SELF"), Just("X")]),
                prop::option::of(arb_json()),
            )
                .prop_map(|(name, action, zone_id)| {
                    Value::Reference(Box::new(Reference {
                        record_name: name.into(),
                        action: action.map(crate::record::Reference::shared_action),
                        zone_id: zone_id.map(Box::new),
                    }))
                })
                .boxed(),
            ScalarType::Location => (
                arb_number(),
                arb_number(),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("altitude".to_owned()),
                        Just("latitude".to_owned()),
                        Just("a".to_owned()),
                        Just("m".to_owned()),
                        Just("z".to_owned()),
                        arb_text(),
                    ],
                    arb_json(),
                    0..4,
                ),
            )
                .prop_map(|(latitude, longitude, extra)| {
                    Value::Location(Box::new(Location {
                        latitude,
                        longitude,
                        extra,
                    }))
                })
                .boxed(),
            ScalarType::AssetId => prop::collection::btree_map(arb_text(), arb_json(), 0..3)
                .prop_map(|map| Value::Asset(Box::new(Json::Object(map.into_iter().collect()))))
                .boxed(),
        }
    }

    fn arb_field_value() -> impl Strategy<Value = FieldValue> {
        let element = prop::sample::select(ScalarType::ALL.to_vec());
        prop_oneof![
            element
                .clone()
                .prop_flat_map(arb_element)
                .prop_map(FieldValue::Scalar),
            element.prop_flat_map(|t| {
                prop::collection::vec(arb_element(t), 0..3)
                    .prop_map(move |v| FieldValue::List(t, v))
            }),
            ("[A-Z_]{1,10}", arb_json()).prop_map(|(type_name, value)| FieldValue::Unknown {
                type_name,
                value: Box::new(value),
            }),
        ]
    }

    fn arb_fields() -> impl Strategy<Value = BTreeMap<String, Option<FieldValue>>> {
        prop::collection::btree_map(
            arb_text(),
            prop::option::weighted(0.8, arb_field_value()),
            0..5,
        )
    }

    /// The operation as it was built before this encoder: through `WireField::from_value`.
    fn as_operation(write: &RecordWrite<'_>) -> Operation {
        let fields = write.fields.map(|fields| {
            fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.map(WireField::from_value)))
                .collect()
        });
        Operation {
            operation_type: write.operation_type,
            record: WireRecord {
                record_name: Some(write.record_name.to_owned()),
                record_type: Some(write.record_type.to_owned()),
                record_change_tag: write.change_tag.map(str::to_owned),
                fields,
                ..WireRecord::default()
            },
            desired_keys: write.tag_only.then(Vec::new),
        }
    }

    proptest! {
        #[test]
        fn a_value_is_written_as_to_json_builds_it(value in arb_field_value()) {
            let direct = serde_json::to_string(&WireValue(&value)).unwrap();
            let tree = serde_json::to_string(&value.to_json(false)).unwrap();
            prop_assert_eq!(direct, tree);
            let name = serde_json::to_string(&TypeName(&value)).unwrap();
            prop_assert_eq!(name, serde_json::to_string(&value.field_type().to_string()).unwrap());
        }

        #[test]
        fn a_write_encodes_as_the_operation_it_stands_for(
            fields in prop::option::of(arb_fields()),
            name in arb_text(),
            record_type in arb_text(),
            tag in prop::option::of(arb_text()),
            kind in prop::sample::select(vec![
                OperationType::Create, OperationType::Update,
                OperationType::Replace, OperationType::Delete,
            ]),
            tag_only in any::<bool>(),
        ) {
            let fields: Option<Vec<(&str, Option<&FieldValue>)>> = fields.as_ref().map(|fields| {
                fields.iter().map(|(name, value)| (name.as_str(), value.as_ref())).collect()
            });
            let write = RecordWrite {
                operation_type: kind,
                record_name: &name,
                record_type: &record_type,
                change_tag: tag.as_deref(),
                fields: fields.as_deref(),
                tag_only,
            };
            let encoded = write.encode().unwrap();
            let expected = EncodedOperation::new(&as_operation(&write)).unwrap();
            prop_assert_eq!(
                String::from_utf8_lossy(encoded.json()),
                String::from_utf8_lossy(expected.json())
            );
            prop_assert_eq!(encoded, expected);
        }
    }

    #[test]
    fn an_operation_encodes_as_serde_writes_it() {
        let record = crate::record::Record::new("Team", "t1")
            .with_field("name", FieldValue::string("A"))
            .with_field("home", FieldValue::reference("s1"));
        let operation = Operation {
            operation_type: OperationType::Update,
            record: WireRecord::from_record(&record),
            desired_keys: Some(Vec::new()),
        };
        let encoded = EncodedOperation::new(&operation).unwrap();
        assert_eq!(encoded.json(), serde_json::to_vec(&operation).unwrap());
        assert!(encoded.tag_only);
        assert_eq!(encoded.record_name.as_deref(), Some("t1"));
        // "name" + "\"A\"", "home" + the reference's JSON.
        let reference = r#"{"action":"NONE","recordName":"s1"}"#;
        assert_eq!(encoded.record_bytes, 4 + 3 + 4 + reference.len());
    }

    fn encoded(name: &str, tag_only: bool) -> EncodedOperation {
        let write = RecordWrite {
            operation_type: OperationType::Create,
            record_name: name,
            record_type: "Team",
            change_tag: None,
            fields: Some(&[]),
            tag_only,
        };
        write.encode().unwrap()
    }

    #[test]
    fn a_tag_only_reply_entry_keeps_name_type_tag_and_error_and_skips_the_rest() {
        let body = serde_json::json!({"records": [
            {"recordName": "a", "recordType": "Team", "recordChangeTag": "t1",
             "fields": {"n": {"value": 1, "type": "INT64"}}, "pluginFields": {},
             "created": {"timestamp": 1, "userRecordName": "_u", "deviceID": "2"},
             "modified": {"timestamp": 2}, "deleted": false, "shortGUID": "x"},
            {"recordName": "b", "serverErrorCode": "THROTTLED", "reason": "slow",
             "retryAfter": 2, "uuid": "u"},
            {"recordName": "c", "recordType": "Team", "recordChangeTag": "t3",
             "fields": {"n": {"value": 3, "type": "INT64"}}},
        ], "somethingNew": [1]});
        let body = serde_json::to_vec(&body).unwrap();
        let operations = [encoded("a", true), encoded("b", true), encoded("c", false)];
        let lean = decode_modify_reply(&body, &operations).unwrap();
        let full: super::super::RecordsResponse = serde_json::from_slice(&body).unwrap();
        assert_eq!(lean.len(), 3);
        let RecordResult::Record(a) = &lean[0] else {
            panic!("{:?}", lean[0])
        };
        let expected = WireRecord {
            record_name: Some("a".into()),
            record_type: Some("Team".into()),
            record_change_tag: Some("t1".into()),
            ..WireRecord::default()
        };
        assert_eq!(a, &expected);
        let (RecordResult::Error(b), RecordResult::Error(full_b)) = (&lean[1], &full.records[1])
        else {
            panic!("{:?}", lean[1])
        };
        assert_eq!(
            (
                &b.record_name,
                &b.server_error_code,
                &b.reason,
                b.retry_after
            ),
            (
                &full_b.record_name,
                &full_b.server_error_code,
                &full_b.reason,
                full_b.retry_after
            )
        );
        // An operation that asked for fields gets its entry in full.
        assert_eq!(lean[2], full.records[2]);
    }

    #[test]
    fn a_reply_the_full_reading_refuses_is_refused() {
        let operations = [encoded("a", true)];
        for body in [
            r#"{"records": [{"recordName": 5}]}"#,
            r#"{"records": [{"serverErrorCode": "CONFLICT", "reason": 5}]}"#,
            r#"{"records": [{"serverErrorCode": "CONFLICT", "retryAfter": "soon"}]}"#,
            r#"{"records": null}"#,
            r#"{"records": [], "records": []}"#,
            r#"{"records": []} trailing"#,
        ] {
            assert!(
                serde_json::from_str::<super::super::RecordsResponse>(body).is_err(),
                "{body}"
            );
            assert!(
                decode_modify_reply(body.as_bytes(), &operations).is_err(),
                "{body}"
            );
        }
        let empty = decode_modify_reply(br#"{"other": 1}"#, &operations).unwrap();
        assert!(empty.is_empty());
    }
}
