//! Live-like behaviours (issue 11) and the page-boundary faults (issue 12), each checked
//! over raw HTTP: the 404 for a type never written (none for a deployed type), index lag under a manual clock, gzip,
//! Apple's size limits, both users/caller shapes, and every seeded fault.

use super::*;
use ckplan::emulator::{Clock, ManualClock};
use std::io::Read;

fn with_faults(faults: Faults) -> EmulatorConfig {
    EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    }
}

fn names(records: &Json) -> Vec<String> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recordName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn issue_11_unknown_record_type_is_404_until_first_write() {
    let emu = Emu::default().await;
    let query = json!({"query": {"recordType": "Game"}});
    let before = emu.post("records/query", &query).await;
    assert_error_body(&before, 404, "NOT_FOUND");
    assert_eq!(before.json["reason"], "Did not find record type: Game");
    emu.one("create", json!({"recordName": "g1", "recordType": "Game"}))
        .await;
    let after = emu.post("records/query", &query).await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(names(&after.json["records"]), ["g1"]);
    // Still known once every record is gone; other scopes know nothing of it.
    emu.one("forceDelete", json!({"recordName": "g1"})).await;
    let empty = emu.post("records/query", &query).await;
    assert_eq!(empty.json, json!({"records": []}));
    let production = format!("/database/1/{CONTAINER}/production/public/records/query");
    let body = serde_json::to_vec(&query).unwrap();
    let headers = emu.signed(&production, &body);
    let call = Call {
        method: reqwest::Method::POST,
        target: production,
        body,
        headers,
    };
    assert_error_body(&emu.send(call).await.unwrap(), 404, "NOT_FOUND");
}

#[tokio::test]
async fn issue_11_a_deployed_record_type_answers_empty_before_any_write_in_every_environment() {
    let emu = Emu::start(EmulatorConfig {
        record_types: vec!["Game".into()],
        ..EmulatorConfig::default()
    })
    .await;
    let deployed = json!({"query": {"recordType": "Game"}});
    let development = emu.post("records/query", &deployed).await;
    assert_eq!(development.status, 200, "{}", development.text);
    assert_eq!(development.json, json!({"records": []}));
    let production = format!("/database/1/{CONTAINER}/production/public/records/query");
    let body = serde_json::to_vec(&deployed).unwrap();
    let headers = emu.signed(&production, &body);
    let call = Call {
        method: reqwest::Method::POST,
        target: production,
        body,
        headers,
    };
    let answer = emu.send(call).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json, json!({"records": []}));
    // A type not deployed stays unknown until its first write.
    let other = emu
        .post("records/query", &json!({"query": {"recordType": "Team"}}))
        .await;
    assert_error_body(&other, 404, "NOT_FOUND");
}

