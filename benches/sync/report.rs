//! The printed result: one markdown table of measured commands, the sequential-baseline
//! comparisons, emulator and diff throughput, and each target of the issue with the number
//! that meets or misses it.

use crate::bounds;
use crate::scenarios::Row;
use crate::suite::{Comparison, EmulatorRate};
use crate::throughput::DiffRun;
use std::fmt::Write;
use std::time::Duration;

/// Everything a run measured.
pub struct Results {
    pub rows: Vec<Row>,
    pub comparisons: Vec<Comparison>,
    pub emulator: Vec<EmulatorRate>,
    pub diff: Vec<DiffRun>,
    pub default_parallelism: usize,
    pub notes: Vec<String>,
}

pub fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio_text(row: &Row) -> String {
    bounds::ratio(row.usage.wall, row.bound).map_or("—".to_owned(), |r| format!("{r:.2}"))
}

pub fn render(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | command | RTT | records | changes | API calls (actual / min) | calls by \
         endpoint | wall | bound | wall / bound | CPU | CPU / wall | peak RSS | RSS / record | \
         emulator CPU |"
    );
    let _ = writeln!(
        out,
        "|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for row in &results.rows {
        let rss_bytes = row.usage.max_rss_kib * 1024;
        let _ = writeln!(
            out,
            "| {} | {} | {} ms | {} | {} | {} / {} | {} | {} | {} | {} | {} | {:.1} % | {:.0} MB | {} B \
             | {} |",
            row.scenario,
            row.command,
            row.latency_ms,
            thousands(row.records as u64),
            thousands(row.changes as u64),
            thousands(row.calls),
            thousands(row.min_calls as u64),
            row.call_detail.replace("records/", ""),
            duration(row.usage.wall),
            duration(row.bound),
            ratio_text(row),
            duration(row.usage.cpu()),
            row.usage.cpu_percent(),
            rss_bytes as f64 / 1e6,
            thousands(rss_bytes / row.records.max(1) as u64),
            duration(row.emulator_cpu),
        );
    }
    let _ = writeln!(
        out,
        "\nBounds: plan = pages of the largest type × RTT (types read concurrently); apply = \
         operations in dependency order cut into batches of 200 across type boundaries, each \
         run of one level's batches ⌈run / parallelism⌉ × RTT and each batch spanning levels \
         one RTT (default parallelism {}); import = one batch at a time. Minimum calls: plan \
         Σ over query chains ⌈records / 200⌉ (1 for an empty chain) + probes and refused \
         queries, from the emulator's request log, + ⌈differences / 200⌉ lookups; apply and \
         import ⌈operations / 200⌉. CPU and peak RSS are the command's own (wait4); emulator CPU is what the \
         emulator process used meanwhile.",
        results.default_parallelism
    );
    render_comparisons(&mut out, &results.comparisons);
    render_throughput(&mut out, results);
    render_targets(&mut out, results);
    for note in &results.notes {
        let _ = writeln!(out, "\nNote: {note}");
    }
    out
}

fn render_comparisons(out: &mut String, comparisons: &[Comparison]) {
    let _ = writeln!(
        out,
        "\n| sequential baseline | RTT | ckplan | wall | old way | wall | speedup |"
    );
    let _ = writeln!(out, "|---|--:|---|--:|---|--:|--:|");
    for c in comparisons {
        let _ = writeln!(
            out,
            "| {} | {} ms | {} | {} | {} | {} | {:.1}× |",
            c.what,
            c.latency_ms,
            c.fast_label,
            duration(c.fast),
            c.slow_label,
            duration(c.slow),
            c.speedup()
        );
    }
}

fn render_throughput(out: &mut String, results: &Results) {
    let _ = writeln!(out, "\n| throughput | records | rate |");
    let _ = writeln!(out, "|---|--:|--:|");
    for run in &results.diff {
        let _ = writeln!(
            out,
            "| diff engine (`compare_type`), {} ({} changed), one thread: per CPU second \
             (per wall second: {}) | {} | {} records/s |",
            run.label,
            thousands(run.changed as u64),
            thousands(run.per_second() as u64),
            thousands(run.records as u64),
            thousands(run.per_cpu_second() as u64)
        );
    }
    for rate in &results.emulator {
        let cpu = rate
            .per_cpu_second
            .map_or("—".to_owned(), |r| thousands(r as u64));
        let _ = writeln!(
            out,
            "| emulator at 0 ms, {}: per emulator CPU second (end to end, client included: \
             {}) | {} | {cpu} records/s |",
            rate.what,
            thousands(rate.end_to_end as u64),
            thousands(rate.records as u64),
        );
    }
}

fn render_targets(out: &mut String, results: &Results) {
    let _ = writeln!(out, "\n| target | measured | met |");
    let _ = writeln!(out, "|---|---|:-:|");
    for check in crate::targets::checks(results) {
        let met = if check.met { "yes" } else { "**no**" };
        let _ = writeln!(out, "| {} | {} | {met} |", check.target, check.evidence);
    }
}
