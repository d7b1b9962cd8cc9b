//! A CloudKit-compatible HTTP server for tests, the quickstart and anyone without an Apple
//! account: the same URL layout, S2S signature check, JSON shapes and error codes as
//! CloudKit Web Services (`docs/protocol.md`), at least as strict and strange as
//! the live service, deterministic under a seed and observable. `routes` owns the request
//! flow, `protocol` HTTP (routing, parsing, encoding, gzip, size limit), `translate` wire ⇄
//! domain types, `signature` the S2S check, `store` (+ `scope`, `query`, `filter`) the
//! pure record semantics over `domain` types, `persist` durability, `faults` the
//! per-operation behaviour hook, `clock` time and seeded entropy, `requests` the request
//! log, `admin` the unsigned `/_emulator/` routes.
//!
//! Live-like behaviours, each with its source; every fault is seeded (`Faults::seed`) and
//! off unless asked, except the 404, which is how CloudKit is:
//!
//! - A query on a record type never written in that container, environment and database
//!   is a request-level 404 `{"serverErrorCode": "NOT_FOUND", "reason": "Did not find
//!   record type: Game", "uuid": …}`. Once a record of the type was written the type is
//!   known, even after every record is deleted; a type listed in
//!   `EmulatorConfig::record_types` (`--record-type`) is known from the start, as a
//!   schema deployed to production is. Source: the server message "Did not find
//!   record type: <T>" quoted by public CloudKit client code; MistKit's integration runner
//!   treats records/query's 404 NOT_FOUND as "schema not indexed yet"
//!   (brightdigit/MistKit, `Examples/MistDemo/…/IntegrationTestRunner.swift`).
//! - Index lag (`Faults::index_lag_ms`, `--index-lag-ms`): queries see each write
//!   (create, update, delete) that many milliseconds late on the emulator's clock, the
//!   previous version meanwhile; records/lookup stays exact. Source: "indexes are updated
//!   asynchronously" (Apple, CloudKit Web Services Reference, `QueryingRecords`).
//! - gzip: reply bodies are gzip-encoded (`Content-Encoding: gzip`) when the request's
//!   `Accept-Encoding` allows it (`EmulatorConfig::gzip`, `--no-gzip`). Source: live
//!   response headers carry `content-encoding: gzip` (brightdigit/MistKit
//!   `.taskmaster/docs/cloudkit-asset-fix-plan.md`, commit `5430ed4`).
//! - Size limits: at most 200 operations per modify and 200 names per lookup (400
//!   BAD_REQUEST), 200 records per page (`resultsLimit` clamped), a record's fields at
//!   most 1,000,000 bytes as JSON (per-record BAD_REQUEST; the page names no code).
//!   Source: Apple, CloudKit Web Services Reference, "Data Size Limits" (200 operations,
//!   200 records per response, 1 MB per record excluding assets). A request body over
//!   2,000,000 bytes is refused with HTTP 413 and an HTML body before it is read: Web
//!   Services documents no request size; Apple's native guidance is "2 MB per request"
//!   (`CKError.Code.limitExceeded`), and an HTTP front end answers in HTML, not JSON.
//! - users/caller answers both shapes in one body: top-level `userRecordName` (CloudKit
//!   JS's `fetchCurrentUserIdentity()` resolves to the body as a `UserIdentity`) and
//!   `users: [identity]` (Apple, Web Services `FetchCurrentUserIdentity`).
//! - Per-record THROTTLED (`record_throttle_rate`): in records/modify, a record's entry is
//!   `{recordName, reason, serverErrorCode: "THROTTLED", retryAfter}` before any effect on
//!   it; the others proceed. Source: per-record error dictionaries carry `retryAfter`
//!   (Apple, `ModifyRecords`, Record Fetch Error Dictionary; `docs/protocol.md`, "Errors").
//! - Lookup errors (`lookup_error_rate`): a record's lookup entry is TRY_AGAIN_LATER or
//!   THROTTLED (with `retryAfter`) or INTERNAL_ERROR, a seeded choice. Source: the same
//!   error dictionary in `LookupRecords`; codes from Apple's `ErrorCodes` table.
//! - 500 after commit (`error_after_commit_rate`): records/modify applies and persists the
//!   batch, then answers HTTP 500 INTERNAL_ERROR, so a client cannot tell whether it
//!   happened. `drop_rate` does the same and closes the connection unanswered.
//! - Page boundaries (`page_repeat_rate`, `page_skip_rate`): a continued query page begins
//!   with the previous page's last record, or leaves out the first record after the
//!   boundary. Source: continuation markers are relative positions, not snapshots, so a
//!   concurrent insert or delete shifts what the next page holds (Apple,
//!   `CKQueryOperation.Cursor`).
//! - Request-level THROTTLED (429) and TRY_AGAIN_LATER (503) with `retryAfter`
//!   (`throttle_rate`, `unavailable_rate`), and `latency_ms`, per request before any effect.
//!
//! Choices made where the protocol's sources are unsure, and known differences (explained
//! with the faults and admin routes in `docs/emulator.md`):
//!
//! - Signatures: the subpath may be signed with or without the query string; an empty body
//!   may be signed as the SHA-256 of nothing or (MistKit) as an empty hash slot
//!   `date::path`. DER only; raw `r||s` is refused. Default clock skew ±10 minutes
//!   (`clock_skew` zero turns the check off). Every failure, missing headers included, is
//!   401 AUTHENTICATION_FAILED "Authentication failed". Unknown routes are answered (404)
//!   before the signature is checked. S2S is accepted on every database, not only public.
//! - HTTP: one trailing slash is ignored and the container is percent-decoded (the
//!   signature still covers the path as sent). Any Content-Type is read as JSON. The GET
//!   endpoints (zones/list, users/current, users/caller) also take POST and ignore any
//!   body; another method on a known endpoint is 405 with an `Allow` header and a CloudKit
//!   BAD_REQUEST body (real CloudKit's answer is not captured). Request members that are
//!   `null` count as absent, except inside `fields`, where `null` removes the field.
//! - Only the default zone exists (public-database semantics): a request naming another
//!   zone is a request-level 404 ZONE_NOT_FOUND; zones/lookup answers per zone.
//!   `atomic: true` is 400 "atomic operations not supported in default zone".
//! - Modify: update/replace/delete of a missing record and forceDelete of a missing record
//!   are per-record NOT_FOUND "Record not found" (not a silent no-op). A successful delete
//!   answers `{recordName, deleted: true}`. Modify replies carry the record without
//!   `zoneID` (as the single live capture); query and lookup replies carry it. A recordType
//!   that differs from the existing record's is a per-record BAD_REQUEST. More than 200
//!   operations is a request-level 400, as is a tag-requiring operation without a tag
//!   (nothing is applied then). A second operation on the same record name in one request
//!   is a per-record BAD_REQUEST. A create without recordName gets an upper-case UUID.
//! - Schema: just-in-time, as in development. A field's type is fixed by its first write
//!   (per record type); later writes of another declared type get per-record BAD_REQUEST
//!   "invalid attempt to set value type … defined to be: …"; undecodable values (a
//!   fractional TIMESTAMP) get "Invalid value, expected type TIMESTAMP.". Untyped values
//!   take the schema's type, else an inferred one. Unknown type names are refused.
//! - Query: an unknown record type is a 404 (above). `resultsLimit` above 200 is clamped
//!   to 200, 0 is a 400. `desiredKeys: []` omits the `fields` key (recordType stays, so clients can tell records from errors). An untyped
//!   IN / NOT_IN filter is ignored, as live CloudKit does. Records lacking a filtered field
//!   match no comparator; lacking a sorted field, they sort first. The default order is
//!   recordName ascending and every sort ends with recordName, so pages are stable. Index
//!   enforcement only with `require_indexes`.
//! - Change tags: 8 lower-case base-36 characters like live ones (`kf3z2sxt`), drawn from
//!   `EmulatorConfig::seed` and a store-wide counter: different on every write,
//!   reproducible from an empty store. Error `uuid`s come from the same seed.
//!   `created`/`modified` carry one developer user record name and deviceID "2", with
//!   times from the emulator's clock (`EmulatorConfig::clock`, manual in tests).
//! - Replies are compact JSON (live output is pretty-printed); per-record errors carry
//!   `recordName, reason, serverErrorCode` (+ `retryAfter`) only, like live ones.
//!   `retryAfter` is a whole number of seconds (typed clients decode an integer).
//! - A reference saved without `action` is stored with `action: NONE`.
//! - users/current answers `{userRecordName}` (as live); users/caller both shapes (above;
//!   no `lookupInfo` or `nameComponents`: S2S callers are not discoverable).

