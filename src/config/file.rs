//! The serde shape of `ckplan.yaml`, exactly as written by users. Unknown keys are rejected
//! so that a typo fails loudly; `config::Config` is the resolved, checked form. The shape
//! can be written back ([`ConfigFile::to_yaml`]): what is written reads back equal.

use crate::record::{Database, Environment};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `ckplan.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// CloudKit container identifier, e.g. `iCloud.com.example.SportsTime`.
    pub container: String,
    /// Apple Developer team identifier (Membership page), which the schema API's paths
    /// name (`ckplan schema diff`). `CKPLAN_TEAM_ID` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    pub environment: Environment,
    /// Default `public` (server-to-server keys reach the public database only).
    #[serde(default = "default_database")]
    pub database: Database,
    /// Default `_defaultZone`.
    #[serde(default = "default_zone")]
    pub zone: String,
    /// `https://api.apple-cloudkit.com` (default), `http://127.0.0.1:PORT`, `embedded`
    /// (in-process emulator storing in `.ckplan/emulator`) or `embedded:DIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthFile>,
    /// Record types, applied in the dependency order computed from REFERENCE fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<String, TypeFile>,
}

/// Server-to-server key. `CKPLAN_KEY_ID` and `CKPLAN_PRIVATE_KEY_FILE` override these.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// PEM file, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// A file holding the CloudKit management token (CloudKit Console, "Tokens & Keys")
    /// for the schema API, relative to the config file. `CKPLAN_MANAGEMENT_TOKEN` (the
    /// token itself) wins over it. Never the token itself: the config is committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_token_file: Option<PathBuf>,
    /// The key for the development environment, when it differs (CloudKit keys are per
    /// environment): used when the environment in force is development.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub development: Option<EnvironmentKeyFile>,
    /// The key for the production environment (see `development`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<EnvironmentKeyFile>,
}

/// One environment's server-to-server key under `auth:`; a member it leaves out is taken
/// from `auth:` itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EnvironmentKeyFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// PEM file, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
}

/// One data file, or several whose records are merged (a recordName must be unique
/// across them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum FileList {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

/// One record type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TypeFile {
    /// `.json` (array), `.ndjson`/`.jsonl`, `.yaml`/`.yml`; relative to the config file.
    pub file: FileList,
    /// Plain records: a template over the record's own keys, e.g. `team-{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_name: Option<String>,
    /// CloudKit type of each field: `STRING`, `INT64`, `DOUBLE`, `TIMESTAMP`, `BYTES`,
    /// `LOCATION`, `ASSET` (a file, relative to the data file; `ASSETID` also), `REFERENCE`
    /// (optionally `REFERENCE(Type)`), or `<TYPE>_LIST`;
    /// or `{type: TYPE, indexes: [QUERYABLE, SORTABLE, SEARCHABLE]}` to declare the
    /// field's indexes in the schema (`ckplan schema show`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldEntry>,
    /// Fields the app writes itself: never compared, never sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_fields: Vec<String>,
    /// Latitude/longitude tolerance when comparing LOCATION values; default 0.0001.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_tolerance: Option<f64>,
}

/// One field of a type: its type name alone, or with the indexes it needs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum FieldEntry {
    Type(String),
    Detailed(FieldDetail),
}

// Read by hand rather than as an untagged enum, which would buffer the value and so lose
// the place and key path of a YAML error inside it.
impl<'de> Deserialize<'de> for FieldEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = FieldEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a type name or {type, indexes}")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<FieldEntry, E> {
                Ok(FieldEntry::Type(text.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<FieldEntry, A::Error> {
                let deserializer = serde::de::value::MapAccessDeserializer::new(map);
                FieldDetail::deserialize(deserializer).map(FieldEntry::Detailed)
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

impl FieldEntry {
    /// The type name as written.
    pub fn type_name(&self) -> &str {
        match self {
            FieldEntry::Type(name) => name,
            FieldEntry::Detailed(detail) => &detail.field_type,
        }
    }

    /// The index names as written (none for the short form).
    pub fn index_names(&self) -> &[String] {
        match self {
            FieldEntry::Type(_) => &[],
            FieldEntry::Detailed(detail) => &detail.indexes,
        }
    }
}

/// `{type: STRING, indexes: [QUERYABLE, SORTABLE]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldDetail {
    /// As in the short form: `STRING`, `INT64`, `REFERENCE(Type)`, `STRING_LIST`, ...
    #[serde(rename = "type")]
    pub field_type: String,
    /// Indexes of the field in the CloudKit schema: `QUERYABLE` (filters), `SORTABLE`
    /// (sorts), `SEARCHABLE` (full-text tokens, STRING only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<crate::schema::Index>"))]
    pub indexes: Vec<String>,
}

impl ConfigFile {
    /// Reads `ckplan.yaml` text into its shape, without resolving or checking it. A leading
    /// byte-order mark is skipped; a key repeated in any mapping is an error (into maps such
    /// as `fields:` serde_yaml lets the second silently replace the first, so the text is
    /// read again as a YAML value, which refuses it at its place).
    pub fn from_yaml(text: &str) -> Result<ConfigFile, serde_yaml::Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file = serde_yaml::from_str(text)?;
        serde_yaml::from_str::<serde_yaml::Value>(text)?;
        Ok(file)
    }

    /// `ckplan.yaml` text for this shape; [`ConfigFile::from_yaml`] reads it back equal.
    /// Fails only on a path that is not UTF-8.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }
}

fn default_database() -> Database {
    Database::Public
}

fn default_zone() -> String {
    crate::cloudkit::wire::DEFAULT_ZONE.to_owned()
}
