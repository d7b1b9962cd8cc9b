//! README claims that had no test of their own (issue 13): the quickstart end to end with
//! the embedded emulator, the production prompt (on a terminal and through `menu`), the
//! receipt's fields, `--parallelism` in flight, progress bars and colour on a terminal,
//! `CKPLAN_CONFIG` and `CKPLAN_KEY_ID`, and the emulator's fault flags.
//!
//! Terminal behaviour is observed under `script(1)`, which gives the command a
//! pseudo-terminal, so nothing here fakes `isatty`.

mod common;

use common::{on_terminal, Env, CONTAINER};
use serde_json::Value as Json;
use std::path::Path;
use std::process::{Command, Stdio};

fn ckplan_bin() -> String {
    assert_cmd::cargo::cargo_bin("ckplan").display().to_string()
}

fn modify_count(env: &Env) -> u64 {
    env.stats()
        .requests
        .get("records/modify")
        .copied()
        .unwrap_or(0)
}

/// Copies the SportsTime example (without any store) into `to`.
fn copy_example(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sportstime");
    for sub in ["", "data", "keys"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let target = to.join(sub).join(path.file_name().unwrap());
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = to.join("keys/emulator-example.pem");
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `ckplan ARGS` in `dir`, not on a terminal; (code, stdout, stderr).
fn ckplan_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(ckplan_bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CKPLAN_CONFIG")
        .env_remove("CKPLAN_KEY_ID")
        .env_remove("CKPLAN_PRIVATE_KEY_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(output.stdout),
        text(output.stderr),
    )
}

/// A fresh embedded emulator knows no record type yet, as a fresh CloudKit container.
const SPORTSTIME_PLANNED: &str = "\
    warning: record type `Game` does not exist in development yet (no record of it was ever saved); counted as no records\n\
    warning: record type `Stadium` does not exist in development yet (no record of it was ever saved); counted as no records\n\
    warning: record type `Team` does not exist in development yet (no record of it was ever saved); counted as no records\n\
    Game: 0 unchanged, 5760 new, 0 updated, 0 deleted\n\
    Stadium: 0 unchanged, 32 new, 0 updated, 0 deleted\n\
    Team: 0 unchanged, 60 new, 0 updated, 0 deleted\n\
    Plan: 5852 to create, 0 to update, 0 to delete.\n";

const SPORTSTIME_APPLIED: &str = "Game: 5760 unchanged, 0 new, 0 updated, 0 deleted\n\
    Stadium: 32 unchanged, 0 new, 0 updated, 0 deleted\n\
    Team: 60 unchanged, 0 new, 0 updated, 0 deleted\n";

/// The quickstart as the README gives it: plan, apply and diff the SportsTime example with
/// `--config`, through the embedded emulator, with the README's exact counts; the store
/// lands in `.ckplan/emulator` next to the config and a later process sees it.
#[test]
fn issue_13_quickstart_runs_end_to_end_with_the_embedded_emulator() {
    let work = tempfile::tempdir().unwrap();
    let example = work.path().join("sportstime");
    copy_example(&example);
    let config = example.join("ckplan.yaml");
    let config = config.to_str().unwrap();

    let (code, stdout, stderr) = ckplan_in(
        work.path(),
        &["--config", config, "plan", "-o", "sportstime.plan"],
    );
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(stderr.starts_with(SPORTSTIME_PLANNED), "{stderr}");
    // The apply it suggests runs against the same config.
    assert!(
        stderr.ends_with(&format!(
            "Saved the plan to `sportstime.plan`. Review it with \
             `ckplan --config {config} show sportstime.plan`, \
             then `ckplan --config {config} apply sportstime.plan`.\n"
        )),
        "{stderr}"
    );
    let (code, _, stderr) = ckplan_in(
        work.path(),
        &["--config", config, "apply", "sportstime.plan"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.ends_with(
            "Receipt: `sportstime.plan.receipt.json`\n\
             Apply complete: 5852 created, 0 updated, 0 deleted, 0 unchanged skipped.\n"
        ),
        "{stderr}"
    );
    assert!(
        example.join(".ckplan/emulator").is_dir(),
        "no store next to the config"
    );
    let (code, stdout, stderr) = ckplan_in(work.path(), &["--config", config, "diff"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(stdout, SPORTSTIME_APPLIED);
}

/// `endpoint: embedded:DIR` keeps the store in DIR (relative to the config): applied by one
/// process, seen by the next, and absent from the default place.
#[test]
fn issue_13_embedded_dir_keeps_the_store_where_it_says() {
    let work = tempfile::tempdir().unwrap();
    copy_example(work.path());
    let config = std::fs::read_to_string(work.path().join("ckplan.yaml")).unwrap();
    assert!(config.contains("endpoint: embedded "), "{config}");
    let config = config.replace("endpoint: embedded ", "endpoint: embedded:state/cloud ");
    std::fs::write(work.path().join("ckplan.yaml"), config).unwrap();
    let (code, _, stderr) = ckplan_in(work.path(), &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.ends_with(
            "Apply complete: 5852 created, 0 updated, 0 deleted, 0 unchanged skipped.\n"
        ),
        "{stderr}"
    );
    assert!(work.path().join("state/cloud").is_dir());
    assert!(!work.path().join(".ckplan/emulator").exists());
    let (code, stdout, _) = ckplan_in(work.path(), &["diff"]);
    assert_eq!((code, stdout.as_str()), (0, SPORTSTIME_APPLIED));
    // Another store is another CloudKit: nothing there yet.
    let moved = std::fs::read_to_string(work.path().join("ckplan.yaml"))
        .unwrap()
        .replace("embedded:state/cloud", "embedded:state/other");
    std::fs::write(work.path().join("ckplan.yaml"), moved).unwrap();
    let (code, stdout, _) = ckplan_in(work.path(), &["diff"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("Game: 0 unchanged, 5760 new"),
        "{stdout}"
    );
}

/// A production project with a saved plan and no records yet.
fn production_plan() -> Env {
    let env = Env::new();
    env.set_config(CONTAINER, "production");
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    env
}

/// Records of `record_type` in the production environment of the test container.
fn production_records(env: &Env, record_type: &str) -> usize {
    let client = env.writer_for(CONTAINER, ckplan::record::Environment::Production);
    let record_type = ckplan::record::RecordType::new(record_type);
    env.runtime
        .block_on(client.query_all(&record_type, &mut |_| {}))
        .unwrap()
        .len()
}

/// On a terminal, apply to production asks for the container name: a wrong name sends
/// nothing, the right one applies.
#[test]
fn issue_13_production_prompt_on_a_terminal_takes_only_the_container_name() {
    let env = production_plan();
    let (code, shown) = on_terminal(
        env.dir.path(),
        "apply out.plan",
        "iCloud.com.example.Wrong\n",
        &[],
    );
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("This writes to the PRODUCTION environment"),
        "{shown}"
    );
    assert!(
        shown.contains("Type the container name to continue:"),
        "{shown}"
    );
    assert!(
        shown.contains("the container name did not match"),
        "{shown}"
    );
    assert_eq!(modify_count(&env), 0, "a wrong name wrote");

    let (code, shown) = on_terminal(
        env.dir.path(),
        "apply out.plan",
        &format!("{CONTAINER}\n"),
        &[],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("Apply complete: 5 created"), "{shown}");
    assert_eq!(production_records(&env, "Stadium"), 3);
}

/// Through `menu` (item 6 applies a plan file, 13 is the smart sync with orphans): the same
/// prompt, answered on piped stdin.
#[test]
fn issue_13_production_prompt_through_menu_takes_only_the_container_name() {
    let env = production_plan();
    let wrong = env.run_with_stdin(&["menu"], "6\nout.plan\nnot-the-container\n0\n");
    assert!(
        wrong.stderr.contains("the container name did not match"),
        "{}",
        wrong.stderr
    );
    assert_eq!(modify_count(&env), 0, "a wrong name wrote");
    let wrong = env.run_with_stdin(&["menu"], "13\nyes\niCloud.com.example.Other\n0\n");
    assert!(
        wrong.stderr.contains("the container name did not match"),
        "{}",
        wrong.stderr
    );
    assert_eq!(modify_count(&env), 0, "a wrong name wrote");

    let right = env.run_with_stdin(&["menu"], &format!("13\nyes\n{CONTAINER}\n0\n"));
    assert_eq!(right.code, 0, "{}", right.stderr);
    assert!(
        right
            .stderr
            .contains("Apply complete: 5 created, 0 updated, 0 deleted"),
        "{}",
        right.stderr
    );
    assert_eq!(production_records(&env, "Team"), 2);
}

fn receipt(env: &Env) -> Json {
    serde_json::from_str(&env.read("out.plan.receipt.json")).unwrap()
}

fn is_utc_time(value: &Json) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = value.as_str()?;
    assert!(text.ends_with('Z'), "{text}");
    Some(chrono::DateTime::parse_from_rfc3339(text).ok()?.into())
}

/// The receipt carries when (start and end), where (the target), which policy, and for a
/// conflict its reason and the three values of each field (its resolution).
#[test]
fn issue_13_receipt_records_times_target_policy_and_conflict_resolution() {
    let env = Env::new();
    env.publish();
    let mut stadiums = common::stadiums();
    stadiums[0]["name"] = "Harbor Field II".into();
    env.set_stadiums(&stadiums);
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    env.edit(
        "Stadium",
        "stadium-1",
        &[(
            "name",
            Some(ckplan::record::FieldValue::string("Crab Bowl")),
        )],
    );
    let run = env.run(&["apply", "out.plan", "--on-conflict", "replan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    let receipt = receipt(&env);
    let started = is_utc_time(&receipt["started_at"]).expect("started_at");
    let finished = is_utc_time(&receipt["finished_at"]).expect("finished_at");
    assert!(before <= started && started <= finished && finished <= after);
    assert_eq!(
        receipt["target"],
        serde_json::json!({"container": CONTAINER, "environment": "development",
                           "database": "public", "zone": "_defaultZone"})
    );
    assert_eq!(receipt["on_conflict"], "replan");
    assert_eq!(receipt["plan_file"], "out.plan");
    let entry = &receipt["records"][0];
    assert_eq!(entry["record_name"], "stadium-1");
    assert_eq!(entry["outcome"], "conflict");
    assert_eq!(
        entry["reason"],
        "changed meanwhile in fields this plan also changes"
    );
    assert_eq!(
        entry["fields"],
        serde_json::json!([{
            "field": "name",
            "planned_before": {"value": "Harbor Field", "type": "STRING"},
            "now": {"value": "Crab Bowl", "type": "STRING"},
            "wanted": {"value": "Harbor Field II", "type": "STRING"}
        }])
    );
    assert_eq!(receipt["totals"]["conflicts"], 1);
}

/// `count` stadiums: enough records for several batches of 200.
fn many_stadiums(count: i64) -> Json {
    let stadiums: Vec<Json> = (1..=count)
        .map(|id| {
            serde_json::json!({"id": id, "name": format!("Stadium {id}"), "city": "Somewhere",
                               "location": {"latitude": 40.0, "longitude": -75.0},
                               "capacity": 1000 + id})
        })
        .collect();
    Json::Array(stadiums)
}

/// Modify requests received but not yet answered, from the emulator's counters (during an
/// apply no other request is made).
fn in_flight(env: &Env) -> u64 {
    let stats = env.stats();
    let received: u64 = stats.requests.values().sum();
    let answered: u64 = stats.statuses.values().sum();
    received - answered
}

/// Issue 18: every command that talks to CloudKit takes `--parallelism N`, 1 to 64.
#[test]
fn issue_18_every_command_that_talks_to_cloudkit_takes_parallelism() {
    let env = Env::new();
    for command in [
        vec!["plan"],
        vec!["diff"],
        vec!["apply"],
        vec!["import"],
        vec!["delete-all", "--type", "Team"],
        vec!["doctor"],
        vec!["export", "--type", "Team"],
    ] {
        let help = env.run(&[command[0], "--help"]);
        assert!(
            help.stdout.contains("--parallelism <PARALLELISM>"),
            "{command:?}"
        );
        let mut refused = command.clone();
        refused.extend(["--parallelism", "0"]);
        let run = env.run(&refused);
        // An argument error exits 1 (issue 19: 2 means "differences").
        assert_eq!(run.code, 1, "{command:?}");
        assert!(
            run.stderr.contains("`0` is not a number from 1 to 64"),
            "{}",
            run.stderr
        );
    }
}

/// Issue 18: without an index on `createdTimestamp` each type is read as one chain, the
/// plan is the same, and the warning saying which index to add is printed once.
#[test]
fn issue_18_without_the_created_index_plan_warns_once_and_plans_the_same() {
    let indexed = Env::with_emulator_process(&[]);
    let bare = Env::with_emulator_process(&[
        "--require-indexes",
        "--index",
        "Stadium.recordName",
        "--index",
        "Team.recordName",
    ]);
    let mut plans = Vec::new();
    for env in [&indexed, &bare] {
        env.set_stadiums(&many_stadiums(450));
        env.set_teams(&Json::Array(Vec::new()));
        assert_eq!(env.run(&["plan", "-o", "first.plan"]).code, 0);
        assert_eq!(env.run(&["apply", "first.plan"]).code, 0);
        let run = env.run(&["plan", "-o", "again.plan"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        plans.push(run.stderr.clone());
    }
    let warning = "add QUERYABLE and SORTABLE indexes on `createdTimestamp` (`___createTime`)";
    assert!(!plans[0].contains(warning), "{}", plans[0]);
    assert_eq!(plans[1].matches(warning).count(), 1, "{}", plans[1]);
    assert!(
        plans[1].contains("`Stadium`, `Team` read as one query chain each"),
        "{}",
        plans[1]
    );
    let summary = |stderr: &str| {
        stderr
            .lines()
            .rfind(|l| l.contains("Stadium"))
            .map(str::to_owned)
    };
    assert_eq!(summary(&plans[0]), summary(&plans[1]));
}

/// Issue 18: `plan --parallelism N` keeps at most N requests in flight over reads and
/// lookups together (two types are read at once; seven lookup chunks follow), and uses them.
#[test]
fn issue_18_plan_parallelism_bounds_reads_and_lookups() {
    for parallelism in [1_u64, 3] {
        let env = Env::with_emulator_process(&["--latency-ms", "300"]);
        env.set_stadiums(&many_stadiums(1400));
        env.set_teams(&Json::Array(Vec::new()));
        let mut child = Command::new(ckplan_bin())
            .args([
                "plan",
                "-o",
                "out.plan",
                "--parallelism",
                &parallelism.to_string(),
            ])
            .current_dir(env.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut most = 0;
        while child.try_wait().unwrap().is_none() {
            most = most.max(in_flight(&env));
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        assert!(child.wait().unwrap().success());
        assert_eq!(most, parallelism, "plan --parallelism {parallelism}");
        assert_eq!(env.stats().requests.get("records/lookup"), Some(&7));
    }
}

/// `--parallelism N` keeps exactly N batches in flight (never more), seen at the emulator
/// while each request is held 300 ms.
#[test]
fn issue_13_parallelism_is_the_number_of_batches_in_flight() {
    for parallelism in [1_u64, 3] {
        let env = Env::with_emulator_process(&["--latency-ms", "300"]);
        env.set_stadiums(&many_stadiums(1400));
        env.set_teams(&Json::Array(Vec::new()));
        assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
        let mut child = Command::new(ckplan_bin())
            .args([
                "apply",
                "out.plan",
                "--parallelism",
                &parallelism.to_string(),
            ])
            .current_dir(env.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut most = 0;
        while child.try_wait().unwrap().is_none() {
            most = most.max(in_flight(&env));
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        assert!(child.wait().unwrap().success());
        assert_eq!(
            most, parallelism,
            "7 batches with --parallelism {parallelism}"
        );
        assert_eq!(env.records("Stadium").len(), 1400);
    }
}

/// The bar was drawn at more than one position, each draw over the last on the same line:
/// no line break between two draws. (Under a pty every `\n` arrives as `\r\n`, so finding a
/// `\r` proved nothing, issue 17.)
fn assert_redrawn_in_place(shown: &str, total: usize) {
    let label = format!("/{total} planned changes (");
    let draws: Vec<(usize, usize)> = shown
        .match_indices(&label)
        .map(|(at, _)| {
            let digits = shown[..at]
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .count();
            (at, shown[at - digits..at].parse().expect("a position"))
        })
        .collect();
    let positions: std::collections::BTreeSet<usize> = draws.iter().map(|d| d.1).collect();
    assert!(
        positions.iter().any(|&p| 0 < p && p < total),
        "no bar drawn part way:\n{shown:?}"
    );
    for pair in draws.windows(2) {
        let between = &shown[pair[0].0..pair[1].0];
        assert!(
            !between.contains('\n'),
            "a new line, not a redraw:\n{between:?}"
        );
    }
}

/// On a terminal, apply draws a progress bar (redrawn in place) instead of the plain
/// `N/M planned changes have an outcome` lines it prints to a pipe.
#[test]
fn issue_13_apply_draws_a_progress_bar_on_a_terminal_and_lines_on_a_pipe() {
    let env = Env::with_emulator_process(&["--latency-ms", "150"]);
    env.set_stadiums(&many_stadiums(600));
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let (code, shown) = on_terminal(env.dir.path(), "apply out.plan --parallelism 1", "", &[]);
    assert_eq!(code, 0, "{shown}");
    assert_redrawn_in_place(&shown, 602);
    assert!(
        !shown.contains("planned changes have an outcome"),
        "plain lines on a terminal:\n{shown}"
    );
    assert!(shown.contains("Apply complete: 602 created"), "{shown}");

    let env = Env::with_emulator_process(&["--latency-ms", "150"]);
    env.set_stadiums(&many_stadiums(600));
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let piped = env.run(&["apply", "out.plan", "--parallelism", "1"]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(
        piped
            .stderr
            .starts_with("200/602 planned changes have an outcome\n"),
        "{}",
        piped.stderr
    );
    assert!(
        !piped.stderr.contains("planned changes ("),
        "{}",
        piped.stderr
    );
}

/// On a terminal errors and warnings are coloured; `NO_COLOR` and `--no-color` turn that off.
#[test]
fn issue_13_colour_on_a_terminal_and_off_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let (code, shown) = on_terminal(dir.path(), "show missing.plan", "", &[]);
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("\u{1b}["),
        "no colour on a terminal:\n{shown}"
    );
    for (args, env) in [
        ("show missing.plan", vec![("NO_COLOR", "1")]),
        ("--no-color show missing.plan", vec![]),
    ] {
        let (code, shown) = on_terminal(dir.path(), args, "", &env);
        assert_eq!(code, 1, "{shown}");
        assert!(!shown.contains("\u{1b}["), "{args} {env:?}:\n{shown}");
        assert!(
            shown.contains("error: failed to read plan `missing.plan`"),
            "{shown}"
        );
    }
}

/// `CKPLAN_CONFIG` names the configuration when `--config` is not given; `CKPLAN_KEY_ID`
/// replaces `auth.key_id` (a wrong one is refused by the server, the right one works).
#[test]
fn issue_13_ckplan_config_and_ckplan_key_id_are_used() {
    let env = Env::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = env.path("ckplan.yaml");
    let run = |extra: &[(&str, &str)]| {
        let output = env
            .ckplan()
            .current_dir(elsewhere.path())
            .env("CKPLAN_CONFIG", &config)
            .envs(extra.iter().copied())
            .arg("diff")
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("Stadium: 0 unchanged, 3 new"),
        "{stdout}"
    );

    let (code, _, stderr) = run(&[("CKPLAN_KEY_ID", "someone-else")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("AUTHENTICATION_FAILED"), "{stderr}");

    let without_id = env
        .read("ckplan.yaml")
        .replace(&format!("  key_id: {}\n", common::KEY_ID), "");
    assert!(!without_id.contains("key_id"));
    env.write("ckplan.yaml", &without_id);
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no server-to-server key ID"), "{stderr}");
    let (code, stdout, stderr) = run(&[("CKPLAN_KEY_ID", common::KEY_ID)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("Stadium: 0 unchanged, 3 new"),
        "{stdout}"
    );
}

/// Sends one signed `records/modify` creating `name` to the emulator behind `env`, with raw
/// HTTP; returns the status and body, or `None` when the connection closed unanswered.
fn raw_create(env: &Env, name: &str) -> (Option<(u16, Json)>, std::time::Duration) {
    use ckplan::cloudkit::auth;
    let signer = auth::RequestSigner::new(
        common::KEY_ID,
        auth::parse_private_pem(&env.read("keys/test.pem")).unwrap(),
    );
    let path = format!("/database/1/{CONTAINER}/development/public/records/modify");
    let body = serde_json::json!({"operations": [{"operationType": "create", "record": {
        "recordName": name, "recordType": "Stadium",
        "fields": {"name": {"value": name, "type": "STRING"}}}}]})
    .to_string();
    let headers = signer.sign(chrono::Utc::now(), body.as_bytes(), &path);
    let started = std::time::Instant::now();
    let reply = env.runtime.block_on(async {
        let sent = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}{path}", env.url()))
            .header(auth::HEADER_KEY_ID, headers.key_id)
            .header(auth::HEADER_DATE, headers.date)
            .header(auth::HEADER_SIGNATURE, headers.signature)
            .body(body)
            .send()
            .await
            .ok()?;
        let status = sent.status().as_u16();
        Some((status, sent.json::<Json>().await.ok()?))
    });
    (reply, started.elapsed())
}

/// `ckplan emulator`'s fault flags do what its help says: `--latency-ms` delays every
/// database request, `--throttle-rate 1` answers 429 THROTTLED with `--retry-after-secs`,
/// `--unavailable-rate 1` 503 TRY_AGAIN_LATER, both before any effect; `--drop-rate 1`
/// applies the write and closes the connection unanswered.
#[test]
fn issue_13_the_emulators_fault_flags_inject_what_they_say() {
    let slow = Env::with_emulator_process(&["--latency-ms", "400"]);
    let (reply, took) = raw_create(&slow, "slow");
    assert_eq!(reply.map(|(status, _)| status), Some(200));
    assert!(took >= std::time::Duration::from_millis(400), "{took:?}");

    let throttled =
        Env::with_emulator_process(&["--throttle-rate", "1", "--retry-after-secs", "7"]);
    let (reply, _) = raw_create(&throttled, "t");
    let (status, body) = reply.expect("an answer");
    assert_eq!(status, 429);
    assert_eq!(body["serverErrorCode"], "THROTTLED");
    assert_eq!(body["retryAfter"], 7);
    assert_eq!(
        throttled.stats().records,
        0,
        "a throttled write took effect"
    );
    assert_eq!(throttled.stats().faults.throttled, 1);

    let unavailable = Env::with_emulator_process(&["--unavailable-rate", "1"]);
    let (reply, _) = raw_create(&unavailable, "u");
    let (status, body) = reply.expect("an answer");
    assert_eq!(status, 503);
    assert_eq!(body["serverErrorCode"], "TRY_AGAIN_LATER");
    assert_eq!(
        unavailable.stats().records,
        0,
        "a refused write took effect"
    );

    let dropping = Env::with_emulator_process(&["--drop-rate", "1", "--seed", "3"]);
    let (reply, _) = raw_create(&dropping, "d");
    assert!(reply.is_none(), "answered despite --drop-rate 1: {reply:?}");
    let stats = dropping.stats();
    assert_eq!((stats.records, stats.faults.dropped), (1, 1), "{stats:?}");

    let calm = Env::with_emulator_process(&[]);
    let (reply, took) = raw_create(&calm, "c");
    assert_eq!(reply.map(|(status, _)| status), Some(200));
    assert!(took < std::time::Duration::from_millis(400), "{took:?}");
}

/// Per-record operations the emulator logged after request `since`, oldest first:
/// (sequence number, operation, record name, outcome).
fn logged_operations(env: &Env, since: u64) -> Vec<(u64, String, String, String)> {
    let url = format!("{}/_emulator/requests?since={since}", env.url());
    let log: Json = env.runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.get(url).send().await.unwrap().json().await.unwrap()
    });
    let mut operations = Vec::new();
    for request in log["requests"].as_array().unwrap() {
        let seq = request["seq"].as_u64().unwrap();
        for operation in request["operations"].as_array().unwrap() {
            let text = |member: &str| operation[member].as_str().unwrap_or("").to_owned();
            operations.push((seq, text("operation"), text("recordName"), text("outcome")));
        }
    }
    operations
}

fn last_seq(env: &Env) -> u64 {
    let url = format!("{}/_emulator/requests", env.url());
    let log: Json = env.runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.get(url).send().await.unwrap().json().await.unwrap()
    });
    log["requests"]
        .as_array()
        .unwrap()
        .last()
        .map_or(0, |r| r["seq"].as_u64().unwrap())
}

/// After a kill, `apply` again looks up exactly the records whose outcome the journal left
/// uncertain (each once), none of the confirmed or unsent ones, and reads nothing else.
#[test]
fn issue_13_resume_looks_up_only_the_uncertain_records() {
    use ckplan::apply::journal::{path_for, Journal};
    let env = Env::with_emulator_process(&[]);
    env.set_stadiums(&many_stadiums(1000));
    // The second batch is held on its way to the emulator until the kill (issue 17: a 60 ms
    // latency window used to decide whether the kill landed in time).
    let proxy = env.hold_modify(2);
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let mut child = Command::new(ckplan_bin())
        .args(["apply", "out.plan", "--parallelism", "1"])
        .current_dir(env.dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    proxy.wait_held();
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.discard();
    let checksum = ckplan::plan::file::read_text(&env.read("out.plan"))
        .unwrap()
        .checksum;
    let journal = Journal::replay(&path_for(&env.path("out.plan")), &checksum).unwrap();
    assert!(!journal.complete);
    let uncertain: std::collections::BTreeSet<String> = journal
        .uncertain
        .keys()
        .map(|key| key.record_name.0.clone())
        .collect();
    assert_eq!(uncertain.len(), 200, "one batch in flight at the kill");
    assert_eq!(journal.done.len(), 200, "one batch confirmed");

    let since = last_seq(&env);
    let run = env.run(&["apply", "out.plan", "--parallelism", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let operations = logged_operations(&env, since);
    let looked_up: Vec<&String> = operations
        .iter()
        .filter(|(_, operation, _, _)| operation == "lookup")
        .map(|(_, _, name, _)| name)
        .collect();
    let distinct: std::collections::BTreeSet<String> =
        looked_up.iter().map(|n| (*n).clone()).collect();
    assert_eq!(
        looked_up.len(),
        distinct.len(),
        "a record was looked up twice"
    );
    assert_eq!(
        distinct, uncertain,
        "looked up other records than the uncertain ones"
    );
    assert!(
        !operations
            .iter()
            .any(|(_, operation, _, _)| operation == "query"),
        "the resume read CloudKit beyond the uncertain records"
    );
    assert_eq!(env.stats().records, 1002);
}

/// Creates go in dependency order (stadiums before the teams that reference them) and
/// deletions in reverse (teams before their stadiums), as CloudKit receives them.
#[test]
fn issue_13_deletions_go_in_reverse_dependency_order() {
    let env = Env::new();
    let config = env
        .read("ckplan.yaml")
        .replace("stadium: REFERENCE,", "stadium: REFERENCE(Stadium),");
    assert!(config.contains("REFERENCE(Stadium)"));
    env.write("ckplan.yaml", &config);
    let orphan_stadium = |name: &str| {
        ckplan::record::Record::new("Stadium", name)
            .with_field("name", ckplan::record::FieldValue::string(name))
    };
    let orphan_team = |name: &str, stadium: &str| {
        ckplan::record::Record::new("Team", name)
            .with_field("stadium", ckplan::record::FieldValue::reference(stadium))
    };
    env.seed(&[
        orphan_stadium("stadium-8"),
        orphan_stadium("stadium-9"),
        orphan_team("team-8", "stadium-8"),
        orphan_team("team-9", "stadium-9"),
    ]);
    assert_eq!(
        env.run(&["plan", "--delete-orphans", "-o", "out.plan"])
            .code,
        0
    );
    let since = last_seq(&env);
    let run = env.run(&["apply", "out.plan", "--parallelism", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let writes: Vec<(String, String)> = logged_operations(&env, since)
        .into_iter()
        .filter(|(_, _, _, outcome)| outcome == "ok")
        .map(|(_, operation, name, _)| (operation, name))
        .collect();
    let position = |operation: &str, prefix: &str| -> Vec<usize> {
        writes
            .iter()
            .enumerate()
            .filter(|(_, (o, n))| o == operation && n.starts_with(prefix))
            .map(|(index, _)| index)
            .collect()
    };
    let (team_deletes, stadium_deletes) =
        (position("delete", "team-"), position("delete", "stadium-"));
    let (stadium_creates, team_creates) =
        (position("create", "stadium-"), position("create", "team-"));
    assert_eq!(
        (team_deletes.len(), stadium_deletes.len()),
        (2, 2),
        "{writes:?}"
    );
    assert_eq!(
        (stadium_creates.len(), team_creates.len()),
        (3, 2),
        "{writes:?}"
    );
    assert!(
        team_deletes.iter().max() < stadium_deletes.iter().min(),
        "{writes:?}"
    );
    assert!(
        stadium_creates.iter().max() < team_creates.iter().min(),
        "{writes:?}"
    );
}

/// Every menu item, answered on piped stdin and judged by what it did to CloudKit (the
/// emulator's dump) or the disk: 1 validates, 2 summarises per type, 4 writes a plan that 5
/// shows, 3 lists changed records, 10 and 11 list without writing (11 with the orphan's
/// delete), 9 writes a key pair, 12 applies and keeps the orphan, 13 deletes it, 7
/// force-replaces everything, 8 deletes one type. (Issue 17: 2, 4, 5, 8 and 12 were
/// missing.)
#[test]
fn issue_13_every_menu_item_does_what_it_says() {
    let env = Env::new();
    env.seed(&[
        ckplan::record::Record::new("Stadium", "stadium-9").with_field(
            "name",
            ckplan::record::FieldValue::string("Demolished Dome"),
        ),
    ]);
    let writes = || modify_count(&env);
    let before = writes();

    let validate = env.run_with_stdin(&["menu"], "1\n0\n");
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    let broken = env
        .read("data/teams.json")
        .replace("\"founded\": 1954", "\"founded\": \"old\"");
    env.write("data/teams.json", &broken);
    // Quitting the menu exits 0 (README, Usage); the item's verdict is in its report.
    let invalid = env.run_with_stdin(&["menu"], "1\n0\n");
    assert_eq!(invalid.code, 0, "{}", invalid.stderr);
    assert!(
        invalid
            .stderr
            .contains("error: data/teams.json:2: Team `team-1` field `founded`: expected INT64")
            && invalid.stderr.contains("validate: 1 error, 0 warnings"),
        "validate passed bad data:\n{}",
        invalid.stderr
    );
    env.set_teams(&common::teams());

    let summary = env.run_with_stdin(&["menu"], "2\n0\n");
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    assert!(
        summary
            .stdout
            .contains("Stadium: 0 unchanged, 3 new, 0 updated, 1 deleted")
            && summary
                .stdout
                .contains("Team: 0 unchanged, 2 new, 0 updated, 0 deleted"),
        "{}",
        summary.stdout
    );

    let planned = env.run_with_stdin(&["menu"], "4\nmenu.plan\n0\n");
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let plan = ckplan::plan::file::read_text(&env.read("menu.plan"))
        .unwrap()
        .plan;
    let mut changes: Vec<(String, &str)> = plan
        .changes
        .iter()
        .map(|c| (format!("{:?}", c.action), c.record_name.as_str()))
        .collect();
    changes.sort();
    let creates = ["stadium-1", "stadium-2", "stadium-3", "team-1", "team-2"];
    let expected: Vec<(String, &str)> = creates.iter().map(|n| ("Create".into(), *n)).collect();
    assert_eq!(
        changes, expected,
        "item 4 plans the creates, not the orphan"
    );
    let shown = env.run_with_stdin(&["menu"], "5\nmenu.plan\n0\n");
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    for name in creates {
        let kind = if name.starts_with("team") {
            "Team"
        } else {
            "Stadium"
        };
        let line = format!("+ create {kind} {name}");
        assert!(
            shown.stdout.contains(&line),
            "no `{line}`:\n{}",
            shown.stdout
        );
    }
    assert_eq!(writes(), before, "diff, plan or show wrote");

    let listed = env.run_with_stdin(&["menu"], "3\n0\n");
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("stadium-1") && listed.stdout.contains("team-2"),
        "{}",
        listed.stdout
    );

    let dry = env.run_with_stdin(&["menu"], "10\n0\n");
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("stadium-1"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("stadium-9"), "{}", dry.stdout);
    let dry_orphans = env.run_with_stdin(&["menu"], "11\n0\n");
    assert_eq!(dry_orphans.code, 0, "{}", dry_orphans.stderr);
    assert!(
        dry_orphans.stdout.contains("stadium-9"),
        "{}",
        dry_orphans.stdout
    );
    assert_eq!(writes(), before, "a dry run wrote");

    let key = env.run_with_stdin(&["menu"], "9\nmenu-key.pem\n0\n");
    assert_eq!(key.code, 0, "{}", key.stderr);
    let pem = env.read("menu-key.pem");
    assert!(ckplan::cloudkit::auth::parse_private_pem(&pem).is_ok());

    let all = ["stadium-1", "stadium-2", "stadium-3", "team-1", "team-2"];
    let synced = env.run_with_stdin(&["menu"], "12\nyes\n0\n");
    assert_eq!(synced.code, 0, "{}", synced.stderr);
    let stored: Vec<String> = env.stored().into_keys().collect();
    let mut with_orphan = all.to_vec();
    with_orphan.insert(3, "stadium-9");
    assert_eq!(stored, with_orphan, "item 12 applies and keeps the orphan");

    let synced = env.run_with_stdin(&["menu"], "13\nyes\n0\n");
    assert_eq!(synced.code, 0, "{}", synced.stderr);
    assert!(
        env.lookup("stadium-9").is_none(),
        "the orphan was not deleted"
    );
    assert_eq!(
        (env.records("Stadium").len(), env.records("Team").len()),
        (3, 2)
    );

    let force_before = env
        .stats()
        .operations
        .get("forceReplace")
        .copied()
        .unwrap_or(0);
    let imported = env.run_with_stdin(&["menu"], "7\n0\n");
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let forced = env
        .stats()
        .operations
        .get("forceReplace")
        .copied()
        .unwrap_or(0);
    assert_eq!(
        forced - force_before,
        5,
        "import force-replaces every record"
    );

    let deleted = env.run_with_stdin(&["menu"], "8\nTeam\nTeam\n0\n");
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let stored: Vec<String> = env.stored().into_keys().collect();
    assert_eq!(stored, all[..3], "item 8 deletes the teams, only them");
}
