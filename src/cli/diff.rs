//! `ckplan diff`: what a plan would change, per type, without writing anything.

use super::{workspace, ExitStatus, Globals};
use crate::diff::{Category, TypeDiff};
use crate::sync;
use serde_json::json;

/// Compare local data with CloudKit and report per type; never writes.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  ckplan diff\n  \
    Stadium: 32 unchanged, 2 new, 1 updated, 0 deleted\n  \
    ckplan diff -v --changes-only --type Team\n  ckplan diff --json | jq '.types[].new'")]
pub struct Args {
    /// Only this record type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// List the records that change (new, updated, orphans) with their changed fields; -v
    /// lists unchanged records too unless this is given
    #[arg(long)]
    pub changes_only: bool,
    /// Machine-readable report on stdout
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitStatus> {
    let config = workspace::load_config(globals)?;
    let types = workspace::selected_types(&config, &args.types)?;
    let local = workspace::load_local(&config)?;
    let connection = workspace::connect(&config).await?;
    let bar = workspace::ReadBar::new(globals.quiet || args.json);
    let survey = sync::survey(&config, local, &connection.client, &types, &bar).await;
    bar.finish();
    connection.close().await;
    let survey = survey?;
    for note in &survey.notes {
        super::output::warn(note);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&survey.diffs))?
        );
    } else {
        print!(
            "{}",
            report_text(
                &survey.diffs,
                globals.verbose > 0 || args.changes_only,
                args.changes_only
            )
        );
    }
    Ok(ExitStatus::Success)
}

/// `Stadium: 32 unchanged, 2 new, 1 updated, 0 deleted` per type, the listing with -v, and
/// the orphan line.
pub fn report_text(diffs: &[TypeDiff], verbose: bool, changes_only: bool) -> String {
    let mut out = String::new();
    for diff in diffs {
        out.push_str(&format!(
            "{}: {} unchanged, {} new, {} updated, {} deleted\n",
            diff.record_type,
            diff.count(Category::Unchanged),
            diff.count(Category::New),
            diff.count(Category::Updated),
            diff.count(Category::Deleted),
        ));
        if verbose {
            out.push_str(&listing(diff, changes_only));
        }
    }
    let orphans: usize = diffs.iter().map(|d| d.count(Category::Deleted)).sum();
    if orphans > 0 {
        out.push_str(&format!(
            "Would delete {orphans} orphan records (use --delete-orphans to confirm)\n"
        ));
    }
    out
}

fn listing(diff: &TypeDiff, changes_only: bool) -> String {
    let mut out = String::new();
    for record in &diff.records {
        let mark = match record.category {
            Category::New => "+ new",
            Category::Updated => "~ updated",
            Category::Deleted => "- orphan",
            Category::Unchanged if changes_only => continue,
            Category::Unchanged => "  unchanged",
        };
        out.push_str(&format!("  {mark} {}", record.record_name));
        if !record.changes.is_empty() {
            let fields: Vec<&str> = record.changes.iter().map(|c| c.field.as_str()).collect();
            out.push_str(&format!(" ({})", fields.join(", ")));
        }
        out.push('\n');
    }
    out
}

fn report_json(diffs: &[TypeDiff]) -> serde_json::Value {
    fn names(diff: &TypeDiff, category: Category) -> Vec<&str> {
        diff.records
            .iter()
            .filter(|r| r.category == category)
            .map(|r| r.record_name.as_str())
            .collect()
    }
    let types: Vec<_> = diffs
        .iter()
        .map(|diff| {
            let updated: Vec<_> = diff
                .records
                .iter()
                .filter(|r| r.category == Category::Updated)
                .map(|r| {
                    json!({
                        "record_name": r.record_name,
                        "fields": r.changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "record_type": diff.record_type,
                "counts": {
                    "unchanged": diff.count(Category::Unchanged),
                    "new": diff.count(Category::New),
                    "updated": diff.count(Category::Updated),
                    "deleted": diff.count(Category::Deleted),
                },
                "new": names(diff, Category::New),
                "updated": updated,
                "deleted": names(diff, Category::Deleted),
            })
        })
        .collect();
    json!({ "types": types })
}
