//! Terminal output: colour decisions, error rendering, tracing set-up. stdout carries only
//! pipeable data; talk, progress and warnings go to stderr.

use console::style;
use std::io::IsTerminal;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Decides colour (`--no-color`, `NO_COLOR`, terminals only) and installs the tracing
/// subscriber on stderr for `-v` / `-vv`.
pub fn init(no_color: bool, verbose: u8, quiet: bool) {
    let no_color = no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if no_color {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, _) => LevelFilter::DEBUG,
    };
    // `CKPLAN_LOG` is a `target=level` list such as `ckplan=debug,reqwest=trace` (or a bare
    // level); unparsable text falls back to the flags' level for ckplan's own events.
    let filter = std::env::var("CKPLAN_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("ckplan", level));
    // The builder's own level would cap `filter` at INFO; `filter` decides alone.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_ansi(!no_color && std::io::stderr().is_terminal())
        .with_target(false);
    // Times only help when tracing requests (-vv); warnings read better without them.
    let _ = if verbose >= 2 {
        builder.finish().with(filter).try_init()
    } else {
        builder.without_time().finish().with(filter).try_init()
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

/// Advice for the CloudKit errors people meet first.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    use crate::cloudkit::wire::ServerErrorCode;
    use crate::cloudkit::CloudKitError;
    let service = error
        .chain()
        .find_map(|cause| match cause.downcast_ref::<CloudKitError>() {
            Some(CloudKitError::Service { code, reason, .. }) => Some((code, reason.as_deref())),
            _ => None,
        });
    match service? {
        (ServerErrorCode::BadRequest, Some(reason)) if reason.contains("not marked queryable") => {
            Some("in CloudKit Console, add a QUERYABLE index for that field of the record type (`recordName` for queries without a filter), then deploy the schema")
        }
        (ServerErrorCode::AuthenticationFailed, _) => Some(
            "check `auth.key_id`, that the public key is registered for this container and environment, and that this machine's clock is right",
        ),
        (ServerErrorCode::AccessDenied, _) => Some(
            "grant the key's role CREATE and WRITE on the record type in CloudKit Console (Security Roles)",
        ),
        _ => None,
    }
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
