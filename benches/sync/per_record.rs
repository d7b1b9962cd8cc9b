//! CPU and memory per record (issue 18, "CPU and memory"): the first publish's `plan` and
//! `apply` at 0 ms, their CPU time per record beside the floor measured in the same run,
//! and `plan`'s peak RSS per record.
//!
//! The floor is one JSON decode and encode of each game record in the form a CloudKit query
//! returns it (`cloudkit::wire::WireRecord`, with change tag, stamps and zone), in process,
//! on one core: no sync can do less per record than read it once and write it once.
//!
//! `CKPLAN_BENCH_PER_RECORD=1` runs only this section (the 5,852 and 100,000-record sets;
//! quick: 5,852 only); `CKPLAN_BENCH_BASELINE=PATH` also measures another `ckplan` binary
//! (say, one built from main) on the same emulator in the same run, for before/after
//! figures.

use crate::dataset::{self, type_counts, SEED};
use crate::measure::{self, Usage};
use crate::scenarios::{Bench, DataDir, Row};
use crate::suite::FIRST_PUBLISH;
use ckplan::cloudkit::wire::{Stamp, WireRecord, ZoneId};
use ckplan::record::{ChangeTag, FieldValue, Record};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// The sizes this section runs alone on.
pub const SIZES: [usize; 2] = [5_852, 100_000];

/// One binary's first publish of one data set.
pub struct Measured {
    pub binary: String,
    pub records: usize,
    pub plan: Usage,
    pub apply: Usage,
}

/// The floor: CPU time per record of one decode + encode of the wire form, and its size.
pub struct Floor {
    pub per_record: Duration,
    pub bytes: usize,
}

/// The game records of the `total`-record set in CloudKit's reply form, as JSON texts.
fn wire_games(total: usize) -> Vec<String> {
    let data = dataset::generate(total, SEED);
    data.games
        .iter()
        .map(|game| {
            let mut record = Record::new("Game", format!("game-{}", game.id))
                .with_field("season", FieldValue::int64(game.season))
                .with_field("home", FieldValue::reference(format!("team-{}", game.home)))
                .with_field("away", FieldValue::reference(format!("team-{}", game.away)))
                .with_field(
                    "stadium",
                    FieldValue::reference(dataset::stadium_name(game.stadium)),
                )
                .with_field("start", FieldValue::timestamp(game.start_seconds * 1000));
            record.change_tag = Some(ChangeTag::new(format!("{:x}", game.id * 7919)));
            let stamp = Stamp {
                timestamp: 1_765_000_000_000 + game.id as i64,
                user_record_name: Some("_3f1c5a0e8e4b2d6c9a7f1e0d2c4b6a8e".to_owned()),
                device_id: Some("2".to_owned()),
            };
            let wire = WireRecord {
                created: Some(stamp.clone()),
                modified: Some(stamp),
                zone_id: Some(ZoneId::named("_defaultZone")),
                ..WireRecord::from_record(&record)
            };
            serde_json::to_string(&wire).expect("records serialize")
        })
        .collect()
}

/// Measures the floor over the games of the `total`-record set.
pub fn floor(total: usize) -> Floor {
    let texts = wire_games(total);
    let bytes = texts.iter().map(String::len).sum::<usize>() / texts.len().max(1);
    let mut out = Vec::with_capacity(1024);
    // Best of three passes: the floor is what the machine can do, not its noise.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = measure::thread_cpu();
        for text in &texts {
            let record: WireRecord = serde_json::from_str(text).expect("records parse");
            out.clear();
            serde_json::to_writer(&mut out, &record).expect("records serialize");
            std::hint::black_box(&out);
        }
        best = best.min(measure::thread_cpu().saturating_sub(started));
    }
    Floor {
        per_record: best / texts.len().max(1) as u32,
        bytes,
    }
}

