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

/// Why `container` is not a CloudKit container identifier ckplan accepts (`iCloud.` and a
/// reverse-DNS name: ASCII letters, digits, `.`, `-` and `_`), `None` when it is. It goes
/// into every request's path (`/database/1/{container}/…`), so a `/`, `?` or `%` there
/// would send a request somewhere else than the target says — to production, say.
pub fn container_problem(container: &str) -> Option<String> {
    if container.trim().is_empty() {
        return Some("`container` is empty".to_owned());
    }
    let bad = container
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    bad.map(|c| {
        format!(
            "container `{}` holds `{}`; a CloudKit container identifier is letters, digits, `.`, `-` and `_` (such as `iCloud.com.example.App`)",
            container.escape_debug(),
            c.escape_debug()
        )
    })
}
