//! `ckplan delete-all --type T`: the old behaviour, kept: delete every record of a type,
//! after confirmation.

use super::{output, workspace, CommandError, CommandResult, ExitStatus, Globals};
use crate::cloudkit::client::OperationResult;
use crate::cloudkit::wire::{Operation, OperationType, WireRecord};
use crate::record::RecordType;
use anyhow::Context;
use std::io::BufRead;

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

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    let record_type = RecordType::new(args.record_type.as_str());
    let connection = workspace::connect(&config).await?;
    let records = connection
        .client
        .query_all(&record_type, &mut |_| {})
        .await?;
    if records.is_empty() {
        eprintln!("No `{record_type}` records in `{}`.", config.target());
        connection.close().await;
        return Ok(ExitStatus::Success);
    }
    if !args.yes {
        if !output::stdin_is_terminal() && !globals.interactive {
            return Err(CommandError::user(
                "refusing to delete without confirmation: stdin is not a terminal (use --yes)",
            ));
        }
        eprint!(
            "Delete all {} from `{}`? Type `{record_type}` to confirm: ",
            crate::render::plural(records.len(), &format!("`{record_type}` record")),
            config.target()
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != record_type.as_str() {
            eprintln!("Cancelled; nothing was deleted.");
            connection.close().await;
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
        "Deleted {}, {failed} failed.",
        crate::render::plural(results.len() - failed, &format!("`{record_type}` record"))
    );
    Ok(if failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
