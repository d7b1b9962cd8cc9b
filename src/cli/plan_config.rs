//! The configuration `apply PLAN` runs with: the config file in force, or, where there is
//! none, the plan's own target and endpoint with the credentials from the environment; and
//! the advice for a plan whose target is not the configuration's.

use super::Globals;
use crate::config::{Config, Endpoint};
use crate::ops::plan_check::PlanMismatch;
use crate::plan::Plan;
use crate::record::Environment;
use anyhow::{bail, Context};
use std::path::Path;

/// The configuration a saved plan is applied with: the config file in force when there is
/// one; with no `--config` and no `./ckplan.yaml`, the plan alone (its target and endpoint)
/// with the credentials from the environment, so a deploy job needs only the plan file
/// and `CKPLAN_KEY_ID` with the key.
///
/// Returns the configuration and whether it came from a file (only then can the plan's
/// input digests be compared with the files). A plan made against the embedded emulator
/// needs its store beside the plan; a missing one is refused, never started empty.
pub fn config_for_plan(
    plan: &Plan,
    path: &Path,
    globals: &Globals,
) -> anyhow::Result<(Config, bool)> {
    let default_path = globals.config_path();
    if globals.config.is_some() || default_path.exists() {
        return Ok((super::workspace::load_config(globals)?, true));
    }
    let beside = path
        .parent()
        .unwrap_or(Path::new(""))
        .join(default_path.file_name().unwrap_or_default());
    let config = Config::for_plan(
        &beside,
        plan.target.clone(),
        plan.endpoint.as_deref(),
        &super::credentials::environment_overrides(globals.environment, &globals.printer),
    )
    .with_context(|| {
        format!(
            "no `{}` here, and plan `{}` cannot be applied on its own",
            default_path.display(),
            path.display()
        )
    })?;
    globals.note_key_settings(&config);
    if let Endpoint::Embedded { dir } = &config.endpoint {
        if !dir.is_dir() {
            bail!(
                "plan `{}` was made against the embedded emulator, whose store `{}` is not here (no `{}` either); apply it from the project directory or with --config; nothing was sent",
                path.display(),
                dir.display(),
                default_path.display()
            );
        }
    }
    Ok((config, false))
}

/// The `ckplan` words that apply the plan at `path` to `environment`: with
/// `--allow-production` when that is production, which the production guard needs.
pub fn apply_words(path: &str, environment: Environment) -> Vec<&str> {
    let mut words = vec!["apply", path];
    if environment == Environment::Production {
        words.push("--allow-production");
    }
    words
}

/// The `hint:` for a plan refused because its target is not the configuration's. When the
/// environments differ it names `--environment` with the command to run (`args`, such as
/// `apply out.plan`); otherwise the `--config` the plan was made with.
pub fn mismatch_hint(mismatch: &PlanMismatch, globals: &Globals, args: &[&str]) -> String {
    if let PlanMismatch::Team {
        planned, setting, ..
    } = mismatch
    {
        return match setting.contains("CKPLAN_TEAM_ID") {
            true => format!(
                "unset CKPLAN_TEAM_ID, or set it to `{planned}`, the team the plan was made for"
            ),
            false => format!(
                "pass the --config the plan was made with, or set `team_id: {planned}` in it"
            ),
        };
    }
    match mismatch.planned_environment() {
        Some(environment) if mismatch.only_environment() => format!(
            "the plan is for the {} environment: run `{}`",
            environment.as_str(),
            globals.command_line_in(environment, args)
        ),
        Some(environment) => format!(
            "the plan is for the {0} environment of another target: pass the --config it was made with and `--environment {0}`",
            environment.as_str()
        ),
        None => "pass the --config the plan was made with".to_owned(),
    }
}