/// The first publish (plan, then apply) of `data` with the bench's binary.
fn first_publish(
    bench: &mut Bench,
    emulator: &crate::emulator::Emulator,
    data: &DataDir,
) -> anyhow::Result<(Usage, Usage)> {
    emulator.reset()?;
    let empty = type_counts(0, 0, 0);
    let (plan_row, plan) = bench.plan(emulator, 0, FIRST_PUBLISH, data, &empty, data.records)?;
    let apply_row = bench.apply(emulator, 0, FIRST_PUBLISH, data, &plan, &data.counts, None)?;
    Ok((plan_row.usage, apply_row.usage))
}

/// Runs only this section: each size's first publish with the bench's binary, and with
/// `baseline` first when given, on one emulator at 0 ms.
pub fn run_alone(
    bench: &mut Bench,
    sizes: &[usize],
    baseline: Option<PathBuf>,
) -> anyhow::Result<String> {
    let emulator = bench.start_emulator(0)?;
    let current = bench.binary.clone();
    let mut measured = Vec::new();
    for &size in sizes {
        eprintln!("bench: {size} records, first publish at 0 ms (CPU per record)");
        let data = bench.data(size, false)?;
        let binaries = baseline
            .iter()
            .map(|b| ("baseline", b))
            .chain([("this build", &current)]);
        for (label, binary) in binaries {
            bench.binary = binary.clone();
            let result = first_publish(bench, &emulator, &data);
            bench.binary = current.clone();
            let (plan, apply) = result?;
            measured.push(Measured {
                binary: label.to_owned(),
                records: data.records,
                plan,
                apply,
            });
        }
    }
    Ok(render(
        &measured,
        &floor(*sizes.iter().max().unwrap_or(&SIZES[0])),
    ))
}

/// The section from the full run's rows (first publish at 0 ms).
pub fn from_rows(rows: &[Row]) -> String {
    let find = |records: usize, command: &str| {
        rows.iter().find(|r| {
            r.scenario == FIRST_PUBLISH
                && r.latency_ms == 0
                && r.records == records
                && r.command.starts_with(command)
        })
    };
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.records).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let measured: Vec<Measured> = sizes
        .iter()
        .filter_map(|&records| {
            Some(Measured {
                binary: "this build".to_owned(),
                records,
                plan: find(records, "plan")?.usage,
                apply: find(records, "apply (")?.usage,
            })
        })
        .collect();
    render(&measured, &floor(sizes.last().copied().unwrap_or(SIZES[0])))
}

fn micros_per(duration: Duration, records: usize) -> f64 {
    duration.as_secs_f64() * 1e6 / records.max(1) as f64
}

/// The table: CPU µs per record for plan and apply, as multiples of the floor, and plan's
/// peak RSS per record.
pub fn render(measured: &[Measured], floor: &Floor) -> String {
    let floor_us = micros_per(floor.per_record, 1);
    let mut out = format!(
        "### CPU and memory per record\n\nFloor: one JSON decode + encode of a {}-byte game \
         record as CloudKit returns it, {floor_us:.2} µs (in process, best of 3). Targets: plan \
         and apply ≤ 3× the floor; plan peak RSS ≤ 2 KB per record at 100,000 records.\n\n\
         | binary | records | plan CPU µs/record | × floor | apply CPU µs/record | × floor | \
         plan peak RSS / record |\n|---|--:|--:|--:|--:|--:|--:|\n",
        floor.bytes
    );
    for m in measured {
        let plan = micros_per(m.plan.cpu(), m.records);
        let apply = micros_per(m.apply.cpu(), m.records);
        let rss = m.plan.max_rss_kib * 1024 / m.records.max(1) as u64;
        let _ = writeln!(
            out,
            "| {} | {} | {plan:.1} | {:.1}× | {apply:.1} | {:.1}× | {rss} B |",
            m.binary,
            m.records,
            plan / floor_us.max(1e-9),
            apply / floor_us.max(1e-9),
        );
    }
    out
}
