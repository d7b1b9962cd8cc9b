//! `ckplan diff`: what a plan would change, per type, without writing anything.

use super::{workspace, CommandResult, ExitStatus, Globals};
use crate::ops::make_plan;
use crate::render::{self, Listing};

/// Compare local data with CloudKit and report per type; never writes.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  ckplan diff\n  \
    Stadium: 32 unchanged, 2 new, 1 updated, 0 orphans\n  \
    ckplan diff -v --changes-only --type Team\n  ckplan diff --json | jq '.types[].new'")]
pub struct Args {
    /// Only this record type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// List the records that change (new, updated, orphans) with their changed fields; -v
    /// lists unchanged records too unless this is given
    #[arg(long)]
    pub changes_only: bool,
    /// Machine-readable report on stdout
    #[arg(long)]
    pub json: bool,
    /// Requests to CloudKit in flight at once
    #[arg(long, default_value_t = crate::cloudkit::client::DEFAULT_PARALLELISM, value_parser = super::connect::parse_parallelism)]
    pub parallelism: usize,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    let talk = workspace::PlanTalk::new(globals.printer, !args.json);
    let client = super::connect::client_options(globals, args.parallelism);
    let survey = make_plan::survey(&config, &args.types, client, &talk).await?;
    let listing = match (args.changes_only, globals.verbose > 0) {
        (true, _) => Listing::ChangesOnly,
        (false, true) => Listing::All,
        (false, false) => Listing::None,
    };
    let format = render::Format::json_if(args.json);
    let report = render::diff_report(&survey.diffs, format, listing);
    globals.printer.data(&report)?;
    Ok(ExitStatus::Success)
}
