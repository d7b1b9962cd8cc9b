//! `ckplan plan`: read CloudKit, compare, and write a reviewable plan file.

use super::{output, workspace, CommandError, CommandResult, ExitStatus, Globals};
use crate::ops::guard;
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
    /// With --delete-orphans: also delete orphans that kept records still reference (their
    /// DELETE_SELF references make CloudKit delete those records too; the plan names them)
    #[arg(long, requires = "delete_orphans")]
    pub delete_referenced_orphans: bool,
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
    /// Trust nothing `.ckplan/assets.json` says: probe (upload without saving) every asset
    /// file of the size CloudKit holds, and keep what the probes answer
    #[arg(long)]
    pub refresh_assets: bool,
    #[command(flatten)]
    pub guards: GuardArgs,
}

/// `--max-deletes` and `--max-changes`, shared by `plan` and `apply`.
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct GuardArgs {
    /// Refuse a plan that deletes more than N records: nothing is written or sent
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// Refuse a plan that creates, updates and deletes more than N records in all
    #[arg(long, value_name = "N")]
    pub max_changes: Option<usize>,
}

impl GuardArgs {
    /// Refuses `plan` when it goes over a limit, naming the counts; `what` says what was
    /// not done.
    pub fn check(&self, plan: &crate::plan::Plan, what: &str) -> Result<(), CommandError> {
        let limits = guard::Limits {
            max_deletes: self.max_deletes,
            max_changes: self.max_changes,
        };
        guard::check(plan, &limits).map_err(|error| {
            CommandError::user(format!("refusing the plan: {error}; {what}"))
                .with_hint("review the plan; raise the limit if these changes are meant")
        })
    }
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let printer = &globals.printer;
    let config = workspace::load_config(globals)?;
    let plan = workspace::make_plan(
        &config,
        globals,
        &args.types,
        args.delete_orphans,
        args.delete_referenced_orphans,
        args.parallelism,
        args.refresh_assets,
    )
    .await?;
    printer.status(render::summary::plan_summary(&plan).trim_end());
    super::schema_steps::report(&plan, printer);
    args.guards.check(&plan, "no plan was written")?;
    match &args.out {
        Some(path) => {
            crate::durable::write_atomically_with(path, |out| file::write_to(&plan, out).map(drop))
                .with_context(|| format!("failed to write plan `{}`", path.display()))?;
            let shown = path.display().to_string();
            // The production guard needs `--allow-production` without a terminal.
            let apply = super::plan_config::apply_words(&shown, plan.target.environment);
            printer.say(&render::talk::plan_saved(
                &shown,
                &globals.command_line(&["show", &shown]),
                &globals.command_line(&apply),
            ));
        }
        None if output::stdout_is_terminal() => {
            printer.data(&render::plan::review(&plan, false, printer.colour_stdout()))?;
            printer.say(&render::talk::plan_not_saved(
                &globals.command_line(&["plan", "-o", "out.plan"]),
                &globals.command_line(&["plan"]),
            ));
        }
        None => printer.data_with(|out| file::write_to(&plan, out).map(drop))?,
    }
    // Orphans the plan keeps are still a difference between CloudKit and the local data.
    let differs = plan.has_changes() || plan.orphans_kept() > 0;
    keep_until_exit(plan);
    Ok(if args.detailed_exitcode && differs {
        ExitStatus::ChangesPresent
    } else {
        ExitStatus::Success
    })
}

/// Leaves the written plan to the end of the process instead of freeing it: every change
/// holds its own names and fields, and freeing them one by one took a tenth of the command's
/// CPU for a large publish (issue 18), while the process ends right after this command and
/// the OS takes the memory back at once. (In `ckplan menu` each plan item keeps its plan
/// until the menu ends: a bounded cost, one plan per item a person runs.)
fn keep_until_exit(plan: crate::plan::Plan) {
    std::mem::forget(plan);
}
