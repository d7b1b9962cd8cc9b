//! `ckplan apply [PLAN]`: execute a saved plan exactly, or (without PLAN) smart sync: plan
//! in memory, show it, ask, apply.

use super::apply_view::{self, ApplyBar};
use super::schema_steps::SchemaFailure;
use super::{signals, workspace, CommandError, CommandResult, ExitStatus, Globals};
use crate::apply::session::{Previous, SessionError};
use crate::apply::{ApplyOptions, OnConflict, StopFlag};
use crate::config::Config;
use crate::lock::Holder;
use crate::ops::apply as ops;
use crate::plan::{file, Plan};
use crate::render;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Batches in flight by default (see the README's Performance section for the measurement).
pub use crate::cloudkit::client::DEFAULT_PARALLELISM;

/// Execute exactly a saved plan; without PLAN, plan, show, ask and apply (smart sync).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ckplan apply out.plan                      # no prompt: the plan was the review\n  \
    ckplan apply out.plan --on-conflict abort\n  \
    ckplan apply                               # smart sync: plan, show, ask 'yes', apply\n  \
    ckplan apply --dry-run                     # what smart sync would do\n  \
    ckplan apply --delete-orphans --auto-approve"
)]
pub struct Args {
    /// A plan written by `ckplan plan`
    pub plan: Option<PathBuf>,
    /// What to do when a record changed since it was planned
    #[arg(long, value_enum, default_value_t = OnConflict::Replan)]
    pub on_conflict: OnConflict,
    /// Requests in flight at once (reads, lookups and batches of up to 200 operations)
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = super::connect::parse_parallelism)]
    pub parallelism: usize,
    /// Where to write the receipt [default: PLAN.receipt.json]
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Needed to apply to the production environment (or type the container name)
    #[arg(long)]
    pub allow_production: bool,
    /// Smart sync: also delete orphans
    #[arg(long, conflicts_with = "plan")]
    pub delete_orphans: bool,
    /// Smart sync: show what would be created, updated and skipped, and stop
    #[arg(long, conflicts_with = "plan")]
    pub dry_run: bool,
    /// Smart sync: apply without asking
    #[arg(long, conflicts_with = "plan")]
    pub auto_approve: bool,
    #[command(flatten)]
    pub guards: super::plan::GuardArgs,
    /// Smart sync: only this record type (repeatable)
    #[arg(long = "type", value_name = "TYPE", conflicts_with = "plan")]
    pub types: Vec<String>,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    match args.plan.clone() {
        Some(path) => {
            let file::VerifiedPlan { plan, checksum } =
                ops::read_plan(&path).map_err(|error| anyhow::Error::new(*error))?;
            let (config, from_file) = super::plan_config::config_for_plan(&plan, &path, globals)?;
            ops::check_target(&plan, &config, &path)
                .map_err(|error| mismatch(*error, &plan, globals))?;
            if from_file {
                warn_about_changed_inputs(&plan, &config, globals);
            }
            args.guards.check(&plan, "nothing was sent")?;
            workspace::production_guard(&config, args.allow_production, globals)?;
            Ok(apply_plan(&config, &plan, &checksum, &path, &args, globals).await?)
        }
        None => smart_sync(&workspace::load_config(globals)?, &args, globals).await,
    }
}

