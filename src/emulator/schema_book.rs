//! The schema of each container and environment, as the Database API v1 serves it
//! (`schema_api`): what was imported (or deployed to production), plus, in development,
//! what record writes taught the store (CloudKit's just-in-time schema: a type written
//! once exists with its fields, CloudKit's default grants and no indexes). Pure rules:
//! import refused in production, and refused when it would drop a field or type deployed
//! to production or change an existing field's type.

use super::store::Store;
use crate::record::Environment;
use crate::schema::{self, DataType, FieldDef, Permission, RecordTypeDef, Schema, SYSTEM_FIELDS};
use std::collections::{BTreeMap, HashMap};

/// CloudKit's refusal of import and validate outside development.
pub const NOT_APPLICABLE_IN_PRODUCTION: &str =
    "endpoint not applicable in the environment 'production'";

/// Imported (or deployed) schemas by container and environment.
#[derive(Clone, Debug, Default)]
pub struct SchemaBook {
    held: HashMap<(String, Environment), Schema>,
}

impl SchemaBook {
    /// The schema `…/schema/export` answers: the held one, in development extended by
    /// every type and field the records of that container hold; always with the managed
    /// `Users` type.
    pub fn export(&self, store: &Store, container: &str, environment: Environment) -> Schema {
        let mut out = self
            .held
            .get(&(container.to_owned(), environment))
            .cloned()
            .unwrap_or_default();
        if environment == Environment::Development {
            learn_from_records(&mut out, store, container, environment);
        }
        out.types
            .entry("Users".to_owned())
            .or_insert_with(|| just_in_time_type(Default::default()));
        out
    }

    /// Whether `text` could be imported: the parsed schema, or CloudKit-style reason.
    pub fn check(
        &self,
        store: &Store,
        container: &str,
        environment: Environment,
        text: &str,
    ) -> Result<Schema, String> {
        if environment == Environment::Production {
            return Err(NOT_APPLICABLE_IN_PRODUCTION.to_owned());
        }
        let incoming = schema::parse(text).map_err(|error| format!("schema error at {error}"))?;
        let current = self.export(store, container, environment);
        for (record_type, definition) in &incoming.types {
            let Some(existing) = current.types.get(record_type) else {
                continue;
            };
            for (field, new) in &definition.fields {
                if let Some(old) = existing.fields.get(field) {
                    if old.data_type != new.data_type {
                        return Err(format!(
                            "cannot change type of field '{field}' in record type \
                             '{record_type}' from {} to {}",
                            old.data_type, new.data_type
                        ));
                    }
                }
            }
        }
        let deployed = self.export(store, container, Environment::Production);
        for (record_type, definition) in &deployed.types {
            let Some(new) = incoming.types.get(record_type) else {
                if record_type == "Users" {
                    continue;
                }
                return Err(format!(
                    "cannot delete record type '{record_type}': it is deployed to production"
                ));
            };
            for field in definition.fields.keys() {
                if !new.fields.contains_key(field) && !is_system(field) {
                    return Err(format!(
                        "cannot delete field '{field}' in record type '{record_type}': it is \
                         deployed to production"
                    ));
                }
            }
        }
        Ok(incoming)
    }

    /// The schemas imported (development) or deployed (production), without what record
    /// writes taught.
    pub fn held(&self) -> &HashMap<(String, Environment), Schema> {
        &self.held
    }

    /// Replaces the held development schema by `schema` (checked by [`Self::check`]).
    pub fn import(&mut self, container: &str, environment: Environment, schema: Schema) {
        self.held
            .insert((container.to_owned(), environment), schema);
    }

    /// The held schemas as JSON (`[{container, environment, schema}]`, schema as text), for
    /// `--data DIR`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut held: Vec<_> = self.held.iter().collect();
        held.sort_by_key(|((container, environment), _)| {
            (container.clone(), *environment == Environment::Production)
        });
        let entries: Vec<_> = held
            .into_iter()
            .map(|((container, environment), schema)| {
                serde_json::json!({
                    "container": container,
                    "environment": environment,
                    "schema": schema::print(schema),
                })
            })
            .collect();
        serde_json::Value::Array(entries)
    }

    /// Reads what [`Self::to_json`] wrote.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Entry {
            container: String,
            environment: Environment,
            schema: String,
        }
        let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut book = Self::default();
        for entry in entries {
            let schema = schema::parse(&entry.schema).map_err(|e| e.to_string())?;
            book.held
                .insert((entry.container, entry.environment), schema);
        }
        Ok(book)
    }

    /// "Deploy Schema Changes": production gains everything development has (additively).
    pub fn deploy(&mut self, store: &Store, container: &str) {
        let development = self.export(store, container, Environment::Development);
        let key = (container.to_owned(), Environment::Production);
        let production = self.held.get(&key).cloned().unwrap_or_default();
        self.held
            .insert(key, schema::merged(&production, &development));
    }
}

