//! The configuration `apply PLAN` runs with: the config file in force, or, where there is
//! none, the plan's own target and endpoint with the credentials from the environment.

use super::Globals;
use crate::config::{Config, Endpoint};
use crate::plan::Plan;
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
