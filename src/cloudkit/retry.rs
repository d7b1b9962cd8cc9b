//! When and how long the client waits before resending a request: bounded exponential
//! backoff with full jitter, never shorter than the server's `retryAfter`, capped in attempts
//! and in total time. Pure: the caller supplies the random source and does the sleeping, so
//! every decision here is testable without a clock.

use rand::Rng;
use std::time::Duration;

/// Retry limits of one logical request (all its attempts together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included; 1 means never retry.
    pub max_attempts: u32,
    /// Ceiling of the first backoff; each later retry doubles it.
    pub base_delay: Duration,
    /// Ceiling of any one backoff (a longer `retryAfter` from the server still wins).
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt, and none is
    /// scheduled whose wait would end after it.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Up to `max_attempts` attempts with no backoff (tests). A server `retryAfter` is still
    /// honoured.
    pub fn immediate(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_total: Duration::from_secs(300),
        }
    }

    /// The backoff ceiling before retry number `retry` (0 for the first retry):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The wait before retry number `retry`: uniform in `[0, ceiling]` ("full jitter");
    /// when the server asked for `retry_after`, that wait plus a jitter of at most
    /// `min(ceiling, retry_after / 2)`, so that clients told the same pause do not all come
    /// back at once, and none comes back sooner than told.
    pub fn delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        random: &mut impl Rng,
    ) -> Duration {
        let mut jitter = |ceiling: Duration| {
            if ceiling.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(random.gen_range(0..=nanos(ceiling)))
            }
        };
        match retry_after {
            Some(pause) => pause + jitter(self.ceiling(retry).min(pause / 2)),
            None => jitter(self.ceiling(retry)),
        }
    }

    /// Whether to retry after `attempts_made` attempts that took `elapsed` so far, and after
    /// how long. `None` once the attempts are spent or the wait would cross `max_total`.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        random: &mut impl Rng,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts {
            return None;
        }
        let delay = self.delay(attempts_made.saturating_sub(1), retry_after, random);
        (elapsed.saturating_add(delay) <= self.max_total).then_some(delay)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `retryAfter` seconds from a reply, as a duration; negative, NaN or absurd values are
/// ignored rather than trusted.
pub fn retry_after_duration(seconds: Option<f64>) -> Option<Duration> {
    seconds
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = policy();
        assert_eq!(p.ceiling(0), Duration::from_millis(250));
        assert_eq!(p.ceiling(1), Duration::from_millis(500));
        assert_eq!(p.ceiling(4), Duration::from_millis(4000));
        assert_eq!(p.ceiling(7), Duration::from_secs(30));
        assert_eq!(p.ceiling(200), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_zero_and_the_ceiling_and_varies() {
        let p = policy();
        let mut random = StdRng::seed_from_u64(7);
        for retry in 0..8 {
            let delays: Vec<Duration> = (0..200)
                .map(|_| p.delay(retry, None, &mut random))
                .collect();
            assert!(delays.iter().all(|d| *d <= p.ceiling(retry)));
            let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
            assert!(distinct.len() > 100, "retry {retry}: jitter is not random");
            // Full jitter: some waits fall in the lower half of the window.
            assert!(delays.iter().any(|d| *d < p.ceiling(retry) / 2));
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = policy();
        let mut random = StdRng::seed_from_u64(1);
        let delays: Vec<Duration> = (0..100)
            .map(|_| p.delay(0, Some(Duration::from_secs(3)), &mut random))
            .collect();
        for d in &delays {
            assert!(*d >= Duration::from_secs(3), "{d:?}");
            // Bounded: the jitter is at most the backoff ceiling.
            assert!(*d <= Duration::from_secs(3) + p.ceiling(0), "{d:?}");
        }
        // Jittered: clients told the same pause spread out.
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(
            distinct.len() > 50,
            "issue 11: retryAfter waits are not jittered"
        );
        // Even above max_delay, and even with an immediate policy.
        let d = RetryPolicy::immediate(3).delay(9, Some(Duration::from_secs(45)), &mut random);
        assert_eq!(d, Duration::from_secs(45));
    }

    #[test]
    fn attempts_are_capped() {
        let p = RetryPolicy::immediate(3);
        let mut random = StdRng::seed_from_u64(2);
        assert_eq!(
            p.next_delay(1, Duration::ZERO, None, &mut random),
            Some(Duration::ZERO)
        );
        assert_eq!(
            p.next_delay(2, Duration::ZERO, None, &mut random),
            Some(Duration::ZERO)
        );
        assert_eq!(p.next_delay(3, Duration::ZERO, None, &mut random), None);
        assert_eq!(
            RetryPolicy::none().next_delay(1, Duration::ZERO, None, &mut random),
            None
        );
    }

    #[test]
    fn total_time_is_capped() {
        let p = policy();
        let mut random = StdRng::seed_from_u64(3);
        // Already past the budget: no retry at all.
        assert_eq!(
            p.next_delay(1, Duration::from_secs(301), None, &mut random),
            None
        );
        // A retryAfter that would end past the budget: give up now rather than sleep.
        assert_eq!(
            p.next_delay(
                1,
                Duration::from_secs(290),
                Some(Duration::from_secs(20)),
                &mut random
            ),
            None
        );
        assert!(p
            .next_delay(1, Duration::from_secs(10), None, &mut random)
            .is_some());
    }

    #[test]
    fn retry_after_values_are_sanitised() {
        assert_eq!(
            retry_after_duration(Some(1.5)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after_duration(Some(-1.0)), None);
        assert_eq!(retry_after_duration(Some(f64::NAN)), None);
        assert_eq!(retry_after_duration(Some(1e12)), None);
        assert_eq!(retry_after_duration(None), None);
    }
}
