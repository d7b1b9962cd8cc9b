//! The scenarios: for each latency, one emulator process; for each size, a first publish
//! (plan on an empty cloud, apply), a re-plan with no changes, at 5,852 records a 2 % change
//! sync and the old script's `import`, and for the baseline size at 20 ms a first publish applied
//! one batch at a time and by `import`. Each command is a child process measured by
//! `wait4`; API calls are the difference of the emulator's counters around it.

use crate::bounds;
use crate::dataset::{self, Connection, Dataset, TypeCount, SEED};
use crate::emulator::{Emulator, Stats};
use crate::measure::{self, Usage};
use crate::round_trips::{self, Calls};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The size of the sports set the 2 % change sync runs on.
pub const SPORTS_SET: usize = 5_852;
/// Share of games the change sync changes.
pub const CHANGED_FRACTION: f64 = 0.02;
/// The size of the sequential-baseline comparison (the largest size when it is not run).
pub const BASELINE_SIZE: usize = 50_000;
/// The latency the sequential baseline runs at (the issue compares there only).
pub const BASELINE_LATENCY_MS: u64 = 20;
pub const KEY_ID: &str = "bench-key";

/// What one measured command did.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub command: String,
    pub latency_ms: u64,
    /// Records in the local data set.
    pub records: usize,
    /// Operations the plan holds (or the import sends).
    pub changes: usize,
    pub calls: u64,
    pub min_calls: usize,
    /// Requests per endpoint.
    pub call_detail: String,
    pub usage: Usage,
    pub bound: Duration,
    pub emulator_cpu: Duration,
    /// Records the emulator served (query results) or operations it applied (modify).
    pub served: usize,
    /// The command's requests from the emulator's request log.
    pub log: Calls,
}

/// Generated inputs and the binary under test.
pub struct Bench {
    pub binary: PathBuf,
    pub root: PathBuf,
    pub private_key: PathBuf,
    public_key: PathBuf,
    pub default_parallelism: usize,
    pub notes: Vec<String>,
    runs: usize,
}

/// One data set on disk.
pub struct DataDir {
    pub dir: PathBuf,
    pub counts: Vec<TypeCount>,
    pub records: usize,
    /// Games the 2 % mutation changed (0 for an unchanged set).
    pub changed: usize,
}

impl Bench {
    /// Makes a key pair with `ckplan keygen` and reads the default `--parallelism`.
    pub fn new(binary: PathBuf, root: PathBuf) -> anyhow::Result<Self> {
        let private_key = root.join("bench.pem");
        let public_key = root.join("bench.pub.pem");
        let public = std::fs::File::create(&public_key)?;
        let status = Command::new(&binary)
            .args(["--quiet", "keygen", "-o"])
            .arg(&private_key)
            .stdout(public)
            .status()
            .context("failed to run `ckplan keygen`")?;
        anyhow::ensure!(status.success(), "`ckplan keygen` failed: {status}");
        let help = Command::new(&binary).args(["apply", "--help"]).output()?;
        let help = String::from_utf8_lossy(&help.stdout);
        let default_parallelism = parse_default_parallelism(&help)
            .context("`ckplan apply --help` shows no `--parallelism` default")?;
        std::fs::create_dir_all(root.join("logs"))?;
        std::fs::create_dir_all(root.join("plans"))?;
        Ok(Self {
            binary,
            root,
            private_key,
            public_key,
            default_parallelism,
            notes: Vec::new(),
            runs: 0,
        })
    }

    /// Generates and writes the data set of `total` records (changed: the 2 % mutation).
    pub fn data(&self, total: usize, changed: bool) -> anyhow::Result<DataDir> {
        let mut dataset: Dataset = dataset::generate(total, SEED);
        let (name, changed) = if changed {
            let count = dataset.change_games(CHANGED_FRACTION, SEED + 1);
            (format!("data-{total}-changed"), count)
        } else {
            (format!("data-{total}"), 0)
        };
        let dir = self.root.join(name);
        dataset.write(&dir)?;
        Ok(DataDir {
            dir,
            counts: dataset.counts(),
            records: dataset.len(),
            changed,
        })
    }

