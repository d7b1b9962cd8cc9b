//! `ckplan delete-all --type T`: the old behaviour, kept: delete every record of a type,
//! after confirmation.

use super::{workspace, CommandError, CommandResult, ExitStatus, Globals};
use crate::ops::delete_all;
use crate::render::talk;
use anyhow::Context;

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
    /// Needed to delete from the production environment (or type the container name)
    #[arg(long)]
    pub allow_production: bool,
    /// Requests to CloudKit in flight at once
    #[arg(long, default_value_t = crate::cloudkit::client::DEFAULT_PARALLELISM, value_parser = super::connect::parse_parallelism)]
    pub parallelism: usize,
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    // Only a configured type: a typo must not pass as "nothing to delete".
    let record_type =
        workspace::selected_types(&config, std::slice::from_ref(&args.record_type))?.remove(0);
    workspace::production_guard(&config, args.allow_production, globals)?;
    let connection = workspace::connect(&config, globals, args.parallelism).await?;
    let names = delete_all::list(&connection.client, &record_type).await?;
    if names.is_empty() {
        let line = talk::nothing_to_delete(&record_type, &config.target());
        globals.printer.say(&line);
        return Ok(ExitStatus::Success);
    }
    if let Some(warning) = referencing_fields(&config, &record_type) {
        globals.printer.warn(warning);
    }
    if !args.yes {
        let prompter = &globals.context.prompter;
        if !prompter.can_ask() {
            return Err(CommandError::user(
                "refusing to delete without confirmation: stdin is not a terminal (use --yes)",
            ));
        }
        let answer = prompter.ask(&format!(
            "Delete all {} from `{}`? Type `{record_type}` to confirm: ",
            crate::render::plural(names.len(), &format!("`{record_type}` record")),
            config.target()
        ))?;
        if answer.as_deref() != Some(record_type.as_str()) {
            // A refusal is not a success (exit 1), as for smart sync's prompt.
            globals.printer.say(&talk::delete_declined());
            return Ok(ExitStatus::Error);
        }
    }
    let deleted = delete_all::delete(&connection.client, &names)
        .await
        .context("delete-all stopped")?;
    connection.close().await;
    let verdict = talk::deleted(&record_type, deleted.deleted, deleted.failed);
    globals.printer.say(&verdict);
    Ok(if deleted.failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

/// The fields of other configured types that reference `record_type` (declared with
/// `REFERENCE(Type)`) or may (a `REFERENCE` without a declared target), as a warning: their
/// records keep dangling references, and with `DELETE_SELF` CloudKit deletes them too.
fn referencing_fields(
    config: &crate::config::Config,
    record_type: &crate::record::RecordType,
) -> Option<String> {
    let mut fields = Vec::new();
    for (other, type_config) in &config.types {
        for (field, spec) in &type_config.fields {
            let named = match &spec.target {
                Some(target) if target == record_type => "",
                // A field of the type being emptied goes with it.
                None if spec.is_reference() && other != record_type => " (may: no declared target)",
                _ => continue,
            };
            fields.push(format!("{other}.{field}{named}"));
        }
    }
    (!fields.is_empty()).then(|| {
        format!(
            "other configured types reference `{record_type}`: {}; their references will dangle, and CloudKit deletes the records whose reference has action DELETE_SELF",
            fields.join(", ")
        )
    })
}
