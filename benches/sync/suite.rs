//! The order the scenarios run in, one emulator process per latency, and the comparisons
//! drawn from their rows.

use crate::dataset::type_counts;
use crate::report::thousands;
use crate::scenarios::{Bench, DataDir, Row, BASELINE_LATENCY_MS, BASELINE_SIZE, SPORTS_SET};
use std::collections::BTreeMap;

pub const FIRST_PUBLISH: &str = "first publish";
pub const REPLAN: &str = "re-plan, no changes";
pub const CHANGE: &str = "2 % change";
pub const SEQUENTIAL: &str = "first publish, sequential";

/// Every data set, generated once.
pub struct Inputs {
    pub sets: BTreeMap<usize, DataDir>,
    pub changed: Option<DataDir>,
    pub baseline_size: usize,
}

pub fn inputs(bench: &Bench, sizes: &[usize]) -> anyhow::Result<Inputs> {
    let mut sets = BTreeMap::new();
    for &size in sizes {
        eprintln!("bench: generating {size} records");
        sets.insert(size, bench.data(size, false)?);
    }
    let changed = match sets.contains_key(&SPORTS_SET) {
        true => Some(bench.data(SPORTS_SET, true)?),
        false => None,
    };
    let baseline_size = if sets.contains_key(&BASELINE_SIZE) {
        BASELINE_SIZE
    } else {
        sizes.iter().copied().max().unwrap_or(SPORTS_SET)
    };
    Ok(Inputs {
        sets,
        changed,
        baseline_size,
    })
}

/// Runs every scenario at `latency_ms` on a fresh emulator.
pub fn run_latency(
    bench: &mut Bench,
    inputs: &Inputs,
    latency_ms: u64,
) -> anyhow::Result<Vec<Row>> {
    let emulator = bench.start_emulator(latency_ms)?;
    let mut rows = Vec::new();
    for (&size, data) in &inputs.sets {
        eprintln!("bench: {size} records at {latency_ms} ms");
        emulator.reset()?;
        let empty = type_counts(0, 0, 0);
        let (row, plan) = bench.plan(
            &emulator,
            latency_ms,
            FIRST_PUBLISH,
            data,
            &empty,
            data.records,
        )?;
        rows.push(row);
        rows.push(bench.apply(
            &emulator,
            latency_ms,
            FIRST_PUBLISH,
            data,
            &plan,
            &data.counts,
            None,
        )?);
        let (row, _) = bench.plan(&emulator, latency_ms, REPLAN, data, &data.counts, 0)?;
        rows.push(row);
        if let (SPORTS_SET, Some(changed)) = (size, &inputs.changed) {
            let operations = type_counts(0, 0, changed.changed);
            let (row, plan) = bench.plan(
                &emulator,
                latency_ms,
                CHANGE,
                changed,
                &changed.counts,
                changed.changed,
            )?;
            rows.push(row);
            rows.push(bench.apply(
                &emulator,
                latency_ms,
                CHANGE,
                changed,
                &plan,
                &operations,
                None,
            )?);
            rows.push(bench.import(&emulator, latency_ms, CHANGE, changed)?);
        }
        if size == inputs.baseline_size && latency_ms == BASELINE_LATENCY_MS {
            emulator.reset()?;
            let empty = type_counts(0, 0, 0);
            let (_, plan) = bench.plan(
                &emulator,
                latency_ms,
                SEQUENTIAL,
                data,
                &empty,
                data.records,
            )?;
            rows.push(bench.apply(
                &emulator,
                latency_ms,
                SEQUENTIAL,
                data,
                &plan,
                &data.counts,
                Some(1),
            )?);
            emulator.reset()?;
            rows.push(bench.import(&emulator, latency_ms, SEQUENTIAL, data)?);
        }
    }
    Ok(rows)
}