    pub fn start_emulator(&self, latency_ms: u64) -> anyhow::Result<Emulator> {
        let key = format!("{KEY_ID}={}", self.public_key.display());
        let log = self.root.join(format!("logs/emulator-{latency_ms}ms.log"));
        Emulator::start(&self.binary, &key, latency_ms, &log)
    }

    /// An emulator at 0 ms with more flags, its log named after `name`.
    pub fn start_emulator_with(&self, name: &str, flags: &[&str]) -> anyhow::Result<Emulator> {
        let key = format!("{KEY_ID}={}", self.public_key.display());
        let log = self.root.join(format!("logs/emulator-{name}.log"));
        Emulator::start_with(&self.binary, &key, 0, &log, flags)
    }

    fn config(&self, data: &DataDir, emulator: &Emulator) -> anyhow::Result<PathBuf> {
        let connection = Connection {
            endpoint: &emulator.url,
            key_id: KEY_ID,
            private_key_file: &self.private_key,
        };
        Ok(dataset::write_config(&data.dir, &connection)?)
    }

    /// Runs `ckplan --config CONFIG ARGS...`, measured, with the emulator's counters and CPU
    /// time around it.
    pub fn measured(
        &mut self,
        emulator: &Emulator,
        config: &Path,
        args: &[&str],
        expected_code: i32,
    ) -> anyhow::Result<(Usage, Stats, Duration, Calls)> {
        self.runs += 1;
        emulator.new_requests()?;
        let log = self
            .root
            .join(format!("logs/{:03}-{}.log", self.runs, args[0]));
        let before = emulator.stats()?;
        let cpu_before = measure::process_cpu(emulator.pid())?;
        let mut command = Command::new(&self.binary);
        command.arg("--config").arg(config).args(args);
        let usage = measure::run_measured(&mut command, &log, expected_code)?;
        let cpu = measure::process_cpu(emulator.pid())?.saturating_sub(cpu_before);
        let stats = emulator.stats()?.since(&before);
        let log = round_trips::calls(&emulator.new_requests()?);
        Ok((usage, stats, cpu, log))
    }

    /// `ckplan plan -o FILE` against a cloud holding `current`; returns the row and the plan.
    pub fn plan(
        &mut self,
        emulator: &Emulator,
        latency_ms: u64,
        scenario: &str,
        data: &DataDir,
        current: &[TypeCount],
        changes: usize,
    ) -> anyhow::Result<(Row, PathBuf)> {
        self.plan_with(emulator, latency_ms, scenario, data, current, changes, None)
    }

