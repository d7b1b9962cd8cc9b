//! The plan file's form of the plan's schema part (`plan::PlanSchema`): an optional
//! `schema` member, absent from plans made without a management token and from plans
//! written before it existed (they read as before). Each addition is an object tagged by
//! `add`, its data type and permission in the schema language's words (`LIST<STRING>`,
//! `CREATE`), so a reviewer reads them as CloudKit Console shows them.

use super::PlanFileError;
use crate::plan::PlanSchema;
use crate::schema::{Addition, Index};
use serde::{Deserialize, Serialize};

/// What the target environment's schema lacked when the plan was made.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "PlanSchema"))]
pub(super) struct SchemaDocument {
    /// `blake3:` and the hex BLAKE3 of the environment's schema as the plan read it
    /// (printed canonically); apply refuses to import into a schema that moved since.
    pub(super) digest: String,
    /// The types, fields, indexes and grants to add, in the order CloudKit Console takes
    /// them.
    pub(super) additions: Vec<AdditionDocument>,
}

/// One schema addition.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "add", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(rename = "SchemaAddition"))]
pub(super) enum AdditionDocument {
    /// A security role (`CREATE ROLE`).
    Role { role: String },
    /// A record type.
    RecordType { record_type: String },
    /// A field and its type in the schema language (`STRING`, `LIST<INT64>`).
    Field {
        record_type: String,
        field: String,
        data_type: String,
    },
    /// An index on a field (system fields by their schema names, `___recordID`).
    Index {
        record_type: String,
        field: String,
        index: Index,
    },
    /// A permission (`READ`, `CREATE`, `WRITE`) granted to a role on a record type.
    Grant {
        record_type: String,
        role: String,
        permission: String,
    },
}

impl From<&PlanSchema> for SchemaDocument {
    fn from(part: &PlanSchema) -> Self {
        SchemaDocument {
            digest: part.digest.clone(),
            additions: part.additions.iter().map(AdditionDocument::from).collect(),
        }
    }
}

impl From<&Addition> for AdditionDocument {
    fn from(addition: &Addition) -> Self {
        match addition.clone() {
            Addition::Role { role } => AdditionDocument::Role { role },
            Addition::RecordType { record_type } => AdditionDocument::RecordType { record_type },
            Addition::Field {
                record_type,
                field,
                data_type,
            } => AdditionDocument::Field {
                record_type,
                field,
                data_type: data_type.to_string(),
            },
            Addition::Index {
                record_type,
                field,
                index,
            } => AdditionDocument::Index {
                record_type,
                field,
                index,
            },
            Addition::Grant {
                record_type,
                role,
                permission,
            } => AdditionDocument::Grant {
                record_type,
                role,
                permission: permission.to_string(),
            },
        }
    }
}

impl SchemaDocument {
    /// The plan's schema part; a data type or permission the schema language does not
    /// have is a structure error naming the addition.
    pub(super) fn into_part(self) -> Result<PlanSchema, PlanFileError> {
        let structure = |index: usize, member: &str, message: String| PlanFileError::Structure {
            path: format!("schema.additions[{index}].{member}"),
            message,
        };
        let mut additions = Vec::with_capacity(self.additions.len());
        for (index, document) in self.additions.into_iter().enumerate() {
            additions.push(match document {
                AdditionDocument::Role { role } => Addition::Role { role },
                AdditionDocument::RecordType { record_type } => {
                    Addition::RecordType { record_type }
                }
                AdditionDocument::Field {
                    record_type,
                    field,
                    data_type,
                } => Addition::Field {
                    record_type,
                    field,
                    data_type: data_type
                        .parse()
                        .map_err(|e| structure(index, "data_type", format!("{e}")))?,
                },
                AdditionDocument::Index {
                    record_type,
                    field,
                    index: kind,
                } => Addition::Index {
                    record_type,
                    field,
                    index: kind,
                },
                AdditionDocument::Grant {
                    record_type,
                    role,
                    permission,
                } => Addition::Grant {
                    record_type,
                    role,
                    permission: permission
                        .parse()
                        .map_err(|e| structure(index, "permission", format!("{e}")))?,
                },
            });
        }
        Ok(PlanSchema {
            digest: self.digest,
            additions,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::file::{checksum, read_text, to_text, PlanFileError};
    use crate::plan::{Plan, PlanOptions, PlanSchema};
    use crate::record::{Database, Environment, Target};
    use crate::schema::{Addition, DataType, Index, Permission, Primitive};

    fn plan() -> Plan {
        let target = Target {
            container: "iCloud.com.example.App".into(),
            environment: Environment::Development,
            database: Database::Public,
            zone: "_defaultZone".into(),
        };
        let created = "2025-01-02T03:04:05Z".parse().unwrap();
        Plan::build(
            target,
            PlanOptions::default(),
            vec![],
            vec![],
            vec![],
            created,
        )
    }

    #[test]
    fn issue_20_the_schema_part_round_trips_and_is_checksummed() {
        let without = plan();
        let text = to_text(&without);
        assert!(!text.contains("\"schema\""), "{text}");
        let mut with = plan();
        with.schema = Some(PlanSchema {
            digest: format!("blake3:{}", "0".repeat(64)),
            additions: vec![
                Addition::RecordType {
                    record_type: "Team".into(),
                },
                Addition::Field {
                    record_type: "Team".into(),
                    field: "tags".into(),
                    data_type: DataType {
                        primitive: Primitive::String,
                        list: true,
                        encrypted: false,
                    },
                },
                Addition::Index {
                    record_type: "Team".into(),
                    field: "___recordID".into(),
                    index: Index::Queryable,
                },
                Addition::Grant {
                    record_type: "Team".into(),
                    role: "_icloud".into(),
                    permission: Permission::Create,
                },
            ],
        });
        let text = to_text(&with);
        assert!(text.contains("\"data_type\": \"LIST<STRING>\""), "{text}");
        let read = read_text(&text).unwrap();
        assert_eq!(read.plan, with);
        assert_eq!(read.checksum, checksum(&with));
        assert_ne!(checksum(&with), checksum(&without));
        // The schema part is covered by the checksum.
        let edited = text.replace("\"CREATE\"", "\"WRITE\"");
        assert!(matches!(
            read_text(&edited),
            Err(PlanFileError::ChecksumMismatch { .. })
        ));
    }
}
