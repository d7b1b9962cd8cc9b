//! `ckplan validate`: checks the config and every local data file, without any network.
//! Lists every problem (errors and warnings, each with file, place, record and field), a
//! record count per type, and exits 1 when there is an error.

use super::{output, ExitStatus, Globals};
use crate::config::Config;
use crate::local::{load_all, LocalData, Problem, Severity};
use anyhow::Context;
use console::style;

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

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitStatus> {
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
        println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&data, &cycle_warning))?
        );
    } else {
        print_problems(&data, globals.quiet);
        if let Some(warning) = cycle_warning.as_ref().filter(|_| !globals.quiet) {
            output::warn(warning);
        }
        if !globals.quiet {
            for record_type in &order.types {
                let count = data.records(record_type).len();
                eprintln!("{record_type}: {count} {}", plural(count, "record"));
            }
        }
    }
    if !globals.quiet || errors > 0 {
        eprintln!(
            "validate: {errors} {}, {warnings} {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    Ok(if errors > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

fn print_problems(data: &LocalData, quiet: bool) {
    for problem in data.problems() {
        match problem.severity {
            Severity::Error => eprintln!("{} {problem}", style("error:").red().bold().for_stderr()),
            Severity::Warning if !quiet => output::warn(problem),
            Severity::Warning => {}
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

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}
