//! `ckplan schema show|diff|apply`: the CloudKit schema the config needs, its difference
//! from an environment's schema (read with a management token through the Database API
//! v1), and, in development, adding what is missing. Production is only ever read: its
//! difference is the list of CloudKit Console steps.

use super::workspace::load_config;
use super::{CommandError, CommandResult, ExitStatus, Globals};
use crate::cloudkit::management::SchemaApi;
use crate::cloudkit::token::ManagementToken;
use crate::config::{Config, Endpoint};
use crate::emulator::{self, EmulatorConfig, RunningEmulator};
use crate::ops::schema as ops;
use crate::record::Environment;
use crate::render::{escape, escape_lines};
use crate::schema::{self, SchemaDiff};

/// The CloudKit schema the config needs, and its difference from an environment's
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ckplan schema show > schema.ckdb\n  \
    CKPLAN_MANAGEMENT_TOKEN=… ckplan schema diff --environment production --detailed-exitcode\n  \
    CKPLAN_MANAGEMENT_TOKEN=… ckplan schema apply\n\n\
    The management token comes from CKPLAN_MANAGEMENT_TOKEN or `auth: management_token_file:`;\n\
    the team from `team_id:` or CKPLAN_TEAM_ID.")]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print the schema the config needs, in CloudKit's schema language (no network)
    Show,
    /// List what the environment's schema lacks (types, fields, indexes, grants); the
    /// environment is the config's, or the global `--environment`
    Diff {
        /// Exit 0 when nothing is missing, 2 when something is
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Add what the development schema lacks (merged into its export, validated,
    /// imported, confirmed by a fresh export)
    Apply,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = load_config(globals)?;
    let needed = ops::needed(&config);
    match args.action {
        Action::Show => {
            globals
                .printer
                .data(&escape_lines(&schema::print(&needed)))?;
            Ok(ExitStatus::Success)
        }
        Action::Diff { detailed_exitcode } => {
            // `--environment` (global) is applied by `load_config`.
            let environment = config.environment;
            let (api, emulator) = connect(&config, environment).await?;
            let diff = ops::compare(&api, &needed).await;
            shutdown(emulator).await;
            let diff =
                diff.map_err(|e| CommandError::user(e).context("cannot compare the schema"))?;
            report(globals, &config.container, environment, &diff)?;
            Ok(
                match (diff.conflicts.is_empty(), diff.additions.is_empty()) {
                    (false, _) => ExitStatus::Error,
                    (true, false) if detailed_exitcode => ExitStatus::ChangesPresent,
                    _ => ExitStatus::Success,
                },
            )
        }
        Action::Apply => {
            if config.environment == Environment::Production {
                return Err(CommandError::user(
                    "the production schema cannot be written through the API",
                )
                .with_hint(
                    "apply to development, then deploy from CloudKit Console (`ckplan schema \
                     diff --environment production` lists the steps)",
                ));
            }
            let (api, emulator) = connect(&config, config.environment).await?;
            let outcome = ops::apply(&api, &needed).await;
            shutdown(emulator).await;
            let added = outcome.map_err(|e| {
                CommandError::user(e)
                    .context("cannot apply the schema")
                    .with_hint(RETYPE_WAY_OUT)
            })?;
            for addition in &added.additions {
                globals
                    .printer
                    .data(&format!("+ {}\n", escape(&addition.to_string())))?;
            }
            globals.printer.status(format_args!(
                "schema: {} addition(s) imported into development and confirmed",
                added.additions.len()
            ));
            Ok(ExitStatus::Success)
        }
    }
}

pub(super) const RETYPE_WAY_OUT: &str =
    "a field's type can never change in CloudKit: give the field a new \
    name in the config and the data, or (development only) delete the field in CloudKit Console \
    first";

fn report(
    globals: &Globals,
    container: &str,
    environment: Environment,
    diff: &SchemaDiff,
) -> Result<(), CommandError> {
    let printer = &globals.printer;
    let name = match environment {
        Environment::Development => "development",
        Environment::Production => "production",
    };
    for conflict in &diff.conflicts {
        printer.error(escape(&conflict.to_string()));
    }
    if !diff.conflicts.is_empty() {
        printer.hint(RETYPE_WAY_OUT);
    }
    if diff.additions.is_empty() {
        printer.status(format_args!(
            "schema: `{}` ({name}) has everything the config needs",
            escape(container)
        ));
        return Ok(());
    }
    let mut out = String::new();
    if environment == Environment::Production {
        out.push_str(
            "# production is changed only from CloudKit Console: add these in development \
             (`ckplan schema apply`), then Deploy Schema Changes\n",
        );
    }
    for addition in &diff.additions {
        out.push_str(&format!("+ {}\n", escape(&addition.to_string())));
    }
    printer.data(&out)?;
    printer.status(format_args!(
        "schema: `{}` ({name}) lacks {} item(s)",
        escape(container),
        diff.additions.len()
    ));
    Ok(())
}

/// The schema API of `environment`: the configured endpoint's server (the emulator
/// serves it beside the records API; CloudKit itself at `api.icloud.apple.com`), or an
/// embedded emulator started for the purpose.
async fn connect(
    config: &Config,
    environment: Environment,
) -> Result<(SchemaApi, Option<RunningEmulator>), CommandError> {
    let token = management_token(config)?;
    let running = match &config.endpoint {
        Endpoint::Url(_) => None,
        Endpoint::Embedded { dir } => Some(
            emulator::start(EmulatorConfig {
                data_dir: Some(dir.clone()),
                management_token: Some(token.clone()),
                ..EmulatorConfig::default()
            })
            .await
            .map_err(|e| {
                CommandError::user(format!("{e:#}"))
                    .context("failed to start the embedded emulator")
            })?,
        ),
    };
    let url = running.as_ref().map(RunningEmulator::url);
    let api = ops::api(config, environment, url.as_deref(), token).map_err(api_error)?;
    Ok((api, running))
}

/// A schema API that cannot be reached, with the way to name the team.
pub(super) fn api_error(error: ops::SchemaOpError) -> CommandError {
    let team = matches!(error, ops::SchemaOpError::NoTeam { .. });
    let error = CommandError::user(error);
    match team {
        true => error.with_hint(TEAM_HINT),
        false => error,
    }
}

async fn shutdown(emulator: Option<RunningEmulator>) {
    if let Some(running) = emulator {
        running.shutdown().await;
    }
}

/// How to name the team that owns the container.
pub(super) const TEAM_HINT: &str = "add `team_id: YOURTEAMID` to ckplan.yaml or set CKPLAN_TEAM_ID";

/// How to give ckplan a management token.
pub(super) const TOKEN_HINT: &str = "create one in CloudKit Console (Settings > Tokens & Keys) \
    and set CKPLAN_MANAGEMENT_TOKEN or `auth: management_token_file:`";

/// `CKPLAN_MANAGEMENT_TOKEN`, else the file `auth: management_token_file:` names.
fn management_token(config: &Config) -> Result<ManagementToken, CommandError> {
    configured_token(config)?.ok_or_else(|| {
        CommandError::user("no management token: the schema API needs one").with_hint(TOKEN_HINT)
    })
}

/// The management token configured, if any (`CKPLAN_MANAGEMENT_TOKEN`, else the file
/// `auth: management_token_file:` names); an unreadable or malformed one is an error.
pub(super) fn configured_token(config: &Config) -> Result<Option<ManagementToken>, CommandError> {
    if let Some(text) = std::env::var("CKPLAN_MANAGEMENT_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        return ManagementToken::new(&text)
            .map(Some)
            .map_err(|e| CommandError::user(e).context("CKPLAN_MANAGEMENT_TOKEN"));
    }
    let Some(path) = config.auth.management_token_file.as_ref() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|error| {
        CommandError::user(error).context(format!(
            "failed to read the management token file `{}`",
            path.display()
        ))
    })?;
    ManagementToken::new(&text).map(Some).map_err(|e| {
        CommandError::user(e).context(format!("management token file `{}`", path.display()))
    })
}
