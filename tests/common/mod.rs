//! Shared set-up of the CLI tests: a temporary project (config, data files, a freshly
//! generated key), a CloudKit emulator on 127.0.0.1 whose URL is the config's `endpoint:`
//! (in-process, or the `ckplan emulator` binary for tests that kill processes), a runner
//! for the `ckplan` binary, a "second writer": ckplan's own client used directly, as
//! another publisher or the app would write between `plan` and `apply`, and the store as
//! the emulator holds it (`/_emulator/dump` over raw HTTP, never ckplan's client).

#![allow(dead_code)]

pub mod hold;

use assert_cmd::Command;
use ckplan::cloudkit::auth::{generate_key_pair, parse_private_pem, RequestSigner};
use ckplan::cloudkit::wire::{Operation, OperationType, WireRecord};
use ckplan::cloudkit::{Client, ClientOptions, OperationResult};
use ckplan::emulator::{self, EmulatorConfig, Faults, RegisteredKey, RunningEmulator, Stats};
use ckplan::record::{Database, Environment, Target};
use ckplan::record::{FieldValue, Record};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

pub const CONTAINER: &str = "iCloud.com.example.CliTest";
pub const KEY_ID: &str = "cli-test-key";
/// The project's record types, deployed in the emulator's schema from the start (as in a
/// container whose schema was set up and deployed), so plans against an empty store,
/// production included, find them. Tests of a fresh container use the emulator directly.
pub const DEPLOYED_TYPES: [&str; 2] = ["Stadium", "Team"];

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

enum Server {
    InProcess(RunningEmulator),
    Process(Child),
}

/// A project directory and the emulator it talks to.
pub struct Env {
    pub runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    server: Option<Server>,
    url: String,
    private_pem: String,
}

/// Three stadiums and two teams: small, with every field kind the tests need.
pub fn stadiums() -> Json {
    json!([
        {"id": 1, "name": "Harbor Field", "city": "Baltimore",
         "location": {"latitude": 39.2839, "longitude": -76.6217}, "capacity": 45971},
        {"id": 2, "name": "Lakeside Park", "city": "Chicago",
         "location": {"latitude": 41.9484, "longitude": -87.6553}, "capacity": 41649},
        {"id": 3, "name": "Bay Stadium", "city": "Oakland",
         "location": {"latitude": 37.7516, "longitude": -122.2005}, "capacity": 46847}
    ])
}

pub fn teams() -> Json {
    json!([
        {"id": 1, "name": "Baltimore Crabs", "stadium": "stadium-1", "founded": 1954},
        {"id": 2, "name": "Chicago Gulls", "stadium": "stadium-2", "founded": 1901}
    ])
}

fn config_text(url: &str, container: &str, environment: &str) -> String {
    format!(
        "container: {container}\n\
         environment: {environment}\n\
         database: public\n\
         endpoint: {url}\n\
         auth:\n  key_id: {KEY_ID}\n  private_key_file: keys/test.pem\n\
         types:\n\
         \x20 Stadium:\n\
         \x20   file: data/stadiums.json\n\
         \x20   record_name: \"stadium-{{id}}\"\n\
         \x20   fields: {{name: STRING, city: STRING, location: LOCATION, capacity: INT64}}\n\
         \x20 Team:\n\
         \x20   file: data/teams.json\n\
         \x20   record_name: \"team-{{id}}\"\n\
         \x20   fields: {{name: STRING, stadium: REFERENCE, founded: INT64}}\n"
    )
}

