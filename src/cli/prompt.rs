//! The one place that reads answers from stdin: questions on stderr, one line per answer.

use crate::context::Prompter;
use std::io::BufRead;

/// Asks on stderr and reads stdin. Questions are allowed when stdin is a terminal, or always
/// under `ckplan menu`, whose choices and answers may be piped.
#[derive(Debug, Default)]
pub struct StdinPrompter {
    pub piped_answers: bool,
    /// Set once a question met the end of input (`ckplan menu` reads it).
    pub input_ended: std::sync::atomic::AtomicBool,
}

impl Prompter for StdinPrompter {
    fn can_ask(&self) -> bool {
        self.piped_answers || super::output::stdin_is_terminal()
    }

    fn ask(&self, question: &str) -> std::io::Result<Option<String>> {
        stderr!("{question}");
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line)? {
            0 => {
                self.input_ended
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(None)
            }
            _ => Ok(Some(line.trim().to_owned())),
        }
    }
}
