//! What the commands that work on a config share: loading it with the credential
//! environment overrides, the production guard of every writing command, loading local
//! data with every problem shown, connecting, and reading progress on stderr.

pub use super::connect::connect;
use super::{Globals, Printer};
use crate::config::{Config, Overrides};
use crate::local::{self, LocalData};
use crate::plan::{Plan, PlanOptions};
use crate::record::{Environment, RecordType};
use crate::sync::{self, ReadProgress, Survey};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// `CKPLAN_KEY_ID` and `CKPLAN_PRIVATE_KEY_FILE`, empty values ignored.
fn environment_overrides() -> Overrides {
    Overrides {
        key_id: std::env::var("CKPLAN_KEY_ID")
            .ok()
            .filter(|v| !v.is_empty()),
        private_key_file: std::env::var_os("CKPLAN_PRIVATE_KEY_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    }
}

/// The configuration in force: the file (`--config`, `CKPLAN_CONFIG`, `./ckplan.yaml`)
/// resolved with the environment's overrides.
pub fn load_config(globals: &Globals) -> anyhow::Result<Config> {
    let config = Config::resolve(&globals.config_path(), &environment_overrides())?;
    // The embedded emulator's key guards nothing; a real key readable by others does.
    if let (Some(key_file), false) = (&config.auth.private_key_file, is_embedded(&config)) {
        warn_if_key_is_readable_by_others(key_file, &globals.printer);
    }
    Ok(config)
}

fn is_embedded(config: &Config) -> bool {
    matches!(config.endpoint, crate::config::Endpoint::Embedded { .. })
}

#[cfg(unix)]
fn warn_if_key_is_readable_by_others(path: &std::path::Path, printer: &Printer) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            printer.warn(format_args!(
                "private key `{}` is readable by group or others; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
}

#[cfg(not(unix))]
fn warn_if_key_is_readable_by_others(_path: &std::path::Path, _printer: &Printer) {}

/// Loads every data file, prints every problem on stderr, and fails if any is an error.
pub fn load_local(config: &Config, printer: &Printer) -> anyhow::Result<LocalData> {
    let local = local::load_all(config);
    for problem in local.problems() {
        if problem.is_error() {
            printer.error(problem);
        } else {
            printer.warn(problem);
        }
    }
    let errors = local.error_count();
    if errors > 0 {
        bail!(
            "local data has {}; nothing was sent (run `ckplan validate` for the full report)",
            crate::render::plural(errors, "error")
        );
    }
    Ok(local)
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

/// A spinner counting records read, on stderr when it is a terminal.
pub struct ReadBar(Option<ProgressBar>);

impl ReadBar {
    /// `visible`: [`super::Printer::shows_progress`], and the command wants a spinner.
    pub fn new(visible: bool) -> Self {
        if !visible {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} reading CloudKit: {pos} records ({elapsed})")
                .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(Some(bar))
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl ReadProgress for ReadBar {
    fn records_read(&self, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_position(total as u64);
        }
    }
}

/// Everything up to an in-memory plan: shared with smart sync.
pub async fn make_plan(
    config: &Config,
    globals: &Globals,
    types: &[String],
    delete_orphans: bool,
    parallelism: usize,
) -> anyhow::Result<Plan> {
    let selected = selected_types(config, types)?;
    // Local data first: it names every unreadable file with its problem.
    let local = load_local(config, &globals.printer)?;
    let inputs = sync::input_digests(config).context("failed to read an input file")?;
    let connection = connect(config, globals, parallelism).await?;
    let bar = ReadBar::new(globals.printer.shows_progress());
    let survey = sync::survey(config, local, &connection.client, &selected, &bar).await;
    bar.finish();
    connection.close().await;
    let survey = survey?;
    for note in &survey.notes {
        globals.printer.warn(note);
    }
    refuse_type_conflicts(&survey)?;
    let Survey {
        diffs, type_order, ..
    } = survey;
    if let Some(cycle) = &type_order.cycle {
        let names: Vec<_> = cycle.iter().map(|t| t.as_str()).collect();
        globals.printer.warn(format_args!(
            "record types reference each other in a cycle ({}); they are applied by name",
            names.join(", ")
        ));
    }
    let options = PlanOptions {
        delete_orphans,
        types: (!types.is_empty()).then_some(selected.clone()),
    };
    let rules = config
        .types
        .iter()
        .map(|(t, c)| (t.clone(), c.compare_rules()))
        .collect();
    Ok(Plan::build(
        config.target(),
        options,
        inputs,
        type_order.types,
        diffs,
        globals.context.clock.timestamp(),
    )
    .with_rules(rules)
    .with_endpoint(config.endpoint_text()))
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
