//! What `ckplan apply` says: each conflict and failure as it becomes final, the progress
//! count without a terminal, what earlier runs left, and the closing lines with the
//! [`Verdict`] that decides the exit status. Pure: returns [`Line`]s.

use super::talk::Line;
use super::{clipped, escape, plural};
use crate::apply::outcome::OverwrittenField;
use crate::apply::session::{Applied, KeptAside};
use crate::apply::{Outcome, RecordKey, Totals};
use crate::cloudkit::wire::WireField;
use std::path::Path;

/// How an apply ended, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every planned change has its outcome.
    Complete,
    /// Finished or stopped with conflicts.
    Conflicts,
    /// Finished with failed records.
    Failed,
    /// Ctrl-C or SIGTERM stopped it after the batches in flight.
    Interrupted,
    /// CloudKit stopped it: the command turns the report's error into its own.
    Stopped,
}

/// A new plan found the earlier plan's apply records and kept them aside.
pub fn kept_aside(kept: &KeptAside) -> Line {
    let mut names = format!("`{}`", kept.journal.display());
    if let Some(receipt) = &kept.receipt {
        names.push_str(&format!(" and `{}`", receipt.display()));
    }
    Line::Status(format!(
        "note: this is a new plan; the earlier plan's apply records are kept as {names}."
    ))
}

/// The plan was run to the end before: nothing is sent; `plan_command` plans again.
pub fn already_run(conflicts: usize, receipt: &Path, plan_command: &str) -> (Line, Verdict) {
    if conflicts > 0 {
        let line = format!(
            "This plan was already run and ended with {} (receipt: `{}`); nothing to do.\n\
             hint: run `{plan_command}` again to plan against CloudKit as it is now",
            plural(conflicts, "conflict"),
            receipt.display()
        );
        return (Line::Always(line), Verdict::Conflicts);
    }
    let line = format!(
        "This plan was already applied in full; nothing to do (receipt: `{}`).",
        receipt.display()
    );
    (Line::Always(line), Verdict::Complete)
}

/// The config or data files (`changed`, as the plan names them) changed since the plan was
/// made; `plan_command` plans again.
pub fn changed_inputs(changed: &[&str], plan_command: &str) -> Line {
    let names: Vec<String> = changed
        .iter()
        .map(|path| format!("`{}`", escape(path)))
        .collect();
    Line::Warning(format!(
        "{} changed since this plan was made; apply writes what the plan says, not the files as they are now (run `{plan_command}` to plan the change)",
        names.join(", ")
    ))
}

/// An earlier run of the plan stopped part way.
pub fn resuming(done: usize, uncertain: usize) -> Line {
    Line::Status(format!(
        "Resuming: {} done in an earlier run, {uncertain} uncertain (looked up first).",
        plural(done, "record")
    ))
}

/// Without a terminal: how many planned changes have an outcome so far.
pub fn progress(done: usize, total: usize) -> Line {
    Line::Status(format!("{done}/{total} planned changes have an outcome"))
}

/// `run `AGAIN` again to resume`: the end of every message of an apply that stopped.
pub fn resume(again: &str) -> String {
    format!("run `{again}` again to resume")
}

/// As `ckplan show` renders values (raw JSON if a value does not decode), clipped to
/// [`super::MESSAGE_VALUE_CHARS`] characters.
fn shown(value: &Option<WireField>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(field) => clipped(&field.to_value(None).map_or_else(
            |_| escape(&field.value.to_string()).into_owned(),
            |v| super::plan::value_text(&v),
        )),
    }
}

/// `    FIELD: planned before A, LABEL B, LABEL C`: one field of a conflict.
fn field_line(
    field: &str,
    planned_before: &Option<WireField>,
    then: [(&str, &Option<WireField>); 2],
) -> Line {
    let mut line = format!(
        "    {}: planned before {}",
        escape(field),
        shown(planned_before)
    );
    for (label, value) in then {
        line.push_str(&format!(", {label} {}", shown(value)));
    }
    Line::Always(line)
}

/// One final outcome worth lines of its own: a conflict (reported or overwritten) or a
/// failure; nothing for the others.
pub fn outcome(key: &RecordKey, outcome: &Outcome) -> Vec<Line> {
    let name = format!("{} `{}`", key.record_type, key.record_name);
    let mut lines = Vec::new();
    match outcome {
        Outcome::Conflict { reason, fields } => {
            lines.push(Line::Warning(format!("conflict: {name}: {reason}")));
            for f in fields {
                let then = [("now", &f.now), ("wanted", &f.wanted)];
                lines.push(field_line(&f.field, &f.planned_before, then));
            }
        }
        Outcome::Updated { overwritten, .. } | Outcome::Deleted { overwritten, .. }
            if !overwritten.is_empty() =>
        {
            lines.push(Line::Warning(format!(
                "conflict: {name}: changed meanwhile; overwritten (--on-conflict overwrite)"
            )));
            for f in overwritten {
                let then = [("overwritten", &f.overwritten), ("written", &f.written)];
                lines.push(field_line(&f.field, &f.planned_before, then));
            }
        }
        Outcome::Updated { reapplied, .. } if !reapplied.is_empty() => {
            let line = |f: &OverwrittenField| {
                let (before, now) = (shown(&f.planned_before), shown(&f.overwritten));
                format!("{}: {before} → {now}", escape(&f.field))
            };
            let fields = reapplied.iter().map(line).collect::<Vec<_>>().join(", ");
            lines.push(Line::Warning(format!(
                "conflict: {name}: changed meanwhile in other fields ({fields}); re-applied, their values kept"
            )));
        }
        Outcome::Deleted { reapplied, .. } if *reapplied => lines.push(Line::Warning(format!(
            "conflict: {name}: tag changed meanwhile; deleted"
        ))),
        Outcome::Failed { cause } => lines.push(Line::Error(format!("{name}: {cause}"))),
        _ => {}
    }
    lines
}

