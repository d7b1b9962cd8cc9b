//! `ckplan show PLAN [--json]`: verifies a saved plan (format version, checksum) and renders
//! it for review, Terraform-style. Works offline: no configuration, no credentials.
//! [`render_plan`] is shared with `ckplan plan`, which shows the same text on terminals.

use super::{CommandError, CommandResult, ExitStatus, Globals};
use crate::plan::{file, Plan};
use crate::render::{Backend, Json, Text};
use anyhow::Context;
use std::path::PathBuf;

/// Render a saved plan for review, after checking that it is intact.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ckplan plan > out.plan
  ckplan show out.plan          # review it: colours on a terminal, plain text when piped
  ckplan show -v out.plan       # also list the fields each update leaves as they are
  ckplan show out.plan --json | jq -r '.changes[] | select(.action == \"delete\") | .record_name'

A plan that was edited, truncated, or written by an unknown format version is refused
with exit status 1. No configuration or credentials are needed.")]
pub struct Args {
    /// The plan file written by `ckplan plan`
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Print the verified plan as JSON (the plan file's document) instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, globals: &Globals) -> CommandResult {
    let path = args.plan.display();
    let bytes =
        std::fs::read(&args.plan).with_context(|| format!("failed to read plan `{path}`"))?;
    let plan = file::from_bytes(&bytes)
        .map_err(|error| CommandError::from(error).prefixed(format!("refusing plan `{path}`")))?;
    check_target(&plan, globals, &path.to_string())?;
    let text = Text {
        colour: globals.printer.colour_stdout(),
        unchanged_fields: globals.verbose > 0,
        ..Text::default()
    };
    let backend: &dyn Backend = if args.json { &Json } else { &text };
    globals.printer.data(&backend.plan(&plan))?;
    Ok(ExitStatus::Success)
}

/// Refuses a plan made for another target than the configuration in use, when there is one
/// (`--config`, `CKPLAN_CONFIG` or `./ckplan.yaml`): a plan reviewed against the wrong
/// container or environment is the mistake the target check exists for. Without a
/// configuration, `show` works offline on the plan alone.
fn check_target(plan: &Plan, globals: &Globals, path: &str) -> Result<(), CommandError> {
    let config_path = globals.config_path();
    if globals.config.is_none() && !config_path.exists() {
        return Ok(());
    }
    let config = crate::config::Config::load(&config_path)
        .with_context(|| format!("failed to check plan `{path}` against its configuration"))?;
    let configured = config.target();
    if plan.target != configured {
        return Err(CommandError::user(format_args!(
            "refusing plan `{path}`: it was made for `{}` but `{}` targets `{}`",
            plan.target,
            config_path.display(),
            configured
        ))
        .with_hint("pass the matching --config, or review it where no ckplan.yaml is in use"));
    }
    Ok(())
}
