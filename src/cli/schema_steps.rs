//! The schema steps of `plan` and `apply` (issue 20): with a management token, a plan
//! reads the target environment's schema and carries what it lacks; apply adds that first
//! (development) or refuses while it is missing (production). The work is in
//! `ops::schema` and `apply::schema`; this file connects it to a command's connection and
//! printer.

use super::schema::{api_error, configured_token, TOKEN_HINT};
use super::{CommandError, Printer};
use crate::apply::schema::{self as apply_schema, SchemaApplied, SchemaApplyError};
use crate::cloudkit::management::ManagementError;
use crate::cloudkit::token::ManagementToken;
use crate::config::Config;
use crate::ops::schema as ops;
use crate::plan::Plan;
use crate::render::schema_part;
use crate::sync::Connection;

/// The management token configured, if any.
pub fn token(config: &Config) -> Result<Option<ManagementToken>, CommandError> {
    configured_token(config)
}

fn api(
    config: &Config,
    connection: &Connection,
    token: ManagementToken,
) -> Result<crate::cloudkit::management::SchemaApi, CommandError> {
    let url = connection.emulator.as_ref().map(|e| e.url());
    ops::api(config, config.environment, url.as_deref(), token).map_err(api_error)
}

/// The command error of a plan whose schema part could not be read, with the way out.
pub fn plan_error(error: ops::SchemaOpError) -> CommandError {
    let hint = match &error {
        ops::SchemaOpError::Conflicts { .. } => Some(super::schema::RETYPE_WAY_OUT),
        ops::SchemaOpError::Api(ManagementError::Unauthorized { .. }) => Some(TOKEN_HINT),
        ops::SchemaOpError::NoTeam { .. } => Some(super::schema::TEAM_HINT),
        _ => None,
    };
    hinted(
        CommandError::user(error).context("cannot plan the schema; nothing was planned"),
        hint,
    )
}

/// `ckplan doctor`'s schema check, when a management token is configured.
pub async fn doctor(
    config: &Config,
    connection: &Connection,
    token: Option<ManagementToken>,
) -> Option<crate::sync::doctor::Check> {
    let url = connection.emulator.as_ref().map(|e| e.url());
    let api = ops::api(config, config.environment, url.as_deref(), token?);
    let check = match api {
        Ok(api) => ops::doctor_check(&api, &ops::needed(config), config.environment).await,
        Err(error) => crate::sync::doctor::Check {
            name: "schema".to_owned(),
            status: crate::sync::doctor::Status::Fail,
            detail: error.to_string(),
            fix: Some(super::schema::TEAM_HINT.to_owned()),
        },
    };
    Some(check)
}

/// What the plan says of its schema part on stderr, once.
pub fn report(plan: &Plan, printer: &Printer) {
    for line in schema_part::plan_note(plan) {
        printer.status(line);
    }
}

/// Before any record is written: the plan's schema additions imported (development) or
/// found deployed (production). Nothing to do for a plan without them.
pub async fn apply_first(
    config: &Config,
    plan: &Plan,
    connection: &Connection,
    printer: &Printer,
    replan: &str,
) -> Result<(), CommandError> {
    let Some(part) = plan.schema.as_ref().filter(|p| !p.additions.is_empty()) else {
        return Ok(());
    };
    let token = configured_token(config)?.ok_or_else(|| {
        CommandError::user(
            "this plan adds to the schema, which needs a management token; nothing was sent",
        )
        .with_hint(TOKEN_HINT)
    })?;
    let api = api(config, connection, token)?;
    let environment = plan.target.environment;
    match apply_schema::apply(&api, part, environment).await {
        Ok(SchemaApplied::Imported(count)) => printer.status(format_args!(
            "Schema: {count} addition(s) imported into development and confirmed."
        )),
        Ok(SchemaApplied::AlreadyThere) => {}
        Err(error) => {
            let hint = match &error {
                SchemaApplyError::Moved { .. } => Some(format!(
                    "another writer changed the schema since: make a new plan with `{replan}`"
                )),
                SchemaApplyError::NotDeployed { .. } => Some(
                    "deploy these from CloudKit Console (Deploy Schema Changes), then apply \
                     this plan again"
                        .to_owned(),
                ),
                SchemaApplyError::Api(ManagementError::Unauthorized { .. }) => {
                    Some(TOKEN_HINT.to_owned())
                }
                _ => None,
            };
            let error = CommandError::user(error)
                .context("cannot apply the plan's schema; no record was written");
            return Err(hinted(error, hint));
        }
    }
    Ok(())
}

fn hinted(error: CommandError, hint: Option<impl std::fmt::Display>) -> CommandError {
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}