mod admin;
pub mod assets;
mod clock;
mod domain;
mod faults;
mod filter;
mod persist;
mod protocol;
mod query;
mod requests;
mod routes;
mod schema_api;
mod schema_book;
mod scope;
mod signature;
pub mod store;
mod translate;

pub use admin::{Dump, DumpedRecord, DumpedScope};
pub use clock::{Clock, ManualClock};
pub use faults::Faults;
pub use persist::PersistError;
pub use requests::{LoggedRequest, OperationOutcome};
pub use signature::AuthError;

use crate::cloudkit::token::ManagementToken;
use clock::Entropy;
use persist::Persister;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{Indexes, Store};

/// Everything the emulator is started with.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    /// Where the store is kept; `None` keeps it in memory.
    pub data_dir: Option<PathBuf>,
    pub keys: Vec<RegisteredKey>,
    /// Allowed distance between the signed date and now; zero disables the check.
    pub clock_skew: Duration,
    /// Refuse queries on fields not listed in `indexes`.
    pub require_indexes: bool,
    /// `Type.field` names that are queryable (used with `require_indexes`).
    pub indexes: Vec<String>,
    pub faults: Faults,
    /// Log each request (method, path, status, milliseconds) at info level.
    pub log_requests: bool,
    /// Where "now" comes from: signed-date checks, `created`/`modified`, index lag, the
    /// request log. `Clock::Manual` lets tests move time by hand.
    pub clock: Clock,
    /// Seed of everything the emulator invents: error `uuid`s, change tags, generated
    /// record names. Fault decisions use `faults.seed`.
    pub seed: u64,
    /// gzip-encode reply bodies when the request's `Accept-Encoding` allows it.
    pub gzip: bool,
    /// Record types whose schema is deployed in every container, environment and
    /// database from the start (as after "Deploy Schema Changes" in CloudKit Console):
    /// queries on them answer empty instead of the 404 for a never-written type.
    pub record_types: Vec<String>,
    /// Milliseconds after a delete at which the records referencing it with action
    /// `DELETE_SELF` are deleted (CloudKit does it asynchronously); 0: before the next
    /// request is answered.
    pub cascade_delay_ms: u64,
    /// The management token the schema API (`/v1/database/…`) accepts; `None` refuses
    /// every schema request with 401.
    pub management_token: Option<ManagementToken>,
}