/// A faster way and a slower way of doing the same work.
pub struct Comparison {
    pub what: String,
    pub latency_ms: u64,
    pub fast_label: String,
    pub fast: std::time::Duration,
    pub slow_label: String,
    pub slow: std::time::Duration,
}

impl Comparison {
    pub fn speedup(&self) -> f64 {
        self.slow.as_secs_f64() / self.fast.as_secs_f64().max(1e-9)
    }
}

fn find<'a>(
    rows: &'a [Row],
    latency: u64,
    records: usize,
    scenario: &str,
    command: &str,
) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.latency_ms == latency
            && r.records == records
            && r.scenario == scenario
            && r.command.starts_with(command)
    })
}

/// plan + apply against the sequential ways, per latency.
pub fn comparisons(rows: &[Row], inputs: &Inputs, latencies: &[u64]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for &latency in latencies {
        let size = inputs.baseline_size;
        let plan = find(rows, latency, size, FIRST_PUBLISH, "plan");
        let apply = find(rows, latency, size, FIRST_PUBLISH, "apply (");
        if let (Some(plan), Some(apply)) = (plan, apply) {
            let fast = plan.usage.wall + apply.usage.wall;
            let fast_label = "plan + apply".to_owned();
            if let Some(one) = find(rows, latency, size, SEQUENTIAL, "apply --parallelism 1") {
                out.push(Comparison {
                    what: format!("first publish of {}", thousands(size as u64)),
                    latency_ms: latency,
                    fast_label: fast_label.clone(),
                    fast,
                    slow_label: "plan + apply --parallelism 1".to_owned(),
                    slow: plan.usage.wall + one.usage.wall,
                });
            }
            if let Some(import) = find(rows, latency, size, SEQUENTIAL, "import") {
                out.push(Comparison {
                    what: format!("first publish of {}", thousands(size as u64)),
                    latency_ms: latency,
                    fast_label,
                    fast,
                    slow_label: "import (old script)".to_owned(),
                    slow: import.usage.wall,
                });
            }
        }
        let plan = find(rows, latency, SPORTS_SET, CHANGE, "plan");
        let apply = find(rows, latency, SPORTS_SET, CHANGE, "apply (");
        let import = find(rows, latency, SPORTS_SET, CHANGE, "import");
        if let (Some(plan), Some(apply), Some(import)) = (plan, apply, import) {
            out.push(Comparison {
                what: format!("2 % change of {}", thousands(SPORTS_SET as u64)),
                latency_ms: latency,
                fast_label: "plan + apply".to_owned(),
                fast: plan.usage.wall + apply.usage.wall,
                slow_label: "import (old script)".to_owned(),
                slow: import.usage.wall,
            });
        }
    }
    out
}

/// Records the emulator served per second at 0 ms: end to end (wall time of the command,
/// client work included, so a lower bound) and per second of the emulator's own CPU.
pub struct EmulatorRate {
    pub what: &'static str,
    pub records: usize,
    pub end_to_end: f64,
    pub per_cpu_second: Option<f64>,
}

pub fn emulator_rates(rows: &[Row]) -> Vec<EmulatorRate> {
    let largest = |scenario: &str, command: &str| {
        rows.iter()
            .filter(|r| {
                r.latency_ms == 0 && r.scenario == scenario && r.command.starts_with(command)
            })
            .max_by_key(|r| r.served)
    };
    let mut out = Vec::new();
    for (what, row) in [
        ("query pages (re-plan)", largest(REPLAN, "plan")),
        (
            "modify operations (first publish apply)",
            largest(FIRST_PUBLISH, "apply ("),
        ),
    ] {
        if let Some(row) = row {
            out.push(EmulatorRate {
                what,
                records: row.served,
                end_to_end: row.served as f64 / row.usage.wall.as_secs_f64().max(1e-9),
                per_cpu_second: (!row.emulator_cpu.is_zero())
                    .then(|| row.served as f64 / row.emulator_cpu.as_secs_f64()),
            });
        }
    }
    out
}
