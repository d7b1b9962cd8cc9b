//! The bench's own check of its verdicts: synthetic results on each side of every target's
//! threshold, so a target reported "met" is met by the numbers and a miss is reported as
//! "**no**" (issue 13: the met/missed logic had no test).

use crate::measure::Usage;
use crate::report::{render, Results};
use crate::scenarios::Row;
use crate::suite::{Comparison, EmulatorRate, FIRST_PUBLISH, REPLAN};
use crate::targets::{checks, Check};
use crate::throughput::DiffRun;
use std::time::Duration;

fn row(scenario: &str, command: &str, wall_ms: u64, bound_ms: u64, calls: u64) -> Row {
    Row {
        scenario: scenario.to_owned(),
        command: command.to_owned(),
        latency_ms: 20,
        records: 1000,
        changes: 1000,
        calls,
        min_calls: 5,
        call_detail: String::new(),
        usage: Usage {
            wall: Duration::from_millis(wall_ms),
            user: Duration::from_millis(wall_ms / 20),
            system: Duration::ZERO,
            max_rss_kib: 1000,
        },
        bound: Duration::from_millis(bound_ms),
        emulator_cpu: Duration::ZERO,
        served: 1000,
        log: Default::default(),
    }
}

/// Results that meet every target, at their thresholds where a target has one.
fn meeting() -> Results {
    Results {
        rows: vec![
            row(FIRST_PUBLISH, "plan", 1250, 1000, 5),
            row(REPLAN, "plan", 1000, 1000, 5),
            row(FIRST_PUBLISH, "apply (parallelism 8)", 900, 1000, 5),
        ],
        comparisons: vec![Comparison {
            what: format!("{FIRST_PUBLISH} apply"),
            latency_ms: 20,
            fast_label: "ckplan".into(),
            fast: Duration::from_millis(250),
            slow_label: "the old script".into(),
            slow: Duration::from_millis(1000),
        }],
        emulator: vec![EmulatorRate {
            what: "modify",
            records: 1000,
            end_to_end: 1.0,
            per_cpu_second: Some(20_000.0),
        }],
        diff: vec![DiffRun {
            label: "all unchanged",
            records: 1_000_000,
            changed: 0,
            elapsed: Duration::from_secs(1),
            cpu: Duration::from_secs(1),
        }],
        default_parallelism: 8,
        notes: Vec::new(),
    }
}

fn verdicts(results: &Results) -> Vec<(String, bool)> {
    checks(results)
        .into_iter()
        .map(|Check { target, met, .. }| (target, met))
        .collect()
}

fn missed(results: &Results) -> Vec<String> {
    verdicts(results)
        .into_iter()
        .filter(|(_, met)| !met)
        .map(|(target, _)| target)
        .collect()
}

/// Each change below moves one number just past its threshold: exactly that target misses.
pub fn targets_are_met_and_missed_by_the_numbers() {
    let all = verdicts(&meeting());
    assert_eq!(all.len(), 8, "{all:?}");
    assert_eq!(missed(&meeting()), Vec::<String>::new());
    let table = render(&meeting());
    assert!(!table.contains("**no**"), "{table}");

    let one_miss = |change: fn(&mut Results), target: &str| {
        let mut results = meeting();
        change(&mut results);
        let missed = missed(&results);
        assert_eq!(missed.len(), 1, "{target}: {missed:?}");
        assert!(missed[0].contains(target), "{target}: {missed:?}");
        assert!(render(&results).contains("| **no** |"));
    };
    one_miss(|r| r.rows[1].calls = 6, "API calls = protocol minimum");
    one_miss(
        |r| r.rows[0].usage.wall = Duration::from_millis(1251),
        "`plan` wall",
    );
    one_miss(
        |r| r.rows[2].usage.wall = Duration::from_millis(1251),
        "`apply` wall",
    );
    one_miss(
        |r| r.comparisons[0].slow = Duration::from_millis(999),
        "4× faster",
    );
    one_miss(
        |r| r.diff[0].cpu = Duration::from_millis(1001),
        "diff engine",
    );
    one_miss(
        |r| r.rows[1].usage.user = Duration::from_millis(100),
        "CPU < 10 %",
    );
    one_miss(|r| r.rows[0].usage.max_rss_kib = 2001, "peak RSS");
    one_miss(
        |r| r.emulator[0].per_cpu_second = Some(19_999.0),
        "emulator ≥ 20,000",
    );
}

/// The CPU-per-record section finds the first publish's plan and apply at 0 ms.
pub fn per_record_from_rows() {
    let mut plan = row(FIRST_PUBLISH, "plan", 100, 0, 3);
    let mut apply = row(FIRST_PUBLISH, "apply (parallelism 16)", 100, 0, 3);
    plan.latency_ms = 0;
    apply.latency_ms = 0;
    let table = crate::per_record::from_rows(&[plan, apply]);
    assert!(table.contains("| this build | 1000 |"), "{table}");
}
