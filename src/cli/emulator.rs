//! `ckplan emulator`: runs the CloudKit-compatible server until Ctrl-C or SIGTERM. Prints
//! the URL it listens on as the one line of stdout, so scripts can read it.

use super::{CommandResult, ExitStatus, Globals};
use crate::cloudkit::auth;
use crate::cloudkit::token::ManagementToken;
use crate::config::Secret;
use crate::emulator::{self, EmulatorConfig, Faults, RegisteredKey};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Run a local CloudKit-compatible server (records, zones, users; S2S signatures checked).
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  \
    ckplan keygen -o dev.pem > dev.pub.pem\n  \
    ckplan emulator --listen 127.0.0.1:8787 --data .ckplan/emulator --key 3f1c...=dev.pub.pem\n  \
    # then point ckplan.yaml at `endpoint: http://127.0.0.1:8787`\n\n\
    Admin routes (unsigned): GET /_emulator/stats, GET /_emulator/requests?since=N,\n\
    GET /_emulator/dump, GET|POST /_emulator/faults, POST /_emulator/reset.\n\
    Faults for tests: --latency-ms 50 --throttle-rate 0.1 --drop-rate 0.05 --seed 7\n\
    Live-like: --index-lag-ms 500 --record-throttle-rate 0.1 --page-repeat-rate 0.2")]
pub struct Args {
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Keep records in DIR across restarts (default: in memory)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// A public key (SPKI PEM) allowed to sign: KEYID=PUBKEY.pem, or PUBKEY.pem for any key ID
    #[arg(long = "key", value_name = "KEYID=PUBKEY.pem")]
    pub keys: Vec<String>,
    /// Largest accepted distance between the signed date and now; 0 turns the check off
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub clock_skew_secs: u64,
    /// Refuse queries that filter or sort on fields not declared with --index
    #[arg(long)]
    pub require_indexes: bool,
    /// A queryable and sortable field, `Type.field` (`Type.recordName` allows unfiltered
    /// queries; `Type.___createTime` or `Type.createdTimestamp` the fast partitioned read)
    #[arg(long = "index", value_name = "TYPE.FIELD")]
    pub indexes: Vec<String>,
    /// Sleep this long before answering every database request
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability of answering 429 THROTTLED (before any effect)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub throttle_rate: f64,
    /// Probability of answering 503 TRY_AGAIN_LATER (before any effect)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub unavailable_rate: f64,
    /// Probability that records/modify applies the write, then closes the connection unanswered
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub drop_rate: f64,
    /// Seed of the fault decisions, error UUIDs, change tags and generated record names
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// `retryAfter` sent with injected THROTTLED / TRY_AGAIN_LATER (0 makes chaos runs fast)
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = seconds)]
    pub retry_after_secs: f64,
    /// Probability, per record of records/modify, of a THROTTLED entry with retryAfter
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub record_throttle_rate: f64,
    /// Probability, per record of records/lookup, of TRY_AGAIN_LATER / THROTTLED / INTERNAL_ERROR
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub lookup_error_rate: f64,
    /// Probability that records/modify commits the batch, then answers 500 INTERNAL_ERROR
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub error_after_commit_rate: f64,
    /// Probability that a continued query page begins with the previous page's last record
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub page_repeat_rate: f64,
    /// Probability that a continued query page leaves out its first record (a gap)
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub page_skip_rate: f64,
    /// Queries see writes this many milliseconds late (records/lookup stays exact)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub index_lag_ms: u64,
    /// Never gzip-encode replies, even when the request accepts gzip
    #[arg(long)]
    pub no_gzip: bool,
    /// A record type whose schema is deployed from the start (queries on it answer empty
    /// instead of 404 "Did not find record type"), as in production after a deploy
    #[arg(long = "record-type", value_name = "TYPE")]
    pub record_types: Vec<String>,
    /// Milliseconds after a delete at which records referencing it with action DELETE_SELF
    /// are deleted, as CloudKit does asynchronously (0: before the next request is answered)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub cascade_delay_ms: u64,
    /// The management token the schema API (`/v1/database/…`) accepts; without it every
    /// schema request is refused with 401. On the command line it shows in `ps`: prefer
    /// the environment variable or --management-token-file
    // Taken as a plain string and checked in `accepted_token`: a clap value parser's error
    // would quote the value, the token, in the usage error.
    #[arg(
        long,
        value_name = "TOKEN",
        value_parser = raw_secret,
        env = "CKPLAN_EMULATOR_MANAGEMENT_TOKEN",
        hide_env_values = true
    )]
    pub management_token: Option<Secret>,
    /// A file holding the management token the schema API accepts (surrounding whitespace
    /// ignored)
    #[arg(long, value_name = "FILE", conflicts_with = "management_token")]
    pub management_token_file: Option<std::path::PathBuf>,
}

