//! The emulator's time and randomness, passed to the store, the queries and the routes so
//! that nothing reads the system clock or an unseeded generator directly. `Clock::System`
//! is wall time; `Clock::Manual` is a `ManualClock` that only moves when told (index lag
//! and signed-date tests). `Entropy` is the seeded source of error UUIDs.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the emulator reads "now" from.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Wall time.
    #[default]
    System,
    /// Time that moves only through `ManualClock::advance` / `set`.
    Manual(ManualClock),
}

impl Clock {
    /// Milliseconds since 1970-01-01 UTC.
    pub fn now_millis(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp_millis(),
            Clock::Manual(clock) => clock.now_millis(),
        }
    }

    /// The same instant as a UTC date (signature date checks).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_millis()).unwrap_or_default()
    }
}

/// A clock shared between the emulator and the code that moves it; clones see the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `millis` (milliseconds since 1970-01-01 UTC).
    pub fn at_millis(millis: i64) -> Self {
        Self(Arc::new(AtomicI64::new(millis)))
    }

    pub fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(millis))
            });
    }

    /// Puts the clock at `millis`.
    pub fn set_millis(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

/// The seeded source of identifiers the emulator invents (error `uuid`s): the same seed
/// gives the same sequence, so two runs of a test produce the same bodies.
#[derive(Debug)]
pub struct Entropy(StdRng);

impl Entropy {
    pub fn seeded(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }

    /// A version-4 UUID, lower case (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`).
    pub fn uuid(&mut self) -> String {
        let mut bytes: [u8; 16] = self.0.gen();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::at_millis(1_000);
        let seen = Clock::Manual(clock.clone());
        assert_eq!(seen.now_millis(), 1_000);
        assert_eq!(seen.now_millis(), 1_000);
        clock.advance(Duration::from_millis(250));
        assert_eq!(seen.now_millis(), 1_250);
        assert_eq!(seen.now().timestamp_millis(), 1_250);
        clock.set_millis(5);
        assert_eq!(seen.now_millis(), 5);
    }

    #[test]
    fn system_clock_is_wall_time() {
        let before = chrono::Utc::now().timestamp_millis();
        let now = Clock::System.now_millis();
        assert!(now >= before && now - before < 60_000);
    }

    #[test]
    fn same_seed_same_uuids_and_they_are_version_4() {
        let (mut a, mut b) = (Entropy::seeded(9), Entropy::seeded(9));
        let first: Vec<String> = (0..5).map(|_| a.uuid()).collect();
        let second: Vec<String> = (0..5).map(|_| b.uuid()).collect();
        assert_eq!(first, second);
        assert_ne!(first[0], first[1]);
        assert_eq!(first[0].len(), 36);
        assert_eq!(&first[0][14..15], "4");
        assert_ne!(Entropy::seeded(10).uuid(), first[0]);
    }
}
