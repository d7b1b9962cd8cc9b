//! `ckplan validate`: checks the config and every local data file, without any network.
//! Lists every problem (errors and warnings, each with file, place, record and field), a
//! record count per type, and exits 1 when there is an error.

use super::{CommandResult, ExitStatus, Globals, Printer};
use crate::config::Config;
use crate::local::{load_all, LocalData, Problem, Severity};
use crate::render::{escape, plural};
use anyhow::Context;

/// Check ckplan.yaml and every data file it names (no network).
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  \
    $ ckplan --config examples/sportstime/ckplan.yaml validate\n  \
    error: data/teams.yaml:12: Team `team-7` field `founded`: expected INT64, found string \"abc\"\n  \
    warning: data/games.ndjson:40: Game `game-40` field `venue`: references `stadium-99`, which no \
    local `Stadium` record defines (it may exist only in CloudKit)\n  \
    Stadium: 30 records\n  \
    Team: 29 records\n  \
    Game: 5760 records\n  \
    validate: 1 error, 1 warning\n\n\
    Exit status: 0 when there is no error (warnings alone do not fail), 1 otherwise.\n\
    With --json, stdout holds {\"problems\": [...], \"types\": {...}, \"errors\": N, \"warnings\": N}.")]
pub struct Args {
    /// Print the problems and counts as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, globals: &Globals) -> CommandResult {
    let printer = &globals.printer;
    let path = globals.config_path();
    let config = Config::load(&path).context("cannot validate")?;
    let data = load_all(&config);
    let order = data.type_order(&config);
    let cycle_warning = order.cycle.as_ref().map(|types| {
        let names: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
        format!(
            "{}: record types reference each other in a cycle ({}); they are applied in name order",
            config.path.display(),
            names.join(", ")
        )
    });
    let errors = data.error_count();
    let warnings = data.warning_count() + usize::from(cycle_warning.is_some());
    if args.json {
        let json = crate::render::json::to_string_pretty(&json_report(&data, &cycle_warning))
            .map_err(anyhow::Error::from)?;
        printer.data(&format!("{json}\n"))?;
    } else {
        print_problems(&data, printer);
        if let Some(warning) = &cycle_warning {
            printer.warn(warning);
        }
        for record_type in &order.types {
            let count = data.records(record_type).len();
            printer.status(format_args!(
                "{}: {}",
                escape(record_type.as_str()),
                plural(count, "record")
            ));
        }
    }
    printer.outcome(
        format_args!(
            "validate: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ),
        errors > 0,
    );
    Ok(if errors > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

fn print_problems(data: &LocalData, printer: &Printer) {
    for problem in data.problems() {
        match problem.severity {
            Severity::Error => printer.error(problem),
            Severity::Warning => printer.warn(problem),
        }
    }
}

fn json_report(data: &LocalData, cycle_warning: &Option<String>) -> serde_json::Value {
    let problems: Vec<&Problem> = data.problems().collect();
    let types: serde_json::Map<String, serde_json::Value> = data
        .types
        .iter()
        .map(|(t, loaded)| {
            (
                t.to_string(),
                serde_json::json!({"records": loaded.records.len()}),
            )
        })
        .collect();
    serde_json::json!({
        "problems": problems,
        "cycle_warning": cycle_warning,
        "types": types,
        "errors": data.error_count(),
        "warnings": data.warning_count() + usize::from(cycle_warning.is_some()),
    })
}
