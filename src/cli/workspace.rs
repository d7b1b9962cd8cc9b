//! What the commands that work on a config share: loading it with the credential
//! environment overrides, the production guard of every writing command, loading local
//! data with every problem shown, connecting, and reading progress on stderr.

pub use super::connect::connect;
use super::{credentials, Globals, Printer};
use crate::config::Config;
use crate::local::{self, LocalData};
use crate::plan::Plan;
use crate::record::{Environment, RecordType};
use crate::sync::{self, Survey};
use anyhow::{bail, Context};

pub use super::read_bar::ReadBar;

/// The configuration in force: the file (`--config`, `CKPLAN_CONFIG`, `./ckplan.yaml`)
/// resolved with the environment's overrides.
pub fn load_config(globals: &Globals) -> anyhow::Result<Config> {
    let overrides = credentials::environment_overrides(globals.environment, &globals.printer);
    let config = Config::resolve(&globals.config_path(), &overrides)?;
    credentials::warn_about_key_file(&config, &globals.printer);
    Ok(config)
}

/// Loads every data file, prints every problem on stderr, and fails if any is an error.
pub fn load_local(config: &Config, printer: &Printer) -> anyhow::Result<LocalData> {
    load_local_deferring(config, printer, false).map(|(local, _)| local)
}

/// As [`load_local`]; with `defer_dangling`, warnings about references to records no local
/// file defines are returned, for a plan to say what it does with those records.
fn load_local_deferring(
    config: &Config,
    printer: &Printer,
    defer_dangling: bool,
) -> anyhow::Result<(LocalData, Vec<local::Problem>)> {
    let local = local::load_all(config);
    let errors = local.error_count();
    let mut deferred = Vec::new();
    for problem in local.problems() {
        if problem.is_error() {
            printer.error(problem);
        } else if defer_dangling && errors == 0 && problem.dangling_target.is_some() {
            deferred.push(problem.clone());
        } else {
            printer.warn(problem);
        }
    }
    if errors > 0 {
        bail!(
            "local data has {}; nothing was sent (run `ckplan validate` for the full report)",
            crate::render::plural(errors, "error")
        );
    }
    Ok((local, deferred))
}

/// Stops when a field's local type differs from CloudKit's, or a local record's name is
/// held by a record of another type: each is printed as an error, and nothing is planned
/// (no apply could ever make the two sides equal).
pub fn refuse_type_conflicts(survey: &Survey) -> anyhow::Result<()> {
    for clash in &survey.name_clashes {
        stderrln!(
            "{} {}",
            console::style("error:").red().bold().for_stderr(),
            crate::render::escape::escape(&clash.to_string())
        );
    }
    if !survey.name_clashes.is_empty() {
        let count = survey.name_clashes.len();
        bail!(
            "{count} record name{} taken by a record of another type in CloudKit; nothing was \
             planned",
            if count == 1 { " is" } else { "s are" }
        );
    }
    let conflicts = &survey.type_conflicts;
    for conflict in conflicts {
        stderrln!(
            "{} {}",
            console::style("error:").red().bold().for_stderr(),
            crate::render::escape::escape(&conflict.to_string())
        );
    }
    if !conflicts.is_empty() {
        bail!(
            "{} field{} would change type in CloudKit, which it refuses; nothing was planned",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// The record types named with `--type` (each must be configured), or every configured type.
pub fn selected_types(config: &Config, types: &[String]) -> anyhow::Result<Vec<RecordType>> {
    let only: Vec<RecordType> = types.iter().map(|t| RecordType::new(t.as_str())).collect();
    sync::selected_types(config, &only).map_err(anyhow::Error::msg)
}

/// Everything up to an in-memory plan: shared with smart sync.
pub async fn make_plan(
    config: &Config,
    globals: &Globals,
    types: &[String],
    delete_orphans: bool,
    delete_referenced: bool,
    parallelism: usize,
) -> anyhow::Result<Plan> {
    let selected = selected_types(config, types)?;
    // Local data first: it names every unreadable file with its problem.
    let (local, dangling) = load_local_deferring(config, &globals.printer, true)?;
    let inputs = sync::input_digests(config).context("failed to read an input file")?;
    let token = super::schema_steps::token(config)?;
    let connection =
        super::connect::connect_with_token(config, globals, parallelism, token.clone()).await?;
    let schema = super::schema_steps::read(config, &connection, &selected, token).await?;
    let undeployed = crate::ops::schema::undeployed_types(config.environment, schema.as_ref());
    let bar = ReadBar::new(globals.printer.shows_progress());
    let client = &connection.client;
    let survey = sync::survey_with(config, local, client, &selected, &bar, &undeployed).await;
    let untouched = match &survey {
        Ok(survey) if delete_orphans => {
            let client = &connection.client;
            sync::references::untouched_references(config, client, &selected, &survey.diffs)
                .await
                .context("failed to read the other record types for references to orphans")
        }
        _ => Ok(Vec::new()),
    };
    bar.finish();
    connection.close().await;
    let survey = survey?;
    for note in &survey.notes {
        globals.printer.warn(note);
    }
    refuse_type_conflicts(&survey)?;
    let request = crate::ops::plan::PlanRequest {
        selected,
        filtered: !types.is_empty(),
        delete_orphans,
        delete_referenced,
        inputs,
        created_at: globals.context.clock.timestamp(),
    };
    let planned = crate::ops::plan::build(config, survey, untouched?, dangling, request);
    for warning in &planned.warnings {
        globals.printer.warn(warning);
    }
    let mut plan = planned.plan;
    plan.schema = schema;
    Ok(plan)
}

/// The guard of every command that writes (`apply`, `import`, `delete-all`): a
/// development target passes; a production target needs `--allow-production`
/// (`allowed`), or, on a terminal, the container name typed back.
///
/// # Errors
/// A production target without `allowed` when no terminal can answer, or a wrong answer.
pub fn production_guard(config: &Config, allowed: bool, globals: &Globals) -> anyhow::Result<()> {
    if config.environment != Environment::Production || allowed {
        return Ok(());
    }
    let prompter = &globals.context.prompter;
    if !prompter.can_ask() {
        bail!(
            "refusing to write to the production environment of `{}` without --allow-production",
            config.container
        );
    }
    stderrln!(
        "This writes to the PRODUCTION environment of `{}`.",
        config.container
    );
    let answer = prompter
        .ask("Type the container name to continue: ")
        .context("failed to read the answer")?;
    if answer.as_deref() != Some(config.container.as_str()) {
        bail!("cancelled: the container name did not match; nothing was sent");
    }
    Ok(())
}
