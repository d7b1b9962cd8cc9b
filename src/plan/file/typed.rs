//! The reader's fast path for format version 2: the text deserialized in one pass straight
//! into the plan's own values, field values decoded as they are met (`{"type", "value"}`,
//! type first) with `record::TypedValue`, no `serde_json::Value` tree. Every error here
//! sends the reader to its checked path (`read`), which names the problem as precisely as
//! it can; so these types only need to refuse what that path refuses, never to explain it.

use super::format::{
    InputDocument, OptionsDocument, ReferencedOrphanDocument, RulesDocument, SummaryDocument,
    TargetDocument,
};
use crate::plan::{Action, Change};
use crate::record::strict_json::UniqueKeys;
use crate::record::{
    ChangeTag, FieldName, FieldType, FieldValue, Fields, RecordName, RecordType, TypedValue,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// `format::PlanDocument` with typed changes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TypedDocument {
    pub(super) format: String,
    pub(super) format_version: u32,
    pub(super) tool_version: String,
    pub(super) created_at: String,
    pub(super) target: TargetDocument,
    #[serde(default)]
    pub(super) endpoint: Option<String>,
    pub(super) options: OptionsDocument,
    pub(super) inputs: Vec<InputDocument>,
    pub(super) type_order: Vec<RecordType>,
    pub(super) rules: UniqueMap<RecordType, RulesDocument>,
    pub(super) summary: Vec<SummaryDocument>,
    pub(super) changes: Vec<TypedChange>,
    #[serde(default)]
    pub(super) referenced_orphans: Vec<ReferencedOrphanDocument>,
    #[serde(default)]
    pub(super) schema: Option<super::schema_part::SchemaDocument>,
    pub(super) checksum: String,
}

/// `format::ChangeDocument` with decoded field values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TypedChange {
    pub(super) action: Action,
    pub(super) record_type: RecordType,
    pub(super) record_name: RecordName,
    pub(super) change_tag: Option<ChangeTag>,
    pub(super) before: UniqueMap<String, Option<TypedField>>,
    pub(super) after: Option<UniqueMap<FieldName, TypedField>>,
    pub(super) removed: Vec<String>,
}

impl TypedChange {
    pub(super) fn into_change(self) -> Change {
        Change {
            action: self.action,
            record_type: self.record_type,
            record_name: self.record_name,
            change_tag: self.change_tag,
            before: self
                .before
                .0
                .into_iter()
                .map(|(name, field)| (name, field.map(|f| f.0)))
                .collect(),
            after: self.after.map(|fields| {
                fields
                    .0
                    .into_iter()
                    .map(|(n, f)| (n, f.0))
                    .collect::<Fields>()
            }),
            removed: self.removed,
        }
    }
}

/// A map that refuses a key given twice (serde's own keeps the last one silently).
pub(super) struct UniqueMap<K, V>(pub(super) BTreeMap<K, V>);

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Deserialize<'de> + Ord + fmt::Display,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some(key) = map.next_key::<K>()? {
                    if entries.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    entries.insert(key, value);
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// `{"type": "...", "value": ...}` decoded into a `FieldValue`. With the type first (as
/// written) the value is decoded as it is read; a value before its type is read as JSON
/// and decoded once the type is known.
pub(super) struct TypedField(pub(super) FieldValue);

impl<'de> Deserialize<'de> for TypedField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = TypedField;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value `{type, value}`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypedField, A::Error> {
        let mut field_type: Option<FieldType> = None;
        let mut value: Option<FieldValue> = None;
        let mut early: Option<serde_json::Value> = None;
        while let Some(key) = map.next_key::<FieldKey>()? {
            match key {
                FieldKey::Type if field_type.is_none() => {
                    field_type = Some(map.next_value::<TypeName>()?.0);
                }
                FieldKey::Value if value.is_none() && early.is_none() => match &field_type {
                    Some(field_type) => {
                        value = Some(map.next_value_seed(TypedValue(field_type))?);
                    }
                    None => early = Some(map.next_value_seed(UniqueKeys)?),
                },
                _ => return Err(de::Error::custom("duplicate key in a field value")),
            }
        }
        let field_type = field_type.ok_or_else(|| de::Error::missing_field("type"))?;
        match (value, early) {
            (Some(value), _) => Ok(TypedField(value)),
            (None, Some(json)) => FieldValue::from_json(&field_type, &json)
                .map(TypedField)
                .map_err(de::Error::custom),
            (None, None) => Err(de::Error::missing_field("value")),
        }
    }
}

/// The members of `{type, value}`, read without allocating.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum FieldKey {
    Type,
    Value,
}

/// A type name parsed as it is read (known names allocate nothing).
struct TypeName(FieldType);

impl<'de> Deserialize<'de> for TypeName {
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
