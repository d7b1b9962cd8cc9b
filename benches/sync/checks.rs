//! The bench's own checks, run when the binary is started without `--bench` (`cargo test`
//! builds and runs it that way, because a `harness = false` target has no test harness):
//! the generator's sizes, determinism and files, the 2 % mutation, the minimums and bounds,
//! and the parsing and measuring helpers.

use crate::bounds::{self, min_apply_calls, min_plan_calls, pages, read_bound, write_bound};
use crate::dataset::{self, type_counts, Connection, SEED};
use crate::emulator::{parse_reply, LoggedRequest, Stats};
use crate::measure::{parse_proc_stat_cpu, parse_report, run_measured};
use crate::report::{duration, thousands};
use crate::round_trips;
use crate::scenarios::parse_default_parallelism;
use std::process::{Command, ExitCode};
use std::time::Duration;

type CheckFn = fn();

const CHECKS: [(&str, CheckFn); 14] = [
    ("generator sizes", generator_sizes),
    ("generator is deterministic", generator_is_deterministic),
    ("two percent change", two_percent_change),
    ("files and config", files_and_config),
    ("minimum calls", minimum_calls),
    ("bounds", round_trip_bounds),
    ("parsers", parsers),
    ("stats difference", stats_difference),
    ("measured child, its own peak RSS", measured_child),
    ("formatting", formatting),
    ("request log calls", request_log_calls),
    (
        "per record from rows",
        crate::target_checks::per_record_from_rows,
    ),
    ("plans compared", plans_compared),
    (
        "targets met and missed",
        crate::target_checks::targets_are_met_and_missed_by_the_numbers,
    ),
];

pub fn run() -> ExitCode {
    let mut failed = 0;
    for (name, check) in CHECKS {
        let outcome = std::panic::catch_unwind(check);
        println!(
            "check {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        failed += usize::from(outcome.is_err());
    }
    println!("{} checks, {failed} failed", CHECKS.len());
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn generator_sizes() {
    for total in [5_852, 50_000, 100_000] {
        let set = dataset::generate(total, SEED);
        assert_eq!(set.len(), total);
        assert_eq!(set.counts(), type_counts(32, 60, total - 92));
    }
    let sports = dataset::generate(5_852, SEED);
    assert_eq!(sports.games.len(), 5_760);
    assert!(sports
        .games
        .iter()
        .all(|g| g.home != g.away && (1..=60).contains(&g.away)));
}

fn generator_is_deterministic() {
    let a = dataset::generate(5_852, SEED);
    let b = dataset::generate(5_852, SEED);
    let c = dataset::generate(5_852, SEED + 1);
    let starts = |set: &dataset::Dataset| {
        set.games
            .iter()
            .map(|g| g.start_seconds)
            .collect::<Vec<_>>()
    };
    assert_eq!(starts(&a), starts(&b));
    assert_ne!(starts(&a), starts(&c));
    assert_eq!(a.teams[7].colors, b.teams[7].colors);
}

fn two_percent_change() {
    let original = dataset::generate(5_852, SEED);
    let mut changed = dataset::generate(5_852, SEED);
    assert_eq!(changed.change_games(0.02, 9), 115);
    let moved: Vec<usize> = original
        .games
        .iter()
        .zip(&changed.games)
        .filter(|(a, b)| a.start_seconds != b.start_seconds)
        .map(|(a, b)| {
            assert_eq!(b.start_seconds - a.start_seconds, 3_600);
            assert_eq!((a.home, a.away, a.stadium), (b.home, b.away, b.stadium));
            a.id
        })
        .collect();
    assert_eq!(moved.len(), 115);
    let mut again = dataset::generate(5_852, SEED);
    again.change_games(0.02, 9);
    assert!(again
        .games
        .iter()
        .zip(&changed.games)
        .all(|(a, b)| a.start_seconds == b.start_seconds));
}

fn files_and_config() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let set = dataset::generate(5_852, SEED);
    set.write(dir.path()).expect("write data");
    let games = std::fs::read_to_string(dir.path().join("data/games.ndjson")).expect("games");
    assert_eq!(games.lines().count(), 5_760);
    let first: serde_json::Value =
        serde_json::from_str(games.lines().next().expect("a line")).expect("json");
    assert_eq!(first["id"], 1);
    assert!(first["home"]
        .as_str()
        .is_some_and(|h| h.starts_with("team-")));
    assert!(first["start"].as_str().is_some_and(|s| s.ends_with('Z')));
    let teams = std::fs::read_to_string(dir.path().join("data/teams.yaml")).expect("teams");
    let teams: Vec<serde_yaml::Value> = serde_yaml::from_str(&teams).expect("yaml");
    assert_eq!(teams.len(), 60);
    assert_eq!(teams[0]["stadium"].as_str(), Some("stadium-01"));
    let stadiums =
        std::fs::read_to_string(dir.path().join("data/stadiums.json")).expect("stadiums");
    let stadiums: Vec<serde_json::Value> = serde_json::from_str(&stadiums).expect("json");
    assert_eq!(stadiums.len(), 32);
    assert_eq!(stadiums[31]["recordName"], "stadium-32");
    assert_eq!(stadiums[0]["fields"]["location"]["type"], "LOCATION");
    let key = dir.path().join("k.pem");
    let connection = Connection {
        endpoint: "http://127.0.0.1:4321",
        key_id: "bench-key",
        private_key_file: &key,
    };
    let config = dataset::write_config(dir.path(), &connection).expect("config");
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(config).expect("read")).expect("yaml");
    assert_eq!(config["endpoint"].as_str(), Some("http://127.0.0.1:4321"));
    assert_eq!(config["auth"]["key_id"].as_str(), Some("bench-key"));
    assert_eq!(
        config["types"]["Game"]["record_name"].as_str(),
        Some("game-{id}")
    );
    assert_eq!(
        config["types"]["Game"]["fields"]["home"].as_str(),
        Some("REFERENCE(Team)")
    );
}

