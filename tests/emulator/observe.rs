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

/// Issue 18: the log names each query page's query (shared by a chain's pages, as its
/// continuation marker is), whether it was continued, its limit, how many records it
/// returned and whether more followed, so a benchmark can count pages per chain.
#[tokio::test]
async fn issue_18_request_log_names_each_query_page_and_its_chain() {
    let emu = Emu::default().await;
    emu.modify(json!([
        {"operationType": "create", "record": {"recordName": "a", "recordType": "T"}},
        {"operationType": "create", "record": {"recordName": "b", "recordType": "T"}},
        {"operationType": "create", "record": {"recordName": "c", "recordType": "T"}}
    ]))
    .await;
    let query = json!({"recordType": "T"});
    let first = emu
        .post("records/query", &json!({"query": query, "resultsLimit": 2}))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let marker = first.json["continuationMarker"].clone();
    let next = emu
        .post(
            "records/query",
            &json!({"query": query, "resultsLimit": 2, "continuationMarker": marker}),
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    let filtered = json!({"recordType": "T", "filterBy": [{"fieldName": "x",
        "comparator": "EQUALS", "fieldValue": {"value": 1, "type": "INT64"}}]});
    emu.post("records/query", &json!({"query": filtered})).await;

    let pages: Vec<_> = emu
        .running
        .requests()
        .iter()
        .filter(|r| r.endpoint.as_deref() == Some("records/query"))
        .map(|r| {
            r.operations[0]
                .page
                .clone()
                .expect("a query page is described")
        })
        .collect();
    assert_eq!(pages.len(), 3);
    let described: Vec<(bool, usize, usize, bool)> = pages
        .iter()
        .map(|p| (p.continued, p.limit, p.records, p.more))
        .collect();
    assert_eq!(
        described,
        [
            (false, 2, 2, true),
            (true, 2, 1, false),
            (false, 200, 0, false)
        ]
    );
    assert_eq!(pages[0].query, pages[1].query, "one chain, one query");
    assert_ne!(
        pages[0].query, pages[2].query,
        "another filter, another query"
    );
    // Other operations carry no page.
    assert!(emu.running.requests()[0]
        .operations
        .iter()
        .all(|o| o.page.is_none()));
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
