//! The fast decoding of the records in a query or lookup reply: each entry straight into a
//! [`Record`], every field value through the typed codec (`record::TypedValue`), with no
//! `WireRecord`, no `serde_json::Value` per field and no string kept that the record does
//! not hold (stamps, zone and plugin members are checked, not kept).
//!
//! It accepts less than the general decoding (`RecordResult` then `WireRecord::to_record`):
//! a field without a `type`, a value the typed codec refuses, a record without its name or
//! type, a duplicated member inside a kept object. Whatever it refuses, the caller decodes
//! again the general way, which keeps every reply's outcome and every error message exactly
//! as they were; whatever it accepts, it decodes to what the general way gives (see the
//! property test beside it).

use super::{RecordError, ServerErrorCode};
use crate::record::TypedValue;
use crate::record::{ChangeTag, FieldType, Fields, Record, RecordName, RecordType, Stamps};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// One entry of a reply's `records` array.
#[derive(Debug, PartialEq)]
pub enum ReadEntry {
    /// A record, with its `modified.timestamp` and `deleted` members.
    Record {
        record: Record,
        modified: Option<i64>,
        deleted: bool,
    },
    /// An entry with a `serverErrorCode`.
    Error(RecordError),
}

/// A lookup or modify reply's body, as `RecordsResponse` reads it.
#[derive(Deserialize)]
pub struct ReadReply {
    #[serde(default)]
    pub records: Vec<ReadEntry>,
}

impl<'de> Deserialize<'de> for ReadEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

/// The members of an entry, by name, read without allocating.
enum Member {
    RecordName,
    RecordType,
    Fields,
    RecordChangeTag,
    Created,
    Modified,
    Deleted,
    ZoneId,
    ServerErrorCode,
    Reason,
    RetryAfter,
    Uuid,
    RedirectUrl,
    Other,
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor;
        impl Visitor<'_> for MemberVisitor {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Member, E> {
                Ok(match name {
                    "recordName" => Member::RecordName,
                    "recordType" => Member::RecordType,
                    "fields" => Member::Fields,
                    "recordChangeTag" => Member::RecordChangeTag,
                    "created" => Member::Created,
                    "modified" => Member::Modified,
                    "deleted" => Member::Deleted,
                    "zoneID" => Member::ZoneId,
                    "serverErrorCode" => Member::ServerErrorCode,
                    "reason" => Member::Reason,
                    "retryAfter" => Member::RetryAfter,
                    "uuid" => Member::Uuid,
                    "redirectURL" => Member::RedirectUrl,
                    _ => Member::Other,
                })
            }
        }
        deserializer.deserialize_identifier(MemberVisitor)
    }
}

/// `created` / `modified`, checked as `wire::Stamp` reads them; only the time is kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StampCheck<'a> {
    timestamp: i64,
    #[serde(borrow, default)]
    #[allow(dead_code)] // read to refuse what `wire::Stamp` refuses
    user_record_name: Option<Cow<'a, str>>,
    #[serde(rename = "deviceID", borrow, default)]
    #[allow(dead_code)]
    device_id: Option<Cow<'a, str>>,
}

