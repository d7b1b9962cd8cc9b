//! Stopping an apply from outside (Ctrl-C, SIGTERM): a flag the caller raises and the
//! executor checks before every batch. Batches already sent finish and are journaled, so
//! the journal stays consistent and a later run resumes where this one stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Raised once, never lowered. Cheap to clone; clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to start no new batch.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