#[tokio::test]
async fn issue_11_index_lag_hides_writes_from_queries_until_the_clock_moves() {
    let clock = ManualClock::at_millis(chrono::Utc::now().timestamp_millis());
    let emu = Emu::start(EmulatorConfig {
        clock: Clock::Manual(clock.clone()),
        faults: Faults {
            index_lag_ms: 500,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let first = emu
        .one(
            "create",
            json!({"recordName": "a", "recordType": "T", "fields": {"n": {"value": 1}}}),
        )
        .await;
    let query = json!({"query": {"recordType": "T"}});
    let seen = |reply: Reply| reply.json["records"].clone();
    assert_eq!(seen(emu.post("records/query", &query).await), json!([]));
    assert_eq!(
        emu.lookup("a").await["fields"]["n"]["value"],
        1,
        "lookup is exact"
    );
    clock.advance(Duration::from_millis(499));
    assert_eq!(seen(emu.post("records/query", &query).await), json!([]));
    clock.advance(Duration::from_millis(1));
    let visible = seen(emu.post("records/query", &query).await);
    assert_eq!(visible[0]["recordChangeTag"], first["recordChangeTag"]);
    // An update and a delete are late too: the old version, then the record, linger.
    emu.one(
        "update",
        json!({"recordName": "a", "recordChangeTag": first["recordChangeTag"],
        "fields": {"n": {"value": 2}}}),
    )
    .await;
    clock.advance(Duration::from_millis(100));
    emu.one("forceDelete", json!({"recordName": "a"})).await;
    let stale = seen(emu.post("records/query", &query).await);
    assert_eq!(stale[0]["fields"]["n"]["value"], 1);
    clock.advance(Duration::from_millis(400));
    let updated = seen(emu.post("records/query", &query).await);
    assert_eq!(updated[0]["fields"]["n"]["value"], 2);
    assert_eq!(emu.lookup("a").await["serverErrorCode"], "NOT_FOUND");
    clock.advance(Duration::from_millis(100));
    assert_eq!(seen(emu.post("records/query", &query).await), json!([]));
}

#[tokio::test]
async fn issue_11_replies_are_gzip_encoded_when_accepted() {
    let emu = Emu::default().await;
    emu.one("create", json!({"recordName": "a", "recordType": "T"}))
        .await;
    let path = subpath("records/query");
    let body = serde_json::to_vec(&json!({"query": {"recordType": "T"}})).unwrap();
    // Raw bytes and headers as sent: no automatic `Accept-Encoding` or decompression.
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let send = |encoding: Option<&'static str>| {
        let mut request = http
            .post(format!("{}{path}", emu.running.url()))
            .body(body.clone());
        for (name, value) in emu.signed(&path, &body) {
            request = request.header(name, value);
        }
        if let Some(encoding) = encoding {
            request = request.header("Accept-Encoding", encoding);
        }
        request.send()
    };
    let packed = send(Some("gzip, deflate")).await.unwrap();
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    let bytes = packed.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    let decoded: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(names(&decoded["records"]), ["a"]);
    let plain = send(None).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let refused = send(Some("gzip;q=0")).await.unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
    let off = Emu::start(EmulatorConfig {
        gzip: false,
        ..EmulatorConfig::default()
    })
    .await;
    let path = subpath("zones/list");
    let mut request = off.http.get(format!("{}{path}", off.running.url()));
    for (name, value) in off.signed(&path, b"") {
        request = request.header(name, value);
    }
    let reply = request
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(reply.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn issue_11_documented_size_limits_are_refused() {
    let emu = Emu::default().await;
    // A record over 1 MB: per-record BAD_REQUEST; its neighbour is saved.
    let big = "x".repeat(1_000_001);
    let results = emu
        .modify(json!([
            {"operationType": "create", "record": {"recordName": "big", "recordType": "T",
                "fields": {"blob": {"value": big, "type": "STRING"}}}},
            {"operationType": "create", "record": {"recordName": "small", "recordType": "T",
                "fields": {"blob": {"value": "x".repeat(999_000), "type": "STRING"}}}}
        ]))
        .await;
    assert_eq!(results[0]["serverErrorCode"], "BAD_REQUEST");
    assert!(
        results[0]["reason"]
            .as_str()
            .unwrap()
            .contains("exceeds the maximum of 1000000 bytes"),
        "{}",
        results[0]
    );
    assert_eq!(results[1]["recordName"], "small");
    assert_eq!(emu.lookup("big").await["serverErrorCode"], "NOT_FOUND");
    // A request over 2 MB: HTTP 413 before anything is read, not a CloudKit JSON body.
    let huge = emu
        .post(
            "records/modify",
            &json!({"operations": [{"operationType": "create", "record": {
                "recordName": "huge", "recordType": "T",
                "fields": {"blob": {"value": "y".repeat(2_000_001)}}}}]}),
        )
        .await;
    assert_eq!(huge.status, 413);
    assert!(
        huge.content_type.starts_with("text/html"),
        "{}",
        huge.content_type
    );
    assert_eq!(huge.json, Json::Null);
    assert_eq!(emu.lookup("huge").await["serverErrorCode"], "NOT_FOUND");
    assert_eq!(emu.running.requests()[2].status, "413");
    // More than 200 operations: request-level 400 BAD_REQUEST, nothing applied.
    let ops: Vec<Json> = (0..201)
        .map(|i| json!({"operationType": "create", "record": {"recordName": format!("r{i}"), "recordType": "T"}}))
        .collect();
    let many = emu
        .post("records/modify", &json!({"operations": ops}))
        .await;
    assert_error_body(&many, 400, "BAD_REQUEST");
    assert_eq!(emu.lookup("r0").await["serverErrorCode"], "NOT_FOUND");
}

#[tokio::test]
async fn issue_11_users_caller_answers_both_documented_shapes() {
    let emu = Emu::default().await;
    let caller = emu.get("users/caller").await;
    assert_eq!(caller.status, 200);
    let name = caller.json["userRecordName"].as_str().unwrap();
    assert!(name.starts_with('_') && name.len() == 33, "{name}");
    assert_eq!(caller.json["users"], json!([{"userRecordName": name}]));
}

#[tokio::test]
async fn issue_11_record_throttling_is_per_record_with_retry_after_and_seeded() {
    async fn run(seed: u64) -> (Vec<String>, Json) {
        let emu = Emu::start(with_faults(Faults {
            record_throttle_rate: 0.5,
            retry_after_secs: 3.0,
            seed,
            ..Faults::default()
        }))
        .await;
        let ops: Vec<Json> = (0..40)
            .map(|i| json!({"operationType": "create", "record": {"recordName": format!("r{i:02}"), "recordType": "T"}}))
            .collect();
        let results = emu.modify(Json::Array(ops)).await;
        let mut throttled = Vec::new();
        for entry in results.as_array().unwrap() {
            let name = entry["recordName"].as_str().unwrap().to_owned();
            if entry.get("serverErrorCode").is_some() {
                assert_eq!(entry["serverErrorCode"], "THROTTLED");
                assert_eq!(entry["retryAfter"], json!(3), "whole seconds: {entry}");
                assert_eq!(emu.lookup(&name).await["serverErrorCode"], "NOT_FOUND");
                throttled.push(name);
            } else {
                assert_eq!(emu.lookup(&name).await["recordType"], "T");
            }
        }
        let stats = emu.running.stats();
        assert_eq!(stats.faults.records_throttled, throttled.len() as u64);
        (
            throttled,
            serde_json::to_value(stats.per_operation).unwrap(),
        )
    }
    let (throttled, per_operation) = run(5).await;
    assert!(
        !throttled.is_empty() && throttled.len() < 40,
        "{throttled:?}"
    );
    assert_eq!(per_operation["create"]["THROTTLED"], throttled.len());
    assert_eq!(
        run(5).await.0,
        throttled,
        "the same seed throttles the same records"
    );
    assert_ne!(run(6).await.0, throttled);
}

#[tokio::test]
async fn issue_11_lookup_errors_are_per_record_and_seeded() {
    async fn run(seed: u64) -> Vec<Json> {
        let emu = Emu::default().await;
        emu.create_many("T", 30, |_| json!({})).await;
        emu.running.set_faults(Faults {
            lookup_error_rate: 0.5,
            seed,
            ..Faults::default()
        });
        let records: Vec<Json> = (0..30)
            .map(|i| json!({"recordName": format!("T-{i:05}")}))
            .collect();
        let reply = emu
            .post("records/lookup", &json!({"records": records}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json["records"].as_array().unwrap().clone()
    }
    let entries = run(3).await;
    let codes: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.get("serverErrorCode").and_then(Json::as_str))
        .collect();
    assert!(!codes.is_empty() && codes.len() < 30, "{codes:?}");
    for code in &codes {
        assert!(
            ["TRY_AGAIN_LATER", "THROTTLED", "INTERNAL_ERROR"].contains(code),
            "{code}"
        );
    }
    for entry in &entries {
        match entry["serverErrorCode"].as_str() {
            Some("INTERNAL_ERROR") => assert!(entry.get("retryAfter").is_none()),
            Some(_) => assert_eq!(entry["retryAfter"], json!(1)),
            None => assert_eq!(entry["recordType"], "T"),
        }
    }
    let outcome = |entries: &[Json]| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["serverErrorCode"].as_str().unwrap_or("ok").to_owned())
            .collect()
    };
    assert_eq!(outcome(&run(3).await), outcome(&entries), "the same seed");
}

#[tokio::test]
async fn issue_11_error_after_commit_applies_the_batch_then_answers_500() {
    let emu = Emu::start(with_faults(Faults {
        error_after_commit_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let reply = emu
        .post(
            "records/modify",
            &json!({"operations": [
                {"operationType": "create", "record": {"recordName": "a", "recordType": "T"}},
                {"operationType": "create", "record": {"recordName": "b", "recordType": "T"}}]}),
        )
        .await;
    assert_error_body(&reply, 500, "INTERNAL_ERROR");
    assert_eq!(emu.lookup("a").await["recordType"], "T");
    assert_eq!(emu.lookup("b").await["recordType"], "T");
    let stats = emu.running.stats();
    assert_eq!(stats.faults.errors_after_commit, 1);
    let logged = &emu.running.requests()[0];
    assert_eq!(logged.status, "500");
    assert_eq!(logged.error.as_deref(), Some("INTERNAL_ERROR"));
    assert_eq!(
        logged.operations.len(),
        2,
        "the committed operations are logged"
    );
}

/// Pages of 10 over 50 records with a page fault at every continued page.
async fn paged_with(faults: Faults) -> (Vec<String>, Vec<String>) {
    let emu = Emu::default().await;
    emu.create_many("G", 50, |_| json!({})).await;
    emu.running.set_faults(faults);
    let mut seen = Vec::new();
    let mut body = json!({"query": {"recordType": "G"}, "resultsLimit": 10});
    loop {
        let reply = emu.post("records/query", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(reply.json["records"].as_array().unwrap().len() <= 10);
        seen.extend(names(&reply.json["records"]));
        match reply.json.get("continuationMarker") {
            Some(marker) => body["continuationMarker"] = marker.clone(),
            None => break,
        }
    }
    let outcomes = emu
        .running
        .requests()
        .iter()
        .filter(|r| r.endpoint.as_deref() == Some("records/query"))
        .map(|r| r.operations[0].outcome.clone())
        .collect();
    (seen, outcomes)
}

#[tokio::test]
async fn issue_12_a_page_can_begin_with_the_previous_pages_last_record() {
    let (seen, outcomes) = paged_with(Faults {
        page_repeat_rate: 1.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(seen[9], "G-00009");
    assert_eq!(
        seen[10], "G-00009",
        "page 2 starts with page 1's last record"
    );
    let mut unique = seen.clone();
    unique.dedup();
    let expected: Vec<String> = (0..50).map(|i| format!("G-{i:05}")).collect();
    assert_eq!(unique, expected, "nothing lost, only repeats");
    assert!(seen.len() > 50);
    assert_eq!(outcomes[0], "ok");
    assert!(
        outcomes[1..].iter().all(|o| o == "repeated"),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn issue_12_a_record_at_a_page_boundary_can_be_skipped() {
    let (seen, outcomes) = paged_with(Faults {
        page_skip_rate: 1.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(&seen[9..11], ["G-00009", "G-00011"], "G-00010 left out");
    assert_eq!(seen.len(), 46, "one gap per continued page");
    assert!(outcomes[1..].iter().all(|o| o == "skipped"), "{outcomes:?}");
    let (seeded, _) = paged_with(Faults {
        page_skip_rate: 0.5,
        page_repeat_rate: 0.3,
        seed: 9,
        ..Faults::default()
    })
    .await;
    let (again, _) = paged_with(Faults {
        page_skip_rate: 0.5,
        page_repeat_rate: 0.3,
        seed: 9,
        ..Faults::default()
    })
    .await;
    assert_eq!(seeded, again, "the same seed disturbs the same pages");
}

#[tokio::test]
async fn issue_11_faults_can_be_set_over_http() {
    let emu = Emu::default().await;
    let url = format!("{}/_emulator/faults", emu.running.url());
    let http = reqwest::Client::new();
    let set = http
        .post(&url)
        .body(r#"{"recordThrottleRate": 1.0, "retryAfterSecs": 0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let record = emu
        .one("create", json!({"recordName": "a", "recordType": "T"}))
        .await;
    assert_eq!(record["serverErrorCode"], "THROTTLED");
    assert_eq!(record["retryAfter"], json!(0));
    let current: Json = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(current["recordThrottleRate"], 1.0);
    let bad = http
        .post(&url)
        .body(r#"{"pageSkipRate": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = http.post(&url).body(r#"{"nope": 1}"#).send().await.unwrap();
    assert_eq!(unknown.status(), 400);
}

/// `ckplan emulator`'s live-like flags reach the faults it runs with.
#[test]
fn issue_11_cli_flags_set_every_fault() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ckplan"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "4",
            "--record-throttle-rate",
            "0.1",
            "--lookup-error-rate",
            "0.2",
            "--error-after-commit-rate",
            "0.3",
            "--page-repeat-rate",
            "0.4",
            "--page-skip-rate",
            "0.5",
            "--index-lag-ms",
            "60",
            "--retry-after-secs",
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let faults: Result<Json, reqwest::Error> = runtime.block_on(async {
        reqwest::get(format!("{url}/_emulator/faults"))
            .await?
            .json()
            .await
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let faults = faults.unwrap();
    for (key, value) in [
        ("seed", json!(4)),
        ("recordThrottleRate", json!(0.1)),
        ("lookupErrorRate", json!(0.2)),
        ("errorAfterCommitRate", json!(0.3)),
        ("pageRepeatRate", json!(0.4)),
        ("pageSkipRate", json!(0.5)),
        ("indexLagMs", json!(60)),
        ("retryAfterSecs", json!(2.0)),
    ] {
        assert_eq!(faults[key], value, "{key} in {faults}");
    }
}