fn minimum_calls() {
    assert_eq!((pages(0), pages(1), pages(200), pages(201)), (1, 1, 1, 2));
    assert_eq!(
        (
            bounds::batches(0),
            bounds::batches(200),
            bounds::batches(401)
        ),
        (0, 1, 3)
    );
    let sports = type_counts(32, 60, 5_760);
    assert_eq!(min_plan_calls(&sports), 1 + 1 + 29);
    assert_eq!(min_plan_calls(&type_counts(0, 0, 0)), 3);
    // Batches span type boundaries: 5,852 operations are 30 requests, not 1 + 1 + 29.
    assert_eq!(min_apply_calls(&sports), 30);
    assert_eq!(min_apply_calls(&type_counts(0, 0, 115)), 1);
    assert_eq!(min_apply_calls(&type_counts(32, 60, 99_908)), 500);
    assert_eq!(min_apply_calls(&type_counts(0, 0, 0)), 0);
}

fn round_trip_bounds() {
    let rtt = Duration::from_millis(20);
    let sports = type_counts(32, 60, 5_760);
    assert_eq!(read_bound(&sports, rtt), Duration::from_millis(29 * 20));
    assert_eq!(read_bound(&type_counts(0, 0, 0), rtt), rtt);
    // The first batch holds the stadiums, the teams and 108 games (alone); the other 29
    // hold games only, 8 in flight: 1 + 4 round trips.
    assert_eq!(write_bound(&sports, 8, rtt), Duration::from_millis(5 * 20));
    assert_eq!(write_bound(&sports, 1, rtt), Duration::from_millis(30 * 20));
    assert_eq!(write_bound(&type_counts(0, 0, 115), 8, rtt), rtt);
    assert_eq!(write_bound(&type_counts(0, 0, 0), 8, rtt), Duration::ZERO);
    // Level-aligned batches: 200 stadiums (1), 400 teams (2 at once), 1,000 games (5 → 2).
    let aligned = type_counts(200, 400, 1_000);
    assert_eq!(
        write_bound(&aligned, 4, rtt),
        Duration::from_millis((1 + 1 + 2) * 20)
    );
    // Spanning batches in the middle: 100 stadiums + 100 teams (spanning), 200 teams, 100
    // teams + 100 games (spanning), then 900 games in 5 batches: 1 + 1 + 1 + ⌈5/8⌉.
    let middle = type_counts(100, 400, 1_000);
    assert_eq!(write_bound(&middle, 8, rtt), Duration::from_millis(4 * 20));
    assert_eq!(
        bounds::sequential_bound(&sports, rtt),
        Duration::from_millis(30 * 20)
    );
    assert_eq!(bounds::ratio(Duration::from_millis(30), rtt), Some(1.5));
    assert_eq!(bounds::ratio(rtt, Duration::ZERO), None);
}

