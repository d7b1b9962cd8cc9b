//! The command line: argument parsing, one file per command, and the only code that prints,
//! prompts, reads environment variables or decides the exit code.

/// `stderr!` that cannot panic: a closed stderr drops the text ([`output::stderr_fmt`]).
/// Only the prompter's question is written with it; every other line goes through the
/// [`output::Printer`].
macro_rules! stderr {
    ($($arg:tt)*) => {
        $crate::cli::output::stderr_fmt(format_args!($($arg)*))
    };
}

pub mod apply;
mod apply_view;
pub mod completions;
mod connect;
mod credentials;
pub mod delete_all;
pub mod diff;
pub mod doctor;
pub mod emulator;
pub mod error;
pub mod export;
pub mod import;
pub mod keygen;
pub mod menu;
pub mod output;
pub mod plan;
mod plan_config;
mod prompt;
mod read_bar;
pub mod schema;
mod schema_steps;
pub mod show;
mod signals;
pub mod validate;
mod workspace;

use crate::context::{Clock, Context};
pub use error::{CommandError, CommandResult, ErrorKind};
pub use output::Printer;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Terraform-style plan and apply for Apple CloudKit records.
#[derive(Debug, Parser)]
#[command(name = "ckplan", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Configuration file [default: ./ckplan.yaml]
    #[arg(long, global = true, env = "CKPLAN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The environment to target, over `environment:` in the config (and its key from
    /// `auth.development` / `auth.production`)
    #[arg(long, global = true, env = "CKPLAN_ENVIRONMENT", value_name = "ENVIRONMENT", value_parser = parse_environment)]
    pub environment: Option<EnvironmentChoice>,
    /// Never colour output (NO_COLOR is honoured too)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More detail: -v lists records, -vv traces requests
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(validate::Args),
    Diff(diff::Args),
    Doctor(doctor::Args),
    Plan(plan::Args),
    Show(show::Args),
    Schema(schema::Args),
    Apply(apply::Args),
    Import(import::Args),
    DeleteAll(delete_all::Args),
    Export(export::Args),
    Emulator(emulator::Args),
    Keygen(keygen::Args),
    Menu(menu::Args),
    Completions(completions::Args),
}

/// The process exit status: 0 success, 1 error, 2 changes present (`--detailed-exitcode`),
/// 3 apply stopped on conflicts, 130 apply interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Error,
    ChangesPresent,
    Conflicts,
    /// Stopped by Ctrl-C or SIGTERM after the batches in flight (128 + SIGINT, the shell's
    /// convention, as Terraform does).
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::ChangesPresent => 2,
            ExitStatus::Conflicts => 3,
            ExitStatus::Interrupted => 130,
        })
    }
}

impl Cli {
    /// The printer every command writes through, from `-q`, `-v` and the colour flags.
    pub fn printer(&self) -> Printer {
        Printer::new(self.no_color, self.verbose, self.quiet)
    }
}

/// Prints a command-line parse error (or the `--help` / `--version` text clap answers with)
/// and returns the status: 0 for help and version, 1 for an argument error, so that 2 always
/// means "changes present" under `--detailed-exitcode` (Terraform exits 1 for usage errors
/// too; clap's own default is 2).
pub fn argument_error(error: &clap::Error) -> ExitStatus {
    // A closed stream leaves nothing to tell.
    let _ = error.print();
    match error.use_stderr() {
        true => ExitStatus::Error,
        false => ExitStatus::Success,
    }
}

/// Options every command sees.
#[derive(Clone, Debug)]
pub struct Globals {
    pub config: Option<PathBuf>,
    /// `--environment` / `CKPLAN_ENVIRONMENT`, when given.
    pub environment: Option<crate::record::Environment>,
    /// `-v` count: how much detail a command lists (records, unchanged fields).
    pub verbose: u8,
    /// All output goes through it; it alone knows `-q` and colour.
    pub printer: Printer,
    /// Clock, seed and prompter (`CKPLAN_TIMESTAMP`, `CKPLAN_RANDOMNESS_SEED`, stdin).
    pub context: Context,
}

