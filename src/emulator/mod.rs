//! A CloudKit-compatible HTTP server for tests, the quickstart and anyone without an Apple
//! account: the same URL layout, S2S signature check, JSON shapes and error codes as
//! CloudKit Web Services (`docs/protocol.md`), with strict, deterministic and
//! observable behaviour. `routes` owns HTTP (routing, parsing, error encoding),
//! `signature` the S2S check, `store` (+ `query`, `filter`) the pure record semantics,
//! `persist` durability, `clock` time and seeded entropy, `faults` the per-operation
//! behaviour hook, `requests` and `admin` the request log and the `/_emulator/` routes.
//!
//! Its choices where the protocol's sources are unsure or silent (signature variants,
//! missing records, unknown types, paging, change tags, reply shapes), and its faults and
//! admin routes, are described in `docs/emulator.md`; keep that page in step with the code.

mod admin;
mod clock;
mod faults;
mod filter;
mod persist;
mod protocol;
mod query;
mod requests;
mod routes;
mod signature;
pub mod store;

pub use admin::{Dump, DumpedRecord, DumpedScope};
pub use clock::{Clock, ManualClock};
pub use faults::Faults;
pub use persist::PersistError;
pub use requests::{LoggedRequest, OperationOutcome};
pub use signature::AuthError;

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
}

impl Default for EmulatorConfig {
    /// 127.0.0.1 on a free port, in memory, no keys, ±10 minutes, no faults, wall time,
    /// seed 0.
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
}

/// What every connection shares.
struct Shared {
    state: Mutex<State>,
    keys: Vec<RegisteredKey>,
    clock_skew: Duration,
    log_requests: bool,
    clock: Clock,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> Stats {
        let state = self.lock();
        let mut stats = state.stats.clone();
        stats.records = state.store.record_count() as u64;
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
    };
    let mut store = Store::new(indexes);
    store.seed = config.seed;
    let persister = match &config.data_dir {
        Some(dir) => Some(Persister::open_exclusive(dir, &mut store)?),
        None => None,
    };
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
        }),
        keys: config.keys,
        clock_skew: config.clock_skew,
        log_requests: config.log_requests,
        clock: config.clock,
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
