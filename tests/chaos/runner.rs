//! Running one seed of the chaos suite: an in-process emulator, a workspace (config, key,
//! local files), the `ckplan` binary planning and then applying under injected faults while
//! being killed at seeded random moments, and a client of our own for seeding CloudKit, for
//! the concurrent writer and for reading the final state back.

use super::world::World;
use ckplan::apply::journal::{self, Journal};
use ckplan::cloudkit::auth::{self, RequestSigner};
use ckplan::cloudkit::retry::RetryPolicy;
use ckplan::cloudkit::wire::{Operation, OperationType, WireRecord};
use ckplan::cloudkit::{Client, ClientOptions};
use ckplan::emulator::{self, EmulatorConfig, Faults, RegisteredKey, RunningEmulator};
use ckplan::record::Record;
use ckplan::record::Target;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const CONTAINER: &str = "iCloud.com.example.Chaos";
const KEY_ID: &str = "chaos-key";
/// A `ckplan apply` that has not converged after this many runs fails the seed.
const MAX_RUNS: usize = 12;
/// No single run may take longer than this.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A seed's emulator, workspace and our own client.
pub struct Setup {
    pub world: World,
    pub emulator: RunningEmulator,
    pub client: Client,
    pub directory: tempfile::TempDir,
}

/// How one `ckplan` process ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Killed,
}

/// What the apply loop did.
#[derive(Debug, Default)]
pub struct ApplyRuns {
    pub runs: usize,
    pub kills: usize,
    pub final_code: i32,
    /// stderr of every run, for diagnosis.
    pub log: String,
}

impl Setup {
    pub async fn new(seed: u64) -> Setup {
        Self::with_deployed_types(seed, &[]).await
    }

    /// Like [`Setup::new`], with `types` deployed in the emulator's schema from the start
    /// (production knows a deployed type before any record of it exists).
    pub async fn with_deployed_types(seed: u64, types: &[&str]) -> Setup {
        Self::with_schema_token(seed, types, None).await
    }

    /// Like [`Setup::with_deployed_types`], the emulator's schema API accepting `token`.
    pub async fn with_schema_token(
        seed: u64,
        types: &[&str],
        token: Option<ckplan::cloudkit::token::ManagementToken>,
    ) -> Setup {
        let world = World::generate(seed);
        let (private_pem, public_pem) = auth::generate_key_pair();
        let public = auth::parse_public_pem(&public_pem).expect("generated public key");
        let emulator = emulator::start(EmulatorConfig {
            keys: vec![RegisteredKey {
                key_id: Some(KEY_ID.into()),
                key: public,
            }],
            record_types: types.iter().map(|t| (*t).to_owned()).collect(),
            management_token: token,
            ..EmulatorConfig::default()
        })
        .await
        .expect("emulator starts");
        let directory = tempfile::tempdir().expect("temp dir");
        write_workspace(directory.path(), &world, &emulator.url(), &private_pem);
        let signer = RequestSigner::new(
            KEY_ID,
            auth::parse_private_pem(&private_pem).expect("generated private key"),
        );
        let options = ClientOptions {
            retry: RetryPolicy::immediate(5),
            ..ClientOptions::default()
        };
        let client = Client::new(&emulator.url(), target(), signer, options).expect("client");
        Setup {
            world,
            emulator,
            client,
            directory,
        }
    }

    pub fn plan_path(&self) -> PathBuf {
        self.directory.path().join("chaos.plan")
    }

