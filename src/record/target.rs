//! Where records live: container, environment, database and zone. Plans record it, apply
//! checks it, the client builds URLs from it (`cloudkit::client::subpath`). The serde names
//! are CloudKit's own (`development`, `public`, ...), used by `ckplan.yaml` and receipts;
//! the plan file has its own representation (`plan::file`).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Database {
    Public,
    Private,
    Shared,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
        }
    }
}

impl Database {
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Public => "public",
            Database::Private => "private",
            Database::Shared => "shared",
        }
    }
}

/// A container, environment, database and zone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Target {
    pub container: String,
    pub environment: Environment,
    pub database: Database,
    pub zone: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.container,
            self.environment.as_str(),
            self.database.as_str(),
            self.zone
        )
    }
}