fn parsers() {
    let help = "Options:\n      --on-conflict <MODE>  What to do [default: replan]\n      \
                --parallelism <N>\n          Batches in flight [default: 8]\n  -h, --help\n";
    assert_eq!(parse_default_parallelism(help), Some(8));
    let no_default = "      --parallelism <N>  Batches in flight\n  -h, --help  [default: 3]\n";
    assert_eq!(parse_default_parallelism(no_default), None);
    let stat = "4242 (ck plan) (x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1";
    assert_eq!(parse_proc_stat_cpu(stat, 100), Some(Duration::from_secs(3)));
    assert_eq!(parse_proc_stat_cpu("garbage", 100), None);
    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
    assert_eq!(parse_reply(ok).expect("a body"), "{}");
    assert!(parse_reply("HTTP/1.1 404 Not Found\r\n\r\nno").is_err());
    assert!(parse_reply("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}").is_err());
    let stats: Stats = serde_json::from_str(
        r#"{"requests": {"records/query": 3}, "statuses": {"200": 3}, "records": 0}"#,
    )
    .expect("stats");
    assert_eq!(stats.requests_to("records/query"), 3);
}

fn stats_difference() {
    let before: Stats = serde_json::from_str(
        r#"{"requests": {"records/query": 3, "records/modify": 2}, "operations": {"create": 400}}"#,
    )
    .expect("stats");
    let after: Stats = serde_json::from_str(
        r#"{"requests": {"records/query": 34, "records/modify": 2, "records/lookup": 1},
            "operations": {"create": 400, "update": 115}}"#,
    )
    .expect("stats");
    let delta = after.since(&before);
    assert_eq!(delta.total_requests(), 32);
    assert_eq!(delta.requests_to("records/modify"), 0);
    assert_eq!(delta.total_operations(), 115);
    assert_eq!(delta.describe(), "records/lookup 1, records/query 31");
}

fn measured_child() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("log");
    let spin = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done";
    let usage = run_measured(Command::new("sh").args(["-c", spin]), &log, 0).expect("sh runs");
    assert!(usage.max_rss_kib > 0);
    assert!(usage.cpu() > Duration::ZERO && usage.wall >= Duration::from_millis(1));
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "done\n");
    let failure = run_measured(
        Command::new("sh").args(["-c", "echo oops >&2; exit 4"]),
        &log,
        0,
    );
    let message = format!("{:#}", failure.expect_err("exit 4 is an error"));
    assert!(message.contains("oops"), "{message}");
    let expected = run_measured(Command::new("sh").args(["-c", "exit 2"]), &log, 2);
    assert!(expected.is_ok(), "exit 2 was the expected code");
    // A child's peak RSS is its own, not the peak of a bench that has grown (Linux starts
    // a forked child's peak at its parent's).
    let ballast = vec![1_u8; 256 << 20];
    std::hint::black_box(&ballast);
    let small = run_measured(Command::new("sh").args(["-c", "true"]), &log, 0).expect("sh");
    drop(ballast);
    assert!(small.max_rss_kib < 64 << 10, "{} KiB", small.max_rss_kib);
    assert_eq!(
        parse_report("0 5 6 7\n").map(|(s, u)| (s, u.cpu(), u.max_rss_kib)),
        Some((0, Duration::from_micros(11), 7))
    );
    assert_eq!(parse_report("0 5"), None);
}

