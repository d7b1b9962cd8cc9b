//! The per-operation behaviour hook and its seeded implementation. Faults are decided
//! where they happen: once per request before any effect (latency, 429, 503), once per
//! record in records/modify (per-record THROTTLED) and records/lookup (per-record errors),
//! once per modify after its commit (dropped connection, 500), once per continued query
//! page (a repeated or skipped record at the page boundary). `Injector` draws every
//! decision from one `StdRng` seeded with `Faults::seed`; a rate of 0 draws nothing, so a
//! run without faults consumes no randomness. Faults can be replaced while the server
//! runs (tests seed data without faults, then turn them on for the run under test).

use crate::cloudkit::wire::ServerErrorCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What to inject. Rates are probabilities in 0..=1; 0 disables a fault. Also the body of
/// `POST /_emulator/faults` (camelCase keys; missing keys take their default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Sleep this long before answering every database request.
    pub latency_ms: u64,
    /// 429 THROTTLED with `retryAfter`, before any effect.
    pub throttle_rate: f64,
    /// 503 TRY_AGAIN_LATER with `retryAfter`, before any effect.
    pub unavailable_rate: f64,
    /// records/modify only: apply and persist, then close the connection unanswered.
    pub drop_rate: f64,
    pub seed: u64,
    /// `retryAfter` in seconds sent with injected THROTTLED / TRY_AGAIN_LATER (0 lets
    /// chaos tests run fast while still sending the field).
    pub retry_after_secs: f64,
    /// records/modify: per record, a `THROTTLED` entry with `retryAfter` instead of the
    /// operation, before any effect on that record; the other records proceed.
    pub record_throttle_rate: f64,
    /// records/lookup: per record, a `TRY_AGAIN_LATER`, `THROTTLED` (both with
    /// `retryAfter`) or `INTERNAL_ERROR` entry instead of the record (seeded choice).
    pub lookup_error_rate: f64,
    /// records/modify: apply and persist the batch, then answer HTTP 500 INTERNAL_ERROR.
    pub error_after_commit_rate: f64,
    /// records/query: a continued page begins with the previous page's last record, as
    /// after a concurrent insert (continuation markers are relative positions).
    pub page_repeat_rate: f64,
    /// records/query: the first record after a page boundary is left out (a gap).
    pub page_skip_rate: f64,
    /// Queries see each write (create, update, delete) this many milliseconds late, on
    /// the emulator's clock; records/lookup stays exact.
    pub index_lag_ms: u64,
}

impl Default for Faults {
    /// No faults, no lag; `retryAfter` 1 second.
    fn default() -> Self {
        Self {
            latency_ms: 0,
            throttle_rate: 0.0,
            unavailable_rate: 0.0,
            drop_rate: 0.0,
            seed: 0,
            retry_after_secs: DEFAULT_RETRY_AFTER_SECONDS,
            record_throttle_rate: 0.0,
            lookup_error_rate: 0.0,
            error_after_commit_rate: 0.0,
            page_repeat_rate: 0.0,
            page_skip_rate: 0.0,
            index_lag_ms: 0,
        }
    }
}

impl Faults {
    /// The first rate outside 0..=1 (or not a number), by its key.
    pub fn invalid_rate(&self) -> Option<&'static str> {
        [
            ("throttleRate", self.throttle_rate),
            ("unavailableRate", self.unavailable_rate),
            ("dropRate", self.drop_rate),
            ("recordThrottleRate", self.record_throttle_rate),
            ("lookupErrorRate", self.lookup_error_rate),
            ("errorAfterCommitRate", self.error_after_commit_rate),
            ("pageRepeatRate", self.page_repeat_rate),
            ("pageSkipRate", self.page_skip_rate),
        ]
        .into_iter()
        .find(|(_, rate)| !(0.0..=1.0).contains(rate))
        .map(|(key, _)| key)
        .or_else(|| {
            let bad = !self.retry_after_secs.is_finite() || self.retry_after_secs < 0.0;
            bad.then_some("retryAfterSecs")
        })
    }
}

/// Default `retryAfter` in seconds sent with injected THROTTLED / TRY_AGAIN_LATER.
pub const DEFAULT_RETRY_AFTER_SECONDS: f64 = 1.0;

/// A whole-request refusal, answered before any effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFault {
    /// 429 THROTTLED with `retryAfter`.
    Throttle,
    /// 503 TRY_AGAIN_LATER with `retryAfter`.
    Unavailable,
}

/// What happens to a records/modify reply after its writes were committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitFault {
    /// Close the connection unanswered.
    Drop,
    /// Answer HTTP 500 INTERNAL_ERROR.
    InternalError,
}

