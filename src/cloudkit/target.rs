//! Where records live: container, environment, database and zone. Plans record it, apply
//! checks it, the client builds URLs from it.

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

impl Target {
    /// `/database/1/{container}/{environment}/{database}/{operation}`: the signed subpath.
    pub fn subpath(&self, operation: &str) -> String {
        format!(
            "/database/1/{}/{}/{}/{}",
            self.container,
            self.environment.as_str(),
            self.database.as_str(),
            operation
        )
    }
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
