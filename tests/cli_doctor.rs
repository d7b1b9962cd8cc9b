//! `ckplan doctor` through the binary against the emulator: a passing target, a target
//! whose record type cannot be queried without a filter, and a key the server does not
//! know. Doctor never writes: the emulator's request log shows no modify.

use ckplan::cloudkit::auth::{generate_key_pair, parse_private_pem};
use ckplan::emulator::{self, EmulatorConfig, RegisteredKey, RunningEmulator};
use std::path::Path;

struct Project {
    dir: tempfile::TempDir,
    server: RunningEmulator,
}

/// A project with one Team record whose emulator is configured by `emulator`; the project's
/// key is registered unless `register_key` is false.
async fn project(register_key: bool, emulator: EmulatorConfig) -> Project {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = generate_key_pair();
    let key = parse_private_pem(&private).unwrap();
    write_private(&dir.path().join("key.pem"), &private);
    let keys = if register_key {
        vec![RegisteredKey {
            key_id: Some("k".into()),
            key: *key.verifying_key(),
        }]
    } else {
        let (other, _) = generate_key_pair();
        vec![RegisteredKey {
            key_id: Some("k".into()),
            key: *parse_private_pem(&other).unwrap().verifying_key(),
        }]
    };
    let server = emulator::start(EmulatorConfig { keys, ..emulator })
        .await
        .unwrap();
    std::fs::write(
        dir.path().join("teams.json"),
        r#"[{"recordName": "t1", "fields": {"name": {"value": "A", "type": "STRING"}}}]"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ckplan.yaml"),
        format!(
            "container: iCloud.com.example.Doctor\nenvironment: development\nendpoint: {}\n\
             auth: {{key_id: k, private_key_file: key.pem}}\ntypes:\n  Team: {{file: teams.json}}\n",
            server.url()
        ),
    )
    .unwrap();
    Project { dir, server }
}

