//! `ckplan validate`: checks the config and every local data file, without any network.
//! Lists every problem (errors and warnings, each with file, place, record and field), a
//! record count per type ([`crate::render::validate`]), and exits 1 when there is an error.

use super::{CommandResult, ExitStatus, Globals};
use crate::config::Config;
use crate::local::load_all;
use crate::render::{self, validate as view};
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
    let path = globals.config_path();
    // With the credential environment, as `plan` has it: a key file CKPLAN_PRIVATE_KEY_FILE
    // names is one of ckplan's own files, never an asset.
    let overrides =
        super::credentials::environment_overrides(globals.environment, &globals.printer);
    let config = Config::resolve(&path, &overrides).context("cannot validate")?;
    let data = load_all(&config);
    let order = data.type_order(&config);
    let cycle_warning = view::cycle_warning(&config.path, &order);
    let format = render::Format::json_if(args.json);
    let output =
        view::view(&data, &order, cycle_warning.as_ref(), format).map_err(anyhow::Error::from)?;
    globals.printer.show(&output)?;
    Ok(if data.error_count() > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
