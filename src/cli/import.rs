//! `ckplan import`: the old behaviour, kept: `forceReplace` every local record in
//! sequential batches of 200, no diff, no review.

use super::{workspace, CommandResult, ExitStatus, Globals, Printer};
use crate::ops::import::{self, ImportObserver};
use crate::record::{RecordName, RecordType};
use crate::render::talk;

/// Force-replace every local record (no diff, no change tags: overwrites concurrent edits).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  ckplan import --type Stadium   # prefer `ckplan plan` + `ckplan apply`"
)]
pub struct Args {
    /// Only this record type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Needed to import into the production environment (or type the container name)
    #[arg(long)]
    pub allow_production: bool,
    /// Requests to CloudKit in flight at once
    #[arg(long, default_value_t = crate::cloudkit::client::DEFAULT_PARALLELISM, value_parser = super::connect::parse_parallelism)]
    pub parallelism: usize,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    let selected = workspace::selected_types(&config, &args.types)?;
    workspace::production_guard(&config, args.allow_production, globals)?;
    let mut local = workspace::load_local(&config, &globals.printer)?;
    let order = local.type_order(&config).types;
    let connection = workspace::connect(&config, globals, args.parallelism).await?;
    let observer = Progress {
        printer: globals.printer,
    };
    let imported =
        import::force_replace(&connection.client, &mut local, &order, &selected, &observer).await?;
    connection.close().await;
    let verdict = talk::imported(imported.imported, imported.failed);
    globals.printer.say(&verdict);
    Ok(if imported.failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

/// `Type: done/total` per batch; a warning per refused record.
struct Progress {
    printer: Printer,
}

impl ImportObserver for Progress {
    fn batch_done(&self, record_type: &RecordType, done: usize, total: usize) {
        self.printer
            .say(&talk::import_progress(record_type, done, total));
    }

    fn failed(&self, record_type: &RecordType, name: &RecordName, code: &str, reason: &str) {
        let line = talk::import_refused(record_type, name, code, reason);
        self.printer.say(&line);
    }
}