impl Default for EmulatorConfig {
    /// 127.0.0.1 on a free port, in memory, no keys, ±10 minutes, no faults, wall time,
    /// seed 0, gzip when accepted, no deployed record types.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            keys: Vec::new(),
            clock_skew: Duration::from_secs(600),
            require_indexes: false,
            indexes: Vec::new(),
            faults: Faults::default(),
            log_requests: false,
            clock: Clock::System,
            seed: 0,
            gzip: true,
            record_types: Vec::new(),
            cascade_delay_ms: 0,
            management_token: None,
        }
    }
}

/// A public key allowed to sign requests.
#[derive(Clone, Debug)]
pub struct RegisteredKey {
    /// `None`: accepted for any key ID.
    pub key_id: Option<String>,
    pub key: p256::ecdsa::VerifyingKey,
}

/// Counters of injected faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultStats {
    /// Requests answered 429 THROTTLED.
    pub throttled: u64,
    /// Requests answered 503 TRY_AGAIN_LATER.
    pub unavailable: u64,
    /// Modify requests committed, then closed unanswered.
    pub dropped: u64,
    /// Modify records answered with a per-record THROTTLED.
    #[serde(default)]
    pub records_throttled: u64,
    /// Lookup records answered with an injected error.
    #[serde(default)]
    pub lookup_errors: u64,
    /// Modify requests committed, then answered 500 INTERNAL_ERROR.
    #[serde(default)]
    pub errors_after_commit: u64,
    /// Query pages that began with the previous page's last record.
    #[serde(default)]
    pub pages_repeated: u64,
    /// Query pages that left out the record after the boundary.
    #[serde(default)]
    pub pages_skipped: u64,
}

/// What `GET /_emulator/stats` answers and `RunningEmulator::stats` returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests per endpoint (`records/modify`, ...), whatever their outcome.
    pub requests: BTreeMap<String, u64>,
    /// Replies per HTTP status (`"200"`, `"401"`, ...).
    pub statuses: BTreeMap<String, u64>,
    /// Modify operations per operation type (`create`, `forceReplace`, ...), counted when
    /// the operation was processed (not for a request refused as a whole).
    pub operations: BTreeMap<String, u64>,
    /// Per-record outcomes of modify: `ok` or the serverErrorCode.
    pub outcomes: BTreeMap<String, u64>,
    /// Per operation type (`create`, …, `lookup`, `query` for query pages), the count of
    /// each outcome (`ok`, `EXISTS`, `CONFLICT`, `NOT_FOUND`, `THROTTLED`, `repeated`, …).
    #[serde(default)]
    pub per_operation: BTreeMap<String, BTreeMap<String, u64>>,
    pub faults: FaultStats,
    /// Asset uploads (files and bytes received) and downloads.
    #[serde(default)]
    pub assets: assets::AssetStats,
    /// Records currently stored, all scopes together.
    pub records: u64,
}

impl Stats {
    /// Counts one operation's outcome in `per_operation` (and, for modify operation
    /// types, in `operations` and `outcomes`).
    fn count(&mut self, outcome: &OperationOutcome) {
        *self
            .per_operation
            .entry(outcome.operation.clone())
            .or_default()
            .entry(outcome.outcome.clone())
            .or_default() += 1;
        if !matches!(outcome.operation.as_str(), "lookup" | "query") {
            *self
                .operations
                .entry(outcome.operation.clone())
                .or_default() += 1;
            *self.outcomes.entry(outcome.outcome.clone()).or_default() += 1;
        }
    }
}

