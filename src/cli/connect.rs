//! Connecting a command to CloudKit: the shared `--parallelism` argument, the global
//! `--request-timeout` and the client options every command that talks to CloudKit connects
//! with.

use super::Globals;
use crate::cloudkit::client::DEFAULT_REQUEST_TIMEOUT;
use crate::cloudkit::ClientOptions;
use crate::config::Config;
use crate::sync::Connection;
use std::time::Duration;

/// `--parallelism N`: requests to CloudKit in flight at once, from 1 to 64.
pub fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a number from 1 to 64")),
    }
}

/// `--request-timeout SECONDS`: the longest one request may take; `None` (`0`): no limit,
/// for a slow link or a test that holds a request in flight on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

/// A whole number of seconds; 0 lifts the limit.
pub fn parse_request_timeout(text: &str) -> Result<RequestTimeout, String> {
    match text.parse::<u64>() {
        Ok(0) => Ok(RequestTimeout(None)),
        Ok(seconds) => Ok(RequestTimeout(Some(Duration::from_secs(seconds)))),
        Err(_) => Err(format!(
            "`{text}` is not a whole number of seconds (0: no limit)"
        )),
    }
}

/// The request timeout of a command whose own is `default`: `--request-timeout` when given.
pub fn request_timeout(globals: &Globals, default: Duration) -> Option<Duration> {
    match globals.request_timeout {
        Some(RequestTimeout(given)) => given,
        None => Some(default),
    }
}

/// Connects with the run's seed (`CKPLAN_RANDOMNESS_SEED`) for retry jitter and the
/// embedded emulator; `parallelism` bounds requests in flight and chains per type read.
pub async fn connect(
    config: &Config,
    globals: &Globals,
    parallelism: usize,
) -> anyhow::Result<Connection> {
    crate::ops::connect(config, client_options(globals, parallelism))
        .await
        .map_err(anyhow::Error::new)
}

/// As [`connect`]; an embedded emulator also serves the schema API to `management_token`.
pub async fn connect_with_token(
    config: &Config,
    globals: &Globals,
    parallelism: usize,
    management_token: Option<crate::cloudkit::token::ManagementToken>,
) -> anyhow::Result<Connection> {
    let options = client_options(globals, parallelism);
    crate::ops::connect_with_token(config, options, management_token)
        .await
        .map_err(anyhow::Error::new)
}

/// The client options of every command: the run's seed, `parallelism` requests in flight
/// and chains per type read, `--request-timeout`.
pub fn client_options(globals: &Globals, parallelism: usize) -> ClientOptions {
    ClientOptions {
        seed: globals.context.seed,
        parallelism,
        partitions: parallelism,
        request_timeout: request_timeout(globals, DEFAULT_REQUEST_TIMEOUT),
        ..ClientOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_timeout_is_whole_seconds_and_zero_lifts_it() {
        assert_eq!(
            parse_request_timeout("90"),
            Ok(RequestTimeout(Some(Duration::from_secs(90))))
        );
        assert_eq!(parse_request_timeout("0"), Ok(RequestTimeout(None)));
        for bad in ["", "-1", "1.5", "60s"] {
            assert_eq!(
                parse_request_timeout(bad),
                Err(format!(
                    "`{bad}` is not a whole number of seconds (0: no limit)"
                )),
                "{bad:?}"
            );
        }
    }
}