/// What the closing lines of an apply are made from.
#[derive(Clone, Debug)]
pub struct Closing<'a> {
    pub totals: Totals,
    pub receipt: &'a Path,
    /// Conflicts that earlier runs of the plan met, still reported.
    pub earlier_conflicts: usize,
    /// CloudKit stopped the run.
    pub stopped: bool,
    /// Ctrl-C or SIGTERM stopped the run.
    pub cancelled: bool,
    pub conflicts: bool,
    pub failures: bool,
    /// Planned changes no run has sent.
    pub not_started: usize,
}

impl Default for Closing<'_> {
    fn default() -> Self {
        Self {
            totals: Totals::default(),
            receipt: Path::new(""),
            earlier_conflicts: 0,
            stopped: false,
            cancelled: false,
            conflicts: false,
            failures: false,
            not_started: 0,
        }
    }
}

impl<'a> Closing<'a> {
    pub fn of(applied: &'a Applied) -> Self {
        let report = &applied.report;
        let earlier_conflicts = report
            .from_earlier_runs
            .iter()
            .filter(|key| report.outcomes.get(*key).is_some_and(Outcome::is_conflict))
            .count();
        Self {
            totals: applied.receipt.totals.clone(),
            receipt: &applied.receipt_path,
            earlier_conflicts,
            stopped: report.error.is_some(),
            cancelled: report.cancelled,
            conflicts: report.has_conflicts(),
            failures: report.has_failures(),
            not_started: applied.not_started,
        }
    }
}

/// The closing lines of `applied` and the verdict; `again` applies the plan again.
pub fn finish(applied: &Applied, again: &str) -> (Vec<Line>, Verdict) {
    closing(&Closing::of(applied), again)
}

/// The closing lines and the verdict; `again` applies this plan again (to resume).
pub fn closing(closing: &Closing<'_>, again: &str) -> (Vec<Line>, Verdict) {
    let Closing {
        totals,
        not_started,
        ..
    } = closing;
    let line = totals_line(totals, true);
    let mut lines = vec![Line::Status(format!(
        "Receipt: `{}`",
        closing.receipt.display()
    ))];
    if closing.earlier_conflicts > 0 {
        lines.push(Line::Status(format!(
            "note: {} from an earlier run of this plan stay reported (listed in the receipt).",
            plural(closing.earlier_conflicts, "conflict")
        )));
    }
    if closing.stopped {
        lines.push(Line::Always(format!("Apply stopped: {line}.")));
        return (lines, Verdict::Stopped);
    }
    if closing.cancelled {
        lines.push(Line::Always(format!(
            "Apply interrupted: {line}; {not_started} planned changes not started."
        )));
        let journal = "the journal holds every outcome so far";
        lines.push(Line::Error(format!(
            "apply interrupted; {journal}; {}",
            resume(again)
        )));
        return (lines, Verdict::Interrupted);
    }
    let conflicts = plural(totals.conflicts, "conflict");
    if closing.conflicts && *not_started > 0 {
        lines.push(Line::Always(format!(
            "Apply stopped on {conflicts}: {line}; {not_started} planned changes not started."
        )));
        return (lines, Verdict::Conflicts);
    }
    if closing.conflicts {
        lines.push(Line::Always(format!(
            "Apply finished with {conflicts}: {line}."
        )));
        return (lines, Verdict::Conflicts);
    }
    if closing.failures {
        lines.push(Line::Always(format!(
            "Apply finished with {} failed: {line}.",
            plural(totals.failed, "record")
        )));
        return (lines, Verdict::Failed);
    }
    let already = match totals.already_applied {
        0 => String::new(),
        n => format!(" ({n} already applied)"),
    };
    lines.push(Line::Status(format!(
        "Apply complete: {}.{already}",
        totals_line(totals, false)
    )));
    (lines, Verdict::Complete)
}

