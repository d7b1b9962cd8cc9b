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
    ChangeTag, FieldName, FieldType, FieldValue, RecordName, RecordType, TypedValue,
};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::btree_map::{BTreeMap, Entry};
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
    pub(super) changes: Changes,
    #[serde(default)]
    pub(super) referenced_orphans: Vec<ReferencedOrphanDocument>,
    #[serde(default)]
    pub(super) schema: Option<super::schema_part::SchemaDocument>,
    pub(super) checksum: String,
}

/// The plan's changes, each converted into a `Change` as soon as it is read (no vector of
/// document changes beside the changes).
pub(super) struct Changes(pub(super) Vec<Change>);

impl<'de> Deserialize<'de> for Changes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChangesVisitor;
        impl<'de> Visitor<'de> for ChangesVisitor {
            type Value = Changes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of changes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Changes, A::Error> {
                let mut changes = Vec::new();
                while let Some(change) = seq.next_element::<TypedChange>()? {
                    changes.push(change.into_change());
                }
                Ok(Changes(changes))
            }
        }
        deserializer.deserialize_seq(ChangesVisitor)
    }
}

/// `format::ChangeDocument` with decoded field values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedChange {
    action: Action,
    record_type: RecordType,
    record_name: RecordName,
    change_tag: Option<ChangeTag>,
    before: UniqueMap<String, Option<TypedField>>,
    after: Option<UniqueMap<FieldName, TypedField>>,
    removed: Vec<String>,
}

impl TypedChange {
    fn into_change(self) -> Change {
        Change {
            action: self.action,
            record_type: self.record_type,
            record_name: self.record_name,
            change_tag: self.change_tag,
            before: self.before.0,
            after: self.after.map(|fields| fields.0.into_iter().collect()),
            removed: self.removed,
        }
    }
}

/// A map that refuses a key given twice (serde's own keeps the last one silently), each
/// value kept as what it decodes to ([`Member`]), so that the map needs no converting.
pub(super) struct UniqueMap<K, V: Member>(pub(super) BTreeMap<K, V::Kept>);

/// A map value as read, and what the map keeps of it.
pub(super) trait Member {
    type Kept;
    fn kept(self) -> Self::Kept;
}

impl Member for TypedField {
    type Kept = FieldValue;
    fn kept(self) -> FieldValue {
        self.0
    }
}

impl Member for Option<TypedField> {
    type Kept = Option<FieldValue>;
    fn kept(self) -> Option<FieldValue> {
        self.map(|field| field.0)
    }
}

impl Member for RulesDocument {
    type Kept = RulesDocument;
    fn kept(self) -> RulesDocument {
        self
    }
}

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de> + Member,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Deserialize<'de> + Ord + fmt::Display,
            V: Deserialize<'de> + Member,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some(key) = map.next_key::<K>()? {
                    match entries.entry(key) {
                        Entry::Vacant(entry) => {
                            entry.insert(map.next_value::<V>()?.kept());
                        }
                        Entry::Occupied(entry) => {
                            let key = entry.key();
                            return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                        }
                    }
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
                    field_type = Some(map.next_value::<crate::record::TypeName>()?.0);
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