/// A refused saved plan as an error, with the command that applies it when only the
/// `--environment` differs.
fn mismatch(error: ops::SavedPlanError, plan: &Plan, globals: &Globals) -> CommandError {
    let hint = match &error {
        ops::SavedPlanError::Mismatch { path, mismatch } => {
            let path = path.display().to_string();
            let words = super::plan_config::apply_words(&path, plan.target.environment);
            Some(super::plan_config::mismatch_hint(mismatch, globals, &words))
        }
        _ => None,
    };
    let error = CommandError::from(anyhow::Error::new(error));
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

/// Warns, naming each file, when the config or data files the plan was made from changed
/// since (the plan holds their digests): apply writes what the plan says, not the files.
fn warn_about_changed_inputs(plan: &Plan, config: &Config, globals: &Globals) {
    let changed = ops::changed_inputs(plan, config);
    if changed.is_empty() {
        return;
    }
    let plan_command = globals.command_line(&["plan"]);
    globals
        .printer
        .say(&render::apply::changed_inputs(&changed, &plan_command));
}

async fn smart_sync(config: &Config, args: &Args, globals: &Globals) -> CommandResult {
    let printer = &globals.printer;
    // Smart sync never deletes an orphan that kept records reference (issue 17).
    let plan = workspace::make_plan(
        config,
        globals,
        &args.types,
        args.delete_orphans,
        false,
        args.parallelism,
        false,
    )
    .await?;
    printer.status(render::summary::plan_summary(&plan).trim_end());
    super::schema_steps::report(&plan, printer);
    args.guards.check(&plan, "nothing was sent")?;
    if args.dry_run {
        printer.data(&render::plan::dry_run(&plan))?;
        return Ok(ExitStatus::Success);
    }
    if !plan.has_changes() {
        printer.status(render::summary::no_changes_line(&plan));
        return Ok(ExitStatus::Success);
    }
    if !args.auto_approve {
        let prompter = &globals.context.prompter;
        if !prompter.can_ask() {
            return Err(CommandError::user("refusing to ask for confirmation: stdin is not a terminal (use --auto-approve, or save a plan with `ckplan plan -o FILE` and apply it)"));
        }
        let review = render::plan::review(&plan, false, printer.colour_stderr());
        printer.say(&render::Line::Always(review));
        let answer = prompter
            .ask("Do you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ")
            .context("failed to read the answer")?;
        // Anything but `yes`, end of input included, is a refusal: exit 1 (as Terraform
        // does), so that a script does not carry on as if the apply ran.
        if answer.as_deref() != Some("yes") {
            printer.say(&render::apply::declined());
            return Ok(ExitStatus::Error);
        }
    }
    workspace::production_guard(config, args.allow_production, globals)?;
    // The plan is kept like a saved one, so the journal and receipt have a home.
    let (path, checksum) = ops::keep_plan(config, &plan).map_err(anyhow::Error::new)?;
    Ok(apply_plan(config, &plan, &checksum, &path, args, globals).await?)
}

/// Locks the plan, reports what earlier runs left, connects, applies, renders.
async fn apply_plan(
    config: &Config,
    plan: &Plan,
    checksum: &str,
    path: &Path,
    args: &Args,
    globals: &Globals,
) -> anyhow::Result<ExitStatus> {
    let clock = globals.context.clock;
    let printer = &globals.printer;
    let holder = Holder::this_process("ckplan apply", &clock.timestamp().to_string());
    let session = ops::open_session(config, plan, checksum, path, args.receipt.clone(), &holder)?;
    if let Some(kept) = session.kept_aside() {
        printer.say(&render::apply::kept_aside(kept));
    }
    match session.previous() {
        Previous::Finished { conflicts } => {
            let receipt = &session.paths().receipt;
            let plan_command = globals.command_line(&["plan"]);
            let (line, verdict) = render::apply::already_run(conflicts, receipt, &plan_command);
            printer.say(&line);
            return Ok(apply_view::exit_status(verdict));
        }
        Previous::Resume { done, uncertain } => {
            printer.say(&render::apply::resuming(done, uncertain));
        }
        _ => {}
    }
    let token = super::schema_steps::token(config)?;
    let connection =
        super::connect::connect_with_token(config, globals, args.parallelism, token).await?;
    // Ctrl-C from here on, the schema step included, ends the run resumable.
    let stop = StopFlag::new();
    let listening = signals::stop_on_signal(stop.clone(), *printer);
    let schema =
        super::schema_steps::apply_first(config, plan, &connection, globals, &stop, clock).await;
    // An import sent but not confirmed is recorded (journal, receipt); no record is sent.
    let (schema, failed) = match schema {
        Ok(step) => (step, None),
        Err(SchemaFailure { error, sent: None }) => return Err(error.into()),
        Err(SchemaFailure { error, sent }) => (sent, Some(error)),
    };
    let session = match schema {
        Some(step) => session.with_schema(step),
        None => session,
    };
    let options = ApplyOptions {
        on_conflict: args.on_conflict,
        parallelism: args.parallelism,
        max_rounds: 5,
        clock,
    };
    let bar = ApplyBar::new(*printer);
    let applied = session.run(&connection.client, &options, &bar, &stop).await;
    drop(listening);
    bar.finish();
    connection.close().await;
    let mut again = vec!["apply".to_owned(), path.display().to_string()];
    if let Some(receipt) = &args.receipt {
        again.extend(["--receipt".to_owned(), receipt.display().to_string()]);
    }
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let again = globals.command_line(&again);
    let applied = applied.map_err(|error| match error {
        // Stopped mid-run (a journal that could not be written, a full disk, a failed
        // lookup): what was sent is journaled or looked up first by the next run.
        SessionError::Journal(_) | SessionError::Apply(_) => anyhow::Error::new(error)
            .context(format!("apply stopped; {}", render::apply::resume(&again))),
        other => anyhow::Error::new(other),
    })?;
    if let Some(error) = failed {
        return Err(error.into());
    }
    if applied.uploaded.files + applied.uploaded.reused > 0 {
        printer.status(applied.uploaded);
    }
    apply_view::finish(applied, &again, printer)
}
