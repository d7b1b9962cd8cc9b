//! Stopping an apply from outside (Ctrl-C, SIGTERM): a token the caller cancels. The
//! executor starts no batch once it is cancelled, and every wait of the run — a pause
//! between rounds, the client's backoff and `retryAfter` waits, whole-request and per
//! record — ends at once (README: "Ctrl-C interrupts any wait"). Requests already on the
//! wire finish and are journaled; records whose outcome is then unknown stay journaled as
//! sent without an outcome, so a later run looks them up and resumes exactly.

use tokio_util::sync::CancellationToken;

/// Raised once, never lowered. Cheap to clone; clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(CancellationToken);

impl StopFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to start no new batch and to end every wait.
    pub fn stop(&self) {
        self.0.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes once the flag is raised.
    pub async fn stopped(&self) {
        self.0.cancelled().await
    }

    /// The token itself, for the client's waits.
    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
}
