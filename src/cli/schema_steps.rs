//! The schema steps of `plan` and `apply` (issue 20): with a management token, a plan
//! reads the target environment's schema and carries what it lacks; apply adds that first
//! (development) or refuses while it is missing (production). The work is in
//! `ops::schema` and `apply::schema`; this file connects it to a command's connection and
//! printer.

use super::schema::{api_error, configured_token, TOKEN_HINT};
use super::ErrorKind;
use super::{CommandError, Globals, Printer};
use crate::apply::receipt::SchemaStep;
use crate::apply::schema::{self as apply_schema, SchemaApplied, SchemaApplyError};
use crate::apply::StopFlag;
use crate::cloudkit::management::ManagementError;
use crate::cloudkit::token::ManagementToken;
use crate::cloudkit::CloudKitError;
use crate::config::Config;
use crate::context::Clock;
use crate::ops::make_plan::PlanError;
use crate::ops::schema as ops;
use crate::plan::{Plan, PlanSchema};
use crate::record::Environment;
use crate::render::schema_part;
use crate::sync::Connection;

/// The management token configured, if any.
pub fn token(config: &Config) -> Result<Option<ManagementToken>, CommandError> {
    configured_token(config)
}

/// The schema API for `part`: the team the plan read, unless the configuration names
/// another (refused), else the configuration's.
fn api(
    config: &Config,
    part: &PlanSchema,
    connection: &Connection,
    token: ManagementToken,
) -> Result<crate::cloudkit::management::SchemaApi, CommandError> {
    let url = connection.emulator.as_ref().map(|e| e.url());
    let team = ops::plan_team(config, part).map_err(api_error)?;
    ops::api_for_team(config, team, config.environment, url.as_deref(), token).map_err(api_error)
}

/// The command error of a plan whose schema part could not be read, with the way out.
pub fn plan_error(error: ops::SchemaOpError) -> CommandError {
    op_error(error, "cannot plan the schema; nothing was planned")
}

/// A schema operation's failure (`plan`, `schema diff`, `schema apply`) under `context`,
/// with the way out its cause has: the same hint for a refused token everywhere.
pub fn op_error(error: ops::SchemaOpError, context: &'static str) -> CommandError {
    let hint = match &error {
        ops::SchemaOpError::Conflicts { .. } => Some(super::schema::RETYPE_WAY_OUT),
        ops::SchemaOpError::Api(ManagementError::Unauthorized { .. }) => Some(TOKEN_HINT),
        ops::SchemaOpError::NoTeam { .. } => Some(super::schema::TEAM_HINT),
        ops::SchemaOpError::Import(SchemaApplyError::Moved { .. }) => {
            Some("another writer changed the schema meanwhile: run `ckplan schema apply` again")
        }
        _ => None,
    };
    hinted(CommandError::user(error).context(context), hint)
}

/// The command lines schema hints suggest, with this run's `--config` and `--environment`.
pub fn fix_commands(globals: &Globals) -> ops::FixCommands {
    ops::FixCommands {
        schema_apply: globals.command_line(&["schema", "apply"]),
        schema_apply_in_development: globals
            .command_line_in(Environment::Development, &["schema", "apply"]),
        plan: globals.command_line(&["plan"]),
    }
}

/// The advice for a read CloudKit refused for want of an index: what `plan`, `diff` and
/// `doctor` say instead of the error's own hint (`ops::schema::unqueryable_fix`).
pub fn read_advice<'a>(
    config: &'a Config,
    management_token: bool,
    globals: &Globals,
) -> impl Fn(&CloudKitError) -> Option<String> + Sync + 'a {
    let commands = fix_commands(globals);
    move |error| match error {
        CloudKitError::NotQueryable { record_type, field } => Some(ops::unqueryable_fix(
            record_type,
            field,
            config.environment,
            management_token,
            &commands,
        )),
        _ => None,
    }
}

