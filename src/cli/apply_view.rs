//! What `ckplan apply` shows: progress, each conflict and failure as it becomes final (before
//! the count that includes it), and the closing summary that decides the exit status.

use super::{ExitStatus, Printer};
use crate::apply::session::KeptAside;
use crate::apply::{Applied, Outcome, RecordKey, Totals};
use crate::cloudkit::wire::WireField;
use crate::render::{self, plural};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn kept_aside(kept: &KeptAside, printer: &Printer) {
    let mut names = format!("`{}`", kept.journal.display());
    if let Some(receipt) = &kept.receipt {
        names.push_str(&format!(" and `{}`", receipt.display()));
    }
    printer.status(format_args!(
        "note: this is a new plan; the earlier plan's apply records are kept as {names}."
    ));
}

/// The plan was run to the end before: nothing is sent; `plan_command` plans again.
pub fn already_run(conflicts: usize, receipt: &Path, plan_command: &str) -> ExitStatus {
    if conflicts > 0 {
        stderrln!(
            "This plan was already run and ended with {} (receipt: `{}`); nothing to do.\n\
             hint: run `{plan_command}` again to plan against CloudKit as it is now",
            plural(conflicts, "conflict"),
            receipt.display()
        );
        return ExitStatus::Conflicts;
    }
    stderrln!(
        "This plan was already applied in full; nothing to do (receipt: `{}`).",
        receipt.display()
    );
    ExitStatus::Success
}

/// As `ckplan show` renders values (raw JSON if a value does not decode), clipped to
/// [`render::MESSAGE_VALUE_CHARS`] characters.
fn shown(value: &Option<WireField>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(field) => render::clipped(&field.to_value(None).map_or_else(
            |_| render::escape(&field.value.to_string()).into_owned(),
            |v| render::plan::value_text(&v),
        )),
    }
}

/// One final outcome worth a line of its own: a conflict (reported or overwritten) or a
/// failure.
fn report_outcome(key: &RecordKey, outcome: &Outcome, printer: &Printer) {
    let name = format!("{} `{}`", key.record_type, key.record_name);
    match outcome {
        Outcome::Conflict { reason, fields } => {
            printer.warn(format_args!("conflict: {name}: {reason}"));
            for field in fields {
                stderrln!(
                    "    {}: planned before {}, now {}, wanted {}",
                    render::escape(&field.field),
                    shown(&field.planned_before),
                    shown(&field.now),
                    shown(&field.wanted)
                );
            }
        }
        Outcome::Updated { overwritten, .. } | Outcome::Deleted { overwritten, .. }
            if !overwritten.is_empty() =>
        {
            printer.warn(format_args!(
                "conflict: {name}: changed meanwhile; overwritten (--on-conflict overwrite)"
            ));
            for field in overwritten {
                stderrln!(
                    "    {}: planned before {}, overwritten {}, written {}",
                    render::escape(&field.field),
                    shown(&field.planned_before),
                    shown(&field.overwritten),
                    shown(&field.written)
                );
            }
        }
        Outcome::Updated { reapplied, .. } if !reapplied.is_empty() => {
            let line = |f: &crate::apply::outcome::OverwrittenField| {
                let (before, now) = (shown(&f.planned_before), shown(&f.overwritten));
                format!("{}: {before} → {now}", render::escape(&f.field))
            };
            let fields = reapplied.iter().map(line).collect::<Vec<_>>().join(", ");
            printer.warn(format_args!(
                "conflict: {name}: changed meanwhile in other fields ({fields}); re-applied, their values kept"
            ));
        }
        Outcome::Deleted { reapplied, .. } if *reapplied => printer.warn(format_args!(
            "conflict: {name}: tag changed meanwhile; deleted"
        )),
        Outcome::Failed { cause } => printer.error(format_args!("{name}: {cause}")),
        _ => {}
    }
}

/// The closing lines and the exit status; `again` applies this plan again (to resume).
pub fn finish(applied: Applied, again: &str, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let quiet = printer.is_quiet();
    let Applied {
        mut report,
        receipt,
        receipt_path,
        not_started,
        uploaded: _,
    } = applied;
    let totals = &receipt.totals;
    let line = totals_line(totals, true);
    if !quiet {
        stderrln!("Receipt: `{}`", receipt_path.display());
        let earlier = report
            .from_earlier_runs
            .iter()
            .filter(|key| report.outcomes.get(*key).is_some_and(Outcome::is_conflict))
            .count();
        if earlier > 0 {
            stderrln!(
                "note: {} from an earlier run of this plan stay reported (listed in the receipt).",
                plural(earlier, "conflict")
            );
        }
    }
    let resume = || format!("run `{again}` again to resume");
    // The CloudKit error stays typed, so the printed error keeps its hint.
    if let Some(error) = report.error.take() {
        stderrln!("Apply stopped: {line}.");
        return Err(anyhow::Error::new(error).context(format!("apply stopped; {}", resume())));
    }
    if report.cancelled {
        stderrln!("Apply interrupted: {line}; {not_started} planned changes not started.");
        let journal = "the journal holds every outcome so far";
        printer.error(format_args!("apply interrupted; {journal}; {}", resume()));
        return Ok(ExitStatus::Interrupted);
    }
    let conflicts = plural(totals.conflicts, "conflict");
    if report.has_conflicts() && not_started > 0 {
        stderrln!(
            "Apply stopped on {conflicts}: {line}; {not_started} planned changes not started."
        );
        return Ok(ExitStatus::Conflicts);
    }
    if report.has_conflicts() {
        stderrln!("Apply finished with {conflicts}: {line}.");
        return Ok(ExitStatus::Conflicts);
    }
    if report.has_failures() {
        stderrln!(
            "Apply finished with {} failed: {line}.",
            plural(totals.failed, "record")
        );
        return Ok(ExitStatus::Error);
    }
    if !quiet {
        let already = match totals.already_applied {
            0 => String::new(),
            n => format!(" ({n} already applied)"),
        };
        stderrln!("Apply complete: {}.{already}", totals_line(totals, false));
    }
    Ok(ExitStatus::Success)
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

/// A bar on terminals, plain lines otherwise; conflicts and failures are printed as they
/// become final, before the count that includes them.
pub struct ApplyBar {
    bar: Option<ProgressBar>,
    printer: Printer,
    total: AtomicUsize,
    done: AtomicUsize,
}

impl ApplyBar {
    pub fn new(printer: Printer) -> Self {
        let bar = printer.shows_progress().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} planned changes ({elapsed})")
                    .expect("valid template"),
            );
            bar
        });
        Self {
            bar,
            printer,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl crate::apply::Observer for ApplyBar {
    fn started(&self, changes: usize) {
        self.total.store(changes, Ordering::SeqCst);
        if let Some(bar) = &self.bar {
            bar.set_length(changes as u64);
        }
    }

    fn changes_finished(&self, finals: &[(RecordKey, Outcome)]) {
        let print = || {
            finals
                .iter()
                .for_each(|(key, o)| report_outcome(key, o, &self.printer))
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
        let done = self.done.fetch_add(finals.len(), Ordering::SeqCst) + finals.len();
        match &self.bar {
            Some(bar) => bar.set_position(done as u64),
            None if !self.printer.is_quiet() => {
                let total = self.total.load(Ordering::SeqCst);
                stderrln!("{done}/{total} planned changes have an outcome");
            }
            None => {}
        }
    }
}
