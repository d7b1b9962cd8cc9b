//! The diff view: one counting line per type (worded by [`super::summary`]), with `-v` the
//! records and their changed fields, then the orphan line; or the same as JSON.

use super::summary::{self, OrphanFate, TypeCounts};
use super::{escape, Json, Text};
use crate::diff::{Category, TypeDiff};
use serde_json::json;

/// What the text view lists besides the counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Listing {
    /// Counts only.
    #[default]
    None,
    /// Every record with its category (`-v`).
    All,
    /// Only new, updated and orphan records (`--changes-only`).
    ChangesOnly,
}

/// Counts per type, the listing the options ask for, and the orphan line.
pub fn text(diffs: &[TypeDiff], options: Text) -> String {
    let mut out = String::new();
    for diff in diffs {
        out.push_str(&summary::type_line(TypeCounts::from(diff)));
        out.push('\n');
        match options.listing {
            Listing::None => {}
            Listing::All => out.push_str(&listing(diff, false)),
            Listing::ChangesOnly => out.push_str(&listing(diff, true)),
        }
    }
    let orphans: usize = diffs.iter().map(|d| d.count(Category::Orphan)).sum();
    if let Some(line) = summary::orphan_line(orphans, OrphanFate::Compared) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn listing(diff: &TypeDiff, changes_only: bool) -> String {
    let mut out = String::new();
    for record in &diff.records {
        let mark = match record.category {
            Category::New => "+ new",
            Category::Updated => "~ updated",
            Category::Orphan => "- orphan",
            Category::Unchanged if changes_only => continue,
            Category::Unchanged => "  unchanged",
        };
        out.push_str(&format!("  {mark} {}", escape(record.record_name.as_str())));
        if !record.changes.is_empty() {
            let fields: Vec<_> = record.changes.iter().map(|c| escape(&c.field)).collect();
            out.push_str(&format!(" ({})", fields.join(", ")));
        }
        out.push('\n');
    }
    out
}

/// `{"types": [{record_type, counts, new, updated, deleted}]}`, pretty, with a line end.
/// Names are JSON strings: a JSON reader sees them exactly; invisible characters in them are
/// `\uXXXX` escapes ([`super::json`]).
pub fn json(diffs: &[TypeDiff], _: Json) -> String {
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
                    "deleted": diff.count(Category::Orphan),
                },
                "new": names(diff, Category::New),
                "updated": updated,
                "deleted": names(diff, Category::Orphan),
            })
        })
        .collect();
    let text = super::json::to_string_pretty(&json!({ "types": types }))
        .expect("JSON values always serialize");
    format!("{text}\n")
}
