//! An instant in UTC, as plans, journals and receipts record it: when a plan was made, a
//! run started or finished. Written as RFC 3339 in UTC (`2025-01-02T03:04:05Z`, with a
//! fraction only when the instant has one), read from any RFC 3339 offset.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An instant in UTC. `Display` and serde use its RFC 3339 text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// Text that is not an RFC 3339 timestamp.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("`{text}` is not an RFC 3339 timestamp such as `2025-01-02T03:04:05Z`: {reason}")]
pub struct TimestampError {
    pub text: String,
    pub reason: String,
}

impl Timestamp {
    /// The system clock's now, to the second.
    pub fn now() -> Self {
        Self::at_second(Utc::now())
    }

    /// `at` to the second (what ckplan stamps).
    pub fn at_second(at: DateTime<Utc>) -> Self {
        Self(at.trunc_subsecs(0))
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| Self(at.with_timezone(&Utc)))
            .map_err(|error| TimestampError {
                text: text.to_owned(),
                reason: error.to_string(),
            })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_10_timestamps_read_any_offset_and_write_utc_to_the_second() {
        let at: Timestamp = "2026-01-02T04:04:05+01:00".parse().unwrap();
        assert_eq!(at.to_string(), "2026-01-02T03:04:05Z");
        assert_eq!(
            serde_json::to_string(&at).unwrap(),
            "\"2026-01-02T03:04:05Z\""
        );
        assert_eq!(
            serde_json::from_str::<Timestamp>("\"2026-01-02T03:04:05Z\"").unwrap(),
            at
        );
        let fine: Timestamp = "2026-01-02T03:04:05.250Z".parse().unwrap();
        assert_eq!(fine.to_string(), "2026-01-02T03:04:05.250Z");
        assert_eq!(Timestamp::at_second(fine.as_datetime()), at);
        let error = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(error
            .to_string()
            .starts_with("`yesterday` is not an RFC 3339 timestamp"));
        assert!(serde_json::from_str::<Timestamp>("\"2026-13-01T00:00:00Z\"").is_err());
    }
}