/// A per-record error entry put in place of one operation or lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordFault {
    pub code: ServerErrorCode,
    pub reason: &'static str,
    /// Seconds, sent as `retryAfter`.
    pub retry_after: Option<f64>,
}

/// A disturbance of one continued query page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageFault {
    /// The page begins with the previous page's last record.
    RepeatPrevious,
    /// The first record after the boundary is left out.
    SkipOne,
}

/// The behaviour the store, the queries and the routes consult at each operation.
pub trait Hook {
    /// Once per database request, before any effect.
    fn request(&mut self, is_modify: bool) -> Option<RequestFault>;
    /// Once per record of records/modify, before any effect on it.
    fn record_write(&mut self, record_name: &str) -> Option<RecordFault>;
    /// Once per record of records/lookup.
    fn record_read(&mut self, record_name: &str) -> Option<RecordFault>;
    /// Once per records/modify, after its writes are committed and durable.
    fn after_commit(&mut self) -> Option<CommitFault>;
    /// Once per query page that continues a previous one.
    fn query_page(&mut self) -> Option<PageFault>;
    /// How late queries see writes, in milliseconds.
    fn index_lag_ms(&self) -> i64;
}

/// No faults, no lag: what the store's own unit tests use.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Exact;

#[cfg(test)]
impl Hook for Exact {
    fn request(&mut self, _: bool) -> Option<RequestFault> {
        None
    }
    fn record_write(&mut self, _: &str) -> Option<RecordFault> {
        None
    }
    fn record_read(&mut self, _: &str) -> Option<RecordFault> {
        None
    }
    fn after_commit(&mut self) -> Option<CommitFault> {
        None
    }
    fn query_page(&mut self) -> Option<PageFault> {
        None
    }
    fn index_lag_ms(&self) -> i64 {
        0
    }
}

/// The seeded implementation of `Hook`, kept in the emulator's locked state.
#[derive(Debug)]
pub struct Injector {
    faults: Faults,
    rng: StdRng,
}

impl Injector {
    pub fn new(faults: Faults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed);
        Self { faults, rng }
    }

    /// Replaces the faults and reseeds from `faults.seed`.
    pub fn set(&mut self, faults: Faults) {
        *self = Self::new(faults);
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn latency(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.faults.latency_ms)
    }

    /// `retryAfter` to send with an injected refusal.
    pub fn retry_after(&self) -> f64 {
        self.faults.retry_after_secs
    }

    fn hit(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.gen::<f64>() < rate
    }
}

impl Hook for Injector {
    fn request(&mut self, _is_modify: bool) -> Option<RequestFault> {
        if self.hit(self.faults.throttle_rate) {
            return Some(RequestFault::Throttle);
        }
        if self.hit(self.faults.unavailable_rate) {
            return Some(RequestFault::Unavailable);
        }
        None
    }

    fn record_write(&mut self, _record_name: &str) -> Option<RecordFault> {
        let fault = RecordFault {
            code: ServerErrorCode::Throttled,
            reason: "Request throttled",
            retry_after: Some(self.faults.retry_after_secs),
        };
        self.hit(self.faults.record_throttle_rate).then_some(fault)
    }

    fn record_read(&mut self, _record_name: &str) -> Option<RecordFault> {
        if !self.hit(self.faults.lookup_error_rate) {
            return None;
        }
        let retry_after = Some(self.faults.retry_after_secs);
        Some(match self.rng.gen_range(0..3) {
            0 => RecordFault {
                code: ServerErrorCode::TryAgainLater,
                reason: "Service temporarily unavailable, try again later",
                retry_after,
            },
            1 => RecordFault {
                code: ServerErrorCode::Throttled,
                reason: "Request throttled",
                retry_after,
            },
            _ => RecordFault {
                code: ServerErrorCode::InternalError,
                reason: "Internal server error",
                retry_after: None,
            },
        })
    }

    fn after_commit(&mut self) -> Option<CommitFault> {
        if self.hit(self.faults.drop_rate) {
            return Some(CommitFault::Drop);
        }
        if self.hit(self.faults.error_after_commit_rate) {
            return Some(CommitFault::InternalError);
        }
        None
    }

    fn query_page(&mut self) -> Option<PageFault> {
        if self.hit(self.faults.page_repeat_rate) {
            return Some(PageFault::RepeatPrevious);
        }
        if self.hit(self.faults.page_skip_rate) {
            return Some(PageFault::SkipOne);
        }
        None
    }