    /// Stores the records CloudKit holds before the plan (no faults), 40 a request a few
    /// milliseconds apart, so that their creation times spread and the plan reads each type
    /// as several `createdTimestamp` chains (issue 18).
    pub async fn seed_cloud(&self) {
        let operations: Vec<Operation> = self
            .world
            .initial_records()
            .iter()
            .map(|record| operation(OperationType::ForceReplace, record))
            .collect();
        for chunk in operations.chunks(40) {
            let results = self.client.modify(chunk.to_vec()).await.expect("seeding");
            assert!(results
                .iter()
                .all(|r| matches!(r, ckplan::cloudkit::client::OperationResult::Saved(_))));
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }

    /// The concurrent writer: every edit of the world, forced (no faults).
    pub async fn write_concurrently(&self) {
        let mut operations = Vec::new();
        for ((record_type, name), edit, version) in self.world.edits() {
            let mut record = Record::new(record_type.as_str(), name.as_str());
            let kind = match (edit, version) {
                (_, None) => OperationType::ForceDelete,
                (super::world::Edit::CreateOther | super::world::Edit::CreateSame, Some(f)) => {
                    record.fields = f;
                    OperationType::Create
                }
                (_, Some(fields)) => {
                    record.fields = fields;
                    OperationType::ForceReplace
                }
            };
            operations.push(operation(kind, &record));
        }
        let results = self.client.modify(operations).await.expect("writer");
        for result in results {
            assert!(
                !matches!(
                    result,
                    ckplan::cloudkit::client::OperationResult::Failed(..)
                ),
                "the writer's edit failed: {result:?}"
            );
        }
    }

    /// `ckplan plan --delete-orphans` until it succeeds (reads retry on their own; a run
    /// whose retries were exhausted by injected faults is simply run again).
    pub async fn plan(&self) -> String {
        let mut log = String::new();
        for _ in 0..MAX_RUNS {
            let plan = self.plan_path();
            let args = ["plan", "--delete-orphans", "-o", path_text(&plan)];
            let (ended, stderr) = self.run(&args).await;
            log.push_str(&stderr);
            if ended == Ended::Exited(0) {
                return std::fs::read_to_string(plan).expect("plan written");
            }
        }
        panic!("seed {}: plan never succeeded:\n{log}", self.world.seed);
    }

    /// `ckplan apply PLAN` under `faults`, killed with SIGKILL 0–3 times at seeded moments
    /// strictly inside the run (after its k-th `records/modify` request arrived, k seeded
    /// among the requests it must still send, while that request is held by latency), then
    /// run until it exits 0 (done) or 3 (done, conflicts reported).
    pub async fn apply_with_kills(&self, random: &mut StdRng, faults: Faults) -> ApplyRuns {
        let mut runs = ApplyRuns::default();
        let kills = random.gen_range(0..=3);
        let plan = self.plan_path();
        let checksum =
            ckplan::plan::file::read_text(&std::fs::read_to_string(&plan).expect("the plan file"))
                .expect("the plan reads back")
                .checksum;
        for attempt in 0..MAX_RUNS {
            let parallelism = random.gen_range(1..=8).to_string();
            let args = [
                "apply",
                path_text(&plan),
                "--parallelism",
                parallelism.as_str(),
                "--on-conflict",
                self.world.policy.flag(),
            ];
            let batches = self.batches_to_send(&checksum);
            let kill = (attempt < kills && batches > 0).then(|| random.gen_range(1..=batches));
            // A request held 300 ms cannot be answered before the kill (polled every 3 ms;
            // the margin is for a loaded machine).
            let latency_ms = if kill.is_some() {
                300
            } else {
                faults.latency_ms
            };
            // Each run draws its own faults: reseeded alike, every run would meet the same
            // refusals in the same places and a seed could never converge.
            self.set_faults(Faults {
                latency_ms,
                seed: faults.seed.wrapping_mul(31).wrapping_add(attempt as u64),
                ..faults.clone()
            });
            let (ended, stderr, _) = self.run_with(&args, &[], kill).await;
            runs.runs += 1;
            runs.log
                .push_str(&format!("--- run {attempt} ({ended:?})\n{stderr}"));
            if kill.is_some() && ended != Ended::Killed {
                // It may fail on its own first (retries exhausted), never finish.
                assert!(
                    !matches!(ended, Ended::Exited(0 | 3)),
                    "seed {}: the run finished before its kill point:\n{}",
                    self.world.seed,
                    runs.log
                );
            }
            if ended == Ended::Killed {
                self.wait_until_idle().await;
                let journal = Journal::replay(&journal::path_for(&plan), &checksum)
                    .expect("the journal replays");
                assert!(
                    !journal.complete,
                    "seed {}: the kill landed after the run finished",
                    self.world.seed
                );
            }
            match ended {
                Ended::Killed => runs.kills += 1,
                Ended::Exited(code @ (0 | 3)) => {
                    runs.final_code = code;
                    return runs;
                }
                Ended::Exited(_) => {}
            }
        }
        panic!(
            "seed {}: apply did not converge in {MAX_RUNS} runs:\n{}",
            self.world.seed, runs.log
        );
    }

    /// Waits until the emulator has answered every request it received. A killed run's
    /// requests still run to their end at the server; the next run starts after them, so a
    /// create it sends again is a resend by ckplan, not a race with a dead client's request.
    async fn wait_until_idle(&self) {
        let started = Instant::now();
        loop {
            let stats = self.emulator.stats();
            let received: u64 = stats.requests.values().sum();
            let answered: u64 = stats.statuses.values().sum();
            if answered >= received {
                return;
            }
            assert!(
                started.elapsed() < RUN_TIMEOUT,
                "the emulator never went idle"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The least number of `records/modify` requests the next apply must send: batches of
    /// 200 over the changes the journal has neither finished nor left uncertain.
    fn batches_to_send(&self, checksum: &str) -> u64 {
        let plan_text = std::fs::read_to_string(self.plan_path()).expect("the plan file");
        let plan = ckplan::plan::file::from_text(&plan_text).expect("the plan reads back");
        let journal = Journal::replay(&journal::path_for(&self.plan_path()), checksum)
            .expect("the journal replays");
        let finished = journal
            .done
            .values()
            .filter(|outcome| !matches!(outcome, ckplan::apply::Outcome::Failed { .. }))
            .count();
        let remaining = plan.changes.len() - finished - journal.uncertain.len();
        remaining.div_ceil(ckplan::apply::BATCH_SIZE) as u64
    }

    /// One `ckplan apply PLAN`, not killed.
    pub async fn apply_once(&self) -> (Ended, String) {
        self.run(&["apply", path_text(&self.plan_path())]).await
    }

    pub fn receipt_path(&self) -> PathBuf {
        let mut name = self.plan_path().into_os_string();
        name.push(".receipt.json");
        name.into()
    }

    /// Runs the binary in the workspace to its end.
    async fn run(&self, args: &[&str]) -> (Ended, String) {
        let (ended, stderr, _) = self.run_with(args, &[], None).await;
        (ended, stderr)
    }

    fn modify_requests(&self) -> u64 {
        let stats = self.emulator.stats();
        stats.requests.get("records/modify").copied().unwrap_or(0)
    }

    /// Runs the binary to the end with extra environment variables; (end, stderr, stdout).
    #[allow(dead_code)] // used by tests/security.rs
    pub async fn ckplan(&self, args: &[&str], env: &[(&str, &str)]) -> (Ended, String, String) {
        self.run_with(args, env, None).await
    }

    /// Runs the binary; with `kill_after_modify: Some(k)`, kills it with SIGKILL once the
    /// emulator has received `k` `records/modify` requests from it.
    async fn run_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        kill_after_modify: Option<u64>,
    ) -> (Ended, String, String) {
        let modify_before = self.modify_requests();
        let stderr_path = self.directory.path().join("stderr.log");
        let stdout_path = self.directory.path().join("stdout.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let stdout = std::fs::File::create(&stdout_path).expect("stdout file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ckplan"))
            .current_dir(self.directory.path())
            .env_remove("CKPLAN_CONFIG")
            .env_remove("CKPLAN_KEY_ID")
            .env_remove("CKPLAN_PRIVATE_KEY_FILE")
            .env_remove("CKPLAN_PRIVATE_KEY")
            .env_remove("CKPLAN_KEY_PASSPHRASE")
            .env_remove("CKPLAN_MANAGEMENT_TOKEN")
            .env_remove("CKPLAN_TEAM_ID")
            .env_remove("CKPLAN_LOG")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("ckplan starts");
        let started = Instant::now();
        let ended = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Ended::Exited(status.code().unwrap_or(-1));
            }
            let sent = || self.modify_requests() - modify_before;
            if kill_after_modify.is_some_and(|k| sent() >= k) {
                child.kill().expect("kill -9");
                child.wait().expect("reaped");
                break Ended::Killed;
            }
            if started.elapsed() > RUN_TIMEOUT {
                child.kill().expect("kill");
                panic!("seed {}: `ckplan {args:?}` hung", self.world.seed);
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        };
        let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        (ended, text, out)
    }

    /// A complete HTTP/1.1 POST of `body` to `path`, signed with the workspace's key.
    pub fn signed_request(&self, path: &str, body: &str) -> String {
        let key = std::fs::read_to_string(self.directory.path().join("key.pem")).expect("key");
        let signer = RequestSigner::new(KEY_ID, auth::parse_private_pem(&key).expect("key"));
        let headers = signer.sign(chrono::Utc::now(), body.as_bytes(), path);
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n{}: {}\r\n{}: {}\r\n{}: {}\r\n\r\n{body}",
            self.emulator.addr(),
            body.len(),
            auth::HEADER_KEY_ID,
            headers.key_id,
            auth::HEADER_DATE,
            headers.date,
            auth::HEADER_SIGNATURE,
            headers.signature
        )
    }

    /// `GET /_emulator/PATH` with raw HTTP (admin routes are unsigned), as JSON.
    pub async fn admin(&self, path: &str) -> serde_json::Value {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client")
            .get(format!("{}/_emulator/{path}", self.emulator.url()))
            .send()
            .await
            .expect("admin route answers")
            .json()
            .await
            .expect("admin JSON")
    }

    /// The stored records of the suite's container, exactly as the emulator holds them
    /// (`GET /_emulator/dump`): `(type, name)` → (change tag, fields in wire JSON).
    pub async fn dump(&self) -> BTreeMap<(String, String), (String, serde_json::Value)> {
        let dump = self.admin("dump").await;
        let mut records = BTreeMap::new();
        let scopes = dump["scopes"].as_array().expect("scopes");
        for scope in scopes.iter().filter(|s| s["container"] == CONTAINER) {
            assert_eq!(
                (&scope["environment"], &scope["database"]),
                (&"development".into(), &"public".into())
            );
            for record in scope["records"].as_array().expect("records") {
                let text = |member: &str| record[member].as_str().expect(member).to_owned();
                let key = (text("recordType"), text("recordName"));
                let value = (text("recordChangeTag"), record["fields"].clone());
                assert!(
                    records.insert(key, value).is_none(),
                    "a record twice in the dump"
                );
            }
        }
        records
    }

    /// The sequence number of the last request the emulator logged.
    pub async fn last_request(&self) -> u64 {
        let log = self.admin("requests").await;
        let requests = log["requests"].as_array().expect("requests");
        requests
            .last()
            .map_or(0, |r| r["seq"].as_u64().expect("seq"))
    }

    /// Per-record modify outcomes logged after `since`: (operation, record name, outcome).
    pub async fn outcomes_since(&self, since: u64) -> Vec<(String, String, String)> {
        let log = self.admin(&format!("requests?since={since}")).await;
        let mut outcomes = Vec::new();
        for request in log["requests"].as_array().expect("requests") {
            for operation in request["operations"].as_array().expect("operations") {
                let text = |member: &str| operation[member].as_str().unwrap_or("").to_owned();
                outcomes.push((text("operation"), text("recordName"), text("outcome")));
            }
        }
        outcomes
    }

    pub fn set_faults(&self, faults: Faults) {
        self.emulator.set_faults(faults);
    }
}

/// Faults for one seed's apply: throttling, 503s and dropped replies at seeded rates,
/// a little latency, `retryAfter` 0 so the run is not slowed by the server's pause.
pub fn seeded_faults(random: &mut StdRng, seed: u64) -> Faults {
    Faults {
        latency_ms: random.gen_range(0..=3),
        throttle_rate: random.gen_range(0.0..0.3),
        unavailable_rate: random.gen_range(0.0..0.2),
        drop_rate: random.gen_range(0.0..0.3),
        seed,
        retry_after_secs: 0.0,
        ..Faults::default()
    }
}

/// Faults for planning: reads are never dropped (only modify is), so refusals, repeated
/// query pages and per-record lookup errors (a skipped page or a lagging index would hide
/// an orphan from any read, and the plan's counts are checked exactly).
pub fn read_faults(seed: u64) -> Faults {
    Faults {
        throttle_rate: 0.1,
        unavailable_rate: 0.05,
        page_repeat_rate: 0.3,
        lookup_error_rate: 0.05,
        seed,
        retry_after_secs: 0.0,
        ..Faults::default()
    }
}

pub fn random_for(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ 0x00c0_ffee)
}

fn target() -> Target {
    Target {
        container: CONTAINER.into(),
        environment: ckplan::record::Environment::Development,
        database: ckplan::record::Database::Public,
        zone: "_defaultZone".into(),
    }
}

fn operation(kind: OperationType, record: &Record) -> Operation {
    let mut wire = WireRecord::from_record(record);
    if kind == OperationType::ForceDelete {
        wire.fields = None;
    }
    Operation {
        operation_type: kind,
        record: wire,
        desired_keys: None,
    }
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn write_workspace(directory: &Path, world: &World, url: &str, private_pem: &str) {
    let config = format!(
        "container: {CONTAINER}\nenvironment: development\nendpoint: {url}\n\
         auth:\n  key_id: {KEY_ID}\n  private_key_file: key.pem\n\
         types:\n  \
           Team:\n    file: teams.json\n    record_name: \"team-{{id}}\"\n    \
             fields: {{name: STRING, score: INT64, note: STRING, rating: DOUBLE, \
               founded: TIMESTAMP, ground: LOCATION, tags: STRING_LIST}}\n  \
           Game:\n    file: games.ndjson\n    record_name: \"game-{{id}}\"\n    \
             fields: {{home: REFERENCE, score: INT64, note: STRING}}\n"
    );
    std::fs::write(directory.join("ckplan.yaml"), config).expect("config");
    let key = directory.join("key.pem");
    std::fs::write(&key, private_pem).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let (teams, games) = world.local_files();
    std::fs::write(directory.join("teams.json"), teams).expect("teams");
    std::fs::write(directory.join("games.ndjson"), games).expect("games");
}
