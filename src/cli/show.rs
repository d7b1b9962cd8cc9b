//! `ckplan show PLAN [--json]`: verifies a saved plan (format version, checksum) and renders
//! it for review, Terraform-style. Works offline: no configuration, no credentials.
//! The views are [`render::plan_review`]'s, one per `--format`.

use super::{CommandError, CommandResult, ExitStatus, Globals};
use crate::ops::plan_check::{self, Checks};
use crate::plan::{file, Plan};
use crate::render::{self, markdown, ReviewOptions};
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
  ckplan show out.plan --format markdown > comment.md   # for a pull-request comment
  ckplan show out.plan --summary --type Game

A plan that was edited, truncated, or written by an unknown format version is refused
with exit status 1. No configuration or credentials are needed.")]
pub struct Args {
    /// The plan file written by `ckplan plan`
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Print the verified plan as JSON (the plan file's document); same as `--format json`
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// text (the review), json (the plan file's document) or markdown (for a pull-request
    /// comment)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only the per-type counts and totals (text and markdown)
    #[arg(long)]
    pub summary: bool,
    /// Only this record type's changes (repeatable; text and markdown)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

pub fn run(args: Args, globals: &Globals) -> CommandResult {
    let path = args.plan.display();
    let bytes =
        std::fs::read(&args.plan).with_context(|| format!("failed to read plan `{path}`"))?;
    let plan = file::from_bytes(&bytes)
        .map_err(|error| CommandError::from(error).prefixed(format!("refusing plan `{path}`")))?;
    check_target(&plan, globals, &path.to_string())?;
    let format = if args.json { Format::Json } else { args.format };
    if format == Format::Json && (args.summary || !args.types.is_empty()) {
        return Err(CommandError::user(
            "`--format json` prints the whole plan document; filter it with a JSON tool (e.g. jq) instead of --summary or --type",
        ));
    }
    for name in &args.types {
        if !plan.summary.iter().any(|s| s.record_type.as_str() == name) {
            return Err(CommandError::user(format!(
                "--type `{}`: the plan has no record type of that name",
                crate::render::escape(name)
            )));
        }
    }
    let options = ReviewOptions {
        summary_only: args.summary,
        types: args.types.clone(),
        unchanged_fields: globals.verbose > 0,
        full_plan_command: globals.command_line(&["show", &args.plan.display().to_string()]),
        budget: markdown::COMMENT_BUDGET,
    };
    let format = match format {
        Format::Text => render::Format::Text,
        Format::Json => render::Format::Json,
        Format::Markdown => render::Format::Markdown,
    };
    let shown = render::plan_review(&plan, format, &options, globals.printer.colour_stdout());
    globals.printer.data(&shown)?;
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
    let mut config = crate::config::Config::load(&config_path)
        .with_context(|| format!("failed to check plan `{path}` against its configuration"))?;
    if let Some(environment) = globals.environment {
        config.set_environment(environment);
    }
    plan_check::check(plan, &config, Checks::Target).map_err(|mismatch| {
        CommandError::user(format_args!(
            "refusing plan `{path}`: {mismatch} (`{}`)",
            config_path.display()
        ))
        .with_hint("pass the matching --config, or review it where no ckplan.yaml is in use")
    })
}
