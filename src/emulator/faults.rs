//! Fault injection, off by default and reproducible: one `StdRng` seeded from
//! `Faults::seed` decides, request by request, whether to throttle, to answer "try again
//! later", or (records/modify only) to apply the write and then drop the connection.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// What to inject. Rates are probabilities in 0..=1; 0 disables a fault.
#[derive(Clone, Debug, Default, PartialEq)]
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
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    Unavailable,
    Drop,
}

/// `retryAfter` in seconds sent with injected THROTTLED / TRY_AGAIN_LATER.
pub const RETRY_AFTER_SECONDS: f64 = 1.0;

/// The seeded decision source.
#[derive(Debug)]
pub struct Injector {
    faults: Faults,
    rng: Mutex<StdRng>,
}

impl Injector {
    pub fn new(faults: Faults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed);
        Self {
            faults,
            rng: Mutex::new(rng),
        }
    }

    pub fn latency(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.faults.latency_ms)
    }

    /// Draws the fault for one database request. Rates of 0 draw nothing, so a run
    /// without faults consumes no randomness.
    pub fn decide(&self, is_modify: bool) -> Option<Fault> {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut hit = |rate: f64| rate > 0.0 && rng.gen::<f64>() < rate;
        if hit(self.faults.throttle_rate) {
            return Some(Fault::Throttle);
        }
        if hit(self.faults.unavailable_rate) {
            return Some(Fault::Unavailable);
        }
        if is_modify && hit(self.faults.drop_rate) {
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
        let injector = Injector::new(Faults::default());
        assert!((0..1000).all(|_| injector.decide(true).is_none()));
    }

    #[test]
    fn certain_faults_always_fire_and_drop_is_modify_only() {
        let throttle = Injector::new(Faults {
            throttle_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(throttle.decide(false), Some(Fault::Throttle));
        let drop = Injector::new(Faults {
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
        let a = Injector::new(faults.clone());
        let b = Injector::new(faults);
        let draws = |i: &Injector| (0..200).map(|_| i.decide(false)).collect::<Vec<_>>();
        let first = draws(&a);
        assert_eq!(first, draws(&b));
        assert!(first.contains(&Some(Fault::Throttle)));
        assert!(first.contains(&None));
    }
}
