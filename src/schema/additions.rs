//! A plan's schema part applied to a schema: the additions a plan recorded, merged into a
//! freshly exported schema (nothing there is lost), which of them a schema still lacks,
//! and the digest a plan keeps of the schema it was made against. Also the text forms of
//! a data type and a permission, as the plan file writes them. Pure.

use super::{Addition, DataType, FieldDef, Permission, Primitive, Schema, SYSTEM_FIELDS};
use std::str::FromStr;

/// `blake3:<hex>` of `schema` as [`super::print`] writes it: equal schemas, however an
/// export laid them out, have equal digests.
pub fn digest(schema: &Schema) -> String {
    let text = super::print(schema);
    format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
}

/// Whether `schema` already holds `addition`.
pub fn holds(schema: &Schema, addition: &Addition) -> bool {
    let field = |record_type: &str, field: &str| {
        schema
            .types
            .get(record_type)
            .and_then(|t| t.fields.get(field))
    };
    match addition {
        Addition::Role { role } => schema.roles.contains(role),
        Addition::RecordType { record_type } => schema.types.contains_key(record_type),
        Addition::Field {
            record_type,
            field: name,
            data_type,
        } => field(record_type, name).is_some_and(|f| f.data_type == *data_type),
        Addition::Index {
            record_type,
            field: name,
            index,
        } => field(record_type, name).is_some_and(|f| f.indexes.contains(index)),
        Addition::Grant {
            record_type,
            role,
            permission,
        } => schema
            .types
            .get(record_type)
            .and_then(|t| t.grants.get(role))
            .is_some_and(|p| p.contains(permission)),
    }
}

/// The additions `schema` still lacks, in their order.
pub fn lacking(schema: &Schema, additions: &[Addition]) -> Vec<Addition> {
    additions
        .iter()
        .filter(|addition| !holds(schema, addition))
        .cloned()
        .collect()
}

/// `actual` with every addition: nothing of `actual` is lost. An index on a field neither
/// `actual` nor an earlier addition defines is added to a system field of that name (the
/// only fields an index addition names without a field addition), else left out.
pub fn with_additions(actual: &Schema, additions: &[Addition]) -> Schema {
    let mut out = actual.clone();
    for addition in additions {
        match addition {
            Addition::Role { role } => {
                out.roles.insert(role.clone());
            }
            Addition::RecordType { record_type } => {
                out.types.entry(record_type.clone()).or_default();
            }
            Addition::Field {
                record_type,
                field,
                data_type,
            } => {
                let definition = out.types.entry(record_type.clone()).or_default();
                definition
                    .fields
                    .entry(field.clone())
                    .or_insert_with(|| FieldDef {
                        data_type: *data_type,
                        indexes: Default::default(),
                    });
            }
            Addition::Index {
                record_type,
                field,
                index,
            } => {
                let definition = out.types.entry(record_type.clone()).or_default();
                let system = SYSTEM_FIELDS.iter().find(|(name, _)| name == field);
                let entry = match (definition.fields.get_mut(field), system) {
                    (Some(existing), _) => existing,
                    (None, Some((_, primitive))) => definition
                        .fields
                        .entry(field.clone())
                        .or_insert_with(|| FieldDef {
                            data_type: DataType::scalar(*primitive),
                            indexes: Default::default(),
                        }),
                    (None, None) => continue,
                };
                entry.indexes.insert(*index);
            }
            Addition::Grant {
                record_type,
                role,
                permission,
            } => {
                out.types
                    .entry(record_type.clone())
                    .or_default()
                    .grants
                    .entry(role.clone())
                    .or_default()
                    .insert(*permission);
            }
        }
    }
    out
}

/// A type name that is not one of the schema language's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a schema type or permission")]
pub struct UnknownKeyword(pub String);

impl FromStr for DataType {
    type Err = UnknownKeyword;

    /// What `Display` writes: `STRING`, `ENCRYPTED BYTES`, `LIST<INT64>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownKeyword(text.to_owned());
        let (inner, list) = match text.strip_prefix("LIST<") {
            Some(rest) => (rest.strip_suffix('>').ok_or_else(unknown)?, true),
            None => (text, false),
        };
        let (inner, encrypted) = match inner.strip_prefix("ENCRYPTED ") {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
        let primitive = Primitive::ALL
            .into_iter()
            .find(|p| p.keyword() == inner)
            .ok_or_else(unknown)?;
        if encrypted && !primitive.may_be_encrypted() {
            return Err(unknown());
        }
        Ok(DataType {
            primitive,
            list,
            encrypted,
        })
    }
}

impl FromStr for Permission {
    type Err = UnknownKeyword;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.keyword() == text)
            .ok_or_else(|| UnknownKeyword(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{merged, missing, parse, Index};

    #[test]
    fn issue_20_additions_merge_into_an_export_and_keep_what_is_there() {
        let actual = parse(
            "DEFINE SCHEMA RECORD TYPE Users (\"___createTime\" TIMESTAMP, roles LIST<INT64>, \
             GRANT WRITE TO \"_creator\"); RECORD TYPE Team (\"___createTime\" TIMESTAMP \
             SORTABLE, other STRING QUERYABLE);",
        )
        .unwrap();
        let needed = parse(
            "DEFINE SCHEMA RECORD TYPE Team (\"___createTime\" TIMESTAMP QUERYABLE SORTABLE, \
             \"___recordID\" REFERENCE QUERYABLE, name STRING SEARCHABLE, GRANT CREATE TO \
             \"_icloud\"); RECORD TYPE Game (at TIMESTAMP);",
        )
        .unwrap();
        let additions = missing(&needed, &actual).additions;
        let out = with_additions(&actual, &additions);
        assert_eq!(out, merged(&actual, &needed));
        assert!(lacking(&out, &additions).is_empty());
        assert_eq!(lacking(&actual, &additions), additions);
        assert!(out.types["Team"].fields["other"]
            .indexes
            .contains(&Index::Queryable));
        assert!(out.types.contains_key("Users"));
        assert_ne!(digest(&actual), digest(&out));
        assert_eq!(
            digest(&actual),
            digest(&parse(&crate::schema::print(&actual)).unwrap())
        );
    }

    #[test]
    fn issue_20_data_types_read_back_what_display_writes() {
        for primitive in Primitive::ALL {
            for list in [false, true] {
                for encrypted in [false, true] {
                    if encrypted && !primitive.may_be_encrypted() {
                        continue;
                    }
                    let data_type = DataType {
                        primitive,
                        list,
                        encrypted,
                    };
                    assert_eq!(data_type.to_string().parse(), Ok(data_type));
                }
            }
        }
        assert!("LIST<STRING".parse::<DataType>().is_err());
        assert!("ENCRYPTED ASSET".parse::<DataType>().is_err());
        assert_eq!("CREATE".parse(), Ok(Permission::Create));
        assert!("DELETE".parse::<Permission>().is_err());
    }
}