    fn index_lag_ms(&self) -> i64 {
        i64::try_from(self.faults.index_lag_ms).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_point(hook: &mut dyn Hook) -> bool {
        hook.request(true).is_some()
            || hook.record_write("a").is_some()
            || hook.record_read("a").is_some()
            || hook.after_commit().is_some()
            || hook.query_page().is_some()
    }

    #[test]
    fn no_faults_by_default_and_no_randomness_drawn() {
        let mut injector = Injector::new(Faults::default());
        assert!((0..1000).all(|_| !every_point(&mut injector)));
        let untouched = StdRng::seed_from_u64(0).gen::<u64>();
        assert_eq!(injector.rng.gen::<u64>(), untouched);
        assert!(!every_point(&mut Exact));
    }

    #[test]
    fn each_rate_fires_at_its_own_point_only() {
        let mut throttle = Injector::new(Faults {
            throttle_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(throttle.request(false), Some(RequestFault::Throttle));
        assert_eq!(throttle.record_write("a"), None);
        let mut drop = Injector::new(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(drop.request(true), None);
        assert_eq!(drop.after_commit(), Some(CommitFault::Drop));
        let mut after = Injector::new(Faults {
            error_after_commit_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(after.after_commit(), Some(CommitFault::InternalError));
        let mut records = Injector::new(Faults {
            record_throttle_rate: 1.0,
            retry_after_secs: 3.0,
            ..Faults::default()
        });
        let fault = records.record_write("a").unwrap();
        assert_eq!(fault.code, ServerErrorCode::Throttled);
        assert_eq!(fault.retry_after, Some(3.0));
        assert_eq!(records.record_read("a"), None);
        let mut pages = Injector::new(Faults {
            page_skip_rate: 1.0,
            index_lag_ms: 40,
            ..Faults::default()
        });
        assert_eq!(pages.query_page(), Some(PageFault::SkipOne));
        assert_eq!(pages.index_lag_ms(), 40);
    }

    #[test]
    fn lookup_errors_are_a_seeded_choice_of_three_codes() {
        let faults = Faults {
            lookup_error_rate: 1.0,
            seed: 7,
            ..Faults::default()
        };
        let draws = |injector: &mut Injector| -> Vec<ServerErrorCode> {
            (0..60)
                .map(|_| injector.record_read("a").unwrap().code)
                .collect()
        };
        let first = draws(&mut Injector::new(faults.clone()));
        assert_eq!(first, draws(&mut Injector::new(faults)));
        for code in [
            ServerErrorCode::TryAgainLater,
            ServerErrorCode::Throttled,
            ServerErrorCode::InternalError,
        ] {
            assert!(first.contains(&code), "{code} never drawn");
        }
    }

    #[test]
    fn same_seed_same_decisions() {
        let faults = Faults {
            throttle_rate: 0.3,
            unavailable_rate: 0.3,
            record_throttle_rate: 0.5,
            seed: 42,
            ..Faults::default()
        };
        let draws = |i: &mut Injector| {
            (0..200)
                .map(|_| (i.request(false), i.record_write("r").is_some()))
                .collect::<Vec<_>>()
        };
        let first = draws(&mut Injector::new(faults.clone()));
        assert_eq!(first, draws(&mut Injector::new(faults)));
        assert!(first.contains(&(Some(RequestFault::Throttle), true)));
        assert!(first.iter().any(|(request, _)| request.is_none()));
    }

    #[test]
    fn faults_can_be_turned_on_and_off_while_running() {
        let mut injector = Injector::new(Faults::default());
        assert_eq!(injector.request(false), None);
        injector.set(Faults {
            throttle_rate: 1.0,
            retry_after_secs: 0.0,
            ..Faults::default()
        });
        assert_eq!(injector.request(false), Some(RequestFault::Throttle));
        assert_eq!(injector.retry_after(), 0.0);
        injector.set(Faults::default());
        assert_eq!(injector.request(false), None);
        assert_eq!(injector.retry_after(), DEFAULT_RETRY_AFTER_SECONDS);
    }

    #[test]
    fn rates_outside_zero_to_one_are_named() {
        let bad = Faults {
            page_skip_rate: 1.5,
            ..Faults::default()
        };
        assert_eq!(bad.invalid_rate(), Some("pageSkipRate"));
        assert_eq!(Faults::default().invalid_rate(), None);
        let parsed: Faults = serde_json::from_str(r#"{"recordThrottleRate": 0.5}"#).unwrap();
        assert_eq!(parsed.record_throttle_rate, 0.5);
        assert_eq!(parsed.retry_after_secs, DEFAULT_RETRY_AFTER_SECONDS);
        assert!(serde_json::from_str::<Faults>(r#"{"nope": 1}"#).is_err());
    }
}
