//! Issue 18's side by side at CloudKit's round trips, one emulator process, one run: a
//! sequential seed-style sync against `ckplan plan` + `ckplan apply`.
//!
//! The seed-style sync is the old Python design played by this same binary with
//! `--parallelism 1`: one request in flight, so each type is one paged query chain (no
//! partitions, no probe), lookups and modifies go one batch of 200 at a time, and the
//! types are read one after another. It shares ckplan's CPU costs, so the ratios measure
//! round trips, not Rust against Python.
//!
//! Scenarios: first publish of 40,092 records at 20 ms; 2 % change of the 5,852-record set
//! at 20 ms and 100 ms (the cloud put back between the two sides); re-plan of 50,000
//! records with no changes at 100 ms with one chain (`--parallelism 1`), the default, a
//! sweep of other settings, and on a second emulator without the `___createTime` index
//! (the fallback). Latency is switched through `POST /_emulator/faults`, so data is loaded
//! at 0 ms. API calls are read from the emulator's request log: queries split into probes
//! (`resultsLimit` 1) and each chain's pages, lookups, modifies.

use crate::bounds;
use crate::dataset::{type_counts, TypeCount};
use crate::emulator::{Emulator, LoggedRequest};
use crate::measure::Usage;
use crate::per_record::{self, Measured};
use crate::report::{duration, thousands};
use crate::scenarios::{Bench, DataDir, Row, SPORTS_SET};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Records of the first-publish scenario (40,000 games, 32 stadiums, 60 teams).
pub const PUBLISH_SIZE: usize = 40_092;
/// Records of the re-plan scenario.
pub const REPLAN_SIZE: usize = 50_000;
/// `--parallelism` settings tried on the 50,000-record re-plan at 100 ms besides 1 and the
/// default (`CKPLAN_BENCH_SWEEP="4 16"` replaces them; empty: none).
pub const SWEEP: [usize; 4] = [4, 8, 16, 32];
/// The seed-style sync's one request in flight.
const SEED_STYLE: usize = 1;

/// Queries of one command, from the request log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryCalls {
    /// One-record probes (the partitioned read's newest-record query).
    pub probes: usize,
    /// Queries refused with an error (a type not created yet, an index missing).
    pub refused: usize,
    /// Pages per chain (pages sharing one query), in first-seen order.
    pub chain_pages: Vec<usize>,
    /// Σ over chains of ⌈records / page limit⌉ (1 for an empty chain): the fewest pages
    /// those chains could have been read in.
    pub min_pages: usize,
}

impl QueryCalls {
    pub fn total(&self) -> usize {
        self.probes + self.refused + self.chain_pages.iter().sum::<usize>()
    }

    /// The pages the chains needed, with every probe and refused query counted as made.
    pub fn minimum(&self) -> usize {
        self.probes + self.refused + self.min_pages
    }

    pub fn deepest(&self) -> usize {
        self.chain_pages.iter().copied().max().unwrap_or(0)
    }
}

/// Requests of one command per endpoint, with its queries analysed.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    pub queries: QueryCalls,
    pub lookups: usize,
    pub modifies: usize,
    pub other: usize,
}

/// Splits a command's logged requests into probes, chains and the other endpoints.
pub fn calls(requests: &[LoggedRequest]) -> Calls {
    let mut out = Calls::default();
    // query digest → (pages, records, limit)
    let mut chains: Vec<(String, usize, usize, usize)> = Vec::new();
    for request in requests {
        match request.endpoint.as_deref() {
            Some("records/query") => {
                let page = request.operations.iter().find_map(|o| o.page.as_ref());
                match page {
                    Some(page) if page.limit == 1 && !page.continued => out.queries.probes += 1,
                    Some(page) => match chains.iter_mut().find(|c| c.0 == page.query) {
                        Some(chain) => {
                            chain.1 += 1;
                            chain.2 += page.records;
                        }
                        None => chains.push((page.query.clone(), 1, page.records, page.limit)),
                    },
                    None => out.queries.refused += 1,
                }
            }
            Some("records/lookup") => out.lookups += 1,
            Some("records/modify") => out.modifies += 1,
            Some(_) => out.other += 1,
            None => {}
        }
    }
    out.queries.chain_pages = chains.iter().map(|c| c.1).collect();
    out.queries.min_pages = chains.iter().map(|c| c.2.div_ceil(c.3.max(1)).max(1)).sum();
    out
}

