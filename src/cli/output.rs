//! Terminal output: colour decisions, error rendering, tracing set-up. stdout carries only
//! pipeable data; talk, progress and warnings go to stderr.

use console::style;
use std::io::IsTerminal;

/// Decides colour (`--no-color`, `NO_COLOR`, terminals only) and installs the tracing
/// subscriber on stderr for `-v` / `-vv`.
pub fn init(no_color: bool, verbose: u8, quiet: bool) {
    let no_color = no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if no_color {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CKPLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ckplan={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!no_color && std::io::stderr().is_terminal())
        .with_target(false);
    // Times only help when tracing requests (-vv); warnings read better without them.
    let _ = if verbose >= 2 {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// `error: <message>`, each cause on its own `  caused by:` line, then any `hint:`, on
/// stderr.
pub fn print_error(error: &anyhow::Error) {
    eprintln!("{} {error}", style("error:").red().bold().for_stderr());
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = hint(error) {
        eprintln!("{} {hint}", style("hint:").cyan().bold().for_stderr());
    }
}

/// The advice the first CloudKit error in the chain carries.
fn hint(error: &anyhow::Error) -> Option<String> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<crate::cloudkit::CloudKitError>())
        .and_then(crate::cloudkit::CloudKitError::hint)
}

/// A warning line on stderr.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!(
        "{} {message}",
        style("warning:").yellow().bold().for_stderr()
    );
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}
