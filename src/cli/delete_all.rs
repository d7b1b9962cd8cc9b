//! `ckplan delete-all --type T`: the old behaviour, kept: delete every record of a type,
//! after confirmation.

use super::{workspace, ExitStatus, Globals};
use crate::cloudkit::client::OperationResult;
use crate::cloudkit::wire::{Operation, OperationType, WireRecord};
use anyhow::{bail, Context};

/// Delete every record of one type from CloudKit (asks first).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  ckplan delete-all --type Game          # asks you to type `Game`\n  \
    ckplan delete-all --type Game --yes"
)]
pub struct Args {
    /// The record type to empty
    #[arg(long = "type", value_name = "TYPE")]
    pub record_type: String,
    /// Do not ask
    #[arg(long)]
    pub yes: bool,
}

pub async fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitStatus> {
    let config = workspace::load_config(globals)?;
    // Only a configured type: a typo must not pass as "nothing to delete".
    let record_type =
        workspace::selected_types(&config, std::slice::from_ref(&args.record_type))?.remove(0);
    let connection = workspace::connect(&config).await?;
    let records = connection
        .client
        .query_all(&record_type, &mut |_| {})
        .await?;
    if records.is_empty() {
        eprintln!("No `{record_type}` records in `{}`.", config.target());
        return Ok(ExitStatus::Success);
    }
    if !args.yes {
        let prompter = &globals.context.prompter;
        if !prompter.can_ask() {
            bail!("refusing to delete without confirmation: stdin is not a terminal (use --yes)");
        }
        let answer = prompter.ask(&format!(
            "Delete all {} `{record_type}` records from `{}`? Type `{record_type}` to confirm: ",
            records.len(),
            config.target()
        ))?;
        if answer.as_deref() != Some(record_type.as_str()) {
            eprintln!("Cancelled; nothing was deleted.");
            return Ok(ExitStatus::Success);
        }
    }
    let operations: Vec<Operation> = records
        .iter()
        .map(|record| Operation {
            operation_type: OperationType::ForceDelete,
            record: WireRecord {
                record_name: Some(record.record_name.0.clone()),
                ..WireRecord::default()
            },
            desired_keys: None,
        })
        .collect();
    let results = connection
        .client
        .modify(operations)
        .await
        .context("delete-all stopped")?;
    connection.close().await;
    let failed = results
        .iter()
        .filter(|r| matches!(r, OperationResult::Failed(..)))
        .count();
    eprintln!(
        "Deleted {} `{record_type}` records, {failed} failed.",
        results.len() - failed
    );
    Ok(if failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