/// One measured command with its calls.
pub struct Measure {
    pub row: Row,
    pub calls: Calls,
    pub plan: Option<PathBuf>,
}

/// The two sides of one scenario.
pub struct SideBySide {
    pub what: String,
    pub latency_ms: u64,
    pub seed: Vec<Measure>,
    pub ckplan: Vec<Measure>,
    /// Whether the two sides' plans are the same apart from creation time and checksum.
    pub same_plans: Option<bool>,
    pub target: f64,
}

fn wall(side: &[Measure]) -> Duration {
    side.iter().map(|m| m.row.usage.wall).sum()
}

impl SideBySide {
    pub fn ratio(&self) -> f64 {
        wall(&self.seed).as_secs_f64() / wall(&self.ckplan).as_secs_f64().max(1e-9)
    }
}

/// One `plan` of the 50,000-record re-plan at 100 ms.
pub struct Replan {
    pub label: String,
    pub measure: Measure,
    pub same_plan: bool,
}

/// Everything the section measured.
pub struct RoundTrips {
    pub sides: Vec<SideBySide>,
    pub replans: Vec<Replan>,
    pub publish_cpu: Vec<Measured>,
    pub floor: per_record::Floor,
}

/// A plan file as JSON without what differs between two runs over the same inputs:
/// `created_at`, `checksum`, and the emulator's address (`endpoint` and the
/// digest of the config file that names it, different for the second emulator).
pub fn normalized_plan(text: &str) -> anyhow::Result<serde_json::Value> {
    let mut plan: serde_json::Value = serde_json::from_str(text)?;
    if let Some(object) = plan.as_object_mut() {
        object.remove("created_at");
        object.remove("checksum");
        object.remove("endpoint");
        if let Some(inputs) = object.get_mut("inputs").and_then(|i| i.as_array_mut()) {
            inputs
                .retain(|input| input.get("path").and_then(|p| p.as_str()) != Some("ckplan.yaml"));
        }
    }
    Ok(plan)
}

fn same_plans(a: &Path, b: &Path) -> anyhow::Result<bool> {
    let a = normalized_plan(&std::fs::read_to_string(a)?)?;
    let b = normalized_plan(&std::fs::read_to_string(b)?)?;
    Ok(a == b)
}

/// The bench and one emulator.
struct Runner<'a> {
    bench: &'a mut Bench,
    emulator: &'a Emulator,
}

impl Runner<'_> {
    fn reset(&mut self) -> anyhow::Result<()> {
        self.emulator.reset()
    }

    fn latency(&mut self, latency_ms: u64) -> anyhow::Result<()> {
        self.emulator.set_latency(latency_ms)
    }

    #[allow(clippy::too_many_arguments)]
    fn plan(
        &mut self,
        latency_ms: u64,
        scenario: &str,
        data: &DataDir,
        current: &[TypeCount],
        changes: usize,
        parallelism: Option<usize>,
    ) -> anyhow::Result<Measure> {
        let (row, plan) = self.bench.plan_with(
            self.emulator,
            latency_ms,
            scenario,
            data,
            current,
            changes,
            parallelism,
        )?;
        Ok(Measure {
            calls: row.log.clone(),
            row,
            plan: Some(plan),
        })
    }

    fn apply(
        &mut self,
        latency_ms: u64,
        scenario: &str,
        data: &DataDir,
        measure: &Measure,
        operations: &[TypeCount],
        parallelism: Option<usize>,
    ) -> anyhow::Result<Measure> {
        let plan = measure
            .plan
            .as_deref()
            .expect("a plan's measure has its plan");
        let row = self.bench.apply(
            self.emulator,
            latency_ms,
            scenario,
            data,
            plan,
            operations,
            parallelism,
        )?;
        Ok(Measure {
            calls: row.log.clone(),
            row,
            plan: None,
        })
    }

    /// plan + apply at the current latency; `parallelism` `Some(1)` is the seed-style sync.
    #[allow(clippy::too_many_arguments)]
    fn sync(
        &mut self,
        latency_ms: u64,
        scenario: &str,
        data: &DataDir,
        current: &[TypeCount],
        operations: &[TypeCount],
        parallelism: Option<usize>,
    ) -> anyhow::Result<Vec<Measure>> {
        let changes = operations.iter().map(|t| t.count).sum();
        let plan = self.plan(latency_ms, scenario, data, current, changes, parallelism)?;
        let apply = self.apply(latency_ms, scenario, data, &plan, operations, parallelism)?;
        Ok(vec![plan, apply])
    }

    /// Publishes `data` at 0 ms onto whatever the cloud holds (`current`), unmeasured.
    fn load(
        &mut self,
        data: &DataDir,
        current: &[TypeCount],
        operations: &[TypeCount],
    ) -> anyhow::Result<()> {
        self.latency(0)?;
        self.sync(0, "load", data, current, operations, None)?;
        Ok(())
    }
}

