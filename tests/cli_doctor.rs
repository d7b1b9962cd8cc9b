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
        stdout.contains("fix: in CloudKit Console open Schema > Indexes, add a QUERYABLE index on `recordName` for record type `Team`"),
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
