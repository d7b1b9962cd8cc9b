//! The targets, each checked against the measured rows. Where a target names a size
//! that was not run (`CKPLAN_BENCH_QUICK`), it is checked at the largest size that was.

use crate::bounds;
use crate::report::{duration, thousands, Results};
use crate::scenarios::Row;
use crate::suite::{FIRST_PUBLISH, REPLAN};

/// One target with the numbers that meet or miss it.
pub struct Check {
    pub target: String,
    pub evidence: String,
    pub met: bool,
}

const SLACK: f64 = 1.25;
const RTT_MS: u64 = 20;

fn label(row: &Row) -> String {
    format!(
        "{} {} at {} ms",
        row.scenario,
        thousands(row.records as u64),
        row.latency_ms
    )
}

pub fn checks(results: &Results) -> Vec<Check> {
    let mut out = vec![minimum_calls(results)];
    out.extend(bound("plan", "plan", results));
    out.extend(bound("apply", "apply (", results));
    out.extend(speedups(results));
    out.extend(diff_rate(results));
    out.extend(plan_cpu_and_memory(results));
    out.extend(emulator_rate(results));
    out
}

fn minimum_calls(results: &Results) -> Check {
    let measured: Vec<&Row> = results
        .rows
        .iter()
        .filter(|r| r.command.starts_with("plan") || r.command.starts_with("apply"))
        .collect();
    let misses: Vec<String> = measured
        .iter()
        .filter(|r| r.calls != r.min_calls as u64)
        .map(|r| format!("{}, {}: {} / {}", label(r), r.command, r.calls, r.min_calls))
        .collect();
    Check {
        target: "API calls = protocol minimum (plan and apply)".to_owned(),
        evidence: if misses.is_empty() {
            format!("all {} runs at the minimum", measured.len())
        } else {
            misses.join("; ")
        },
        met: misses.is_empty(),
    }
}

fn bound(name: &str, command: &str, results: &Results) -> Option<Check> {
    let rows: Vec<&Row> = results
        .rows
        .iter()
        .filter(|r| r.latency_ms == RTT_MS && r.command.starts_with(command))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let ratios: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| bounds::ratio(r.usage.wall, r.bound).map(|x| (label(r), x)))
        .collect();
    Some(Check {
        target: format!("`{name}` wall ≤ {SLACK} × its bound at {RTT_MS} ms"),
        evidence: ratios
            .iter()
            .map(|(l, x)| format!("{l}: {x:.2}"))
            .collect::<Vec<_>>()
            .join("; "),
        met: ratios.iter().all(|(_, x)| *x <= SLACK),
    })
}

fn speedups(results: &Results) -> Vec<Check> {
    let mut out = Vec::new();
    for c in results
        .comparisons
        .iter()
        .filter(|c| c.latency_ms == RTT_MS)
    {
        let (needed, target) = if c.what.starts_with(FIRST_PUBLISH) {
            (
                4.0,
                format!(
                    "{} at {RTT_MS} ms ≥ 4× faster than {}",
                    c.what, c.slow_label
                ),
            )
        } else {
            (
                1.0,
                format!("{} never slower than {}", c.what, c.slow_label),
            )
        };
        out.push(Check {
            target,
            evidence: format!(
                "{} vs {}: {:.1}×",
                duration(c.fast),
                duration(c.slow),
                c.speedup()
            ),
            met: c.speedup() >= needed,
        });
    }
    out
}

fn diff_rate(results: &Results) -> Option<Check> {
    let slowest = results
        .diff
        .iter()
        .min_by(|a, b| a.per_cpu_second().total_cmp(&b.per_cpu_second()))?;
    Some(Check {
        target: "diff engine ≥ 1,000,000 records/s on one core".to_owned(),
        evidence: format!(
            "slowest ({}): {} records per CPU second",
            slowest.label,
            thousands(slowest.per_cpu_second() as u64)
        ),
        met: slowest.per_cpu_second() >= 1e6,
    })
}

fn plan_cpu_and_memory(results: &Results) -> Vec<Check> {
    let largest = results.rows.iter().map(|r| r.records).max().unwrap_or(0);
    let plans: Vec<&Row> = results
        .rows
        .iter()
        .filter(|r| r.records == largest && r.command == "plan")
        .filter(|r| r.scenario == FIRST_PUBLISH || r.scenario == REPLAN)
        .collect();
    if plans.is_empty() {
        return Vec::new();
    }
    let at_rtt: Vec<&&Row> = plans.iter().filter(|r| r.latency_ms == RTT_MS).collect();
    let cpu = Check {
        target: format!(
            "`plan` CPU < 10 % of wall at {RTT_MS} ms ({} records)",
            thousands(largest as u64)
        ),
        evidence: at_rtt
            .iter()
            .map(|r| format!("{}: {:.1} %", r.scenario, r.usage.cpu_percent()))
            .collect::<Vec<_>>()
            .join("; "),
        met: at_rtt.iter().all(|r| r.usage.cpu_percent() < 10.0),
    };
    let per_record = |r: &Row| r.usage.max_rss_kib * 1024 / r.records.max(1) as u64;
    let memory = Check {
        target: format!(
            "`plan` peak RSS ≤ 2 KB per record ({} records)",
            thousands(largest as u64)
        ),
        evidence: plans
            .iter()
            .map(|r| format!("{}: {} B", label(r), thousands(per_record(r))))
            .collect::<Vec<_>>()
            .join("; "),
        met: plans.iter().all(|r| per_record(r) <= 2048),
    };
    vec![cpu, memory]
}

fn emulator_rate(results: &Results) -> Vec<Check> {
    results
        .emulator
        .iter()
        .map(|rate| {
            let capacity = rate.per_cpu_second.unwrap_or(rate.end_to_end);
            Check {
                target: format!("emulator ≥ 20,000 records/s, {}", rate.what),
                evidence: format!(
                    "{} records per emulator CPU second at 0 ms ({} records; end to end, \
                     client included: {}/s)",
                    thousands(capacity as u64),
                    thousands(rate.records as u64),
                    thousands(rate.end_to_end as u64)
                ),
                met: capacity >= 20_000.0,
            }
        })
        .collect()
}
