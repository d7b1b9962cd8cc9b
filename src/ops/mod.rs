//! Operations between the commands and the cores: each does one job of a command (making a
//! plan, checking a saved one, force-replacing records, emptying a type) and returns what
//! happened as data, or a typed error, for the command to render. What a person must see
//! while one runs goes to an observer the command passes in. Commands never build wire
//! operations and never orchestrate the layers themselves.

pub mod apply;
pub mod delete_all;
pub mod export;
pub mod export_assets;
pub mod export_yaml;
pub mod guard;
pub mod import;
pub mod make_plan;
pub mod plan;
pub mod plan_check;
pub mod schema;

use crate::cloudkit::ClientOptions;
use crate::config::Config;
use crate::record::Target;
use crate::sync::{ConnectError, Connection};

/// Connecting to the configured target failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to connect to CloudKit for `{target}`")]
pub struct ConnectFailed {
    pub target: Target,
    #[source]
    pub source: ConnectError,
}

/// Connects to `config`'s target (the embedded emulator started when it is the endpoint).
pub async fn connect(config: &Config, options: ClientOptions) -> Result<Connection, ConnectFailed> {
    connect_with_token(config, options, None).await
}

/// As [`connect`]; an embedded emulator also serves the schema API to `management_token`.
pub async fn connect_with_token(
    config: &Config,
    options: ClientOptions,
    management_token: Option<crate::cloudkit::token::ManagementToken>,
) -> Result<Connection, ConnectFailed> {
    crate::sync::connect_with_token(config, options, management_token)
        .await
        .map_err(|source| ConnectFailed {
            target: config.target(),
            source,
        })
}
