//! Fault injection, off by default and reproducible: one `StdRng` seeded from
//! `Faults::seed` decides, request by request, whether to throttle, to answer "try again
//! later", or (records/modify only) to apply the write and then drop the connection. The
//! faults can be replaced while the server runs (tests seed data without faults, then turn
//! them on for the run under test).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to inject. Rates are probabilities in 0..=1; 0 disables a fault.
#[derive(Clone, Debug, PartialEq)]
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
}

impl Default for Faults {
    /// No faults; `retryAfter` 1 second.
    fn default() -> Self {
        Self {
            latency_ms: 0,
            throttle_rate: 0.0,
            unavailable_rate: 0.0,
            drop_rate: 0.0,
            seed: 0,
            retry_after_secs: DEFAULT_RETRY_AFTER_SECONDS,
        }
    }
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    Unavailable,
    Drop,
}

/// Default `retryAfter` in seconds sent with injected THROTTLED / TRY_AGAIN_LATER.
pub const DEFAULT_RETRY_AFTER_SECONDS: f64 = 1.0;

/// The seeded decision source, kept in the emulator's locked state.
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

    pub fn latency(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.faults.latency_ms)
    }

    /// `retryAfter` to send with an injected refusal.
    pub fn retry_after(&self) -> f64 {
        self.faults.retry_after_secs
    }

    /// Draws the fault for one database request. Rates of 0 draw nothing, so a run
    /// without faults consumes no randomness.
    pub fn decide(&mut self, is_modify: bool) -> Option<Fault> {
        let Self { faults, rng } = self;
        let mut hit = |rate: f64| rate > 0.0 && rng.gen::<f64>() < rate;
        if hit(faults.throttle_rate) {
            return Some(Fault::Throttle);
        }
        if hit(faults.unavailable_rate) {
            return Some(Fault::Unavailable);
        }
        if is_modify && hit(faults.drop_rate) {
            return Some(Fault::Drop);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default() {
        let mut injector = Injector::new(Faults::default());
        assert!((0..1000).all(|_| injector.decide(true).is_none()));
    }

    #[test]
    fn certain_faults_always_fire_and_drop_is_modify_only() {
        let mut throttle = Injector::new(Faults {
            throttle_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(throttle.decide(false), Some(Fault::Throttle));
        let mut drop = Injector::new(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(drop.decide(false), None);
        assert_eq!(drop.decide(true), Some(Fault::Drop));
    }

    #[test]
    fn same_seed_same_decisions() {
        let faults = Faults {
            throttle_rate: 0.3,
            unavailable_rate: 0.3,
            seed: 42,
            ..Faults::default()
        };
        let mut a = Injector::new(faults.clone());
        let mut b = Injector::new(faults);
        let draws = |i: &mut Injector| (0..200).map(|_| i.decide(false)).collect::<Vec<_>>();
        let first = draws(&mut a);
        assert_eq!(first, draws(&mut b));
        assert!(first.contains(&Some(Fault::Throttle)));
        assert!(first.contains(&None));
    }

    #[test]
    fn faults_can_be_turned_on_and_off_while_running() {
        let mut injector = Injector::new(Faults::default());
        assert_eq!(injector.decide(false), None);
        injector.set(Faults {
            throttle_rate: 1.0,
            retry_after_secs: 0.0,
            ..Faults::default()
        });
        assert_eq!(injector.decide(false), Some(Fault::Throttle));
        assert_eq!(injector.retry_after(), 0.0);
        injector.set(Faults::default());
        assert_eq!(injector.decide(false), None);
        assert_eq!(injector.retry_after(), DEFAULT_RETRY_AFTER_SECONDS);
    }
}
