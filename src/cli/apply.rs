//! `ckplan apply [PLAN]`: execute a saved plan exactly, or (without PLAN) smart sync: plan
//! in memory, show it, ask, apply.

use super::apply_view::{self, ApplyBar};
use super::{signals, workspace, CommandError, CommandResult, ExitStatus, Globals};
use crate::apply::session::{Paths, Previous, Session};
use crate::apply::{ApplyOptions, OnConflict, StopFlag};
use crate::config::Config;
use crate::lock::Holder;
use crate::plan::{file, Plan};
use crate::render::{self, plural};
use anyhow::{bail, Context};
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
    /// Smart sync: only this record type (repeatable)
    #[arg(long = "type", value_name = "TYPE", conflicts_with = "plan")]
    pub types: Vec<String>,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    match args.plan.clone() {
        Some(path) => {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("failed to read plan `{}`", path.display()))?;
            let file::VerifiedPlan { plan, checksum } = file::read_bytes(&bytes)
                .with_context(|| format!("refusing plan `{}`", path.display()))?;
            drop(bytes);
            check_target(&plan, &config, &path)?;
            workspace::production_guard(&config, args.allow_production, globals)?;
            Ok(apply_plan(&config, &plan, &checksum, &path, &args, globals).await?)
        }
        None => smart_sync(&config, &args, globals).await,
    }
}

fn check_target(plan: &Plan, config: &Config, path: &Path) -> anyhow::Result<()> {
    let configured = config.target();
    if plan.target != configured {
        bail!(
            "refusing plan `{}`: it was made for `{}` but the configuration targets `{}`; nothing was sent",
            path.display(),
            plan.target,
            configured
        );
    }
    let endpoint = config.endpoint_text();
    match &plan.endpoint {
        Some(planned) if *planned != endpoint => bail!(
            "refusing plan `{}`: it was made against endpoint `{planned}` but the configuration points at `{endpoint}`; nothing was sent",
            path.display()
        ),
        _ => Ok(()),
    }
}

async fn smart_sync(config: &Config, args: &Args, globals: &Globals) -> CommandResult {
    let printer = &globals.printer;
    let plan = workspace::make_plan(
        config,
        globals,
        &args.types,
        args.delete_orphans,
        args.parallelism,
    )
    .await?;
    printer.status(render::summary::plan_summary(&plan).trim_end());
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
        stderr!(
            "{}",
            render::plan::review(&plan, false, printer.colour_stderr())
        );
        let answer = prompter
            .ask("Do you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ")
            .context("failed to read the answer")?;
        if answer.as_deref() != Some("yes") {
            stderrln!("Apply cancelled.");
            return Ok(ExitStatus::Success);
        }
    }
    workspace::production_guard(config, args.allow_production, globals)?;
    // The plan is kept like a saved one, so the journal and receipt have a home.
    let directory = config.directory().join(".ckplan").join("plans");
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("failed to create `{}`", directory.display()))?;
    let stamp = plan.created_at.to_string().replace(':', "");
    let path = directory.join(format!("{stamp}.plan"));
    let mut checksum = String::new();
    crate::durable::write_atomically_with(&path, |out| {
        checksum = file::write_to(&plan, out)?;
        Ok(())
    })
    .with_context(|| format!("failed to write plan `{}`", path.display()))?;
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
    let session = Session::open(
        plan,
        checksum,
        Paths::beside(path, args.receipt.clone()),
        &holder,
    )?;
    if let Some(kept) = session.kept_aside() {
        apply_view::kept_aside(kept, printer);
    }
    match session.previous() {
        Previous::Finished { conflicts } => {
            return Ok(apply_view::already_run(conflicts, &session.paths().receipt))
        }
        Previous::Resume { done, uncertain } => printer.status(format_args!(
            "Resuming: {} done in an earlier run, {uncertain} uncertain (looked up first).",
            plural(done, "record")
        )),
        _ => {}
    }
    let connection = workspace::connect(config, globals, args.parallelism).await?;
    let options = ApplyOptions {
        on_conflict: args.on_conflict,
        parallelism: args.parallelism,
        max_rounds: 5,
        clock,
    };
    let stop = StopFlag::new();
    let listening = signals::stop_on_signal(stop.clone());
    let bar = ApplyBar::new(*printer);
    let applied = session.run(&connection.client, &options, &bar, &stop).await;
    drop(listening);
    bar.finish();
    connection.close().await;
    apply_view::finish(applied?, path, printer)
}
