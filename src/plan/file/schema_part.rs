//! The plan file's form of the plan's schema part (`plan::PlanSchema`): an optional
//! `schema` member, absent from plans made without a management token and from plans
//! written before it existed (they read as before). Each addition is an object tagged by
//! `add`, its data type and permission in the schema language's words (`LIST<STRING>`,
//! `CREATE`), so a reviewer reads them as CloudKit Console shows them.

use super::PlanFileError;
use crate::plan::PlanSchema;
use crate::schema::{identifier_problem, quotable_problem, Addition, Index, USERS};
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
    /// The team whose schema API the plan read (`team_id:`); apply refuses a configuration
    /// naming another, and uses it when the configuration names none. Absent from plans
    /// made before it was recorded (they use the configuration's) and from plans against
    /// the embedded emulator without `team_id:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) team_id: Option<String>,
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
            team_id: part.team.clone(),
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

fn structure(index: usize, member: &str, message: String) -> PlanFileError {
    PlanFileError::Structure {
        path: format!("schema.additions[{index}].{member}"),
        message,
    }
}

/// Refuses an addition whose names could not be imported as they read: a type or field
/// name that is not a schema identifier, a role that cannot be quoted. The checksum proves
/// nothing here (whoever edits a plan can recompute it), so every name is checked on every
/// read. Also refuses a grant on CloudKit's managed `Users` type, which ckplan never plans
/// (its indexes, system fields' included, ckplan may add).
fn check_names(index: usize, addition: &Addition) -> Result<(), PlanFileError> {
    let identifier = |member: &str, what: &str, name: &str| match identifier_problem(what, name) {
        Some(problem) => Err(structure(index, member, problem)),
        None => Ok(()),
    };
    let role = |role: &str| match quotable_problem("role", role) {
        Some(problem) => Err(structure(index, "role", problem)),
        None => Ok(()),
    };
    let users = |member: &str, what: &str| {
        Err(structure(
            index,
            member,
            format!("{what} on CloudKit's managed `{USERS}` type, which ckplan never adds"),
        ))
    };
    match addition {
        Addition::Role { role: name } => role(name),
        Addition::RecordType { record_type } => {
            identifier("record_type", "record type", record_type)
        }
        Addition::Field {
            record_type, field, ..
        } => {
            identifier("record_type", "record type", record_type)?;
            identifier("field", "field name", field)
        }
        Addition::Index {
            record_type, field, ..
        } => {
            identifier("record_type", "record type", record_type)?;
            identifier("field", "field name", field)
        }
        Addition::Grant {
            record_type,
            role: name,
            ..
        } => {
            identifier("record_type", "record type", record_type)?;
            role(name)?;
            match record_type == USERS {
                true => users("record_type", "a grant"),
                false => Ok(()),
            }
        }
    }
}

impl SchemaDocument {
    /// The plan's schema part; a data type or permission the schema language does not
    /// have, a name [`check_names`] refuses, or additions that contradict each other
    /// (`schema::contradiction`) are a structure error naming the addition.
    pub(super) fn into_part(self) -> Result<PlanSchema, PlanFileError> {
        let mut additions = Vec::with_capacity(self.additions.len());
        for (index, document) in self.additions.into_iter().enumerate() {
            let addition = match document {
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
            };
            check_names(index, &addition)?;
            additions.push(addition);
        }
        if let Some((index, member, message)) = crate::schema::contradiction(&additions) {
            return Err(structure(index, member, message));
        }
        if let Some(problem) = self
            .team_id
            .as_deref()
            .and_then(crate::schema::team_problem)
        {
            return Err(PlanFileError::Structure {
                path: "schema.team_id".to_owned(),
                message: problem,
            });
        }
        Ok(PlanSchema {
            digest: self.digest,
            team: self.team_id,
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
            team: None,
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

    #[test]
    fn issue_20_a_schema_part_that_could_inject_schema_text_is_refused_whatever_its_checksum() {
        let grant = |record_type: &str, role: &str| Addition::Grant {
            record_type: record_type.into(),
            role: role.into(),
            permission: Permission::Read,
        };
        let field = |record_type: &str, field: &str| Addition::Field {
            record_type: record_type.into(),
            field: field.into(),
            data_type: DataType::scalar(Primitive::String),
        };
        let cases = [
            (
                Addition::RecordType {
                    record_type: "Team (x STRING); RECORD TYPE Evil".into(),
                },
                "schema.additions[0].record_type",
            ),
            (
                field("Team", "name STRING,\n GRANT WRITE TO \"_world\""),
                "schema.additions[0].field",
            ),
            (field("Te\"am", "name"), "schema.additions[0].record_type"),
            (
                grant("Team", "_world\" ); RECORD TYPE Evil ( x STRING"),
                "schema.additions[0].role",
            ),
            (grant("Team", "a\u{202e}b"), "schema.additions[0].role"),
            (
                Addition::Role {
                    role: "r\nCREATE ROLE \"x".into(),
                },
                "schema.additions[0].role",
            ),
            (grant("Users", "_icloud"), "schema.additions[0].record_type"),
        ];
        for (addition, member) in cases {
            let mut tampered = plan();
            tampered.schema = Some(PlanSchema {
                digest: format!("blake3:{}", "0".repeat(64)),
                team: None,
                additions: vec![addition.clone()],
            });
            // Written with a correct checksum, as anyone who edits a plan can.
            let text = to_text(&tampered);
            let error = read_text(&text).unwrap_err();
            let PlanFileError::Structure { path, message } = &error else {
                panic!("{addition:?}: {error}")
            };
            assert_eq!(path, member, "{addition:?}: {message}");
            assert!(!message.contains('\n'), "{message}");
        }
        // The names ckplan plans read back.
        let mut fine = plan();
        fine.schema = Some(PlanSchema {
            digest: format!("blake3:{}", "0".repeat(64)),
            team: None,
            additions: vec![
                grant("Team", "_icloud"),
                field("Users", "nickname"),
                Addition::Index {
                    record_type: "Users".into(),
                    field: "___recordID".into(),
                    index: Index::Queryable,
                },
                Addition::Index {
                    record_type: "Team".into(),
                    field: "___createTime".into(),
                    index: Index::Sortable,
                },
            ],
        });
        assert_eq!(read_text(&to_text(&fine)).unwrap().plan, fine);
    }

    #[test]
    fn issue_20_the_team_is_recorded_and_checked_and_older_plans_read_without_it() {
        let part = |team: Option<&str>| PlanSchema {
            digest: format!("blake3:{}", "0".repeat(64)),
            team: team.map(str::to_owned),
            additions: vec![],
        };
        let mut with = plan();
        with.schema = Some(part(Some("ABCDE12345")));
        let text = to_text(&with);
        assert!(text.contains("\"team_id\": \"ABCDE12345\""), "{text}");
        assert_eq!(read_text(&text).unwrap().plan, with);
        // A plan written before the team was recorded reads as one without it.
        let mut older = plan();
        older.schema = Some(part(None));
        let text = to_text(&older);
        assert!(!text.contains("team_id"), "{text}");
        assert_eq!(read_text(&text).unwrap().plan, older);
        // A team that is not one would go into the schema API's path.
        let mut tampered = plan();
        tampered.schema = Some(part(Some("ABC/../../x")));
        let error = read_text(&to_text(&tampered)).unwrap_err();
        assert!(
            matches!(&error, PlanFileError::Structure { path, .. } if path == "schema.team_id"),
            "{error}"
        );
    }
}
