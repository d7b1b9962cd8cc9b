//! Against a server that enforces indexes (as real CloudKit does), `diff` fails naming the
//! record type and field, with a hint saying what to change in CloudKit Console.

use ckplan::emulator::{self, EmulatorConfig, RegisteredKey};

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_a_missing_queryable_index_is_explained_naming_the_type() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = ckplan::cloudkit::auth::generate_key_pair();
    let key = ckplan::cloudkit::auth::parse_private_pem(&private).unwrap();
    std::fs::write(dir.path().join("key.pem"), &private).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = dir.path().join("key.pem");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let server = emulator::start(EmulatorConfig {
        keys: vec![RegisteredKey {
            key_id: Some("k".into()),
            key: *key.verifying_key(),
        }],
        require_indexes: true,
        indexes: vec!["Team.name".into()],
        ..EmulatorConfig::default()
    })
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
            "container: iCloud.com.example.Preflight\nenvironment: development\nendpoint: {}\n\
             auth: {{key_id: k, private_key_file: key.pem}}\ntypes:\n  Team: {{file: teams.json}}\n",
            server.url()
        ),
    )
    .unwrap();
    let config = dir.path().join("ckplan.yaml");
    let run = |command: &'static str| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            assert_cmd::Command::cargo_bin("ckplan")
                .unwrap()
                .env("NO_COLOR", "1")
                .arg("--config")
                .arg(&config)
                .arg(command)
                .output()
                .unwrap()
        })
    };
    // The type must exist first: a query on a type never written is a 404 "Did not find
    // record type" before any index is consulted. `import` writes without querying.
    let imported = run("import").await.unwrap();
    assert_eq!(
        imported.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let output = run("diff").await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("record type `Team`: field `recordName` is not marked queryable"),
        "{stderr}"
    );
    assert!(
        stderr.contains("QUERYABLE index on `recordName` (`___recordID` in the schema) of `Team`"),
        "{stderr}"
    );
    server.shutdown().await;
}
