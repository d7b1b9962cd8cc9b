//! What a run takes from its surroundings, made explicit so tests can pin it: the clock
//! (every "now" stamped into plans, journals, receipts and lock files), the randomness seed
//! (retry jitter, the embedded emulator) and the prompter (the one way to ask a person a
//! question). The command line builds one `Context` from `CKPLAN_TIMESTAMP` and
//! `CKPLAN_RANDOMNESS_SEED` and passes it down; no other module reads the environment.

use crate::record::Timestamp;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Where "now" comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this instant (`CKPLAN_TIMESTAMP`): runs stamp identical times.
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// Parses an RFC 3339 timestamp (`2026-01-02T03:04:05Z`) into a fixed clock.
    pub fn fixed_at(text: &str) -> Result<Clock, chrono::ParseError> {
        Ok(Clock::Fixed(
            DateTime::parse_from_rfc3339(text.trim())?.with_timezone(&Utc),
        ))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => *at,
        }
    }

    /// Now, to the second: what plans, journals and receipts hold (written as RFC 3339 in
    /// UTC).
    pub fn timestamp(&self) -> Timestamp {
        Timestamp::at_second(self.now())
    }
}

/// Asks a person a question and reads the answer.
pub trait Prompter: Send + Sync {
    /// Whether questions can be answered at all (a terminal, or input piped to `menu`).
    fn can_ask(&self) -> bool;
    /// Shows `question` and returns the answer without its line end; `None` at end of input.
    fn ask(&self, question: &str) -> std::io::Result<Option<String>>;
}

/// Answers nothing: every question is refused.
#[derive(Debug, Default)]
pub struct NoPrompter;

impl Prompter for NoPrompter {
    fn can_ask(&self) -> bool {
        false
    }
    fn ask(&self, _question: &str) -> std::io::Result<Option<String>> {
        Ok(None)
    }
}

/// Clock, seed and prompter of one run.
#[derive(Clone)]
pub struct Context {
    pub clock: Clock,
    /// Seeds every random choice that is not a key (retry jitter, the embedded emulator);
    /// `None`: fresh randomness.
    pub seed: Option<u64>,
    pub prompter: Arc<dyn Prompter>,
}

impl Default for Context {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            seed: None,
            prompter: Arc::new(NoPrompter),
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("clock", &self.clock)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stamps_the_same_second_in_utc() {
        let clock = Clock::fixed_at("2026-01-02T04:04:05+01:00").unwrap();
        assert_eq!(clock.timestamp().to_string(), "2026-01-02T03:04:05Z");
        assert_eq!(clock.timestamp(), clock.timestamp());
        assert!(Clock::fixed_at("yesterday").is_err());
    }
}
