//! Ctrl-C and SIGTERM during `apply`: the first raises the run's stop flag (batches in
//! flight finish and are journaled, then the run ends resumable); a second quits at once.

use crate::apply::StopFlag;

/// Stops listening when dropped.
pub struct Listening(tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Raises `stop` on the first Ctrl-C or SIGTERM; exits 130 on the second.
pub fn stop_on_signal(stop: StopFlag, printer: super::Printer) -> Listening {
    Listening(tokio::spawn(async move {
        if signal().await.is_err() {
            return;
        }
        stop.stop();
        printer.say(&crate::render::apply::stopping());
        if signal().await.is_ok() {
            std::process::exit(130);
        }
    }))
}

async fn signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