    /// As [`Bench::plan`], with `--parallelism N` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn plan_with(
        &mut self,
        emulator: &Emulator,
        latency_ms: u64,
        scenario: &str,
        data: &DataDir,
        current: &[TypeCount],
        changes: usize,
        parallelism: Option<usize>,
    ) -> anyhow::Result<(Row, PathBuf)> {
        let config = self.config(data, emulator)?;
        let plan = self.root.join(format!("plans/{:03}.plan", self.runs + 1));
        let plan_arg = plan.to_string_lossy().into_owned();
        // `--detailed-exitcode`: 2 when the plan holds changes, 0 when not, so a plan that
        // misses the expected changes (or finds some where none are) stops the bench.
        let mut args = vec!["plan".to_owned(), "--detailed-exitcode".to_owned()];
        if let Some(parallelism) = parallelism {
            args.extend(["--parallelism".to_owned(), parallelism.to_string()]);
        }
        args.extend(["-o".to_owned(), plan_arg]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let expected_code = if changes > 0 { 2 } else { 0 };
        let (usage, stats, emulator_cpu, log) =
            self.measured(emulator, &config, &args, expected_code)?;
        let row = Row {
            scenario: scenario.to_owned(),
            command: match parallelism {
                Some(p) => format!("plan --parallelism {p}"),
                None => "plan".to_owned(),
            },
            latency_ms,
            records: data.records,
            changes,
            calls: stats.total_requests(),
            // Pages per chain + probes and refused queries (from the request log), and
            // ⌈differences / 200⌉ confirming lookups.
            min_calls: log.queries.minimum() + bounds::batches(changes),
            call_detail: stats.describe(),
            usage,
            bound: bounds::read_bound(current, Duration::from_millis(latency_ms)),
            emulator_cpu,
            served: current.iter().map(|t| t.count).sum(),
            log,
        };
        Ok((row, plan))
    }

    /// `ckplan apply PLAN [--parallelism N]` of a plan holding `operations`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        emulator: &Emulator,
        latency_ms: u64,
        scenario: &str,
        data: &DataDir,
        plan: &Path,
        operations: &[TypeCount],
        parallelism: Option<usize>,
    ) -> anyhow::Result<Row> {
        let config = self.config(data, emulator)?;
        let plan_arg = plan.to_string_lossy().into_owned();
        let mut args = vec!["apply".to_owned(), plan_arg];
        if let Some(parallelism) = parallelism {
            args.extend(["--parallelism".to_owned(), parallelism.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (usage, stats, emulator_cpu, log) = self.measured(emulator, &config, &args, 0)?;
        let changes: usize = operations.iter().map(|t| t.count).sum();
        self.check_operations(scenario, "apply", changes, &stats);
        let used = parallelism.unwrap_or(self.default_parallelism);
        let round_trip = Duration::from_millis(latency_ms);
        Ok(Row {
            scenario: scenario.to_owned(),
            command: match parallelism {
                Some(p) => format!("apply --parallelism {p}"),
                None => format!("apply (parallelism {used})"),
            },
            latency_ms,
            records: data.records,
            changes,
            calls: stats.total_requests(),
            min_calls: bounds::min_apply_calls(operations),
            call_detail: stats.describe(),
            usage,
            bound: bounds::write_bound(operations, used, round_trip),
            emulator_cpu,
            served: changes,
            log,
        })
    }

    /// `ckplan import`: the old script (forceReplace every record, one batch at a time).
    pub fn import(
        &mut self,
        emulator: &Emulator,
        latency_ms: u64,
        scenario: &str,
        data: &DataDir,
    ) -> anyhow::Result<Row> {
        let config = self.config(data, emulator)?;
        let (usage, stats, emulator_cpu, log) = self.measured(emulator, &config, &["import"], 0)?;
        self.check_operations(scenario, "import", data.records, &stats);
        Ok(Row {
            scenario: scenario.to_owned(),
            command: "import (old script)".to_owned(),
            latency_ms,
            records: data.records,
            changes: data.records,
            calls: stats.total_requests(),
            min_calls: bounds::min_apply_calls(&data.counts),
            call_detail: stats.describe(),
            usage,
            bound: bounds::sequential_bound(&data.counts, Duration::from_millis(latency_ms)),
            emulator_cpu,
            served: data.records,
            log,
        })
    }

    fn check_operations(&mut self, scenario: &str, command: &str, expected: usize, stats: &Stats) {
        let sent = stats.total_operations();
        if sent != expected as u64 {
            self.notes.push(format!(
                "{scenario}, `{command}`: the emulator counted {sent} modify operations, \
                 {expected} were expected ({:?})",
                stats.operations
            ));
        }
    }
}

/// The `[default: N]` of `--parallelism` in clap's help text.
pub fn parse_default_parallelism(help: &str) -> Option<usize> {
    let after = &help[help.find("--parallelism")?..];
    let option = after.split("\n  -").next().unwrap_or(after);
    let default = &option[option.find("[default: ")? + "[default: ".len()..];
    default.split(']').next()?.trim().parse().ok()
}