impl Globals {
    /// A `ckplan` command line to suggest: the `--config` and `--environment` this run was
    /// given (or `CKPLAN_CONFIG`, `CKPLAN_ENVIRONMENT`), then `args`, every word shell-quoted.
    pub fn command_line(&self, args: &[&str]) -> String {
        let config = self.config.as_ref().map(|path| path.display().to_string());
        let mut words: Vec<&str> = Vec::new();
        if let Some(config) = &config {
            words.extend(["--config", config.as_str()]);
        }
        if let Some(environment) = self.environment {
            words.extend(["--environment", environment.as_str()]);
        }
        words.extend_from_slice(args);
        crate::render::shell_command(&words)
    }

    /// The configuration file: `--config`, `CKPLAN_CONFIG`, or `./ckplan.yaml`.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from("ckplan.yaml"))
    }
}

/// The environment variable `name`, unless unset or empty.
fn non_empty_variable(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The run's context from the environment: `CKPLAN_TIMESTAMP` (RFC 3339) pins every "now",
/// `CKPLAN_RANDOMNESS_SEED` (an integer) seeds retry jitter and the embedded emulator.
fn context_from_environment() -> Result<Context, CommandError> {
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let clock = match variable("CKPLAN_TIMESTAMP") {
        Some(text) => Clock::fixed_at(&text).map_err(|_| {
            CommandError::user(format!(
                "CKPLAN_TIMESTAMP `{text}` is not an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05Z)"
            ))
        })?,
        None => Clock::System,
    };
    let seed = variable("CKPLAN_RANDOMNESS_SEED")
        .map(|text| {
            text.trim().parse::<u64>().map_err(|_| {
                CommandError::user(format!(
                    "CKPLAN_RANDOMNESS_SEED `{text}` is not a whole number"
                ))
            })
        })
        .transpose()?;
    Ok(Context {
        clock,
        seed,
        prompter: Arc::new(prompt::StdinPrompter::default()),
    })
}

/// `--environment` as given: `None` for an empty `CKPLAN_ENVIRONMENT` (a CI variable that is
/// set but empty means "not chosen").
#[derive(Clone, Copy, Debug)]
pub struct EnvironmentChoice(Option<crate::record::Environment>);

/// `development`, `production`, or empty.
fn parse_environment(text: &str) -> Result<EnvironmentChoice, String> {
    match text {
        "" => Ok(EnvironmentChoice(None)),
        "development" => Ok(EnvironmentChoice(Some(
            crate::record::Environment::Development,
        ))),
        "production" => Ok(EnvironmentChoice(Some(
            crate::record::Environment::Production,
        ))),
        _ => Err(format!("`{text}` is not `development` or `production`")),
    }
}

/// Runs the command `cli` names, writing through `printer`; the caller prints the error.
pub fn run(cli: Cli, printer: Printer) -> CommandResult {
    let globals = Globals {
        config: cli.config,
        environment: cli.environment.and_then(|choice| choice.0),
        verbose: cli.verbose,
        printer,
        context: context_from_environment()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            CommandError::new(ErrorKind::Internal, error).context("failed to start the runtime")
        })?;
    let config = globals.config.clone();
    runtime
        .block_on(dispatch(cli.command, globals))
        .map_err(|error| match config {
            Some(config) => error.with_config_in_hints(&config),
            None => error,
        })
}

/// Runs one parsed command (the binary's, or one chosen in `ckplan menu`).
pub async fn dispatch(command: Command, globals: Globals) -> CommandResult {
    let globals = &globals;
    match command {
        Command::Validate(args) => validate::run(args, globals),
        Command::Diff(args) => diff::run(args, globals).await,
        Command::Doctor(args) => doctor::run(args, globals).await,
        Command::Plan(args) => plan::run(args, globals).await,
        Command::Show(args) => show::run(args, globals),
        Command::Schema(args) => schema::run(args, globals).await,
        Command::Apply(args) => apply::run(args, globals).await,
        Command::Import(args) => import::run(args, globals).await,
        Command::DeleteAll(args) => delete_all::run(args, globals).await,
        Command::Export(args) => export::run(args, globals).await,
        Command::Keygen(args) => keygen::run(args, globals),
        Command::Menu(args) => Box::pin(menu::run(args, globals)).await,
        Command::Completions(args) => completions::run(args, &globals.printer),
        Command::Emulator(args) => emulator::run(args, globals).await,
    }
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command tree (a subcommand repeating a global flag
    /// such as `--environment` panics only when that subcommand is parsed).
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