fn sweep() -> Vec<usize> {
    match std::env::var("CKPLAN_BENCH_SWEEP") {
        Ok(text) => text
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect(),
        Err(_) => SWEEP.to_vec(),
    }
}

/// Runs the section.
pub fn run(bench: &mut Bench) -> anyhow::Result<RoundTrips> {
    let default_parallelism = bench.default_parallelism;
    let emulator = bench.start_emulator(0)?;
    let mut sides = Vec::new();
    let empty = type_counts(0, 0, 0);

    eprintln!("bench: generating {PUBLISH_SIZE}, {SPORTS_SET} and {REPLAN_SIZE} records");
    let publish = bench.data(PUBLISH_SIZE, false)?;
    let sports = bench.data(SPORTS_SET, false)?;
    let changed = bench.data(SPORTS_SET, true)?;
    let replan = bench.data(REPLAN_SIZE, false)?;
    let mut runner = Runner {
        bench,
        emulator: &emulator,
    };

    // First publish at 20 ms.
    eprintln!("bench: first publish of {PUBLISH_SIZE} at 20 ms, seed-style then ckplan");
    let what = format!("first publish of {}", thousands(PUBLISH_SIZE as u64));
    let mut measured = Vec::new();
    for parallelism in [Some(SEED_STYLE), None] {
        runner.reset()?;
        runner.latency(20)?;
        measured.push(runner.sync(20, &what, &publish, &empty, &publish.counts, parallelism)?);
    }
    let ckplan = measured.pop().expect("two sides");
    let seed = measured.pop().expect("two sides");
    // Plans are compared at the end: parsing them grows this process, and a child forked
    // from a large process reports the parent's size as its own peak RSS.
    let pair = (plan_of(&seed).to_owned(), plan_of(&ckplan).to_owned());
    let mut pairs = vec![pair];
    sides.push(SideBySide {
        what,
        latency_ms: 20,
        seed,
        ckplan,
        same_plans: None,
        target: 4.0,
    });

    // 2 % change of the sports set at 20 and 100 ms; the original put back after each side.
    runner.reset()?;
    runner.load(&sports, &empty, &sports.counts)?;
    let operations = type_counts(0, 0, changed.changed);
    for latency_ms in [20, 100] {
        eprintln!("bench: 2 % change of {SPORTS_SET} at {latency_ms} ms, seed-style then ckplan");
        let what = format!("2 % change of {}", thousands(SPORTS_SET as u64));
        runner.latency(latency_ms)?;
        let seed = runner.sync(
            latency_ms,
            &what,
            &changed,
            &changed.counts,
            &operations,
            Some(SEED_STYLE),
        )?;
        runner.load(&sports, &sports.counts, &operations)?;
        runner.latency(latency_ms)?;
        let changes = changed.changed;
        let plan = runner.plan(latency_ms, &what, &changed, &changed.counts, changes, None)?;
        // The seed-style plan of this same cloud state (the put-back renewed the change
        // tags), unmeasured, to compare with ckplan's.
        let same_state = runner.plan(
            latency_ms,
            "compare",
            &changed,
            &changed.counts,
            changes,
            Some(SEED_STYLE),
        )?;
        let apply = runner.apply(latency_ms, &what, &changed, &plan, &operations, None)?;
        runner.load(&sports, &sports.counts, &operations)?;
        pairs.push((
            same_state.plan.expect("a plan's measure has its plan"),
            plan.plan.clone().expect("a plan's measure has its plan"),
        ));
        sides.push(SideBySide {
            what,
            latency_ms,
            seed,
            ckplan: vec![plan, apply],
            same_plans: None,
            target: if latency_ms == 100 { 4.0 } else { 0.0 },
        });
    }

    // Re-plan of 50,000 with no changes at 100 ms: one chain, the default, the sweep.
    runner.reset()?;
    runner.load(&replan, &empty, &replan.counts)?;
    runner.latency(100)?;
    let scenario = "re-plan, no changes";
    let mut replans = Vec::new();
    let mut settings = vec![Some(SEED_STYLE), None];
    settings.extend(
        sweep()
            .into_iter()
            .filter(|&p| p != SEED_STYLE && p != default_parallelism)
            .map(Some),
    );
    for parallelism in settings {
        eprintln!("bench: re-plan of {REPLAN_SIZE} at 100 ms, --parallelism {parallelism:?}");
        let measure = runner.plan(100, scenario, &replan, &replan.counts, 0, parallelism)?;
        let label = match parallelism {
            Some(SEED_STYLE) => "one chain per type (`--parallelism 1`)".to_owned(),
            Some(p) => format!("`--parallelism {p}`"),
            None => format!("default (`--parallelism {default_parallelism}`)"),
        };
        replans.push((label, measure));
    }

    // The same re-plan without the `___createTime` index: the fallback to one chain.
    eprintln!("bench: re-plan of {REPLAN_SIZE} at 100 ms without the createdTimestamp index");
    let unindexed = bench.start_emulator_with(
        "no-created-index",
        &[
            "--require-indexes",
            "--index",
            "Stadium.recordName",
            "--index",
            "Team.recordName",
            "--index",
            "Game.recordName",
        ],
    )?;
    let mut runner = Runner {
        bench,
        emulator: &unindexed,
    };
    runner.load(&replan, &empty, &replan.counts)?;
    runner.latency(100)?;
    let measure = runner.plan(100, scenario, &replan, &replan.counts, 0, None)?;
    replans.push((
        "default, no `___createTime` index (fallback)".to_owned(),
        measure,
    ));
    drop(unindexed);

    for (side, (a, b)) in sides.iter_mut().zip(&pairs) {
        side.same_plans = Some(same_plans(a, b)?);
    }
    let reference = replans[0].1.plan.clone().expect("a plan");
    let replans = replans
        .into_iter()
        .map(|(label, measure)| {
            let same_plan = same_plans(&reference, measure.plan.as_deref().expect("a plan"))?;
            Ok(Replan {
                label,
                measure,
                same_plan,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let side = &sides[0];
    let publish_cpu = vec![
        Measured {
            binary: "seed-style (`--parallelism 1`)".to_owned(),
            records: PUBLISH_SIZE,
            plan: side.seed[0].row.usage,
            apply: side.seed[1].row.usage,
        },
        Measured {
            binary: format!("ckplan (`--parallelism {default_parallelism}`)"),
            records: PUBLISH_SIZE,
            plan: side.ckplan[0].row.usage,
            apply: side.ckplan[1].row.usage,
        },
    ];
    Ok(RoundTrips {
        sides,
        replans,
        publish_cpu,
        floor: per_record::floor(PUBLISH_SIZE),
    })
}

fn plan_of(side: &[Measure]) -> &Path {
    side[0]
        .plan
        .as_deref()
        .expect("a plan's measure has its plan")
}

fn parts(side: &[Measure]) -> String {
    let parts: Vec<String> = side
        .iter()
        .map(|m| {
            let command = m.row.command.split(' ').next().unwrap_or_default();
            format!("{command} {}", duration(m.row.usage.wall))
        })
        .collect();
    parts.join(" + ")
}

fn yes(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "**no**"
    }
}

/// The minimum calls of a measured command: queries as [`QueryCalls::minimum`], lookups
/// ⌈differences / 200⌉ (a plan's changes), modifies ⌈operations / 200⌉.
fn minimum(m: &Measure) -> (usize, usize, usize) {
    let is_plan = m.row.command.starts_with("plan");
    let lookups = if is_plan {
        bounds::batches(m.row.changes)
    } else {
        0
    };
    let modifies = if is_plan { 0 } else { m.row.min_calls };
    (m.calls.queries.minimum(), lookups, modifies)
}

fn at_minimum(m: &Measure) -> bool {
    let (queries, lookups, modifies) = minimum(m);
    m.calls.queries.total() == queries
        && m.calls.lookups == lookups
        && m.calls.modifies == modifies
        && m.calls.other == 0
}

fn calls_row(out: &mut String, side: &str, m: &Measure) {
    let q = &m.calls.queries;
    let (min_queries, min_lookups, min_modifies) = minimum(m);
    let rss = m.row.usage.max_rss_kib * 1024 / m.row.records.max(1) as u64;
    let _ = writeln!(
        out,
        "| {} | {} ms | {side}: `{}` | {} = {} probes + {} refused + {} pages in {} chains \
         (deepest {}) | {} | {} / {} | {} / {} | {} | {} | {} B |",
        m.row.scenario,
        m.row.latency_ms,
        m.row.command,
        q.total(),
        q.probes,
        q.refused,
        q.chain_pages.iter().sum::<usize>(),
        q.chain_pages.len(),
        q.deepest(),
        min_queries,
        m.calls.lookups,
        min_lookups,
        m.calls.modifies,
        min_modifies,
        duration(m.row.usage.wall),
        duration(m.row.usage.cpu()),
        thousands(rss),
    );
}

/// The section's markdown.
pub fn render(r: &RoundTrips) -> String {
    let mut out = String::from(
        "### Round trips: seed-style sync against ckplan, side by side\n\n\
         | scenario | RTT | seed-style sync (`--parallelism 1`) | ckplan plan + apply | ratio | \
         same plan | target |\n|---|--:|--:|--:|--:|:-:|--:|\n",
    );
    for s in &r.sides {
        let target = if s.target > 0.0 {
            format!("≥ {:.0}× ({})", s.target, yes(s.ratio() >= s.target))
        } else {
            "—".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {} ms | {} ({}) | {} ({}) | **{:.2}×** | {} | {target} |",
            s.what,
            s.latency_ms,
            duration(wall(&s.seed)),
            parts(&s.seed),
            duration(wall(&s.ckplan)),
            parts(&s.ckplan),
            s.ratio(),
            s.same_plans
                .map_or("—", |same| if same { "yes" } else { "**no**" }),
        );
    }
    let one_chain = r.replans[0].measure.row.usage.wall;
    let _ = writeln!(
        out,
        "\n| re-plan of {}, no changes, 100 ms | queries | chains | deepest chain | wall | \
         one chain ÷ this | plan identical to one chain's | CPU | peak RSS / record |\n\
         |---|--:|--:|--:|--:|--:|:-:|--:|--:|",
        thousands(REPLAN_SIZE as u64)
    );
    for replan in &r.replans {
        let m = &replan.measure;
        let q = &m.calls.queries;
        let rss = m.row.usage.max_rss_kib * 1024 / m.row.records.max(1) as u64;
        let _ = writeln!(
            out,
            "| {} | {} ({} probes, {} refused) | {} | {} pages | {} | {:.2}× | {} | {} | {} B |",
            replan.label,
            q.total(),
            q.probes,
            q.refused,
            q.chain_pages.len(),
            q.deepest(),
            duration(m.row.usage.wall),
            one_chain.as_secs_f64() / m.row.usage.wall.as_secs_f64().max(1e-9),
            yes(replan.same_plan),
            duration(m.row.usage.cpu()),
            thousands(rss),
        );
    }
    let _ = writeln!(
        out,
        "\n| scenario | RTT | command | queries | min | lookups / min | modifies / min | wall | \
         CPU | peak RSS / record |\n|---|--:|---|--:|--:|--:|--:|--:|--:|--:|"
    );
    for s in &r.sides {
        for m in &s.seed {
            calls_row(&mut out, "seed-style", m);
        }
        for m in &s.ckplan {
            calls_row(&mut out, "ckplan", m);
        }
    }
    for replan in &r.replans {
        calls_row(&mut out, &replan.label, &replan.measure);
    }
    let _ = writeln!(
        out,
        "\nMinimum: queries = probes + refused queries (a type not created yet, a missing \
         index) + Σ over chains ⌈records the chain returned / 200⌉ (a \
         page with a continuation marker is never short); lookups ⌈differences / 200⌉; \
         modifies ⌈operations / 200⌉ (batches span dependency levels). Ratios only: absolute \
         times vary about 2× from day to day on this machine.\n"
    );
    out.push_str(&per_record::render(&r.publish_cpu, &r.floor));
    out.push_str(&targets(r));
    out
}

fn targets(r: &RoundTrips) -> String {
    let mut out = String::from("\n| target | measured | met |\n|---|---|:-:|\n");
    for s in r.sides.iter().filter(|s| s.target > 0.0) {
        let _ = writeln!(
            out,
            "| {} at {} ms ≥ {:.0}× the seed-style sync | {} vs {}: {:.2}× | {} |",
            s.what,
            s.latency_ms,
            s.target,
            duration(wall(&s.ckplan)),
            duration(wall(&s.seed)),
            s.ratio(),
            yes(s.ratio() >= s.target)
        );
    }
    let one_chain = &r.replans[0].measure;
    let ratio = |m: &Measure| {
        one_chain.row.usage.wall.as_secs_f64() / m.row.usage.wall.as_secs_f64().max(1e-9)
    };
    if let Some(default) = r.replans.get(1) {
        let x = ratio(&default.measure);
        let _ = writeln!(
            out,
            "| re-plan of {} at 100 ms ≥ 5× faster than one chain, identical plans | {:.2}×, \
             identical: {} | {} |",
            thousands(REPLAN_SIZE as u64),
            x,
            yes(default.same_plan),
            yes(x >= 5.0 && default.same_plan)
        );
    }
    if let Some(fallback) = r.replans.last() {
        let x = ratio(&fallback.measure);
        let _ = writeln!(
            out,
            "| without the index: the same plan, never slower than one chain (within 5 %) | \
             {:.2}×, identical: {} | {} |",
            x,
            yes(fallback.same_plan),
            yes(x >= 0.95 && fallback.same_plan)
        );
    }
    let all: Vec<&Measure> = r
        .sides
        .iter()
        .flat_map(|s| s.seed.iter().chain(&s.ckplan))
        .chain(r.replans.iter().map(|p| &p.measure))
        .collect();
    let off: Vec<String> = all
        .iter()
        .filter(|m| !at_minimum(m))
        .map(|m| {
            format!(
                "{} {} ms `{}`: {} queries (min {}), {} lookups, {} modifies",
                m.row.scenario,
                m.row.latency_ms,
                m.row.command,
                m.calls.queries.total(),
                m.calls.queries.minimum(),
                m.calls.lookups,
                m.calls.modifies
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "| API calls at the minimum (queries, lookups, modifies) | {} | {} |",
        if off.is_empty() {
            format!("all {} commands", all.len())
        } else {
            off.join("; ")
        },
        yes(off.is_empty())
    );
    let floor = r.floor.per_record.as_secs_f64();
    if let Some(ckplan) = r.publish_cpu.last() {
        let per =
            |u: Usage| u.cpu().as_secs_f64() / ckplan.records.max(1) as f64 / floor.max(1e-12);
        let (plan, apply) = (per(ckplan.plan), per(ckplan.apply));
        let _ = writeln!(
            out,
            "| plan and apply CPU per record ≤ 3× the floor (first publish) | plan {plan:.1}×, \
             apply {apply:.1}× | {} |",
            yes(plan <= 3.0 && apply <= 3.0)
        );
    }
    out
}
