//! The one place that reads answers from stdin: questions on stderr, one line per answer.

use crate::context::Prompter;
use std::io::BufRead;

/// Asks on stderr and reads stdin. Questions are allowed when stdin is a terminal, or always
/// under `ckplan menu`, whose choices and answers may be piped.
#[derive(Debug)]
pub struct StdinPrompter {
    pub piped_answers: bool,
}

impl Prompter for StdinPrompter {
    fn can_ask(&self) -> bool {
        self.piped_answers || super::output::stdin_is_terminal()
    }

    fn ask(&self, question: &str) -> std::io::Result<Option<String>> {
        stderr!("{question}");
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line)? {
            0 => Ok(None),
            _ => Ok(Some(line.trim().to_owned())),
        }
    }
}