/// Mutable state, all behind one lock.
struct State {
    store: Store,
    persister: Option<Persister>,
    stats: Stats,
    log: requests::RequestLog,
    entropy: Entropy,
    faults: faults::Injector,
    /// The schema API's schemas; saved to `schema_file` (in `--data DIR`) on change.
    schemas: schema_book::SchemaBook,
    schema_file: Option<PathBuf>,
    /// Uploaded asset bytes, open upload URLs, the checksum key.
    assets: assets::AssetBook,
}

/// The schema API's file in a data directory.
const SCHEMA_FILE: &str = "schema.json";

impl State {
    /// After the held schemas changed: their indexes count for `--require-indexes`, and
    /// they are written to the data directory, when there is one.
    fn save_schemas(&mut self) -> std::io::Result<()> {
        self.store.indexes.schemas = self.schemas.held().clone();
        match &self.schema_file {
            Some(path) => {
                let text = self.schemas.to_json().to_string();
                crate::durable::write_atomically(path, text.as_bytes())
            }
            None => Ok(()),
        }
    }
}

/// What every connection shares.
struct Shared {
    state: Mutex<State>,
    keys: Vec<RegisteredKey>,
    clock_skew: Duration,
    log_requests: bool,
    clock: Clock,
    gzip: bool,
    management_token: Option<ManagementToken>,
    /// `http://127.0.0.1:PORT`: where upload and download URLs point.
    base_url: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> Stats {
        let state = self.lock();
        let mut stats = state.stats.clone();
        stats.records = state.store.record_count() as u64;
        stats.assets = state.assets.stats.clone();
        stats
    }
}

/// A started emulator. Dropping it without `shutdown` leaves the server running until the
/// runtime ends.
pub struct RunningEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Every request logged since start or reset, oldest first (see `GET /_emulator/requests`).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.since(0)
    }

    /// The exact stored records, sorted (see `GET /_emulator/dump`).
    pub fn dump(&self) -> Dump {
        admin::dump(&self.shared.lock().store)
    }

    /// Replaces the injected faults (reseeding their random source) while serving.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults.set(faults);
    }

    /// Stops accepting, closes connections, compacts the data directory.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let mut state = self.shared.lock();
        let State {
            store, persister, ..
        } = &mut *state;
        // Taken out so the directory's lock is released on return.
        if let Some(mut persister) = persister.take() {
            if let Err(error) = persister.snapshot(store) {
                tracing::warn!("emulator: failed to write the final snapshot: {error}");
            }
        }
    }
}

/// Loads the store, binds `config.listen` and serves in the background; returns at once.
pub async fn start(config: EmulatorConfig) -> anyhow::Result<RunningEmulator> {
    let indexes = Indexes {
        required: config.require_indexes,
        queryable: config.indexes.iter().cloned().collect::<BTreeSet<_>>(),
        schemas: Default::default(),
    };
    let mut store = Store::new(indexes);
    store.seed = config.seed;
    store.cascade_delay_ms = i64::try_from(config.cascade_delay_ms).unwrap_or(i64::MAX);
    store.deployed_types = config.record_types.iter().cloned().collect();
    let persister = match &config.data_dir {
        Some(dir) => Some(Persister::open_exclusive(dir, &mut store)?),
        None => None,
    };
    let schema_file = config.data_dir.as_ref().map(|dir| dir.join(SCHEMA_FILE));
    let schemas = match &schema_file {
        Some(path) if path.exists() => {
            let bytes = std::fs::read(path)?;
            schema_book::SchemaBook::from_json(&bytes)
                .map_err(|reason| anyhow::anyhow!("`{}` is corrupt: {reason}", path.display()))?
        }
        _ => schema_book::SchemaBook::default(),
    };
    store.indexes.schemas = schemas.held().clone();
    let assets = assets::AssetBook::open(config.data_dir.clone(), config.seed)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            store,
            persister,
            stats: Stats::default(),
            log: requests::RequestLog::default(),
            entropy: Entropy::seeded(config.seed),
            faults: faults::Injector::new(config.faults),
            schemas,
            schema_file,
            assets,
        }),
        keys: config.keys,
        clock_skew: config.clock_skew,
        log_requests: config.log_requests,
        clock: config.clock,
        gzip: config.gzip,
        management_token: config.management_token,
        base_url: format!("http://{addr}"),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(routes::serve(listener, shared.clone(), stopped));
    Ok(RunningEmulator {
        addr,
        shared,
        stop,
        task,
    })
}
