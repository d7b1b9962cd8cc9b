//! `ckplan apply [PLAN]`: execute a saved plan exactly, or (without PLAN) smart sync: plan
//! in memory, show it, ask, apply.

use super::{output, plan as plan_command, show, workspace, ExitStatus, Globals};
use crate::apply::{self, journal, ApplyOptions, ApplyReport, Observer, OnConflict, Outcome};
use crate::config::Config;
use crate::plan::{file, Action, Plan};
use crate::record::Environment;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Batches in flight by default (see the README's Performance section for the measurement).
pub const DEFAULT_PARALLELISM: usize = 8;

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
    /// Batches of up to 200 operations in flight at once
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = parse_parallelism)]
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

pub async fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitStatus> {
    let config = workspace::load_config(globals)?;
    match args.plan.clone() {
        Some(path) => {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("failed to read plan `{}`", path.display()))?;
            let file::VerifiedPlan { plan, checksum } = file::read_bytes(&bytes)
                .with_context(|| format!("refusing plan `{}`", path.display()))?;
            drop(bytes);
            check_target(&plan, &config, &path)?;
            production_guard(&config, args.allow_production, globals)?;
            apply_plan(&config, &plan, &checksum, &path, &args, globals).await
        }
        None => smart_sync(&config, &args, globals).await,
    }
}

fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a number from 1 to 64")),
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
    Ok(())
}

fn production_guard(config: &Config, allowed: bool, globals: &Globals) -> anyhow::Result<()> {
    if config.environment != Environment::Production || allowed {
        return Ok(());
    }
    if !output::stdin_is_terminal() && !globals.interactive {
        bail!(
            "refusing to write to the production environment of `{}` without --allow-production",
            config.container
        );
    }
    eprintln!(
        "This writes to the PRODUCTION environment of `{}`.",
        config.container
    );
    let answer = prompt("Type the container name to continue: ")?;
    if answer != config.container {
        bail!("production apply cancelled: the container name did not match");
    }
    Ok(())
}

fn prompt(question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("failed to read the answer")?;
    Ok(line.trim().to_owned())
}

async fn smart_sync(config: &Config, args: &Args, globals: &Globals) -> anyhow::Result<ExitStatus> {
    let plan = plan_command::make_plan(config, globals, &args.types, args.delete_orphans).await?;
    eprint!("{}", plan_command::summary(&plan));
    if args.dry_run {
        print!("{}", dry_run_listing(&plan));
        return Ok(ExitStatus::Success);
    }
    if !plan.has_changes() {
        eprintln!("No changes. CloudKit already matches the local data.");
        return Ok(ExitStatus::Success);
    }
    if !args.auto_approve {
        if !output::stdin_is_terminal() && !globals.interactive {
            bail!("refusing to ask for confirmation: stdin is not a terminal (use --auto-approve, or save a plan with `ckplan plan -o FILE` and apply it)");
        }
        eprint!(
            "{}",
            show::render_plan_styled(&plan, false, console::colors_enabled_stderr())
        );
        let answer = prompt(
            "Do you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ",
        )?;
        if answer != "yes" {
            eprintln!("Apply cancelled.");
            return Ok(ExitStatus::Success);
        }
    }
    production_guard(config, args.allow_production, globals)?;
    // The plan is kept like a saved one, so the journal and receipt have a home.
    let directory = config.directory().join(".ckplan").join("plans");
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("failed to create `{}`", directory.display()))?;
    let path = directory.join(format!("{}.plan", plan.created_at.replace(':', "")));
    let mut checksum = String::new();
    plan_command::write_atomically_with(&path, |out| {
        checksum = file::write_to(&plan, out)?;
        Ok(())
    })
    .with_context(|| format!("failed to write plan `{}`", path.display()))?;
    apply_plan(config, &plan, &checksum, &path, args, globals).await
}

fn dry_run_listing(plan: &Plan) -> String {
    let mut out = String::new();
    for (action, label) in [
        (Action::Create, "create"),
        (Action::Update, "update"),
        (Action::Delete, "delete"),
    ] {
        for change in plan.changes.iter().filter(|c| c.action == action) {
            out.push_str(&format!(
                "would {label} {} {}\n",
                change.record_type, change.record_name
            ));
        }
    }
    let unchanged: usize = plan.summary.iter().map(|s| s.unchanged).sum();
    out.push_str(&format!("would skip {unchanged} unchanged records\n"));
    out
}

