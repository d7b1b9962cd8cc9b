//! The counting lines every view shares, worded once: a type's line
//! (`Stadium: 32 unchanged, 2 new, 1 updated, 0 deleted`), the orphan line saying what
//! happens to records only in CloudKit, a plan's totals, and the verdict when a plan
//! changes nothing.

use super::{escape, plural};
use crate::diff::{Category, TypeDiff};
use crate::plan::{Plan, TypeSummary};

/// The counts of one record type, as `diff` and a plan report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeCounts<'a> {
    pub record_type: &'a str,
    pub unchanged: usize,
    pub new: usize,
    pub updated: usize,
    /// Records only in CloudKit, whether or not a plan deletes them.
    pub orphans: usize,
}

impl<'a> From<&'a TypeDiff> for TypeCounts<'a> {
    fn from(diff: &'a TypeDiff) -> Self {
        Self {
            record_type: diff.record_type.as_str(),
            unchanged: diff.count(Category::Unchanged),
            new: diff.count(Category::New),
            updated: diff.count(Category::Updated),
            orphans: diff.count(Category::Orphan),
        }
    }
}

impl<'a> From<&'a TypeSummary> for TypeCounts<'a> {
    fn from(summary: &'a TypeSummary) -> Self {
        Self {
            record_type: summary.record_type.as_str(),
            unchanged: summary.unchanged,
            new: summary.create,
            updated: summary.update,
            orphans: summary.orphans,
        }
    }
}

/// `Stadium: 32 unchanged, 2 new, 1 updated, 0 deleted`, without a line end: the old
/// script's words, which its users' scripts parse (issue 19). `deleted` counts the records
/// in CloudKit and not in the local data, whether or not a plan deletes them (the line
/// after it says which).
pub fn type_line(counts: TypeCounts<'_>) -> String {
    format!(
        "{}: {} unchanged, {} new, {} updated, {} deleted",
        escape(counts.record_type),
        counts.unchanged,
        counts.new,
        counts.updated,
        counts.orphans
    )
}

/// What becomes of the orphans in the view at hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrphanFate {
    /// `diff`: no plan yet.
    Compared,
    /// A plan made without `--delete-orphans`.
    Kept,
    /// A plan made with `--delete-orphans`.
    Deleted,
}

/// The orphan line, without a line end; `None` when there are none.
pub fn orphan_line(orphans: usize, fate: OrphanFate) -> Option<String> {
    if orphans == 0 {
        return None;
    }
    let (verb, it) = if orphans == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    let what = match fate {
        // The old script's warning, word for word (issue 19): scripts match it.
        OrphanFate::Compared | OrphanFate::Kept => {
            return Some(format!(
                "Would delete {orphans} orphan records (use --delete-orphans to confirm)"
            ))
        }
        OrphanFate::Deleted => format!("this plan deletes {it}"),
    };
    Some(format!(
        "{} {verb} only in CloudKit; {what}",
        plural(orphans, "orphan record")
    ))
}

/// The orphans of a plan and what it does with them; with `--delete-orphans`, those it
/// deletes (the ones it keeps because records reference them have lines of their own,
/// [`referenced_orphan_lines`]).
pub fn plan_orphans(plan: &Plan) -> (usize, OrphanFate) {
    let orphans: usize = plan.summary.iter().map(|s| s.orphans).sum();
    if plan.options.delete_orphans {
        (
            orphans - plan.referenced_orphans_kept(),
            OrphanFate::Deleted,
        )
    } else {
        (orphans, OrphanFate::Kept)
    }
}

/// What a plan does with each orphan that records staying in CloudKit reference: the
/// references, and the records CloudKit deletes (or would delete) after it because their
/// reference has action `DELETE_SELF`. Issue 17.
pub fn referenced_orphan_lines(plan: &Plan) -> Vec<String> {
    let key = |record_type: &str, name: &str| format!("{} `{}`", escape(record_type), escape(name));
    let mut lines = Vec::new();
    for orphan in &plan.referenced_orphans {
        let what = key(orphan.record_type.as_str(), orphan.record_name.as_str());
        lines.push(match orphan.deleted {
            true => format!(
                "{what} is only in CloudKit; this plan deletes it although records reference it \
                 (--delete-referenced-orphans):"
            ),
            false => format!(
                "{what} is only in CloudKit; this plan keeps it because records reference it:"
            ),
        });
        for referrer in &orphan.referenced_by {
            let source = match referrer.source {
                crate::plan::ReferenceSource::Local => "local data",
                crate::plan::ReferenceSource::CloudKit => "in CloudKit",
            };
            lines.push(format!(
                "  referenced by {} field `{}` (action {}, {source})",
                key(referrer.record_type.as_str(), referrer.record_name.as_str()),
                escape(&referrer.field),
                escape(&referrer.action),
            ));
        }
        let cascade: Vec<String> = orphan
            .cascade
            .iter()
            .map(|(t, n)| key(t.as_str(), n.as_str()))
            .collect();
        match (orphan.deleted, cascade.is_empty()) {
            (true, false) => lines.push(format!(
                "  then CloudKit deletes, by DELETE_SELF: {}",
                cascade.join(", ")
            )),
            (false, false) => lines.push(format!(
                "  deleting it (plan with --delete-referenced-orphans) would make CloudKit \
                 delete, by DELETE_SELF: {}",
                cascade.join(", ")
            )),
            (false, true) => lines.push(
                "  plan with --delete-orphans --delete-referenced-orphans to delete it".to_owned(),
            ),
            (true, true) => {}
        }
    }
    lines
}

