//! The client under live CloudKit's behaviours (issue 11 and issue 12 item 1), against the
//! scripted server: unknown record types, missing indexes, per-record throttling, lookup
//! errors, gzip, gateway errors, and pages that repeat a record.

use super::*;
use ckplan::cloudkit::client::{MAX_RECORD_BYTES, MAX_REQUEST_BYTES};

fn production_client(server: &Server) -> Client {
    let target = Target {
        environment: Environment::Production,
        ..target("_defaultZone")
    };
    Client::new(
        &server.endpoint(),
        target,
        RequestSigner::new(KEY_ID, signing_key()),
        options(RetryPolicy::immediate(3)),
    )
    .unwrap()
}

fn not_found_type() -> Reply {
    Reply::Json(
        404,
        json!({"uuid": "u", "serverErrorCode": "NOT_FOUND", "reason": "Did not find record type: Team"}),
    )
}

#[tokio::test]
async fn issue_11_a_query_of_an_unknown_type_is_a_typed_error_in_both_environments() {
    let server = Server::start(|_| not_found_type()).await;
    let (client, _) = client_for(&server, 3);
    let error = query(&client).await.unwrap_err();
    let CloudKitError::UnknownRecordType {
        record_type,
        environment,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(record_type, "Team");
    assert_eq!(*environment, Environment::Development);
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");

    let error = query(&production_client(&server)).await.unwrap_err();
    assert!(error.to_string().contains("production"), "{error}");
    assert!(
        error.hint().unwrap().contains("Deploy Schema Changes"),
        "{error:?}"
    );
}

#[tokio::test]
async fn issue_11_not_queryable_names_the_record_type_and_field() {
    let server = Server::scripted(vec![Reply::Json(
        400,
        json!({"uuid": "u", "serverErrorCode": "BAD_REQUEST", "reason": "Field 'recordName' is not marked queryable"}),
    )])
    .await;
    let (client, _) = client_for(&server, 3);
    let error = query(&client).await.unwrap_err();
    let CloudKitError::NotQueryable { record_type, field } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (record_type.as_str(), field.as_str()),
        ("Team", "recordName")
    );
    assert!(error.hint().unwrap().contains("record type `Team`"));
}

/// Answers a modify: the first time it sees a record named `slow-*`, THROTTLED with
/// `retryAfter` 0.3 s; every other operation is saved.
fn throttling_responder() -> impl FnMut(&Received) -> Reply + Send {
    let mut throttled = std::collections::HashSet::new();
    move |request: &Received| {
        let entries: Vec<Value> = request.json()["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|operation| {
                let name = operation["record"]["recordName"].as_str().unwrap().to_owned();
                if name.starts_with("slow-") && throttled.insert(name.clone()) {
                    json!({"recordName": name, "serverErrorCode": "THROTTLED", "reason": "slow down", "retryAfter": 0.3})
                } else {
                    wire_record("Team", &name, "t2")
                }
            })
            .collect();
        Reply::Json(200, json!({ "records": entries }))
    }
}

