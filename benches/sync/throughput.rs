//! Diff engine throughput, in process on one core: `compare_type` over a million game-like
//! records, once with nothing changed and once with 2 % changed. Building the inputs is not
//! timed; sorting them is (`compare_type` sorts).

use crate::measure;
use ckplan::diff::{compare_type, CompareRules};
use ckplan::record::{ChangeTag, FieldValue, Record, RecordType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// One timed comparison.
pub struct DiffRun {
    pub label: &'static str,
    pub records: usize,
    pub changed: usize,
    pub elapsed: Duration,
    /// CPU time of the comparing thread (wall time also counts other processes' turns).
    pub cpu: Duration,
}

impl DiffRun {
    pub fn per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn per_cpu_second(&self) -> f64 {
        self.records as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

fn game(id: usize, rng: &mut StdRng) -> Record {
    let home = rng.gen_range(1..=60);
    let away = home % 60 + 1;
    Record::new("Game", format!("game-{id}"))
        .with_field("season", FieldValue::int64(2024))
        .with_field("home", FieldValue::reference(format!("team-{home}")))
        .with_field("away", FieldValue::reference(format!("team-{away}")))
        .with_field(
            "stadium",
            FieldValue::reference(format!("stadium-{:02}", home % 32 + 1)),
        )
        .with_field(
            "start",
            FieldValue::timestamp(1_711_584_000_000 + id as i64 * 60_000),
        )
}

/// `records` desired records and CloudKit's copy of them (with change tags), `fraction` of
/// the desired ones with a changed start.
fn inputs(records: usize, fraction: f64) -> (Vec<Record>, Vec<Record>, usize) {
    let mut rng = StdRng::seed_from_u64(1);
    let desired: Vec<Record> = (1..=records).map(|id| game(id, &mut rng)).collect();
    let current = desired
        .iter()
        .enumerate()
        .map(|(index, record)| Record {
            change_tag: Some(ChangeTag::new(format!("{index:x}"))),
            ..record.clone()
        })
        .collect();
    let mut desired = desired;
    let every = if fraction > 0.0 {
        (1.0 / fraction).round() as usize
    } else {
        0
    };
    let mut changed = 0;
    if every > 0 {
        for record in desired.iter_mut().step_by(every) {
            record
                .fields
                .insert("start".to_owned(), FieldValue::timestamp(0));
            changed += 1;
        }
    }
    (desired, current, changed)
}

/// Times `compare_type` over `records` records, unchanged and with 2 % changed.
pub fn measure(records: usize) -> Vec<DiffRun> {
    let record_type = RecordType::from("Game");
    let rules = CompareRules::default();
    [("unchanged", 0.0), ("2 % changed", 0.02)]
        .into_iter()
        .map(|(label, fraction)| {
            let (desired, current, changed) = inputs(records, fraction);
            let started = Instant::now();
            let cpu_started = measure::thread_cpu();
            let diff = compare_type(&record_type, desired, current, &rules);
            let cpu = measure::thread_cpu().saturating_sub(cpu_started);
            let elapsed = started.elapsed();
            assert_eq!(diff.records.len(), records, "compare_type lost records");
            drop(diff);
            DiffRun {
                label,
                records,
                changed,
                elapsed,
                cpu,
            }
        })
        .collect()
}