/// A failed plan or diff, with [`read_advice`] for a read refused for want of an index.
pub fn read_error(
    error: PlanError,
    config: &Config,
    management_token: bool,
    globals: &Globals,
) -> CommandError {
    match error {
        PlanError::Read(error) => match read_advice(config, management_token, globals)(&error) {
            Some(fix) => CommandError::new(ErrorKind::Service, error).with_hint(fix),
            None => PlanError::Read(error).into(),
        },
        other => other.into(),
    }
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

/// A schema step that failed: the error, and, when an import was sent before it failed
/// (its confirmation did), the step to record in the journal and the receipt.
pub struct SchemaFailure {
    pub error: CommandError,
    pub sent: Option<SchemaStep>,
}

impl From<CommandError> for SchemaFailure {
    fn from(error: CommandError) -> Self {
        SchemaFailure { error, sent: None }
    }
}

/// Before any record is written: the plan's schema additions imported (development) or
/// found deployed (production); once `stop` is raised (Ctrl-C) no new schema request
/// starts. Returns the step's record for the journal and the receipt; nothing for a plan
/// without additions.
pub async fn apply_first(
    config: &Config,
    plan: &Plan,
    connection: &Connection,
    globals: &Globals,
    stop: &StopFlag,
    clock: Clock,
) -> Result<Option<SchemaStep>, SchemaFailure> {
    let printer = &globals.printer;
    let environment = plan.target.environment;
    let production = environment == Environment::Production;
    // Production is checked fresh at apply time whatever the plan lists: what its record
    // changes write must be deployed there.
    let unlisted = PlanSchema::default();
    let part = match plan.schema.as_ref() {
        Some(part) if production || !part.additions.is_empty() => part,
        None if production => &unlisted,
        _ => return Ok(None),
    };
    let Some(token) = configured_token(config)? else {
        if part.additions.is_empty() {
            if plan.changes.iter().any(|c| c.after.is_some()) {
                printer.status(
                    "Schema: production's schema not checked for the records' types and fields \
                     (no management token); set CKPLAN_MANAGEMENT_TOKEN or `auth: \
                     management_token_file:` to check it before any record is written.",
                );
            }
            return Ok(None);
        }
        return Err(CommandError::user(
            "this plan adds to the schema, which needs a management token; nothing was sent",
        )
        .with_hint(TOKEN_HINT)
        .into());
    };
    let api = api(config, part, connection, token)?;
    match apply_schema::apply(&api, part, &plan.changes, environment, stop).await {
        Ok(applied) => {
            match &applied {
                SchemaApplied::Imported { count, .. } => printer.status(format_args!(
                    "Schema: {count} addition(s) imported into development; an export after it holds \
                     them all and lost nothing ckplan had seen."
                )),
                SchemaApplied::Stopped { .. } => printer.status(
                    "Schema: interrupted before the import; neither the schema nor any record \
                     was written.",
                ),
                SchemaApplied::AlreadyThere { .. } => {}
            }
            Ok(Some(SchemaStep::of(&applied, part, clock.timestamp())))
        }
        Err(error) => {
            let hint = match &error {
                SchemaApplyError::Moved { .. } => Some(format!(
                    "another writer changed the schema since: make a new plan with `{}`",
                    globals.command_line(&["plan"])
                )),
                SchemaApplyError::Retyped { .. } => Some(super::schema::RETYPE_WAY_OUT.to_owned()),
                SchemaApplyError::NotDeployed { .. } => Some(format!(
                    "deploy these from CloudKit Console (Deploy Schema Changes), then apply \
                     this plan again; `{}` lists them all",
                    globals.command_line_in(environment, &["schema", "diff"])
                )),
                SchemaApplyError::Api(ManagementError::Unauthorized { .. }) => {
                    Some(TOKEN_HINT.to_owned())
                }
                _ => None,
            };
            let sent = match &error {
                SchemaApplyError::Unconfirmed { sent, .. } => {
                    Some(SchemaStep::unconfirmed(sent, part, clock.timestamp()))
                }
                _ => None,
            };
            let context = match sent {
                Some(_) => {
                    "the plan's schema was imported but not confirmed; no record was \
                            written (the journal and the receipt record the import)"
                }
                None => "cannot apply the plan's schema; no record was written",
            };
            let error = CommandError::user(error).context(context);
            Err(SchemaFailure {
                error: hinted(error, hint),
                sent,
            })
        }
    }
}

fn hinted(error: CommandError, hint: Option<impl std::fmt::Display>) -> CommandError {
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}