/// `zoneID`, checked as `wire::ZoneId` reads it, not kept (a read record has no zone).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read to refuse what `wire::ZoneId` refuses
struct ZoneCheck<'a> {
    #[serde(borrow)]
    zone_name: Cow<'a, str>,
    #[serde(borrow, default)]
    owner_record_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    zone_type: Option<Cow<'a, str>>,
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = ReadEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record or a record error object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReadEntry, A::Error> {
        let mut name: Option<String> = None;
        let mut record_type: Option<String> = None;
        let mut change_tag: Option<String> = None;
        let mut fields = Fields::new();
        let (mut created, mut modified) = (None, None);
        let mut deleted: Option<bool> = None;
        let mut code: Option<ServerErrorCode> = None;
        let mut reason: Option<String> = None;
        let mut retry_after: Option<f64> = None;
        let mut uuid: Option<String> = None;
        let mut redirect_url: Option<String> = None;
        while let Some(member) = map.next_key::<Member>()? {
            match member {
                Member::RecordName => name = map.next_value()?,
                Member::RecordType => record_type = map.next_value()?,
                Member::Fields => fields = map.next_value_seed(FieldsSeed)?,
                Member::RecordChangeTag => change_tag = map.next_value()?,
                Member::Created => {
                    created = map.next_value::<Option<StampCheck>>()?.map(|s| s.timestamp)
                }
                Member::Modified => {
                    modified = map.next_value::<Option<StampCheck>>()?.map(|s| s.timestamp)
                }
                Member::Deleted => deleted = map.next_value()?,
                Member::ZoneId => {
                    map.next_value::<Option<ZoneCheck>>()?;
                }
                Member::ServerErrorCode => code = Some(map.next_value()?),
                Member::Reason => reason = map.next_value()?,
                Member::RetryAfter => retry_after = map.next_value()?,
                Member::Uuid => uuid = map.next_value()?,
                Member::RedirectUrl => redirect_url = map.next_value()?,
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(server_error_code) = code {
            return Ok(ReadEntry::Error(RecordError {
                record_name: name,
                reason,
                server_error_code,
                retry_after,
                uuid,
                redirect_url,
            }));
        }
        let (Some(name), Some(record_type)) = (name, record_type) else {
            return Err(de::Error::custom("record without its name or type"));
        };
        Ok(ReadEntry::Record {
            record: Record {
                record_type: RecordType(record_type),
                record_name: RecordName(name),
                change_tag: change_tag.map(ChangeTag),
                fields,
                stamps: created
                    .zip(modified)
                    .map(|(created, modified)| Stamps { created, modified }),
            },
            modified,
            deleted: deleted == Some(true),
        })
    }
}

/// A `fields` member (`null` is no fields), each value decoded by its own `type`.
struct FieldsSeed;

impl<'de> DeserializeSeed<'de> for FieldsSeed {
    type Value = Fields;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fields dictionary")
    }

    fn visit_none<E: de::Error>(self) -> Result<Fields, E> {
        Ok(Fields::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Fields, E> {
        Ok(Fields::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::new();
        while let Some(name) = map.next_key::<String>()? {
            match map.next_value::<Option<FieldEntry>>()? {
                Some(FieldEntry {
                    value: Some(value),
                    field_type,
                }) => {
                    let Some(field_type) = field_type else {
                        return Err(de::Error::custom("field without a type"));
                    };
                    let mut reader = serde_json::Deserializer::from_str(value.get());
                    let value = TypedValue(&field_type)
                        .deserialize(&mut reader)
                        .map_err(de::Error::custom)?;
                    fields.insert(name, value);
                }
                // `"f": null`, `{"value": null}` or no value: no value.
                _ => {
                    fields.remove(&name);
                }
            }
        }
        Ok(fields)
    }
}

/// `{value, type}`: the value kept as the reply's own text until its type is known.
struct FieldEntry<'a> {
    value: Option<&'a RawValue>,
    field_type: Option<FieldType>,
}

impl<'de: 'a, 'a> Deserialize<'de> for FieldEntry<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = FieldEntry<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field dictionary")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldEntry<'de>, A::Error> {
                let mut entry = FieldEntry {
                    value: None,
                    field_type: None,
                };
                while let Some(key) = map.next_key::<FieldMember>()? {
                    match key {
                        FieldMember::Value => {
                            entry.value = map.next_value::<Option<&RawValue>>()?;
                        }
                        FieldMember::Type => {
                            entry.field_type = map
                                .next_value::<Option<crate::record::TypeName>>()?
                                .map(|t| t.0);
                        }
                        FieldMember::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(entry)
            }
        }
        deserializer.deserialize_map(EntryVisitor)
    }
}

enum FieldMember {
    Value,
    Type,
    Other,
}

impl<'de> Deserialize<'de> for FieldMember {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor;
        impl Visitor<'_> for MemberVisitor {
            type Value = FieldMember;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`value` or `type`")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<FieldMember, E> {
                Ok(match name {
                    "value" => FieldMember::Value,
                    "type" => FieldMember::Type,
                    _ => FieldMember::Other,
                })
            }
        }
        deserializer.deserialize_identifier(MemberVisitor)
    }
}

#[cfg(test)]
mod tests;
