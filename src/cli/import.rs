//! `ckplan import`: the old behaviour, kept: `forceReplace` every local record in
//! sequential batches of 200, no diff, no review.

use super::{workspace, CommandResult, ExitStatus, Globals};
use crate::cloudkit::client::OperationResult;
use crate::cloudkit::wire::{Operation, OperationType, WireRecord};
use anyhow::Context;

/// Force-replace every local record (no diff, no change tags: overwrites concurrent edits).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  ckplan import --type Stadium   # prefer `ckplan plan` + `ckplan apply`"
)]
pub struct Args {
    /// Only this record type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    let selected = workspace::selected_types(&config, &args.types)?;
    let mut local = workspace::load_local(&config, &globals.printer)?;
    let order = local.type_order(&config).types;
    let connection = workspace::connect(&config).await?;
    let mut imported = 0;
    let mut failed = 0;
    for record_type in order.iter().filter(|t| selected.contains(t)) {
        let records = local.take_records(record_type);
        let total = records.len();
        for (index, chunk) in records.chunks(crate::apply::BATCH_SIZE).enumerate() {
            let operations = chunk
                .iter()
                .map(|record| Operation {
                    operation_type: OperationType::ForceReplace,
                    record: WireRecord::from_record(record),
                    desired_keys: None,
                })
                .collect();
            let results = connection
                .client
                .modify_batch(operations)
                .await
                .with_context(|| format!("import of `{record_type}` stopped"))?;
            for result in results {
                match result {
                    OperationResult::Failed(name, failure) => {
                        failed += 1;
                        globals.printer.warn(format_args!(
                            "{record_type} `{name}`: {} {}",
                            failure.code,
                            failure.reason.unwrap_or_default()
                        ));
                    }
                    _ => imported += 1,
                }
            }
            if !globals.printer.is_quiet() {
                eprintln!(
                    "{record_type}: {}/{total}",
                    (index * crate::apply::BATCH_SIZE + chunk.len())
                );
            }
        }
    }
    connection.close().await;
    eprintln!(
        "Import complete: {} force-replaced, {failed} failed.",
        crate::render::plural(imported, "record")
    );
    Ok(if failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
