//! Connecting a command to CloudKit: the shared `--parallelism` argument and the client
//! options every command that talks to CloudKit connects with.

use super::Globals;
use crate::cloudkit::ClientOptions;
use crate::config::Config;
use crate::sync::Connection;

/// `--parallelism N`: requests to CloudKit in flight at once, from 1 to 64.
pub fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a number from 1 to 64")),
    }
}

/// Connects with the run's seed (`CKPLAN_RANDOMNESS_SEED`) for retry jitter and the
/// embedded emulator; `parallelism` bounds requests in flight and chains per type read.
pub async fn connect(
    config: &Config,
    globals: &Globals,
    parallelism: usize,
) -> anyhow::Result<Connection> {
    crate::ops::connect(config, client_options(globals, parallelism))
        .await
        .map_err(anyhow::Error::new)
}

/// As [`connect`]; an embedded emulator also serves the schema API to `management_token`.
pub async fn connect_with_token(
    config: &Config,
    globals: &Globals,
    parallelism: usize,
    management_token: Option<crate::cloudkit::token::ManagementToken>,
) -> anyhow::Result<Connection> {
    let options = client_options(globals, parallelism);
    crate::ops::connect_with_token(config, options, management_token)
        .await
        .map_err(anyhow::Error::new)
}

/// The client options of every command: the run's seed, `parallelism` requests in flight
/// and chains per type read.
pub fn client_options(globals: &Globals, parallelism: usize) -> ClientOptions {
    ClientOptions {
        seed: globals.context.seed,
        parallelism,
        partitions: parallelism,
        ..ClientOptions::default()
    }
}