/// `N created, … skipped`, with `(N already applied)` when `already` asks for it.
fn totals_line(totals: &Totals, already: bool) -> String {
    let mut line = format!(
        "{} created, {} updated, {} deleted, {} unchanged skipped",
        totals.created, totals.updated, totals.deleted, totals.unchanged_skipped
    );
    if already && totals.already_applied > 0 {
        line.push_str(&format!(" ({} already applied)", totals.already_applied));
    }
    if totals.overwritten > 0 {
        line.push_str(&format!(
            "; {} overwritten over someone else's edit",
            plural(totals.overwritten, "conflict")
        ));
    }
    line
}

/// Smart sync's question was answered with anything but `yes`.
pub fn declined() -> Line {
    Line::Always("Apply cancelled.".to_owned())
}

/// The first Ctrl-C or SIGTERM of an apply (after the `^C` the terminal echoed).
pub fn stopping() -> Line {
    Line::Always(
        "\nStopping after the batches in flight (their outcomes are journaled); press Ctrl-C again to quit at once."
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordName, RecordType};

    fn receipt() -> &'static Path {
        Path::new("out.plan.receipt.json")
    }

    #[test]
    fn a_complete_apply_says_so_after_the_receipt() {
        let closing = Closing {
            totals: Totals {
                created: 2,
                updated: 1,
                unchanged_skipped: 30,
                already_applied: 1,
                ..Totals::default()
            },
            receipt: receipt(),
            ..Closing::default()
        };
        let (lines, verdict) = super::closing(&closing, "ckplan apply out.plan");
        assert_eq!(verdict, Verdict::Complete);
        assert_eq!(
            lines,
            [
                Line::Status("Receipt: `out.plan.receipt.json`".to_owned()),
                Line::Status(
                    "Apply complete: 2 created, 1 updated, 0 deleted, 30 unchanged skipped. (1 already applied)"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn conflicts_and_interrupts_are_said_even_with_quiet_and_name_how_to_resume() {
        let conflicted = Closing {
            totals: Totals {
                conflicts: 1,
                overwritten: 2,
                ..Totals::default()
            },
            receipt: receipt(),
            conflicts: true,
            not_started: 3,
            earlier_conflicts: 1,
            ..Closing::default()
        };
        let (lines, verdict) = closing(&conflicted, "ckplan apply out.plan");
        assert_eq!(verdict, Verdict::Conflicts);
        assert_eq!(lines[1], Line::Status("note: 1 conflict from an earlier run of this plan stay reported (listed in the receipt).".to_owned()));
        assert_eq!(
            lines[2],
            Line::Always("Apply stopped on 1 conflict: 0 created, 0 updated, 0 deleted, 0 unchanged skipped; 2 conflicts overwritten over someone else's edit; 3 planned changes not started.".to_owned())
        );
        let interrupted = Closing {
            cancelled: true,
            receipt: receipt(),
            ..Closing::default()
        };
        let (lines, verdict) = closing(&interrupted, "ckplan apply 'my plan'");
        assert_eq!(verdict, Verdict::Interrupted);
        assert_eq!(
            lines.last(),
            Some(&Line::Error("apply interrupted; the journal holds every outcome so far; run `ckplan apply 'my plan'` again to resume".to_owned()))
        );
        let stopped = Closing {
            stopped: true,
            failures: true,
            receipt: receipt(),
            ..Closing::default()
        };
        assert_eq!(closing(&stopped, "x").1, Verdict::Stopped);
        let failed = Closing {
            failures: true,
            receipt: receipt(),
            totals: Totals {
                failed: 1,
                ..Totals::default()
            },
            ..Closing::default()
        };
        let (lines, verdict) = closing(&failed, "x");
        assert_eq!(verdict, Verdict::Failed);
        assert_eq!(
            lines.last(),
            Some(&Line::Always("Apply finished with 1 record failed: 0 created, 0 updated, 0 deleted, 0 unchanged skipped.".to_owned()))
        );
    }

    #[test]
    fn changed_inputs_are_named_escaped_with_the_command_that_plans_again() {
        let line = changed_inputs(&["data/a.yaml", "data/\u{1b}b.yaml"], "ckplan plan");
        assert_eq!(
            line,
            Line::Warning("`data/a.yaml`, `data/\\u{1b}b.yaml` changed since this plan was made; apply writes what the plan says, not the files as they are now (run `ckplan plan` to plan the change)".to_owned())
        );
    }

    #[test]
    fn a_failed_record_is_an_error_line_and_a_plain_outcome_says_nothing() {
        let key = RecordKey {
            record_type: RecordType::new("Team"),
            record_name: RecordName::new("team-1"),
        };
        let failed = Outcome::Failed {
            cause: crate::apply::outcome::Failure::GaveUp { rounds: 5 },
        };
        assert_eq!(
            outcome(&key, &failed),
            [Line::Error(
                "Team `team-1`: still not applied after 5 rounds".to_owned()
            )]
        );
        let (line, verdict) = already_run(0, receipt(), "ckplan plan");
        assert_eq!(verdict, Verdict::Complete);
        assert!(matches!(line, Line::Always(text) if text.contains("already applied in full")));
    }
}