fn is_system(field: &str) -> bool {
    SYSTEM_FIELDS.iter().any(|(name, _)| *name == field)
}

/// The types and fields written in any database of `container` and `environment`.
fn learn_from_records(out: &mut Schema, store: &Store, container: &str, environment: Environment) {
    for (scope, data) in &store.scopes {
        if scope.container != container || scope.environment != environment {
            continue;
        }
        for (record_type, fields) in &data.schema {
            let definition = out
                .types
                .entry(record_type.clone())
                .or_insert_with(|| just_in_time_type(BTreeMap::new()));
            for (field, field_type) in fields {
                let Some(data_type) = DataType::of_field_type(field_type) else {
                    continue;
                };
                definition
                    .fields
                    .entry(field.clone())
                    .or_insert_with(|| FieldDef {
                        data_type,
                        indexes: Default::default(),
                    });
            }
        }
    }
}

/// A type as CloudKit creates it on first write: the system fields without indexes and
/// the default grants (`_creator` WRITE, `_icloud` CREATE, `_world` READ).
fn just_in_time_type(fields: BTreeMap<String, FieldDef>) -> RecordTypeDef {
    let mut definition = RecordTypeDef {
        fields,
        grants: BTreeMap::new(),
    };
    for (name, primitive) in SYSTEM_FIELDS {
        definition.fields.insert(
            name.to_owned(),
            FieldDef {
                data_type: DataType::scalar(primitive),
                indexes: Default::default(),
            },
        );
    }
    for (role, permission) in [
        ("_creator", Permission::Write),
        ("_icloud", Permission::Create),
        ("_world", Permission::Read),
    ] {
        definition
            .grants
            .entry(role.to_owned())
            .or_default()
            .insert(permission);
    }
    definition
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::store::{Indexes, Store};

    const TEXT: &str = "DEFINE SCHEMA RECORD TYPE Team (name STRING, founded INT64);";

    #[test]
    fn issue_20_import_rules() {
        let store = Store::new(Indexes::default());
        let mut book = SchemaBook::default();
        let development = Environment::Development;
        let error = book
            .check(&store, "c", Environment::Production, TEXT)
            .unwrap_err();
        assert_eq!(error, NOT_APPLICABLE_IN_PRODUCTION);
        let error = book
            .check(&store, "c", development, "DEFINE SCHEMA RECORD TYPE (")
            .unwrap_err();
        assert_eq!(
            error,
            "schema error at line 1, column 27: expected a record type name, found `(`"
        );
        let schema = book.check(&store, "c", development, TEXT).unwrap();
        book.import("c", development, schema);
        // A retype is refused; a dropped field is fine until it is deployed.
        let retyped = "DEFINE SCHEMA RECORD TYPE Team (name STRING, founded STRING);";
        let error = book.check(&store, "c", development, retyped).unwrap_err();
        assert!(
            error.starts_with("cannot change type of field 'founded'"),
            "{error}"
        );
        let dropped = "DEFINE SCHEMA RECORD TYPE Team (name STRING);";
        assert!(book.check(&store, "c", development, dropped).is_ok());
        book.deploy(&store, "c");
        let error = book.check(&store, "c", development, dropped).unwrap_err();
        assert!(
            error.contains("'founded'") && error.contains("deployed to production"),
            "{error}"
        );
        let error = book
            .check(&store, "c", development, "DEFINE SCHEMA")
            .unwrap_err();
        assert!(
            error.starts_with("cannot delete record type 'Team'"),
            "{error}"
        );
        // Other containers are untouched; the managed Users type is always exported.
        let other = book.export(&store, "other", Environment::Production);
        assert_eq!(other.types.keys().collect::<Vec<_>>(), ["Users"]);
        let round = SchemaBook::from_json(book.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(
            round.export(&store, "c", Environment::Production),
            book.export(&store, "c", Environment::Production)
        );
    }
}