/// The token of `--management-token` (or its environment variable), else of
/// `--management-token-file`.
fn accepted_token(args: &Args) -> anyhow::Result<Option<ManagementToken>> {
    if let Some(text) = &args.management_token {
        // The error names where the token came from, never the token.
        let token = ManagementToken::new(text.expose())
            .context("`--management-token` (or CKPLAN_EMULATOR_MANAGEMENT_TOKEN)")?;
        return Ok(Some(token));
    }
    let Some(path) = &args.management_token_file else {
        return Ok(None);
    };
    let text = crate::cloudkit::secret_file::read_secret_file(path).with_context(|| {
        format!(
            "failed to read `--management-token-file {}`",
            path.display()
        )
    })?;
    let token = ManagementToken::new(&text)
        .with_context(|| format!("`--management-token-file {}`", path.display()))?;
    Ok(Some(token))
}

/// Any text, kept as a [`Secret`] (its `Debug` hides it); never fails, so clap never
/// quotes it.
fn raw_secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("`{text}` is not a number of seconds")),
    }
}

fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("`{text}` is not a probability between 0 and 1"))
    }
}

/// `KEYID=PUBKEY.pem` or `PUBKEY.pem`.
fn registered_key(spec: &str) -> anyhow::Result<RegisteredKey> {
    let (key_id, path) = match spec.split_once('=') {
        Some((id, path)) if !id.is_empty() => (Some(id.to_owned()), path),
        _ => (None, spec),
    };
    let key = auth::load_public_pem(std::path::Path::new(path))
        .with_context(|| format!("failed to load `--key {spec}`"))?;
    Ok(RegisteredKey { key_id, key })
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let keys = args
        .keys
        .iter()
        .map(|spec| registered_key(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let management_token = accepted_token(&args)?;
    if keys.is_empty() {
        globals.printer.warn(
            "no `--key` given: every signed request will be refused with AUTHENTICATION_FAILED",
        );
    }
    let config = EmulatorConfig {
        listen: args.listen,
        data_dir: args.data,
        keys,
        clock_skew: Duration::from_secs(args.clock_skew_secs),
        require_indexes: args.require_indexes,
        indexes: args.indexes,
        faults: Faults {
            latency_ms: args.latency_ms,
            throttle_rate: args.throttle_rate,
            unavailable_rate: args.unavailable_rate,
            drop_rate: args.drop_rate,
            seed: args.seed,
            retry_after_secs: args.retry_after_secs,
            record_throttle_rate: args.record_throttle_rate,
            lookup_error_rate: args.lookup_error_rate,
            error_after_commit_rate: args.error_after_commit_rate,
            page_repeat_rate: args.page_repeat_rate,
            page_skip_rate: args.page_skip_rate,
            index_lag_ms: args.index_lag_ms,
        },
        log_requests: globals.verbose > 0,
        clock: emulator::Clock::System,
        seed: args.seed,
        gzip: !args.no_gzip,
        record_types: args.record_types,
        cascade_delay_ms: args.cascade_delay_ms,
        management_token,
    };
    let running = emulator::start(config)
        .await
        .with_context(|| format!("failed to start the emulator on `{}`", args.listen))?;
    globals.printer.data(&format!("{}\n", running.url()))?;
    globals
        .printer
        .status("CloudKit emulator listening; Ctrl-C to stop.");
    wait_for_stop().await?;
    running.shutdown().await;
    Ok(ExitStatus::Success)
}

async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