async fn apply_plan(
    config: &Config,
    plan: &Plan,
    checksum: &str,
    path: &Path,
    args: &Args,
    globals: &Globals,
) -> anyhow::Result<ExitStatus> {
    let journal_path = journal::path_for(path);
    let receipt_path = args
        .receipt
        .clone()
        .unwrap_or_else(|| receipt_path_for(path));
    let replay = match journal::Journal::replay(&journal_path, checksum) {
        // A new plan saved under the name of one applied before (`ckplan plan > out.plan`
        // every day): keep the earlier run's records aside and start afresh.
        Err(journal::JournalError::OtherPlan { found, .. }) => {
            keep_previous_run(&journal_path, &receipt_path, &found)?;
            journal::Replay::default()
        }
        replay => replay?,
    };
    // Failed records are tried again; conflicts are final for this plan (re-plan instead).
    let finished = |c: &crate::plan::Change| {
        replay
            .done
            .get(&key(c))
            .is_some_and(|o| !matches!(o, Outcome::Failed { .. }))
    };
    // A run killed after the journal's last entry but before the receipt was written
    // falls through: it sends nothing and writes the receipt from the journal.
    if replay.complete && receipt_path.exists() && plan.changes.iter().all(finished) {
        let conflicts = plan
            .changes
            .iter()
            .filter(|c| replay.done.get(&key(c)).is_some_and(Outcome::is_conflict))
            .count();
        if conflicts > 0 {
            eprintln!(
                "This plan was already run and ended with {conflicts} conflicts (receipt: `{}`); nothing to do.\n\
                 hint: run `ckplan plan` again to plan against CloudKit as it is now",
                receipt_path.display()
            );
            return Ok(ExitStatus::Conflicts);
        }
        eprintln!(
            "This plan was already applied in full; nothing to do (receipt: `{}`).",
            receipt_path.display()
        );
        return Ok(ExitStatus::Success);
    }
    if replay.runs > 0 && !globals.quiet {
        eprintln!(
            "Resuming: {} records done in an earlier run, {} uncertain (looked up first).",
            replay.done.len(),
            replay.uncertain.len()
        );
    }
    let connection = workspace::connect(config).await?;
    let started_at = apply::now();
    let mut journal = journal::Journal::open(&journal_path)?;
    journal.append(&journal::Entry::Start {
        plan_checksum: checksum.to_owned(),
        at: started_at.clone(),
        key_id: connection.client.key_id().to_owned(),
    })?;
    let options = ApplyOptions {
        on_conflict: args.on_conflict,
        parallelism: args.parallelism,
        max_rounds: 5,
    };
    let bar = ApplyBar::new(globals.quiet);
    let report = apply::execute(plan, &connection.client, &options, replay, journal, &bar).await;
    bar.finish();
    let key_id = connection.client.key_id().to_owned();
    connection.close().await;
    let report = report?;
    let receipt = apply::receipt::build(
        plan,
        checksum,
        path,
        &key_id,
        &started_at,
        args.on_conflict,
        &report,
    );
    plan_command::write_atomically(
        &receipt_path,
        serde_json::to_string_pretty(&receipt)?.as_bytes(),
    )
    .with_context(|| format!("failed to write receipt `{}`", receipt_path.display()))?;
    print_conflicts(&report);
    let not_started = plan.changes.len() - receipt.records.len();
    finish(
        &report,
        &receipt.totals,
        not_started,
        &receipt_path,
        path,
        globals.quiet,
    )
}

/// Renames the journal (and the receipt, if it is that plan's) of the plan that was saved
/// under the same name before, tagging both with the start of its checksum.
fn keep_previous_run(journal: &Path, receipt: &Path, previous: &str) -> anyhow::Result<()> {
    let hex = previous.trim_start_matches("blake3:");
    let tag = &hex[..hex.len().min(12)];
    let mut kept_journal = journal.as_os_str().to_owned();
    kept_journal.push(format!(".{tag}"));
    let kept_journal = PathBuf::from(kept_journal);
    std::fs::rename(journal, &kept_journal)
        .with_context(|| format!("failed to move `{}` aside", journal.display()))?;
    let receipt_checksum = std::fs::read_to_string(receipt)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|receipt| receipt["plan_checksum"].as_str().map(str::to_owned));
    let mut kept = format!("`{}`", kept_journal.display());
    if receipt_checksum.as_deref() == Some(previous) {
        let kept_receipt = receipt.with_extension(format!("{tag}.json"));
        std::fs::rename(receipt, &kept_receipt)
            .with_context(|| format!("failed to move `{}` aside", receipt.display()))?;
        kept.push_str(&format!(" and `{}`", kept_receipt.display()));
    }
    eprintln!("note: this is a new plan; the earlier plan's apply records are kept as {kept}.");
    Ok(())
}

fn key(change: &crate::plan::Change) -> apply::RecordKey {
    apply::RecordKey {
        record_type: change.record_type.clone(),
        record_name: change.record_name.clone(),
    }
}

