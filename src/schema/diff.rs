//! What a needed schema lacks in an actual one (types, fields, indexes, grants, roles),
//! what CloudKit cannot change (a field that exists with another type), and the merge of
//! the two that keeps everything the actual schema holds. Additive only: nothing the
//! actual schema has and the needed one does not is ever a change, because an export
//! omitted from an import drops it (indexes) or is refused (deployed fields).

use super::{DataType, Index, Permission, RecordTypeDef, Schema, SYSTEM_FIELDS};
use std::fmt;

/// One thing to add, in the order a person would add them in CloudKit Console.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Addition {
    Role {
        role: String,
    },
    RecordType {
        record_type: String,
    },
    Field {
        record_type: String,
        field: String,
        data_type: DataType,
    },
    Index {
        record_type: String,
        field: String,
        index: Index,
    },
    Grant {
        record_type: String,
        role: String,
        permission: Permission,
    },
}

impl fmt::Display for Addition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addition::Role { role } => write!(f, "security role `{role}`"),
            Addition::RecordType { record_type } => write!(f, "record type `{record_type}`"),
            Addition::Field {
                record_type,
                field,
                data_type,
            } => write!(f, "field `{record_type}.{field}` {data_type}"),
            Addition::Index {
                record_type,
                field,
                index,
            } => write!(f, "index {index} on `{record_type}.{field}`"),
            Addition::Grant {
                record_type,
                role,
                permission,
            } => write!(f, "grant {permission} on `{record_type}` to `{role}`"),
        }
    }
}

/// A change CloudKit cannot make: a field that exists with another type. Deployed fields
/// never change type; the way out is a new field name (or, in development only, deleting
/// the field in CloudKit Console first).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub record_type: String,
    pub field: String,
    pub wanted: DataType,
    pub found: DataType,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "field `{}.{}` is {} in CloudKit but the config needs {}",
            self.record_type, self.field, self.found, self.wanted
        )
    }
}

/// The difference of a needed schema from an actual one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaDiff {
    pub additions: Vec<Addition>,
    pub conflicts: Vec<Conflict>,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        self.additions.is_empty() && self.conflicts.is_empty()
    }
}

fn is_system(field: &str) -> bool {
    SYSTEM_FIELDS.iter().any(|(name, _)| *name == field)
}

/// What `needed` has that `actual` lacks. System fields always exist, so only their
/// indexes can be missing.
pub fn missing(needed: &Schema, actual: &Schema) -> SchemaDiff {
    let mut diff = SchemaDiff::default();
    for role in needed.roles.difference(&actual.roles) {
        diff.additions.push(Addition::Role { role: role.clone() });
    }
    let empty = RecordTypeDef::default();
    for (record_type, wanted) in &needed.types {
        let found = actual.types.get(record_type);
        if found.is_none() {
            diff.additions.push(Addition::RecordType {
                record_type: record_type.clone(),
            });
        }
        let found = found.unwrap_or(&empty);
        type_missing(record_type, wanted, found, &mut diff);
    }
    diff
}

fn type_missing(
    record_type: &str,
    wanted: &RecordTypeDef,
    found: &RecordTypeDef,
    diff: &mut SchemaDiff,
) {
    for (field, want) in &wanted.fields {
        let have = found.fields.get(field);
        match have {
            Some(have) if have.data_type != want.data_type => {
                diff.conflicts.push(Conflict {
                    record_type: record_type.to_owned(),
                    field: field.clone(),
                    wanted: want.data_type,
                    found: have.data_type,
                });
                continue;
            }
            None if !is_system(field) => diff.additions.push(Addition::Field {
                record_type: record_type.to_owned(),
                field: field.clone(),
                data_type: want.data_type,
            }),
            _ => {}
        }
        for index in &want.indexes {
            if !have.is_some_and(|h| h.indexes.contains(index)) {
                diff.additions.push(Addition::Index {
                    record_type: record_type.to_owned(),
                    field: field.clone(),
                    index: *index,
                });
            }
        }
    }
    for (role, permissions) in &wanted.grants {
        for permission in permissions {
            if !found
                .grants
                .get(role)
                .is_some_and(|p| p.contains(permission))
            {
                diff.additions.push(Addition::Grant {
                    record_type: record_type.to_owned(),
                    role: role.clone(),
                    permission: *permission,
                });
            }
        }
    }
}

/// `actual` with everything `needed` adds: nothing of `actual` is lost (managed types,
/// other apps' fields, system-field indexes). A field `actual` holds with another type
/// keeps that type (it is a `Conflict` of [`missing`]).
pub fn merged(actual: &Schema, needed: &Schema) -> Schema {
    let mut out = actual.clone();
    out.roles.extend(needed.roles.iter().cloned());
    for (record_type, wanted) in &needed.types {
        let target = out.types.entry(record_type.clone()).or_default();
        for (field, want) in &wanted.fields {
            match target.fields.get_mut(field) {
                Some(have) if have.data_type == want.data_type => {
                    have.indexes.extend(want.indexes.iter().copied());
                }
                Some(_) => {}
                None => {
                    target.fields.insert(field.clone(), want.clone());
                }
            }
        }
        for (role, permissions) in &wanted.grants {
            target
                .grants
                .entry(role.clone())
                .or_default()
                .extend(permissions.iter().copied());
        }
    }
    out
}