#[tokio::test]
async fn issue_11_throttled_records_are_resent_alone_after_retry_after() {
    let server = Server::start(throttling_responder()).await;
    let (client, _) = client_for(&server, 4);
    let started = Instant::now();
    let results = client
        .modify_batch(vec![create("fast-1"), create("slow-1"), create("fast-2")])
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "resent before retryAfter: {:?}",
        started.elapsed()
    );
    assert!(results
        .iter()
        .all(|r| matches!(r, OperationResult::Saved(_))));
    let names: Vec<Vec<String>> = server
        .requests()
        .iter()
        .map(|r| {
            r.json()["operations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["record"]["recordName"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(names, [vec!["fast-1", "slow-1", "fast-2"], vec!["slow-1"]]);
}

#[tokio::test]
async fn issue_11_lookup_errors_are_asked_again_and_never_read_as_absent() {
    // First lookup: a transient error; second: the record.
    let server = Server::scripted(vec![
        Reply::Json(
            200,
            json!({"records": [{"recordName": "team-1", "serverErrorCode": "TRY_AGAIN_LATER", "reason": "later", "retryAfter": 0.1}]}),
        ),
        Reply::Json(200, json!({"records": [wire_record("Team", "team-1", "t3")]})),
    ])
    .await;
    let (client, _) = client_for(&server, 3);
    let started = Instant::now();
    let results = client.lookup(&[RecordName::new("team-1")]).await.unwrap();
    assert!(matches!(&results[0], Lookup::Found(r) if r.record_name.as_str() == "team-1"));
    assert!(started.elapsed() >= Duration::from_millis(100));

    // An error that persists stays an error, after the attempts allowed.
    let server = Server::start(|_| {
        Reply::Json(
            200,
            json!({"records": [{"recordName": "team-1", "serverErrorCode": "INTERNAL_ERROR", "reason": "boom"}]}),
        )
    })
    .await;
    let (client, _) = client_for(&server, 3);
    let results = client.lookup(&[RecordName::new("team-1")]).await.unwrap();
    assert!(
        matches!(&results[0], Lookup::Error(_, e) if e.server_error_code == ServerErrorCode::InternalError),
        "{results:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn issue_11_gzip_replies_are_accepted_and_asked_for() {
    let server = Server::scripted(vec![Reply::Gzip(200, page(0, 3, None))]).await;
    let (client, _) = client_for(&server, 1);
    assert_eq!(query(&client).await.unwrap().len(), 3);
    let accepted = server.requests()[0].header("accept-encoding");
    assert!(accepted.contains("gzip"), "Accept-Encoding: {accepted:?}");
}

#[tokio::test]
async fn issue_11_an_html_502_on_a_read_is_retried() {
    let server = Server::scripted(vec![
        Reply::Text(502, "<html><body>502 Bad Gateway</body></html>"),
        Reply::Text(504, "<html><body>504 Gateway Time-out</body></html>"),
        Reply::Json(200, page(0, 2, None)),
    ])
    .await;
    let (client, _) = client_for(&server, 4);
    assert_eq!(query(&client).await.unwrap().len(), 2);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn issue_12_a_record_repeated_at_a_page_boundary_is_kept_once_newest_first() {
    let mut old = wire_record("Team", "team-0001", "t1");
    old["modified"]["timestamp"] = json!(1_000);
    let mut new = wire_record("Team", "team-0001", "t2");
    new["modified"]["timestamp"] = json!(2_000);
    let server = Server::scripted(vec![
        Reply::Json(
            200,
            json!({"records": [wire_record("Team", "team-0000", "t1"), new], "continuationMarker": "m1"}),
        ),
        Reply::Json(200, json!({"records": [old, wire_record("Team", "team-0002", "t1")]})),
    ])
    .await;
    let (client, _) = client_for(&server, 1);
    let records = query(&client).await.unwrap();
    let names: Vec<&str> = records.iter().map(|r| r.record_name.as_str()).collect();
    assert_eq!(names, ["team-0000", "team-0001", "team-0002"]);
    assert_eq!(records[1].change_tag.as_ref().unwrap().as_str(), "t2");
}

#[tokio::test]
async fn issue_11_modify_batches_are_split_by_bytes_and_records_checked_against_1_mb() {
    let server = Server::start(|request: &Received| {
        let entries: Vec<Value> = request.json()["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| wire_record("Team", o["record"]["recordName"].as_str().unwrap(), "t2"))
            .collect();
        Reply::Json(200, json!({ "records": entries }))
    })
    .await;
    let (client, _) = client_for(&server, 1);
    let big = |name: &str| {
        let record =
            Record::new("Team", name).with_field("text", FieldValue::string("x".repeat(600_000)));
        Operation {
            operation_type: OperationType::Create,
            record: WireRecord::from_record(&record),
            desired_keys: None,
        }
    };
    let results = client
        .modify_batch((0..5).map(|i| big(&format!("big-{i}"))).collect())
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.body.len() <= MAX_REQUEST_BYTES));

    let too_big = Record::new("Team", "huge")
        .with_field("text", FieldValue::string("x".repeat(MAX_RECORD_BYTES)));
    let error = client
        .modify_batch(vec![Operation {
            operation_type: OperationType::Create,
            record: WireRecord::from_record(&too_big),
            desired_keys: None,
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(error, CloudKitError::RecordTooLarge { .. }),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 2, "an oversized record was sent");
}

/// A project whose config points at `server` with three local Team records (`team-1`..3,
/// `name` "Team team-N"); returns its directory and config.
fn project_for(server: &Server) -> (tempfile::TempDir, ckplan::config::Config) {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Value> = (1..=3)
        .map(|i| {
            json!({"recordName": format!("team-{i}"), "fields": {
                "name": {"value": format!("Team team-{i}"), "type": "STRING"},
                "founded": {"value": 1901, "type": "INT64"}}})
        })
        .collect();
    std::fs::write(
        dir.path().join("teams.json"),
        Value::Array(records).to_string(),
    )
    .unwrap();
    let (private, _) = auth::generate_key_pair();
    std::fs::write(dir.path().join("key.pem"), private).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = dir.path().join("key.pem");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let path = dir.path().join("ckplan.yaml");
    std::fs::write(
        &path,
        format!(
            "container: {CONTAINER}\nenvironment: development\nendpoint: {}\n\
             auth: {{key_id: {KEY_ID}, private_key_file: key.pem}}\ntypes:\n  Team: {{file: teams.json}}\n",
            server.endpoint()
        ),
    )
    .unwrap();
    let config = ckplan::config::Config::load(&path).unwrap();
    (dir, config)
}

/// Query answers from a lagging index: `team-1` missing, `team-2` with an old name, and an
/// orphan `team-9` already deleted. Lookups answer the truth: all three local records as
/// desired, `team-9` not found.
fn lagging_responder(request: &Received) -> Reply {
    if request.path.ends_with("records/query") {
        let mut stale = wire_record("Team", "team-2", "t1");
        stale["fields"]["name"]["value"] = json!("Old name");
        return Reply::Json(
            200,
            json!({"records": [stale, wire_record("Team", "team-3", "t1"), wire_record("Team", "team-9", "t1")]}),
        );
    }
    let entries: Vec<Value> = request.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let name = entry["recordName"].as_str().unwrap();
            if name == "team-9" {
                json!({"recordName": name, "serverErrorCode": "NOT_FOUND", "reason": "Record not found"})
            } else {
                wire_record("Team", name, "t2")
            }
        })
        .collect();
    Reply::Json(200, json!({ "records": entries }))
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_differences_are_confirmed_by_lookup_so_a_lagging_index_plans_nothing() {
    let server = Server::start(lagging_responder).await;
    let (_dir, config) = project_for(&server);
    let (client, _) = client_for(&server, 1);
    let types = vec![RecordType::new("Team")];
    let local = ckplan::local::load_all(&config);
    let survey = ckplan::sync::survey(&config, local, &client, &types, &())
        .await
        .unwrap();
    let diff = &survey.diffs[0];
    use ckplan::diff::Category;
    let categories: Vec<(String, Category)> = diff
        .records
        .iter()
        .map(|r| (r.record_name.to_string(), r.category))
        .collect();
    assert_eq!(
        categories,
        [
            ("team-1".to_owned(), Category::Unchanged),
            ("team-2".to_owned(), Category::Unchanged),
            ("team-3".to_owned(), Category::Unchanged),
        ]
    );
    // ⌈3 differences / 200⌉ = 1 lookup.
    assert_eq!(client.request_counts()["records/lookup"], 1);
    let looked_up = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("records/lookup"))
        .unwrap();
    assert_eq!(looked_up.json()["records"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_no_lookup_when_the_query_finds_no_difference() {
    let server = Server::start(|_: &Received| {
        let records: Vec<Value> = (1..=3)
            .map(|i| wire_record("Team", &format!("team-{i}"), "t1"))
            .collect();
        Reply::Json(200, json!({ "records": records }))
    })
    .await;
    let (_dir, config) = project_for(&server);
    let (client, _) = client_for(&server, 1);
    let local = ckplan::local::load_all(&config);
    let survey = ckplan::sync::survey(&config, local, &client, &[RecordType::new("Team")], &())
        .await
        .unwrap();
    assert_eq!(survey.diffs[0].count(ckplan::diff::Category::Unchanged), 3);
    assert!(!client.request_counts().contains_key("records/lookup"));
}

/// A fresh container: the query says the type does not exist, lookups find nothing.
fn fresh_container_responder(request: &Received) -> Reply {
    if request.path.ends_with("records/query") {
        return not_found_type();
    }
    let entries: Vec<Value> = request.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"recordName": e["recordName"], "serverErrorCode": "NOT_FOUND", "reason": "Record not found"}))
        .collect();
    Reply::Json(200, json!({ "records": entries }))
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_first_read_of_a_fresh_development_container_counts_every_record_new() {
    let server = Server::start(fresh_container_responder).await;
    let (_dir, config) = project_for(&server);
    let (client, _) = client_for(&server, 1);
    let local = ckplan::local::load_all(&config);
    let survey = ckplan::sync::survey(&config, local, &client, &[RecordType::new("Team")], &())
        .await
        .unwrap();
    assert_eq!(survey.diffs[0].count(ckplan::diff::Category::New), 3);
    assert_eq!(
        survey.notes,
        [ckplan::sync::ReadNote::TypeNotCreatedYet(RecordType::new(
            "Team"
        ))]
    );

    // Production has only what was deployed: the same 404 is an error there.
    let production = production_client(&server);
    let local = ckplan::local::load_all(&config);
    let error = ckplan::sync::survey(&config, local, &production, &[RecordType::new("Team")], &())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, CloudKitError::UnknownRecordType { .. }),
        "{error:?}"
    );
}

/// Runs the ckplan binary in `dir` with `args`; (exit code, stdout, stderr).
async fn ckplan_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("ckplan")
            .unwrap()
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .args(&args)
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

/// CloudKit holds `team-1` with an old name (everything else absent). A modify is refused
/// with CONFLICT; once a modify has been seen, every lookup of `team-1` fails with
/// INTERNAL_ERROR.
fn unreadable_after_conflict() -> impl FnMut(&Received) -> Reply + Send {
    let mut modified = false;
    move |request: &Received| {
        let mut old = wire_record("Team", "team-1", "t1");
        old["fields"]["name"]["value"] = json!("Old name");
        if request.path.ends_with("records/query") {
            return Reply::Json(200, json!({ "records": [old] }));
        }
        if request.path.ends_with("records/modify") {
            modified = true;
            let entries: Vec<Value> = request.json()["operations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| json!({"recordName": o["record"]["recordName"], "serverErrorCode": "CONFLICT", "reason": "oplock"}))
                .collect();
            return Reply::Json(200, json!({ "records": entries }));
        }
        let entries: Vec<Value> = request.json()["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| match (e["recordName"].as_str(), modified) {
                (Some("team-1"), true) => json!({"recordName": "team-1", "serverErrorCode": "INTERNAL_ERROR", "reason": "boom"}),
                (Some("team-1"), false) => old.clone(),
                _ => json!({"recordName": e["recordName"], "serverErrorCode": "NOT_FOUND"}),
            })
            .collect();
        Reply::Json(200, json!({ "records": entries }))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_a_failing_lookup_during_apply_stops_naming_the_record_and_claims_nothing() {
    let server = Server::start(unreadable_after_conflict()).await;
    let (dir, _config) = project_for(&server);
    let (code, _, stderr) = ckplan_in(dir.path(), &["plan", "-o", "out.plan"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Plan: 2 to create, 1 to update, 0 to delete."),
        "{stderr}"
    );
    let (code, _, stderr) = ckplan_in(dir.path(), &["apply", "out.plan"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("`team-1`"), "{stderr}");
    assert!(stderr.contains("INTERNAL_ERROR"), "{stderr}");
    let receipt = std::fs::read_to_string(dir.path().join("out.plan.receipt.json"))
        .or_else(|_| {
            let found = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains("receipt"))
                .unwrap();
            std::fs::read_to_string(found)
        })
        .unwrap();
    let receipt: Value = serde_json::from_str(&receipt).unwrap();
    let team_1 = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_name"] == "team-1");
    assert!(team_1.is_none(), "team-1 given an outcome: {team_1:?}");
    assert_eq!(receipt["totals"]["already_applied"], 0);
    assert_eq!(
        receipt["totals"]["conflicts"], 0,
        "read as deleted meanwhile"
    );
    assert_eq!(receipt["complete"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_first_plan_on_a_fresh_container_through_the_binary_counts_all_new() {
    let server = Server::start(fresh_container_responder).await;
    let (dir, _config) = project_for(&server);
    let (code, _, stderr) = ckplan_in(dir.path(), &["plan", "-o", "out.plan"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Plan: 3 to create, 0 to update, 0 to delete."),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("does not exist in development yet").count(),
        1,
        "said once: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_plan_under_a_lagging_index_has_no_changes_and_detailed_exitcode_0() {
    let server = Server::start(lagging_responder).await;
    let (dir, _config) = project_for(&server);
    let (code, _, stderr) = ckplan_in(
        dir.path(),
        &[
            "plan",
            "--delete-orphans",
            "--detailed-exitcode",
            "-o",
            "out.plan",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Plan: 0 to create, 0 to update, 0 to delete."),
        "{stderr}"
    );
}