fn write_private(path: &Path, pem: &str) {
    std::fs::write(path, pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

async fn doctor(project: &Project, extra: &[&str]) -> (i32, String, String) {
    let config = project.dir.path().join("ckplan.yaml");
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("ckplan")
            .unwrap()
            .env("NO_COLOR", "1")
            .arg("--config")
            .arg(&config)
            .arg("doctor")
            .args(&extra)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_no_writes(server: &RunningEmulator) {
    let stats = server.stats();
    assert!(
        !stats.requests.contains_key("records/modify"),
        "doctor wrote: {:?}",
        stats.requests
    );
    assert!(
        stats.requests.contains_key("users/caller"),
        "{:?}",
        stats.requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_passes_a_good_target_without_writing() {
    let project = project(
        true,
        EmulatorConfig {
            record_types: vec!["Team".into()],
            ..EmulatorConfig::default()
        },
    )
    .await;
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    for line in [
        "ok    key",
        "ok    clock",
        "ok    type Team",
        "ok    environment",
        "ok    local data",
    ] {
        assert!(stdout.contains(line), "missing `{line}`:\n{stdout}");
    }
    assert!(stdout.contains("All checks passed."), "{stdout}");
    assert_no_writes(&project.server);
    project.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_fails_an_unqueryable_type_with_the_fix_and_json() {
    let project = project(
        true,
        EmulatorConfig {
            require_indexes: true,
            indexes: vec!["Team.name".into()],
            record_types: vec!["Team".into()],
            ..EmulatorConfig::default()
        },
    )
    .await;
    let (code, stdout, _) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAIL  type Team"), "{stdout}");
    assert!(
        stdout.contains("fix: add a QUERYABLE index on `recordName` (`___recordID` in the schema) of `Team`: with a management token (set CKPLAN_MANAGEMENT_TOKEN or `auth: management_token_file:`) run `ckplan --config "),
        "{stdout}"
    );
    // Issue 20: the suggested command carries the `--config` doctor was given.
    assert!(
        stdout.contains("ckplan.yaml schema apply`, or in CloudKit Console open Schema > Indexes and save it there"),
        "{stdout}"
    );
    assert!(stdout.contains("1 check failed."), "{stdout}");

    let (code, stdout, _) = doctor(&project, &["--json"]).await;
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let team = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "type Team")
        .unwrap();
    assert_eq!(team["status"], "fail");
    assert!(team["fix"].as_str().unwrap().contains("QUERYABLE"));
    assert_no_writes(&project.server);
    project.server.shutdown().await;
}

/// Issue 18: a type CloudKit cannot sort by `createdTimestamp` is read as one chain;
/// doctor warns with the index to add, and passes once it is there.
#[tokio::test(flavor = "multi_thread")]
async fn issue_18_doctor_reports_the_created_timestamp_index() {
    for (indexes, expected) in [
        (vec!["Team.recordName"], "warn  index Team.createdTimestamp"),
        (
            vec!["Team.recordName", "Team.___createTime"],
            "ok    index Team.createdTimestamp",
        ),
    ] {
        let project = project(
            true,
            EmulatorConfig {
                require_indexes: true,
                indexes: indexes.into_iter().map(str::to_owned).collect(),
                record_types: vec!["Team".into()],
                ..EmulatorConfig::default()
            },
        )
        .await;
        let (code, stdout, _) = doctor(&project, &[]).await;
        assert_eq!(code, 0, "{stdout}");
        assert!(stdout.contains("ok    type Team"), "{stdout}");
        assert!(stdout.contains(expected), "{stdout}");
        if expected.starts_with("warn") {
            assert!(
                stdout.contains(
                    "add QUERYABLE and SORTABLE indexes on `createdTimestamp` (`___createTime`)"
                ),
                "{stdout}"
            );
        }
        assert_no_writes(&project.server);
        project.server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_names_a_key_that_does_not_authenticate() {
    let project = project(false, EmulatorConfig::default()).await;
    let (code, stdout, _) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAIL  key"), "{stdout}");
    assert!(stdout.contains("fix: check `auth.key_id`"), "{stdout}");
    assert!(stdout.contains("skip  type Team"), "{stdout}");
    // The clock is still compared: a 401 carries the server's Date too.
    assert!(stdout.contains("ok    clock"), "{stdout}");
    assert_no_writes(&project.server);
    project.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_fails_a_clock_minutes_off_cloudkits() {
    use ckplan::cloudkit::auth::RequestSigner;
    use ckplan::cloudkit::{Client, ClientOptions};
    use ckplan::sync::doctor::{self, Status};
    let project = project(true, EmulatorConfig::default()).await;
    let config = ckplan::config::Config::load(&project.dir.path().join("ckplan.yaml")).unwrap();
    let key = std::fs::read_to_string(project.dir.path().join("key.pem")).unwrap();
    let signer = RequestSigner::new("k", parse_private_pem(&key).unwrap());
    // Seven minutes ahead: inside the emulator's ±10 minutes, beyond doctor's 5.
    let ahead = std::sync::Arc::new(|| chrono::Utc::now() + chrono::Duration::minutes(7));
    let client = Client::with_clock(
        &project.server.url(),
        config.target(),
        signer,
        ClientOptions::default(),
        ahead,
    )
    .unwrap();
    let report = doctor::run(&config, &client).await;
    let clock = report.checks.iter().find(|c| c.name == "clock").unwrap();
    assert_eq!(clock.status, Status::Fail, "{clock:?}");
    assert!(clock.detail.contains("ahead of"), "{clock:?}");
    assert!(clock.fix.as_deref().unwrap().contains("NTP"), "{clock:?}");
    assert!(!report.passed());
    project.server.shutdown().await;
}

/// Rewrites the project's ckplan.yaml with `from` replaced by `to`.
fn edit_config(project: &Project, from: &str, to: &str) {
    let path = project.dir.path().join("ckplan.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` check in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_reports_a_missing_key_file_as_a_failed_check() {
    let project = project(true, EmulatorConfig::default()).await;
    edit_config(
        &project,
        "private_key_file: key.pem",
        "private_key_file: nokey.pem",
    );
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("FAIL  key"), "{stdout}{stderr}");
    assert!(stdout.contains("nokey.pem"), "{stdout}");
    assert!(
        stdout.contains("fix: point `auth.private_key_file`"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    local data"), "{stdout}");
    assert!(stdout.contains("ok    environment"), "{stdout}");
    assert!(
        stdout.contains("skip  type Team") && stdout.contains("no usable key"),
        "{stdout}"
    );

    let (code, stdout, _) = doctor(&project, &["--json"]).await;
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(check(&report, "key")["status"], "fail");
    assert!(check(&report, "key")["fix"].is_string());
    assert_eq!(check(&report, "local data")["status"], "pass");
    assert_eq!(check(&report, "clock")["status"], "skipped");
    project.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_reports_an_unreachable_endpoint_not_the_key() {
    let project = project(true, EmulatorConfig::default()).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    edit_config(&project, &project.server.url(), &url);
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("FAIL  endpoint"), "{stdout}");
    assert!(stdout.contains("fix: check that `endpoint:`"), "{stdout}");
    assert!(!stdout.contains("FAIL  key"), "{stdout}");
    assert!(!stdout.contains("does not authenticate"), "{stdout}");
    assert!(!stdout.contains("Date"), "{stdout}");
    assert!(stdout.contains("could not be reached"), "{stdout}");
    assert!(stdout.contains("skip  clock"), "{stdout}");
    project.server.shutdown().await;
}

/// A server on 127.0.0.1 that reads each request and answers `reply` (raw HTTP), or closes
/// the connection without a reply; returns its URL.
fn raw_server(reply: Option<String>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 65536];
            let _ = std::io::Read::read(&mut stream, &mut buffer);
            if let Some(reply) = &reply {
                let _ = std::io::Write::write_all(&mut stream, reply.as_bytes());
            }
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_reports_a_dropped_connection_as_an_endpoint_failure() {
    let project = project(true, EmulatorConfig::default()).await;
    // A server that reads each request and closes the connection without a reply.
    let url = raw_server(None);
    edit_config(&project, &project.server.url(), &url);
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("FAIL  endpoint"), "{stdout}");
    assert!(!stdout.contains("FAIL  key"), "{stdout}");
    assert!(!stdout.contains("does not authenticate"), "{stdout}");
    project.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_reports_throttling_as_transient_not_the_key() {
    let mut emulator = EmulatorConfig::default();
    emulator.faults.throttle_rate = 1.0;
    emulator.faults.retry_after_secs = 0.1;
    let project = project(true, emulator).await;
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("transient"), "{stdout}");
    assert!(!stdout.contains("FAIL  key"), "{stdout}");
    assert!(!stdout.contains("does not authenticate"), "{stdout}");
    // The client's retry policy resent the request before giving up.
    let calls = project.server.stats().requests["users/caller"];
    assert!(calls >= 2, "users/caller sent {calls} times");
    project.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_fails_the_private_database() {
    let project = project(
        true,
        EmulatorConfig {
            record_types: vec!["Team".into()],
            ..EmulatorConfig::default()
        },
    )
    .await;
    edit_config(
        &project,
        "environment: development\n",
        "environment: development\ndatabase: private\n",
    );
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("FAIL  database"), "{stdout}");
    assert!(stdout.contains("fix: set `database: public`"), "{stdout}");
    project.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_doctor_counts_warnings_and_gives_an_action_for_a_new_type() {
    // Team has no records and no schema yet in development: a warning.
    let project = project(true, EmulatorConfig::default()).await;
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("warn  type Team"), "{stdout}");
    assert!(!stdout.contains("All checks passed."), "{stdout}");
    assert!(stdout.contains("No check failed, 1 warning."), "{stdout}");
    assert!(
        stdout.contains("fix: none needed now: the first `ckplan apply` creates `Team`"),
        "{stdout}"
    );
    assert!(stdout.contains("deploy the schema"), "{stdout}");
    project.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_13_doctor_escapes_cloudkits_reason() {
    let project = project(true, EmulatorConfig::default()).await;
    let body = "{\"uuid\":\"u-1\",\"serverErrorCode\":\"AUTHENTICATION_FAILED\",\"reason\":\"evil\u{1b}[2J\u{9b}1A\u{202e}gnp\"}";
    let url = raw_server(Some(format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )));
    edit_config(&project, &project.server.url(), &url);
    let (code, stdout, stderr) = doctor(&project, &[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("gnp"), "{stdout:?}");
    for raw in ['\u{1b}', '\u{9b}', '\u{202e}'] {
        assert!(!stdout.contains(raw), "{raw:?} raw in {stdout:?}");
        assert!(!stderr.contains(raw), "{raw:?} raw in {stderr:?}");
    }
    project.server.shutdown().await;
}
