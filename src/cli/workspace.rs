//! What the commands that work on a config share: loading it with the credential
//! environment overrides, the production guard of every writing command, loading local
//! data with every problem shown, connecting, and reading progress on stderr.

pub use super::connect::connect;
use super::{connect, credentials, Globals, Printer};
use crate::config::Config;
use crate::local::{self, LocalData};
use crate::ops::make_plan::{self, PlanArgs, PlanError, PlanObserver};
use crate::plan::Plan;
use crate::record::{Environment, RecordType};
use crate::sync;
use anyhow::{bail, Context};

pub use super::read_bar::ReadBar;

/// The configuration in force: the file (`--config`, `CKPLAN_CONFIG`, `./ckplan.yaml`)
/// resolved with the environment's overrides.
pub fn load_config(globals: &Globals) -> anyhow::Result<Config> {
    let overrides = credentials::environment_overrides(globals.environment, &globals.printer);
    let config = Config::resolve(&globals.config_path(), &overrides)?;
    globals.note_key_settings(&config);
    credentials::warn_about_key_file(&config, &globals.printer);
    credentials::warn_about_token_file(&config, &globals.printer);
    Ok(config)
}

/// Shows what making a plan finds on the way: local problems and warnings through the
/// printer, refusals as errors, the read's progress on a spinner.
pub struct PlanTalk {
    printer: Printer,
    bar: ReadBar,
}

impl PlanTalk {
    /// `spinner`: the command wants a spinner (drawn only where progress is shown).
    pub fn new(printer: Printer, spinner: bool) -> Self {
        let bar = ReadBar::new(spinner && printer.shows_progress());
        Self { printer, bar }
    }
}

impl sync::ReadProgress for PlanTalk {
    fn records_read(&self, total: usize) {
        sync::ReadProgress::records_read(&self.bar, total);
    }
}

impl PlanObserver for PlanTalk {
    fn local_problem(&self, problem: &local::Problem) {
        if problem.is_error() {
            self.printer.error(problem);
        } else {
            self.printer.warn(problem);
        }
    }
    fn warning(&self, warning: &dyn std::fmt::Display) {
        self.printer.warn(warning);
    }
    fn refusal(&self, refusal: &dyn std::fmt::Display) {
        // One line: a record name from CloudKit cannot break it.
        self.printer
            .error(crate::render::escape(&refusal.to_string()));
    }
    fn read_finished(&self) {
        self.bar.finish();
    }
}

/// Loads every data file, prints every problem on stderr, and fails if any is an error.
pub fn load_local(config: &Config, printer: &Printer) -> Result<LocalData, PlanError> {
    let talk = PlanTalk::new(*printer, false);
    make_plan::load_local(config, &talk, false).map(|(local, _)| local)
}

/// The record types named with `--type` (each must be configured), or every configured type.
pub fn selected_types(config: &Config, types: &[String]) -> Result<Vec<RecordType>, PlanError> {
    make_plan::selected_types(config, types)
}

/// Everything up to an in-memory plan: shared with smart sync.
pub async fn make_plan(
    config: &Config,
    globals: &Globals,
    types: &[String],
    delete_orphans: bool,
    delete_referenced: bool,
    parallelism: usize,
    refresh_assets: bool,
) -> Result<Plan, super::CommandError> {
    let management_token = super::schema_steps::token(config)?;
    let has_token = management_token.is_some();
    let args = PlanArgs {
        types,
        delete_orphans,
        delete_referenced,
        refresh_assets,
        client: connect::client_options(globals, parallelism),
        management_token,
        created_at: globals.context.clock.timestamp(),
    };
    let talk = PlanTalk::new(globals.printer, true);
    make_plan::make_plan(config, args, &talk)
        .await
        .map_err(|error| super::schema_steps::read_error(error, config, has_token, globals))
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
    globals
        .printer
        .say(&crate::render::talk::production_warning(&config.container));
    let answer = prompter
        .ask("Type the container name to continue: ")
        .context("failed to read the answer")?;
    if answer.as_deref() != Some(config.container.as_str()) {
        bail!("cancelled: the container name did not match; nothing was sent");
    }
    Ok(())
}