impl Env {
    /// A project with the default data and an in-process emulator without faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A project whose in-process emulator injects `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        Self::with_emulator(|config| config.faults = faults)
    }

    /// A project whose in-process emulator is configured as usual, then by `edit`.
    pub fn with_emulator(edit: impl FnOnce(&mut EmulatorConfig)) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (private_pem, public_pem) = generate_key_pair();
        let key = ckplan::cloudkit::auth::parse_public_pem(&public_pem).unwrap();
        let mut config = EmulatorConfig {
            keys: vec![RegisteredKey {
                key_id: Some(KEY_ID.to_owned()),
                key,
            }],
            record_types: DEPLOYED_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            ..EmulatorConfig::default()
        };
        edit(&mut config);
        let running = runtime.block_on(emulator::start(config)).unwrap();
        let url = running.url();
        Self::finish(
            runtime,
            Some(Server::InProcess(running)),
            url,
            private_pem,
            public_pem,
        )
    }

    /// A project whose emulator is the `ckplan emulator` binary with `flags`, so a test can
    /// kill `ckplan apply` without losing the server.
    pub fn with_emulator_process(flags: &[&str]) -> Self {
        Self::with_emulator_process_stderr(flags, Stdio::null())
    }

    /// [`Env::with_emulator_process`] with the emulator's stderr going to `stderr`.
    pub fn with_emulator_process_stderr(flags: &[&str], stderr: impl Into<Stdio>) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (private_pem, public_pem) = generate_key_pair();
        let keys = tempfile::tempdir().unwrap().keep();
        let public_path = keys.join("test.pub.pem");
        std::fs::write(&public_path, &public_pem).unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ckplan"))
            .args(["emulator", "--listen", "127.0.0.1:0", "--key"])
            .arg(format!("{KEY_ID}={}", public_path.display()))
            .args(DEPLOYED_TYPES.iter().flat_map(|t| ["--record-type", t]))
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "emulator said `{url}`"
        );
        Self::finish(
            runtime,
            Some(Server::Process(child)),
            url,
            private_pem,
            public_pem,
        )
    }

    fn finish(
        runtime: tokio::runtime::Runtime,
        server: Option<Server>,
        url: String,
        private_pem: String,
        public_pem: String,
    ) -> Self {
        let env = Env {
            runtime,
            dir: tempfile::tempdir().unwrap(),
            server,
            url,
            private_pem,
        };
        env.write("keys/test.pem", &env.private_pem);
        env.write("keys/test.pub.pem", &public_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = env.path("keys/test.pem");
            std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        env.set_config(CONTAINER, "development");
        env.set_stadiums(&stadiums());
        env.set_teams(&teams());
        env
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap()
    }

    pub fn set_config(&self, container: &str, environment: &str) {
        self.write(
            "ckplan.yaml",
            &config_text(&self.url, container, environment),
        );
    }

    pub fn set_stadiums(&self, records: &Json) {
        self.write(
            "data/stadiums.json",
            &serde_json::to_string_pretty(records).unwrap(),
        );
    }

    pub fn set_teams(&self, records: &Json) {
        self.write(
            "data/teams.json",
            &serde_json::to_string_pretty(records).unwrap(),
        );
    }

    /// `ckplan` in the project directory, without colour and without the credential
    /// environment of whoever runs the tests.
    pub fn ckplan(&self) -> Command {
        let mut command = Command::cargo_bin("ckplan").unwrap();
        command
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CKPLAN_CONFIG")
            .env_remove("CKPLAN_KEY_ID")
            .env_remove("CKPLAN_PRIVATE_KEY_FILE")
            .env_remove("CKPLAN_PRIVATE_KEY")
            .env_remove("CKPLAN_KEY_PASSPHRASE")
            .env_remove("CKPLAN_MANAGEMENT_TOKEN")
            .env_remove("CKPLAN_TEAM_ID")
            .env_remove("CKPLAN_LOG")
            .env_remove("CKPLAN_TIMESTAMP")
            .env_remove("CKPLAN_RANDOMNESS_SEED")
            .timeout(std::time::Duration::from_secs(60));
        command
    }

    /// Starts `ckplan apply out.plan --parallelism 1` in the project without waiting (for
    /// tests that kill it), stdout discarded and stderr as given.
    pub fn spawn_apply(&self, stderr: Stdio) -> std::process::Child {
        self.spawn(&["apply", "out.plan", "--parallelism", "1"], stderr)
    }

    /// Starts `ckplan ARGS` in the project without waiting, stdout discarded and stderr as
    /// given.
    pub fn spawn(&self, args: &[&str], stderr: Stdio) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("ckplan"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }

    /// Runs `ckplan ARGS` with empty stdin; paths and the URL filtered out of the output.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let output = self
            .ckplan()
            .args(args)
            .write_stdin(stdin.as_bytes().to_vec())
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: self.filter(&String::from_utf8(output.stdout).unwrap()),
            stderr: self.filter(&String::from_utf8(output.stderr).unwrap()),
        }
    }

    /// Replaces the project directory with `[DIR]` and the emulator URL with `[URL]`.
    pub fn filter(&self, text: &str) -> String {
        let dir = self.dir.path().display().to_string();
        let canonical = self
            .dir
            .path()
            .canonicalize()
            .unwrap()
            .display()
            .to_string();
        text.replace(&canonical, "[DIR]")
            .replace(&dir, "[DIR]")
            .replace(&self.url, "[URL]")
    }

    /// Points the config's `endpoint:` at a [`hold::HoldProxy`] in front of the emulator that
    /// holds the `hold`-th `records/modify` request (plan after this, so the plan names the
    /// proxy). Admin routes and the second writer still go to the emulator directly.
    pub fn hold_modify(&self, hold: u64) -> hold::HoldProxy {
        self.hold_with(hold::HoldProxy::start(&self.url, hold))
    }

    /// [`Env::hold_modify`] for the `hold`-th request whose request line ends in `marker`
    /// (such as [`hold::SCHEMA_IMPORT`]).
    pub fn hold_request(&self, marker: &'static [u8], hold: u64) -> hold::HoldProxy {
        self.hold_with(hold::HoldProxy::start_matching(&self.url, marker, hold))
    }

    fn hold_with(&self, proxy: hold::HoldProxy) -> hold::HoldProxy {
        let config = self.read("ckplan.yaml").replace(
            &format!("endpoint: {}\n", self.url),
            &format!("endpoint: {}\n", proxy.url()),
        );
        assert!(
            config.contains(proxy.url()),
            "the config names the emulator"
        );
        self.write("ckplan.yaml", &config);
        proxy
    }

    /// Sends `body` as a POST (`None`: a GET) to the emulator's admin route `path` and returns the
    /// reply.
    fn admin(&self, path: &str, body: Option<&str>) -> reqwest::Response {
        let url = format!("{}/_emulator/{path}", self.url);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let request = match body {
            Some(body) => client.post(url).body(body.to_owned()),
            None => client.get(url),
        };
        self.runtime.block_on(request.send()).unwrap()
    }

    /// Replaces the emulator's faults over its admin route (`POST /_emulator/faults`, the
    /// camelCase JSON of `emulator::Faults`; missing keys are off).
    pub fn set_faults(&self, faults: &str) {
        let status = self.admin("faults", Some(faults)).status();
        assert_eq!(status, 200, "faults {faults} refused");
    }

    /// The emulator's counters, read over its admin route.
    pub fn stats(&self) -> Stats {
        let reply = self.admin("stats", None);
        self.runtime.block_on(reply.json()).unwrap()
    }

    /// The fields of every record of the test container's development public scope,
    /// exactly as the emulator stores them (`GET /_emulator/dump`, no client of ours):
    /// recordName → fields in wire JSON (`{name: {value, type}}`).
    pub fn stored_fields(&self) -> BTreeMap<String, Json> {
        self.dumped()
            .into_iter()
            .map(|record| {
                let name = record["recordName"]
                    .as_str()
                    .expect("recordName")
                    .to_owned();
                (name, record["fields"].clone())
            })
            .collect()
    }

    /// The dumped records of the project's scope (container, development, public), raw,
    /// each name once.
    fn dumped(&self) -> Vec<Json> {
        let reply = self.admin("dump", None);
        assert_eq!(reply.status(), 200, "GET /_emulator/dump");
        let dump: Json = self.runtime.block_on(reply.json()).expect("dump JSON");
        let scopes = dump["scopes"].as_array().expect("dump scopes");
        let ours = scopes.iter().filter(|scope| {
            scope["container"] == CONTAINER
                && scope["environment"] == "development"
                && scope["database"] == "public"
        });
        let mut names = std::collections::BTreeSet::new();
        let mut records = Vec::new();
        for scope in ours {
            for record in scope["records"].as_array().expect("dump records") {
                let name = record["recordName"].as_str().expect("recordName");
                assert!(names.insert(name.to_owned()), "`{name}` twice in the dump");
                records.push(record.clone());
            }
        }
        records
    }

    /// A client of the same target with the same key: the second writer.
    /// `bytes` uploaded as an asset with the second writer (issue 21): the field value a
    /// record saves, `{fileChecksum, size, receipt}`.
    pub fn upload_asset(&self, bytes: &[u8]) -> FieldValue {
        self.upload_asset_for("Stadium", "photo", bytes)
    }

    /// As [`Env::upload_asset`], for a field `field_name` of `record_type` (the upload
    /// token names them, and the emulator saves the receipt in that field only).
    pub fn upload_asset_for(
        &self,
        record_type: &str,
        field_name: &str,
        bytes: &[u8],
    ) -> FieldValue {
        let writer = self.writer();
        let token = ckplan::cloudkit::client::AssetToken {
            record_name: None,
            record_type: record_type.to_owned(),
            field_name: field_name.to_owned(),
        };
        let uploaded = self.runtime.block_on(async {
            let urls = writer.asset_upload_urls(&[token]).await.unwrap();
            writer.upload_asset_bytes(&urls[0], bytes).await.unwrap()
        });
        let value = serde_json::to_value(uploaded).unwrap();
        FieldValue::Scalar(ckplan::record::Value::Asset(Box::new(value)))
    }

    pub fn writer(&self) -> Client {
        self.writer_for(CONTAINER, Environment::Development)
    }

    pub fn writer_for(&self, container: &str, environment: Environment) -> Client {
        let key = parse_private_pem(&self.private_pem).unwrap();
        let target = Target {
            container: container.to_owned(),
            environment,
            database: Database::Public,
            zone: "_defaultZone".to_owned(),
        };
        Client::new(
            &self.url,
            target,
            RequestSigner::new(KEY_ID, key),
            ClientOptions::default(),
        )
        .unwrap()
    }

    /// Sends one modify request as the second writer; panics on a per-record failure.
    pub fn modify(&self, operations: Vec<Operation>) -> Vec<Record> {
        let client = self.writer();
        let results = self
            .runtime
            .block_on(client.modify_batch(operations))
            .unwrap();
        results
            .into_iter()
            .filter_map(|result| match result {
                OperationResult::Saved(record) => Some(record),
                OperationResult::Deleted(_) => None,
                OperationResult::Failed(name, failure) => {
                    panic!("second writer: `{name}` failed: {failure:?}")
                }
            })
            .collect()
    }

    /// Force-replaces `records` (the state "someone" put in CloudKit).
    pub fn seed(&self, records: &[Record]) {
        let operations = records
            .iter()
            .map(|record| operation(OperationType::ForceReplace, WireRecord::from_record(record)))
            .collect();
        self.modify(operations);
    }

    /// `update` of some fields of `name` against its current change tag, as the app would;
    /// `None` removes a field.
    pub fn edit(&self, record_type: &str, name: &str, fields: &[(&str, Option<FieldValue>)]) {
        let current = self.lookup(name).expect("record to edit exists");
        let mut wire = WireRecord {
            record_name: Some(name.to_owned()),
            record_type: Some(record_type.to_owned()),
            record_change_tag: current.change_tag.map(|t| t.0),
            ..WireRecord::default()
        };
        wire.fields = Some(
            fields
                .iter()
                .map(|(field, value)| {
                    (
                        (*field).to_owned(),
                        value
                            .as_ref()
                            .map(ckplan::cloudkit::wire::WireField::from_value),
                    )
                })
                .collect(),
        );
        self.modify(vec![operation(OperationType::Update, wire)]);
    }

    /// `forceDelete` of `name`.
    pub fn force_delete(&self, name: &str) {
        let wire = WireRecord {
            record_name: Some(name.to_owned()),
            ..WireRecord::default()
        };
        self.modify(vec![operation(OperationType::ForceDelete, wire)]);
    }

    /// The records the emulator stores for the project's container (development, public
    /// database), by record name, read over `GET /_emulator/dump` with raw HTTP: the store as
    /// it is, through no client of ckplan's, so a read that fails fails the test instead of
    /// passing for "absent" (issue 17).
    pub fn stored(&self) -> BTreeMap<String, Record> {
        self.dumped()
            .into_iter()
            .map(|record| {
                let wire: WireRecord = serde_json::from_value(record.clone())
                    .unwrap_or_else(|error| panic!("dumped record {record}: {error}"));
                let record = wire
                    .to_record()
                    .unwrap_or_else(|error| panic!("dumped record {record}: {error}"));
                (record.record_name.0.clone(), record)
            })
            .collect()
    }

    /// Record `name` as the emulator stores it (see [`Env::stored`]); `None` only when the
    /// dump, read without error, does not hold it.
    pub fn lookup(&self, name: &str) -> Option<Record> {
        self.stored().remove(name)
    }

    /// Every stored record of `record_type` (see [`Env::stored`]), sorted by record name.
    pub fn records(&self, record_type: &str) -> Vec<Record> {
        self.stored()
            .into_values()
            .filter(|record| record.record_type.as_str() == record_type)
            .collect()
    }

    /// Applies the current local data the quick way (plan + apply), asserting success.
    pub fn publish(&self) {
        let plan = self.run(&["plan", "-o", "setup.plan"]);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        let apply = self.run(&["apply", "setup.plan"]);
        assert_eq!(apply.code, 0, "{}", apply.stderr);
        std::fs::remove_file(self.path("setup.plan")).unwrap();
    }

    /// Kills the `ckplan emulator` process ([`Env::with_emulator_process`]) and starts a new
    /// one with no `--data` on the same address: everything it held is gone, the uploaded
    /// bytes included.
    pub fn restart_emulator_process(&mut self) {
        self.stop();
        let public_path = self.path("keys/test.pub.pem");
        let listen = self.url.trim_start_matches("http://").to_owned();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ckplan"))
            .args(["emulator", "--listen", &listen, "--key"])
            .arg(format!("{KEY_ID}={}", public_path.display()))
            .args(DEPLOYED_TYPES.iter().flat_map(|t| ["--record-type", t]))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), self.url, "the emulator moved");
        self.server = Some(Server::Process(child));
    }

    /// Stops the server (waiting for an in-process one to finish).
    pub fn stop(&mut self) {
        match self.server.take() {
            Some(Server::InProcess(running)) => self.runtime.block_on(running.shutdown()),
            Some(Server::Process(mut child)) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            None => {}
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn operation(operation_type: OperationType, record: WireRecord) -> Operation {
    Operation {
        operation_type,
        record,
        desired_keys: None,
    }
}

/// The desired stadium `id` of [`stadiums`] as a record.
pub fn stadium(id: i64) -> Record {
    let data = stadiums();
    let item = data
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap();
    Record::new("Stadium", format!("stadium-{id}"))
        .with_field("name", FieldValue::string(item["name"].as_str().unwrap()))
        .with_field("city", FieldValue::string(item["city"].as_str().unwrap()))
        .with_field(
            "location",
            FieldValue::location(
                item["location"]["latitude"].as_f64().unwrap(),
                item["location"]["longitude"].as_f64().unwrap(),
            ),
        )
        .with_field(
            "capacity",
            FieldValue::int64(item["capacity"].as_i64().unwrap()),
        )
}

/// Modify requests in `after` not counted in `before`.
pub fn modify_requests(before: &Stats, after: &Stats) -> u64 {
    let count = |stats: &Stats| stats.requests.get("records/modify").copied().unwrap_or(0);
    count(after) - count(before)
}

/// Every request of any kind made between two stats readings.
pub fn all_requests(before: &Stats, after: &Stats) -> u64 {
    let total = |stats: &Stats| stats.requests.values().sum::<u64>();
    total(after) - total(before)
}

pub fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// Runs `ckplan ARGS` on a pseudo-terminal in `dir` (via `script -qec`), typing `input`,
/// without the caller's ckplan environment and with `env` set; returns the exit code and
/// everything the terminal showed (stdout and stderr together).
pub fn on_terminal(dir: &Path, args: &str, input: &str, env: &[(&str, &str)]) -> (i32, String) {
    use std::io::Write;
    let binary = assert_cmd::cargo::cargo_bin("ckplan");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CKPLAN_CONFIG")
        .env_remove("CKPLAN_KEY_ID")
        .env_remove("CKPLAN_PRIVATE_KEY_FILE")
        .env_remove("CKPLAN_PRIVATE_KEY")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) is installed (util-linux)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), text)
}
