//! The spinner that counts records read from CloudKit, shared by `diff`, `plan` and smart
//! sync.

use crate::sync::ReadProgress;
use indicatif::{ProgressBar, ProgressStyle};

/// A spinner counting records read, on stderr when it is a terminal.
pub struct ReadBar(Option<ProgressBar>);

impl ReadBar {
    /// `visible`: [`super::Printer::shows_progress`], and the command wants a spinner.
    pub fn new(visible: bool) -> Self {
        if !visible {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} reading CloudKit: {pos} records ({elapsed})")
                .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(Some(bar))
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl ReadProgress for ReadBar {
    fn records_read(&self, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_position(total as u64);
        }
    }
}
