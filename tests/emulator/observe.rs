//! The emulator's observability seams (issue 10): the request log, the record dump, the
//! per-operation counters, and determinism under a seed.

use super::*;

async fn admin_get(emu: &Emu, route: &str) -> Json {
    let url = format!("{}/_emulator/{route}", emu.running.url());
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn issue_10_request_log_records_every_request_with_its_operation_outcomes() {
    let emu = Emu::default().await;
    emu.modify(json!([
        {"operationType": "create", "record": {"recordName": "a", "recordType": "T"}},
        {"operationType": "create", "record": {"recordName": "b", "recordType": "T"}}
    ]))
    .await;
    emu.modify(json!([
        {"operationType": "create", "record": {"recordName": "a", "recordType": "T"}},
        {"operationType": "update", "record": {"recordName": "b", "recordChangeTag": "stale"}},
        {"operationType": "forceDelete", "record": {"recordName": "zz"}}
    ]))
    .await;
    emu.post(
        "records/lookup",
        &json!({"records": [{"recordName": "a"}, {"recordName": "nope"}]}),
    )
    .await;
    emu.post("records/query", &json!({"query": {"recordType": "T"}}))
        .await;
    let unsigned = reqwest::Client::new()
        .post(format!("{}{}", emu.running.url(), subpath("records/query")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    let log = emu.running.requests();
    let summary: Vec<(u64, &str, &str, Option<&str>)> = log
        .iter()
        .map(|r| {
            (
                r.seq,
                r.endpoint.as_deref().unwrap(),
                r.status.as_str(),
                r.error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "records/modify", "200", None),
            (2, "records/modify", "200", None),
            (3, "records/lookup", "200", None),
            (4, "records/query", "200", None),
            (5, "records/query", "401", Some(AUTH_FAILED)),
        ]
    );
    assert!(log.iter().all(|r| r.method == "POST"));
    assert_eq!(log[0].path, subpath("records/modify"));
    let second: Vec<(&str, &str, &str)> = log[1]
        .operations
        .iter()
        .map(|o| {
            (
                o.operation.as_str(),
                o.record_name.as_deref().unwrap(),
                o.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        second,
        vec![
            ("create", "a", "EXISTS"),
            ("update", "b", "CONFLICT"),
            ("forceDelete", "zz", "NOT_FOUND"),
        ]
    );
    let lookups: Vec<&str> = log[2]
        .operations
        .iter()
        .map(|o| o.outcome.as_str())
        .collect();
    assert_eq!(lookups, ["ok", "NOT_FOUND"]);
    assert_eq!(log[3].operations.len(), 1);
    assert_eq!(log[3].operations[0].operation, "query");

    let over_http = admin_get(&emu, "requests").await;
    assert_eq!(
        over_http["requests"],
        serde_json::to_value(&log).unwrap(),
        "the HTTP log is the in-process log"
    );
    let since = admin_get(&emu, "requests?since=3").await;
    let seqs: Vec<u64> = since["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5]);

    let stats = admin_get(&emu, "stats").await;
    assert_eq!(
        stats["per_operation"],
        json!({
            "create": {"ok": 2, "EXISTS": 1},
            "update": {"CONFLICT": 1},
            "forceDelete": {"NOT_FOUND": 1},
            "lookup": {"ok": 1, "NOT_FOUND": 1},
            "query": {"ok": 1}
        })
    );
    assert_eq!(
        stats["outcomes"],
        json!({"ok": 2, "EXISTS": 1, "CONFLICT": 1, "NOT_FOUND": 1})
    );
}

#[tokio::test]
async fn issue_10_dump_returns_the_exact_stored_records_sorted() {
    let emu = Emu::default().await;
    emu.modify(json!([
        {"operationType": "create", "record": {"recordName": "z", "recordType": "Team",
            "fields": {"name": {"value": "Zed"}, "at": {"value": 1700000000000_i64, "type": "TIMESTAMP"}}}},
        {"operationType": "create", "record": {"recordName": "b", "recordType": "Stadium",
            "fields": {"where": {"value": {"latitude": 42.5, "longitude": -71.1}}}}},
        {"operationType": "create", "record": {"recordName": "a", "recordType": "Team",
            "fields": {"tags": {"value": ["x", "y"]}}}},
        {"operationType": "create", "record": {"recordName": "gone", "recordType": "Team"}}
    ]))
    .await;
    emu.one("forceDelete", json!({"recordName": "gone"})).await;
    let tag_of = |name: &str| {
        let emu = &emu;
        let name = name.to_owned();
        async move { emu.lookup(&name).await["recordChangeTag"].clone() }
    };
    let dump = admin_get(&emu, "dump").await;
    assert_eq!(
        dump,
        json!({"scopes": [{
        "container": CONTAINER, "environment": "development", "database": "public",
        "records": [
            {"recordType": "Stadium", "recordName": "b", "recordChangeTag": tag_of("b").await,
             "fields": {"where": {"value": {"latitude": 42.5, "longitude": -71.1}, "type": "LOCATION"}}},
            {"recordType": "Team", "recordName": "a", "recordChangeTag": tag_of("a").await,
             "fields": {"tags": {"value": ["x", "y"], "type": "STRING_LIST"}}},
            {"recordType": "Team", "recordName": "z", "recordChangeTag": tag_of("z").await,
             "fields": {"at": {"value": 1700000000000_i64, "type": "TIMESTAMP"},
                        "name": {"value": "Zed", "type": "STRING"}}}
        ]}]})
    );
    assert_eq!(dump, serde_json::to_value(emu.running.dump()).unwrap());
    let requests_before = emu.running.requests().len();
    admin_get(&emu, "dump").await;
    assert_eq!(
        emu.running.requests().len(),
        requests_before,
        "admin requests are not logged"
    );
}

/// Error bodies and change tags of two emulators started with one seed are identical;
/// another seed changes them.
#[tokio::test]
async fn issue_10_a_seed_fixes_error_uuids_and_change_tags() {
    async fn run(seed: u64) -> (Vec<Json>, Vec<Json>) {
        let emu = Emu::start(EmulatorConfig {
            seed,
            ..EmulatorConfig::default()
        })
        .await;
        let mut uuids = Vec::new();
        let mut tags = Vec::new();
        for i in 0..3 {
            let record = emu
                .one(
                    "forceReplace",
                    json!({"recordName": format!("r{i}"), "recordType": "T"}),
                )
                .await;
            tags.push(record["recordChangeTag"].clone());
            let bad = emu.post("records/modify", &json!({"nope": 1})).await;
            uuids.push(bad.json["uuid"].clone());
        }
        (uuids, tags)
    }
    let (uuids, tags) = run(42).await;
    assert_eq!(run(42).await, (uuids.clone(), tags.clone()));
    let (other_uuids, other_tags) = run(43).await;
    assert_ne!(uuids, other_uuids);
    assert_ne!(tags, other_tags);
    for tag in &tags {
        let tag = tag.as_str().unwrap();
        assert_eq!(tag.len(), 8, "{tag}");
        assert!(tag
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
    }
}
