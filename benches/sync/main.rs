//! `cargo bench --bench sync`: the reproducible speed benchmark of the issue "Speed: minimum
//! API calls, concurrent reads and writes, benchmarks". It generates synthetic sports data
//! with a fixed seed (5,852, 50,000 and 100,000 records), runs the release `ckplan plan` and
//! `ckplan apply` as child processes against a `ckplan emulator` process at 0 ms and 20 ms
//! latency, and prints one markdown report: API calls against the protocol's minimum, wall
//! time against the round-trip bound, CPU time, peak RSS, the sequential-baseline
//! comparison, emulator and diff-engine throughput, and every target met or missed.
//!
//! The full run ends with issue 18's side by side at 20 and 100 ms against a seed-style
//! sync (`round_trips`); `CKPLAN_BENCH_ROUND_TRIPS=1` runs only that section.
//! Then upload throughput of ASSET files (`assets`); `CKPLAN_BENCH_ASSETS=1` runs only that.
//! `CKPLAN_BENCH_QUICK=1` runs only the 5,852-record set (a smoke check, without it);
//! `CKPLAN_BENCH_KEEP=1` keeps the generated inputs, plans and logs. Run without
//! `--bench` (as `cargo test` does), it runs its own checks of the generator and the
//! measurement helpers instead.

mod assets;
mod bounds;
mod checks;
mod dataset;
mod emulator;
mod measure;
mod per_record;
mod report;
mod round_trips;
mod scenarios;
mod suite;
mod target_checks;
mod targets;
mod throughput;