/// `PLAN.receipt.json`.
pub fn receipt_path_for(plan: &Path) -> PathBuf {
    let mut name = plan.as_os_str().to_owned();
    name.push(".receipt.json");
    PathBuf::from(name)
}

fn print_conflicts(report: &ApplyReport) {
    for (key, outcome) in &report.outcomes {
        match outcome {
            Outcome::Conflict { reason, fields } => {
                output::warn(format_args!(
                    "conflict: {} `{}`: {reason}",
                    key.record_type, key.record_name
                ));
                for field in fields {
                    // As `ckplan show` renders values; raw JSON if a value does not decode.
                    let shown = |v: &Option<crate::cloudkit::wire::WireField>| match v {
                        None => "(absent)".to_owned(),
                        Some(field) => field
                            .to_value(None)
                            .map_or_else(|_| field.value.to_string(), |v| show::render_value(&v)),
                    };
                    eprintln!(
                        "    {}: planned before {}, now {}, wanted {}",
                        field.field,
                        shown(&field.planned_before),
                        shown(&field.now),
                        shown(&field.wanted)
                    );
                }
            }
            Outcome::Failed { code, reason } => {
                eprintln!(
                    "{} {} `{}`: {code} {reason}",
                    console::style("error:").red().bold().for_stderr(),
                    key.record_type,
                    key.record_name
                );
            }
            _ => {}
        }
    }
}

fn finish(
    report: &ApplyReport,
    totals: &apply::Totals,
    not_started: usize,
    receipt: &Path,
    plan: &Path,
    quiet: bool,
) -> anyhow::Result<ExitStatus> {
    let line = format!(
        "{} created, {} updated, {} deleted, {} unchanged skipped",
        totals.created, totals.updated, totals.deleted, totals.unchanged_skipped
    );
    let already = if totals.already_applied > 0 {
        format!(" ({} already applied)", totals.already_applied)
    } else {
        String::new()
    };
    if !quiet {
        eprintln!("Receipt: `{}`", receipt.display());
    }
    if let Some(error) = &report.error {
        eprintln!("Apply stopped: {line}{already}.");
        return Err(anyhow::anyhow!(error.to_string()).context(format!(
            "apply stopped; run `ckplan apply {}` again to resume",
            plan.display()
        )));
    }
    if report.has_conflicts() && not_started > 0 {
        eprintln!(
            "Apply stopped on {}: {line}{already}; {not_started} planned changes not started.",
            plural(totals.conflicts, "conflict")
        );
        return Ok(ExitStatus::Conflicts);
    }
    if report.has_conflicts() {
        eprintln!(
            "Apply finished with {}: {line}{already}.",
            plural(totals.conflicts, "conflict")
        );
        return Ok(ExitStatus::Conflicts);
    }
    if report.has_failures() {
        eprintln!(
            "Apply finished with {} failed: {line}{already}.",
            plural(totals.failed, "record")
        );
        return Ok(ExitStatus::Error);
    }
    if !quiet {
        eprintln!(
            "Apply complete: {line}.{}",
            if already.is_empty() {
                String::new()
            } else {
                format!(" {}", already.trim())
            }
        );
    }
    Ok(ExitStatus::Success)
}

fn plural(count: usize, noun: &str) -> String {
    format!("{count} {noun}{}", if count == 1 { "" } else { "s" })
}

/// A bar per batch on terminals, plain lines otherwise.
struct ApplyBar {
    bar: Option<ProgressBar>,
    quiet: bool,
    total: std::sync::atomic::AtomicUsize,
    done: std::sync::atomic::AtomicUsize,
}

impl ApplyBar {
    fn new(quiet: bool) -> Self {
        let bar = (!quiet && output::stderr_is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} planned changes ({elapsed})")
                    .expect("valid template"),
            );
            bar
        });
        Self {
            bar,
            quiet,
            total: Default::default(),
            done: Default::default(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for ApplyBar {
    fn started(&self, changes: usize) {
        self.total
            .store(changes, std::sync::atomic::Ordering::SeqCst);
        if let Some(bar) = &self.bar {
            bar.set_length(changes as u64);
        }
    }

    fn changes_finished(&self, changes: usize) {
        let done = self
            .done
            .fetch_add(changes, std::sync::atomic::Ordering::SeqCst)
            + changes;
        match &self.bar {
            Some(bar) => bar.set_position(done as u64),
            None if !self.quiet => {
                let total = self.total.load(std::sync::atomic::Ordering::SeqCst);
                eprintln!("{done}/{total} planned changes done");
            }
            None => {}
        }
    }
}