fn formatting() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(duration(Duration::from_millis(42)), "42 ms");
    assert_eq!(duration(Duration::from_millis(1_500)), "1.50 s");
    assert_eq!(duration(Duration::from_secs(75)), "75.0 s");
}

fn page_request(
    seq: u64,
    query: &str,
    continued: bool,
    limit: usize,
    records: usize,
    more: bool,
) -> LoggedRequest {
    let text = serde_json::json!({
        "seq": seq, "endpoint": "records/query",
        "operations": [{"operation": "query", "outcome": "ok", "page": {
            "query": query, "continued": continued, "limit": limit, "records": records,
            "more": more}}]
    });
    serde_json::from_value(text).unwrap()
}

fn request_log_calls() {
    let other = |seq: u64, endpoint: &str| -> LoggedRequest {
        serde_json::from_value(serde_json::json!({"seq": seq, "endpoint": endpoint})).unwrap()
    };
    // Two chains of one type (3 full pages + 1 short; 1 page), a probe, a lookup, two
    // modifies, an admin request and a refused query (no page).
    let log = vec![
        page_request(1, "a", false, 200, 200, true),
        page_request(2, "p", false, 1, 1, false),
        page_request(3, "b", false, 200, 17, false),
        page_request(4, "a", true, 200, 200, true),
        page_request(5, "a", true, 200, 200, true),
        page_request(6, "a", true, 200, 3, false),
        other(7, "records/lookup"),
        other(8, "records/modify"),
        other(9, "records/modify"),
        serde_json::from_value(serde_json::json!({"seq": 10})).unwrap(),
        other(11, "records/query"),
    ];
    let calls = round_trips::calls(&log);
    assert_eq!((calls.queries.probes, calls.queries.refused), (1, 1));
    assert_eq!(calls.queries.chain_pages, vec![4, 1]);
    assert_eq!(calls.queries.total(), 7);
    assert_eq!(calls.queries.minimum(), 7);
    assert_eq!(calls.queries.deepest(), 4);
    assert_eq!((calls.lookups, calls.modifies, calls.other), (1, 2, 0));
    // A short page with more to come costs a page the minimum does not have; an empty
    // type is one page.
    let log = vec![
        page_request(1, "a", false, 200, 150, true),
        page_request(2, "a", true, 200, 50, false),
        page_request(3, "e", false, 200, 0, false),
    ];
    let calls = round_trips::calls(&log);
    assert_eq!(calls.queries.total(), 3);
    assert_eq!(calls.queries.minimum(), 2);
}

fn plans_compared() {
    let plan = |created: &str, checksum: &str, config: &str, value: i64| {
        serde_json::json!({
            "format": "ckplan-plan", "created_at": created, "checksum": checksum,
            "endpoint": config,
            "inputs": [{"path": "ckplan.yaml", "blake3": config},
                       {"path": "games.ndjson", "blake3": "g"}],
            "changes": [{"record_name": "game-1", "after": {"start": {"value": value}}}]
        })
        .to_string()
    };
    let a = round_trips::normalized_plan(&plan("t1", "blake3:1", "c1", 5)).unwrap();
    let b = round_trips::normalized_plan(&plan("t2", "blake3:2", "c2", 5)).unwrap();
    let c = round_trips::normalized_plan(&plan("t1", "blake3:1", "c1", 6)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a["inputs"].as_array().unwrap().len(), 1);
}
