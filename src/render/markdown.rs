//! The plan as markdown for a pull-request comment: the per-type counts table, the totals,
//! then each record type's changes in a collapsible `<details>` section, cut to fit a
//! comment with a count of what was left out and a pointer to the full plan.
//!
//! Record names and values come from a public database other people's apps write, so in
//! markdown they must not become mentions, links, HTML or broken tables. Every such text
//! goes inside a fenced code block whose fence is longer than any backtick run it holds
//! (CommonMark: a fence closes only on a fence at least as long), where nothing is
//! interpreted; the few names outside one (types in the table and the section titles, the
//! container and zone in the title) keep only identifier characters, every other character
//! written as its `\u{hex}` code, so no markdown or HTML character reaches the page.

use super::plan::ChangeBlocks;
use super::summary::{self, OrphanFate};
use crate::plan::{Action, Change, Plan};
use std::fmt::Write as _;

/// GitHub refuses comments over 65,536 characters; the view stays under this, footer
/// included.
pub const COMMENT_BUDGET: usize = 60_000;

/// What to show: counts only, or the changes of some types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// The counts table and totals only.
    pub summary_only: bool,
    /// Only these record types (empty: all).
    pub types: Vec<String>,
    /// List the fields each update leaves as they are.
    pub unchanged_fields: bool,
    /// The command that shows the full plan, for the pointer under a cut plan (already a
    /// shell command line: `ckplan --config … show PLAN`).
    pub full_plan_command: String,
    /// At most this many characters (a comment's limit).
    pub budget: usize,
}

/// `text` with only `[A-Za-z0-9_.-]` kept; anything else as `\u{hex}`: inert in markdown,
/// HTML and table cells alike.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    out
}

/// `text` as a code span (literal in markdown): hidden characters escaped, delimited by
/// more backticks than its longest run, padded when it starts or ends with one.
fn code_span(text: &str) -> String {
    let text = super::escape(text);
    let ticks = "`".repeat(longest_backtick_run(&text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A fence of backticks longer than any run of backticks in `text` (at least three).
fn fence_for(text: &str) -> String {
    "`".repeat((longest_backtick_run(text) + 1).max(3))
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// The plan as markdown.
pub fn plan(plan: &Plan, options: &MarkdownOptions) -> String {
    let mut out = String::new();
    let target = &plan.target;
    let _ = writeln!(
        out,
        "### ckplan plan for `{}` ({}, {} database, zone `{}`)\n",
        inert(&target.container),
        target.environment.as_str(),
        target.database.as_str(),
        inert(&target.zone)
    );
    let selected = |record_type: &str| {
        options.types.is_empty() || options.types.iter().any(|t| t == record_type)
    };
    // `deleted`: in CloudKit, not in the local data (the old script's word); the line
    // under the table says when this plan keeps them.
    out.push_str("| record type | new | updated | unchanged | deleted |\n");
    out.push_str("|---|--:|--:|--:|--:|\n");
    for row in plan
        .summary
        .iter()
        .filter(|s| selected(s.record_type.as_str()))
    {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            inert(row.record_type.as_str()),
            row.create,
            row.update,
            row.unchanged,
            row.orphans
        );
    }
    let _ = writeln!(out, "\n**{}**", summary::plan_totals(plan));
    out.push_str(&super::schema_part::markdown(plan));
    let (orphans, fate) = summary::plan_orphans(plan);
    if let (Some(line), OrphanFate::Kept) = (summary::orphan_line(orphans, fate), fate) {
        let _ = writeln!(out, "\n{}", inert_sentence(&line));
    }
    let referenced = summary::referenced_orphan_lines(plan);
    if !referenced.is_empty() {
        // Record names from CloudKit: inside a fence, like every other untrusted text.
        let text = referenced.join("\n");
        let fence = fence_for(&text);
        let _ = writeln!(
            out,
            "\n<details><summary>Orphans kept or deleted because records reference them</summary>\n\n{fence}text\n{text}\n{fence}\n\n</details>"
        );
    }
    if options.summary_only {
        return out;
    }
    let changes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| selected(c.record_type.as_str()))
        .collect();
    if changes.is_empty() {
        let _ = writeln!(out, "\nNo changes to show.");
        return out;
    }
    let budget = if options.budget == 0 {
        COMMENT_BUDGET
    } else {
        options.budget
    };
    let blocks = ChangeBlocks::new(options.unchanged_fields);
    let mut shown = 0;
    let mut start = 0;
    while start < changes.len() {
        let record_type = changes[start].record_type.as_str();
        let end = changes[start..]
            .iter()
            .position(|c| c.record_type.as_str() != record_type)
            .map_or(changes.len(), |n| start + n);
        let group = &changes[start..end];
        // Keep whole changes while the section, its closing and the footer still fit;
        // blocks are rendered only as they are needed (a long line diff costs).
        let mut body = String::new();
        let mut kept = 0;
        for change in group {
            let block = blocks.block(change);
            let reserve = 400 + fence_for(&body).len() * 2;
            let room = budget.saturating_sub(out.len() + body.len() + reserve);
            if block.len() > room {
                // A first change too large for a whole comment is shown cut, never not at all.
                if shown == 0 && kept == 0 && room > 200 {
                    body.push_str(&clipped(&block, room - 100));
                    kept += 1;
                }
                break;
            }
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&block);
            kept += 1;
        }
        if kept > 0 {
            let fence = fence_for(&body);
            let _ = write!(
                out,
                "\n<details><summary>{}: {}</summary>\n\n{fence}diff\n{body}{fence}\n\n</details>\n",
                inert(record_type),
                counts(group)
            );
        }
        shown += kept;
        if kept < group.len() {
            break;
        }
        start = end;
    }
    let left = changes.len() - shown;
    if left > 0 {
        let _ = writeln!(
            out,
            "\n{} more {} not shown (cut to fit a comment); review the full plan with {}.",
            left,
            if left == 1 { "change" } else { "changes" },
            code_span(&options.full_plan_command)
        );
    }
    out
}

/// The first lines of `block` that fit in `room` characters, then a line saying it was cut.
fn clipped(block: &str, room: usize) -> String {
    let mut out = String::new();
    for line in block.lines() {
        if out.len() + line.len() + 1 > room {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("    … (this change is cut to fit a comment)\n");
    out
}

fn counts(group: &[&Change]) -> String {
    let count = |action: Action| group.iter().filter(|c| c.action == action).count();
    format!(
        "{} to create, {} to update, {} to delete",
        count(Action::Create),
        count(Action::Update),
        count(Action::Delete)
    )
}

/// A sentence of ours (no untrusted text) with its backticks kept: the orphan line.
fn inert_sentence(line: &str) -> String {
    line.chars()
        .filter(|c| !matches!(c, '<' | '>' | '|' | '*' | '_' | '[' | ']'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inert_keeps_identifiers_and_codes_everything_else() {
        assert_eq!(inert("Stadium_2.x-y"), "Stadium_2.x-y");
        assert_eq!(inert("a|b"), "a\\u{7c}b");
        assert_eq!(inert("@x <b>"), "\\u{40}x\\u{20}\\u{3c}b\\u{3e}");
    }

    #[test]
    fn a_code_span_outlasts_the_backticks_it_holds() {
        assert_eq!(code_span("ckplan show a.plan"), "`ckplan show a.plan`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
    }

    #[test]
    fn the_fence_is_longer_than_any_backtick_run() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b ` c"), "`````");
    }
}