use report::Results;
use scenarios::Bench;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const FULL_SIZES: [usize; 3] = [5_852, 50_000, 100_000];
const QUICK_SIZES: [usize; 1] = [5_852];
const LATENCIES_MS: [u64; 2] = [0, 20];
const DIFF_RECORDS: usize = 1_000_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(measure::INTERMEDIATE) {
        return measure::intermediate_main(&args[2..]);
    }
    if !std::env::args().any(|arg| arg == "--bench") {
        return checks::run();
    }
    let quick = std::env::var("CKPLAN_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let root = match tempfile::Builder::new().prefix("ckplan-bench-").tempdir() {
        Ok(root) => root,
        Err(error) => {
            eprintln!("bench: error: failed to make a temporary directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let keep = std::env::var_os("CKPLAN_BENCH_KEEP").is_some();
    let per_record_only =
        std::env::var("CKPLAN_BENCH_PER_RECORD").is_ok_and(|v| !v.is_empty() && v != "0");
    let round_trips_only =
        std::env::var("CKPLAN_BENCH_ROUND_TRIPS").is_ok_and(|v| !v.is_empty() && v != "0");
    let assets_only = std::env::var("CKPLAN_BENCH_ASSETS").is_ok_and(|v| !v.is_empty() && v != "0");
    let result = if per_record_only {
        run_per_record(root.path(), quick)
    } else if assets_only {
        run_assets(root.path())
    } else if round_trips_only {
        run_round_trips(root.path())
    } else {
        run(root.path(), quick)
    };
    match result {
        Ok(report) => {
            print!("{report}");
            if keep {
                eprintln!(
                    "bench: inputs, plans and logs kept in `{}`",
                    root.keep().display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            let kept = root.keep();
            eprintln!("bench: error: {error:#}");
            eprintln!("bench: inputs, plans and logs kept in `{}`", kept.display());
            ExitCode::FAILURE
        }
    }
}

fn run(root: &Path, quick: bool) -> anyhow::Result<String> {
    let sizes: &[usize] = if quick { &QUICK_SIZES } else { &FULL_SIZES };
    let load_before = measure::load_average();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ckplan"));
    let mut bench = Bench::new(binary, root.to_owned())?;
    let inputs = suite::inputs(&bench, sizes)?;
    let mut rows = Vec::new();
    for latency_ms in LATENCIES_MS {
        rows.extend(suite::run_latency(&mut bench, &inputs, latency_ms)?);
    }
    let per_record = per_record::from_rows(&rows);
    let round_trips = match quick {
        true => String::new(),
        false => round_trips::render(&round_trips::run(&mut bench)?),
    };
    let assets = match quick {
        true => String::new(),
        false => assets::render(&assets::run(&mut bench)?),
    };
    eprintln!("bench: diff engine on {DIFF_RECORDS} records");
    let diff = throughput::measure(DIFF_RECORDS);
    let results = Results {
        comparisons: suite::comparisons(&rows, &inputs, &LATENCIES_MS),
        emulator: suite::emulator_rates(&rows),
        rows,
        diff,
        default_parallelism: bench.default_parallelism,
        notes: std::mem::take(&mut bench.notes),
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mode = if quick {
        " (quick: 5,852 records only)"
    } else {
        ""
    };
    let load = |value: Option<f64>| value.map_or("?".to_owned(), |v| format!("{v:.1}"));
    Ok(format!(
        "## ckplan sync benchmark{mode}\n\n{cores} cores; 1-minute load average {} before, {} \
         after (other work on the machine lengthens wall times, not CPU times); seed {}; \
         emulator on 127.0.0.1 in its own process; every command a release child process.\n\n{}\n{}\n{}\n{}",
        load(load_before),
        load(measure::load_average()),
        dataset::SEED,
        report::render(&results),
        per_record,
        round_trips,
        assets
    ))
}

/// `CKPLAN_BENCH_ROUND_TRIPS=1`: only the seed-style side by side at 20 and 100 ms
/// ([`round_trips`]).
fn run_round_trips(root: &Path) -> anyhow::Result<String> {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ckplan"));
    let mut bench = Bench::new(binary, root.to_owned())?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = |value: Option<f64>| value.map_or("?".to_owned(), |v| format!("{v:.1}"));
    let load_before = measure::load_average();
    let section = round_trips::render(&round_trips::run(&mut bench)?);
    Ok(format!(
        "## ckplan sync benchmark: round trips\n\n{cores} cores; 1-minute load average {} \
         before, {} after; seed {}; emulator on 127.0.0.1 in its own process; every command a \
         release child process.\n\n{section}",
        load(load_before),
        load(measure::load_average()),
        dataset::SEED,
    ))
}

/// `CKPLAN_BENCH_ASSETS=1`: only the upload throughput section ([`assets`]).
fn run_assets(root: &Path) -> anyhow::Result<String> {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ckplan"));
    let mut bench = Bench::new(binary, root.to_owned())?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = |value: Option<f64>| value.map_or("?".to_owned(), |v| format!("{v:.1}"));
    let load_before = measure::load_average();
    let section = assets::render(&assets::run(&mut bench)?);
    Ok(format!(
        "## ckplan sync benchmark: assets\n\n{cores} cores; 1-minute load average {} before, \
         {} after; emulator on 127.0.0.1 in its own process; every command a release child \
         process.\n\n{section}",
        load(load_before),
        load(measure::load_average()),
    ))
}

/// `CKPLAN_BENCH_PER_RECORD=1`: only the CPU and memory per record section
/// ([`per_record`]), with `CKPLAN_BENCH_BASELINE` measured beside this build if set.
fn run_per_record(root: &Path, quick: bool) -> anyhow::Result<String> {
    let sizes: &[usize] = if quick {
        &QUICK_SIZES
    } else {
        &per_record::SIZES
    };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ckplan"));
    let mut bench = Bench::new(binary, root.to_owned())?;
    let baseline = std::env::var_os("CKPLAN_BENCH_BASELINE").map(PathBuf::from);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = measure::load_average().map_or("?".to_owned(), |v| format!("{v:.1}"));
    Ok(format!(
        "## ckplan sync benchmark: CPU and memory per record\n\n{cores} cores; 1-minute load \
         average {load} before; seed {}; emulator on 127.0.0.1 in its own process.\n\n{}",
        dataset::SEED,
        per_record::run_alone(&mut bench, sizes, baseline)?
    ))
}
