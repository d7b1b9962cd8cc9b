//! Ctrl-C during an apply that is waiting to retry (issue 19): the README says "Ctrl-C
//! interrupts any wait". With CloudKit throttling every request, or every record, for 30
//! seconds at a time, the first SIGINT must end the wait at once, exit 130 with the journal,
//! the receipt and the resume line, and a re-run after the throttling ends must finish the
//! plan with nothing sent twice.

use crate::common;

use common::Env;
use serde_json::{json, Value as Json};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const STADIUMS: i64 = 450;
/// The stadiums and the project's two teams.
const RECORDS: u64 = STADIUMS as u64 + 2;

fn stadiums(count: i64) -> Json {
    Json::Array(
        (1..=count)
            .map(|id| {
                json!({"id": id, "name": format!("Stadium {id}"), "city": "Somewhere",
                       "location": {"latitude": 40.0, "longitude": -75.0}, "capacity": id})
            })
            .collect(),
    )
}

fn count(map: &std::collections::BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

/// Polls the emulator until `reached` holds of its stats. (The bound turns a run that never
/// gets there into a failure instead of a hang; it measures nothing.)
fn wait_until(env: &Env, what: &str, reached: impl Fn(&ckplan::emulator::Stats) -> bool) {
    let started = Instant::now();
    while !reached(&env.stats()) {
        assert!(started.elapsed() < Duration::from_secs(300), "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the child's exit; a generous bound turns a hang into a failure.
fn exit_of(child: &mut Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(600) {
            child.kill().unwrap();
            panic!("apply did not end after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Plans `STADIUMS` new stadiums (and two teams), turns `faults` on, starts the apply, waits until the
/// emulator has refused a request as `refused` says, sends SIGINT, and checks the
/// interrupted run and then the re-run without faults.
fn interrupted_while_throttled(faults: &str, refused: fn(&ckplan::emulator::Stats) -> bool) {
    let env = Env::with_emulator_process(&[]);
    env.set_stadiums(&stadiums(STADIUMS));
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    env.set_faults(faults);
    let mut child = env.spawn_apply(Stdio::piped());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    // The apply is now waiting out a 30-second `retryAfter`.
    wait_until(&env, "throttled a request", refused);
    let at_signal = env.stats();
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = exit_of(&mut child);
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    // The wait ended at once: nothing was sent again after the signal (without the fix the
    // run went on resending for minutes, then exited).
    let after = env.stats();
    assert_eq!(
        count(&after.requests, "records/modify"),
        count(&at_signal.requests, "records/modify"),
        "modify requests sent after SIGINT\n{stderr}"
    );
    assert!(
        stderr.contains("Stopping after the batches in flight"),
        "{stderr}"
    );
    assert!(stderr.contains("apply interrupted"), "{stderr}");
    assert!(
        stderr.contains("run `ckplan apply out.plan` again to resume"),
        "{stderr}"
    );
    assert!(!stderr.contains("error: apply stopped"), "{stderr}");
    // Journal and receipt are written; nothing was stored.
    let journal = env.read("out.plan.journal");
    let last: Json = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "finished", "{journal}");
    assert_eq!(last["complete"], false, "{journal}");
    let receipt: Json = serde_json::from_str(&env.read("out.plan.receipt.json")).unwrap();
    assert!(receipt["records"].is_array(), "{receipt}");
    assert_eq!(env.stats().records, 0);

    // The throttling ends; the re-run finishes exactly.
    env.set_faults("{}");
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.starts_with("Resuming: "), "{}", run.stderr);
    let stats = env.stats();
    assert_eq!(stats.records, RECORDS);
    assert_eq!(count(&stats.outcomes, "EXISTS"), 0, "{stats:?}");
    assert_eq!(
        count(&stats.outcomes, "ok"),
        RECORDS,
        "each record written once: {stats:?}"
    );
    let again = env.run(&["apply", "out.plan"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("already applied in full"),
        "{}",
        again.stderr
    );
}

#[cfg(unix)]
#[test]
fn issue_19_sigint_ends_a_whole_request_retry_wait_at_once() {
    interrupted_while_throttled(r#"{"throttleRate": 1.0, "retryAfterSecs": 30}"#, |stats| {
        stats.faults.throttled >= 1
    });
}

#[cfg(unix)]
#[test]
fn issue_19_sigint_ends_a_per_record_resend_wait_at_once() {
    interrupted_while_throttled(
        r#"{"recordThrottleRate": 1.0, "retryAfterSecs": 30}"#,
        |stats| stats.faults.records_throttled >= 1,
    );
}
