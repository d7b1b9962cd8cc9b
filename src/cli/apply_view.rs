//! Where `ckplan apply`'s view goes: progress on a bar (or counted lines without a
//! terminal), each conflict and failure as it becomes final (before the count that
//! includes it), and the closing lines whose verdict decides the exit status. The words
//! are [`crate::render::apply`]'s.

use super::{ExitStatus, Printer};
use crate::apply::{Applied, Outcome, RecordKey};
use crate::render::apply::{self as view, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The exit status of an apply's verdict.
pub fn exit_status(verdict: Verdict) -> ExitStatus {
    match verdict {
        Verdict::Complete => ExitStatus::Success,
        Verdict::Conflicts => ExitStatus::Conflicts,
        Verdict::Failed | Verdict::Stopped => ExitStatus::Error,
        Verdict::Interrupted => ExitStatus::Interrupted,
    }
}

/// The closing lines and the exit status; `again` applies this plan again (to resume).
pub fn finish(mut applied: Applied, again: &str, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (lines, verdict) = view::finish(&applied, again);
    printer.say_all(&lines);
    // The CloudKit error stays typed, so the printed error keeps its hint.
    if let Some(error) = applied.report.error.take() {
        let resume = view::resume(again);
        return Err(anyhow::Error::new(error).context(format!("apply stopped; {resume}")));
    }
    Ok(exit_status(verdict))
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
            for (key, outcome) in finals {
                self.printer.say_all(&view::outcome(key, outcome));
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
        let done = self.done.fetch_add(finals.len(), Ordering::SeqCst) + finals.len();
        match &self.bar {
            Some(bar) => bar.set_position(done as u64),
            None => {
                let total = self.total.load(Ordering::SeqCst);
                self.printer.say(&view::progress(done, total));
            }
        }
    }
}
