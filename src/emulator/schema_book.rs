//! The schema of each container and environment, as the Database API v1 serves it
//! (`schema_api`): what was imported (or deployed to production), plus, in development,
//! what record writes taught the store (CloudKit's just-in-time schema: a type written
//! once exists with its fields, CloudKit's default grants and no indexes). Pure rules:
//! import refused in production, and refused when it would drop a field or type deployed
//! to production or change an existing field's type; in production, where CloudKit has no
//! just-in-time schema, a record write of a type or field never deployed is refused
//! ([`production_refusal`]).

use super::domain::{RecordFailure, Write, WriteBatch, WriteOutcome};
use super::faults::Hook;
use super::store::{RequestError, Scope, Store};
use crate::cloudkit::wire::ServerErrorCode;
use crate::record::Environment;
use crate::schema::{self, DataType, FieldDef, RecordTypeDef, Schema, SYSTEM_FIELDS};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
        let incoming =
            schema::parse_strict(text).map_err(|error| format!("schema error at {error}"))?;
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
            .filter_map(|((container, environment), schema)| {
                // Held schemas were parsed from imports, whose names always print.
                let text = schema::print(schema)
                    .map_err(|error| tracing::warn!("emulator: not saving a schema: {error}"))
                    .ok()?;
                Some(serde_json::json!({
                    "container": container,
                    "environment": environment,
                    "schema": text,
                }))
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

    /// Whether development of `container` has a schema of its own: one imported, or a
    /// type a record write taught (the managed `Users` type alone does not count).
    pub fn has_development(&self, store: &Store, container: &str) -> bool {
        let key = (container.to_owned(), Environment::Development);
        self.held.contains_key(&key)
            || store.scopes.iter().any(|(scope, data)| {
                scope.container == container
                    && scope.environment == Environment::Development
                    && !data.schema.is_empty()
            })
    }

    /// "Deploy Schema Changes": production gains everything development has (additively).
    pub fn deploy(&mut self, store: &Store, container: &str) {
        let development = self.export(store, container, Environment::Development);
        let key = (container.to_owned(), Environment::Production);
        let production = self.held.get(&key).cloned().unwrap_or_default();
        self.held
            .insert(key, schema::merged(&production, &development));
    }

    /// records/modify in production: the writes [`production_refusal`] refuses fail, per
    /// record, with its reason (BAD_REQUEST); the others go to the store. Outcomes in the
    /// batch's order.
    pub fn modify_production(
        &self,
        store: &mut Store,
        scope: &Scope,
        batch: &WriteBatch,
        now: i64,
        hook: &mut dyn Hook,
    ) -> Result<Vec<WriteOutcome>, RequestError> {
        let deployed = self.export(store, &scope.container, Environment::Production);
        let refusals: Vec<Option<String>> = batch
            .writes
            .iter()
            .map(|write| production_refusal(&deployed, &store.deployed_types, write))
            .collect();
        if refusals.iter().all(Option::is_none) {
            return store.modify(scope, batch, now, hook);
        }
        let allowed = WriteBatch {
            writes: batch
                .writes
                .iter()
                .zip(&refusals)
                .filter(|(_, refusal)| refusal.is_none())
                .map(|(write, _)| write.clone())
                .collect(),
            atomic: batch.atomic,
        };
        let mut applied = store.modify(scope, &allowed, now, hook)?.into_iter();
        let mut outcomes = Vec::with_capacity(batch.writes.len());
        for (write, refusal) in batch.writes.iter().zip(refusals) {
            let outcome = match refusal {
                Some(reason) => WriteOutcome::Failed(RecordFailure::new(
                    write.record_name.as_deref().unwrap_or_default(),
                    ServerErrorCode::BadRequest,
                    &reason,
                )),
                None => applied.next().ok_or_else(|| {
                    RequestError::new(ServerErrorCode::InternalError, "a write without an outcome")
                })?,
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// Why production refuses `write` (`None`: it may be written), given production's schema
/// `deployed` and the types deployed with any field (`--record-type`). CloudKit creates
/// types and fields on first write only in development; production refuses the record with
/// "Cannot create new type T in production schema" or "Cannot create or modify field 'f'
/// in record 'T' in production schema" (CKError "Invalid Arguments", BAD_REQUEST on the
/// web; quoted in caiyue1993/IceCream#164 and TableProApp/TablePro#2226).
pub fn production_refusal(
    deployed: &Schema,
    any_field: &BTreeSet<String>,
    write: &Write,
) -> Option<String> {
    let record_type = write.record_type.as_deref()?;
    if write.kind.deletes() || any_field.contains(record_type) {
        return None;
    }
    let Some(definition) = deployed.types.get(record_type) else {
        return Some(format!(
            "Cannot create new type {record_type} in production schema"
        ));
    };
    let field = write
        .fields
        .iter()
        .map(|(name, _)| name)
        .find(|name| !definition.fields.contains_key(*name) && !is_system(name))?;
    Some(format!(
        "Cannot create or modify field '{field}' in record '{record_type}' in production schema"
    ))
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
    for (role, permission) in schema::DEFAULT_GRANTS {
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

    #[test]
    fn issue_20_production_refuses_undeployed_types_and_fields() {
        let deployed = schema::parse(TEXT).unwrap();
        let write = |record_type: &str, field: &str| Write {
            kind: super::super::domain::WriteKind::Create,
            record_name: Some("r".into()),
            record_type: Some(record_type.into()),
            change_tag: None,
            fields: vec![(field.into(), super::super::domain::FieldInput::Remove)],
        };
        let none = BTreeSet::new();
        assert_eq!(
            production_refusal(&deployed, &none, &write("Team", "name")),
            None
        );
        assert_eq!(
            production_refusal(&deployed, &none, &write("Game", "at")).as_deref(),
            Some("Cannot create new type Game in production schema")
        );
        assert_eq!(
            production_refusal(&deployed, &none, &write("Team", "city")).as_deref(),
            Some("Cannot create or modify field 'city' in record 'Team' in production schema")
        );
        let any: BTreeSet<String> = ["Game".to_owned()].into();
        assert_eq!(
            production_refusal(&deployed, &any, &write("Game", "at")),
            None
        );
    }
}