/// `Plan: 1 to create, 2 to update, 0 to delete.`
pub fn plan_totals(plan: &Plan) -> String {
    let (create, update, delete) = plan.counts();
    format!("Plan: {create} to create, {update} to update, {delete} to delete.")
}

/// The verdict for a plan without changes: CloudKit matches, or differs only by orphans
/// this plan keeps (which is still a difference: `plan --detailed-exitcode` exits 2).
pub fn no_changes_line(plan: &Plan) -> String {
    match plan.orphans_kept() {
        0 => "No changes: CloudKit already matches the local data.".to_owned(),
        kept => format!(
            "No changes to apply, but CloudKit does not match the local data: it has {} that this plan does not delete.",
            plural(kept, "orphan record")
        ),
    }
}

/// Per-type lines, the orphan line and the totals of a plan, one per line.
pub fn plan_summary(plan: &Plan) -> String {
    summary_lines(plan, true)
}

/// The per-type lines, the orphan line, the totals and the schema part's count only:
/// `show --summary`.
pub fn plan_counts(plan: &Plan) -> String {
    let mut out = summary_lines(plan, false);
    for line in schema_counts(plan) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The schema part's count, as `plan` says it: nothing for a plan made without a
/// management token (it holds no schema part) or whose schema lacked nothing.
pub fn schema_counts(plan: &Plan) -> Vec<String> {
    match &plan.schema {
        Some(_) => super::schema_part::plan_note(plan),
        None => Vec::new(),
    }
}

fn summary_lines(plan: &Plan, referenced: bool) -> String {
    let mut out = String::new();
    for summary in &plan.summary {
        out.push_str(&type_line(summary.into()));
        out.push('\n');
    }
    let (orphans, fate) = plan_orphans(plan);
    if referenced {
        for line in referenced_orphan_lines(plan) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if let Some(line) = orphan_line(orphans, fate) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&plan_totals(plan));
    out.push('\n');
    out
}

/// The warning for a type [`Plan::emptied_types`](crate::plan::Plan::emptied_types) names,
/// with its data `files`.
pub fn emptied_type(summary: &TypeSummary, files: &[std::path::PathBuf]) -> String {
    let files: Vec<String> = files.iter().map(|f| format!("`{}`", f.display())).collect();
    let record_type = &summary.record_type;
    let how_many = if summary.delete == summary.orphans {
        format!("ALL {}", summary.delete)
    } else {
        format!(
            "{} of the {} (the others are kept: records reference them)",
            summary.delete, summary.orphans
        )
    };
    format!(
        "this plan deletes {how_many} `{record_type}` records in CloudKit: the local data ({}) holds no `{record_type}` record; check that file before applying",
        files.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_type_whose_referenced_orphans_are_kept_is_not_called_all() {
        let summary = TypeSummary {
            record_type: "Stadium".into(),
            create: 0,
            update: 0,
            delete: 1,
            unchanged: 0,
            orphans: 3,
        };
        let files = [std::path::PathBuf::from("data/s.json")];
        assert!(emptied_type(&summary, &files).starts_with(
            "this plan deletes 1 of the 3 (the others are kept: records reference them) `Stadium` records"
        ));
        let all = TypeSummary {
            delete: 3,
            ..summary
        };
        assert!(emptied_type(&all, &files).starts_with("this plan deletes ALL 3 `Stadium`"));
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        let counts = TypeCounts {
            record_type: "Stadium",
            unchanged: 1,
            new: 0,
            updated: 2,
            orphans: 1,
        };
        assert_eq!(
            type_line(counts),
            "Stadium: 1 unchanged, 0 new, 2 updated, 1 deleted"
        );
        let none = TypeCounts {
            orphans: 0,
            ..counts
        };
        assert!(type_line(none).ends_with(", 0 deleted"));
        // Issue 19: the old script's warning, word for word.
        assert_eq!(
            orphan_line(1, OrphanFate::Kept).unwrap(),
            "Would delete 1 orphan records (use --delete-orphans to confirm)"
        );
        assert_eq!(
            orphan_line(2, OrphanFate::Compared).unwrap(),
            "Would delete 2 orphan records (use --delete-orphans to confirm)"
        );
        assert_eq!(
            orphan_line(3, OrphanFate::Deleted).unwrap(),
            "3 orphan records are only in CloudKit; this plan deletes them"
        );
        assert_eq!(orphan_line(0, OrphanFate::Compared), None);
    }

    #[test]
    fn record_types_are_escaped() {
        let counts = TypeCounts {
            record_type: "Evil\u{1b}[2J",
            unchanged: 0,
            new: 0,
            updated: 0,
            orphans: 0,
        };
        assert!(type_line(counts).starts_with("Evil\\u{1b}[2J: "));
    }
}
