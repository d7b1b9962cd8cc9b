//! `ckplan plan`: read CloudKit, compare, and write a reviewable plan file.

use super::{output, workspace, CommandResult, ExitStatus, Globals};
use crate::plan::file;
use crate::render;
use anyhow::Context;
use std::path::PathBuf;

/// Query CloudKit, diff, and write a plan holding each record's change tag.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ckplan plan > out.plan          # plan on stdout, summary on stderr\n  \
    ckplan plan -o out.plan --delete-orphans\n  \
    ckplan plan --type Team --detailed-exitcode -o team.plan; echo $?   # 0 none, 2 changes"
)]
pub struct Args {
    /// Write the plan to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Put deletions of orphans (records only in CloudKit) in the plan
    #[arg(long)]
    pub delete_orphans: bool,
    /// Only this record type (repeatable; the plan records the filter)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Exit 0 when CloudKit matches the local data, 2 when it does not (changes to apply, or
    /// orphans this plan keeps)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Requests to CloudKit in flight at once
    #[arg(long, default_value_t = crate::cloudkit::client::DEFAULT_PARALLELISM, value_parser = super::connect::parse_parallelism)]
    pub parallelism: usize,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let printer = &globals.printer;
    let config = workspace::load_config(globals)?;
    let plan = workspace::make_plan(
        &config,
        globals,
        &args.types,
        args.delete_orphans,
        args.parallelism,
    )
    .await?;
    printer.status(render::summary::plan_summary(&plan).trim_end());
    match &args.out {
        Some(path) => {
            crate::durable::write_atomically_with(path, |out| file::write_to(&plan, out).map(drop))
                .with_context(|| format!("failed to write plan `{}`", path.display()))?;
            let path = path.display();
            printer.status(format_args!(
                "Saved the plan to `{path}`. Review it with `ckplan show {path}`, then `ckplan apply {path}`."
            ));
        }
        None if output::stdout_is_terminal() => {
            printer.data(&render::plan::review(&plan, false, printer.colour_stdout()))?;
            printer.hint(
                "this plan was not saved; run `ckplan plan -o out.plan` (or `ckplan plan > out.plan`) to keep it for `ckplan apply`",
            );
        }
        None => printer.data_with(|out| file::write_to(&plan, out).map(drop))?,
    }
    // Orphans the plan keeps are still a difference between CloudKit and the local data.
    let differs = plan.has_changes() || plan.orphans_kept() > 0;
    Ok(if args.detailed_exitcode && differs {
        ExitStatus::ChangesPresent
    } else {
        ExitStatus::Success
    })
}
