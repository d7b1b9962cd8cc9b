//! `ckplan doctor`: a read-only preflight of the configured target before the first plan
//! against real CloudKit. Runs `sync::doctor`'s checks, renders them with
//! [`render::doctor`]; exit 0 when none failed.

use super::{workspace, CommandResult, ExitStatus, Globals};
use crate::cloudkit::{ClientOptions, RetryPolicy};
use crate::config::Endpoint;
use crate::render;
use crate::sync::doctor;
use crate::sync::ConnectError;
use anyhow::Context;
use std::time::Duration;

/// Check the key, the clock, each record type, the indexes, the environment and the local
/// data, without writing anything.
#[derive(Debug, clap::Args)]
#[command(after_help = "Checks, each with a fix for a problem:\n  \
    key          the key file reads and the key authenticates (users/caller)\n  \
    endpoint     fails instead of key when CloudKit cannot be reached or stays busy\n  \
    clock        this machine's clock is within CloudKit's tolerance (the reply's Date header)\n  \
    type T       each configured record type exists and can be queried without a filter\n               \
    (a 404 means the schema is not deployed; \"not marked queryable\" means recordName lacks a QUERYABLE index)\n  \
    environment  production warns: users' apps read it\n  \
    database     server-to-server keys reach the public database only\n  \
    local data   the data files validate\n  \
    schema       with a management token: the schema has every type, field, index and grant\n\n\
    Exit status: 0 when no check failed (warnings allowed), 1 otherwise. Never writes.")]
pub struct Args {
    /// Print the checks as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Requests to CloudKit in flight at once
    #[arg(long, default_value_t = crate::cloudkit::client::DEFAULT_PARALLELISM, value_parser = super::connect::parse_parallelism)]
    pub parallelism: usize,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    // A preflight answers quickly: two attempts, short waits.
    let options = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
            max_total: Duration::from_secs(10),
        },
        request_timeout: Duration::from_secs(20),
        seed: globals.context.seed,
        parallelism: args.parallelism,
        ..ClientOptions::default()
    };
    let token = super::schema_steps::token(&config)?;
    let report = match crate::sync::connect_with_token(&config, options, token.clone()).await {
        Ok(connection) => {
            let mut report = doctor::run(&config, &connection.client).await;
            // With a management token: whether the schema has what the config needs.
            if let Some(check) = super::schema_steps::doctor(&config, &connection, token).await {
                report.checks.push(check);
            }
            connection.close().await;
            report
        }
        Err(
            error @ (ConnectError::Key(_)
            | ConnectError::NoKeyId { .. }
            | ConnectError::NoKeyFile { .. }),
        ) => {
            let endpoint = match &config.endpoint {
                Endpoint::Url(url) => url.clone(),
                Endpoint::Embedded { .. } => "embedded".to_owned(),
            };
            let problem = format!("{:#}", anyhow::Error::from(error));
            // The key's own error says what the file is; this says where a key goes.
            let fix = "point `auth.private_key_file` in ckplan.yaml (or CKPLAN_PRIVATE_KEY_FILE, or put the PEM text in CKPLAN_PRIVATE_KEY) at the P-256 private key whose public half is registered in CloudKit Console, and set `auth.key_id`; `ckplan keygen` makes a new pair".to_owned();
            doctor::without_client(&config, endpoint, problem, fix)
        }
        Err(source) => {
            let target = config.target();
            let error = crate::ops::ConnectFailed { target, source };
            return Err(anyhow::Error::new(error).into());
        }
    };
    let format = render::Format::json_if(args.json);
    let colour = globals.printer.colour_stdout();
    let output =
        render::doctor::view(&report, format, colour).context("cannot encode the report")?;
    globals.printer.show(&output)?;
    Ok(if report.passed() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}
