//! The emulator driven over raw HTTP with hand-written JSON, as an independent CloudKit
//! client would: requests are signed here with p256 directly, from `docs/protocol.md`
//! ("Signing"), never with ckplan's own signing or client code, so a misunderstanding shared
//! by ckplan's client and the emulator cannot pass. `observe` covers the admin routes
//! (request log, dump, counters) and seeding; `live` the live-like behaviours and faults.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ckplan::emulator::{self, EmulatorConfig, Faults, RegisteredKey, RunningEmulator};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

mod live;
mod observe;

const CONTAINER: &str = "iCloud.com.example.Emulator";
const KEY_ID: &str = "3f1c8a0b9d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
const AUTH_FAILED: &str = "AUTHENTICATION_FAILED";

fn subpath(operation: &str) -> String {
    format!("/database/1/{CONTAINER}/development/public/{operation}")
}

fn date_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `date:base64(sha256(body)):subpath`, ECDSA P-256 SHA-256, DER, base64.
fn sign(key: &SigningKey, date: &str, body: &[u8], signed_path: &str) -> String {
    let hash = BASE64.encode(Sha256::digest(body));
    let message = format!("{date}:{hash}:{signed_path}");
    let signature: Signature = key.sign(message.as_bytes());
    BASE64.encode(signature.to_der().as_bytes())
}

struct Reply {
    status: u16,
    content_type: String,
    text: String,
    json: Json,
}

/// One request as sent: what is signed can differ from what is sent (tampering tests).
struct Call {
    method: reqwest::Method,
    target: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

struct Emu {
    running: RunningEmulator,
    http: reqwest::Client,
    key: SigningKey,
}

impl Emu {
    async fn start(config: EmulatorConfig) -> Self {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        Self::start_with_key(config, key).await
    }

    async fn start_with_key(mut config: EmulatorConfig, key: SigningKey) -> Self {
        config.keys.push(RegisteredKey {
            key_id: Some(KEY_ID.to_owned()),
            key: *key.verifying_key(),
        });
        let running = emulator::start(config).await.unwrap();
        assert!(running.url().starts_with("http://127.0.0.1:"));
        Self {
            running,
            http: reqwest::Client::new(),
            key,
        }
    }

    async fn default() -> Self {
        Self::start(EmulatorConfig::default()).await
    }

    /// Headers of a correctly signed request over `signed_path` and `body`.
    fn signed(&self, signed_path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let date = date_now();
        vec![
            ("X-Apple-CloudKit-Request-KeyID", KEY_ID.to_owned()),
            ("X-Apple-CloudKit-Request-ISO8601Date", date.clone()),
            (
                "X-Apple-CloudKit-Request-SignatureV1",
                sign(&self.key, &date, body, signed_path),
            ),
        ]
    }

    async fn send(&self, call: Call) -> Result<Reply, reqwest::Error> {
        let url = format!("{}{}", self.running.url(), call.target);
        let mut request = self.http.request(call.method, url).body(call.body);
        for (name, value) in call.headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Json::Null);
        Ok(Reply {
            status,
            content_type,
            text,
            json,
        })
    }

    /// A signed POST of `body` to `operation`, `text/plain` as Apple's samples send it.
    async fn post(&self, operation: &str, body: &Json) -> Reply {
        let path = subpath(operation);
        let bytes = serde_json::to_vec(body).unwrap();
        let mut headers = self.signed(&path, &bytes);
        headers.push(("Content-Type", "text/plain".to_owned()));
        self.send(Call {
            method: reqwest::Method::POST,
            target: path,
            body: bytes,
            headers,
        })
        .await
        .unwrap()
    }

    async fn get(&self, operation: &str) -> Reply {
        let path = subpath(operation);
        let headers = self.signed(&path, b"");
        self.send(Call {
            method: reqwest::Method::GET,
            target: path,
            body: Vec::new(),
            headers,
        })
        .await
        .unwrap()
    }

    async fn modify(&self, operations: Json) -> Json {
        let reply = self
            .post("records/modify", &json!({"operations": operations}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json["records"].clone()
    }

    async fn one(&self, operation_type: &str, record: Json) -> Json {
        let records = self
            .modify(json!([{"operationType": operation_type, "record": record}]))
            .await;
        records[0].clone()
    }

    async fn lookup(&self, name: &str) -> Json {
        let reply = self
            .post(
                "records/lookup",
                &json!({"records": [{"recordName": name}]}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json["records"][0].clone()
    }

    async fn create_many(&self, record_type: &str, count: usize, fields: impl Fn(usize) -> Json) {
        let names: Vec<usize> = (0..count).collect();
        for chunk in names.chunks(200) {
            let operations: Vec<Json> = chunk
                .iter()
                .map(|i| {
                    json!({"operationType": "create", "record": {
                    "recordName": format!("{record_type}-{i:05}"), "recordType": record_type,
                    "fields": fields(*i)}})
                })
                .collect();
            let results = self.modify(Json::Array(operations)).await;
            assert!(results
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.get("serverErrorCode").is_none()));
        }
    }
}

fn assert_error_body(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let body = reply.json.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
    keys.retain(|k| *k != "retryAfter");
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["reason", "serverErrorCode", "uuid"],
        "{}",
        reply.text
    );
    assert_eq!(body["serverErrorCode"], code);
    assert_eq!(body["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(reply.content_type, "application/json; charset=UTF-8");
}

#[derive(Clone, Copy, Debug)]
enum Tag {
    Right,
    Wrong,
    Missing,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Saved,
    Deleted,
    Code(&'static str),
    Http400,
}

#[tokio::test]
async fn every_operation_type_against_present_and_absent_records() {
    use Expect::*;
    let emu = Emu::default().await;
    let table: [(&str, bool, Tag, Expect); 42] = [
        ("create", false, Tag::Missing, Saved),
        ("create", false, Tag::Right, Saved),
        ("create", false, Tag::Wrong, Saved),
        ("create", true, Tag::Missing, Code("EXISTS")),
        ("create", true, Tag::Right, Code("EXISTS")),
        ("create", true, Tag::Wrong, Code("EXISTS")),
        ("update", true, Tag::Right, Saved),
        ("update", true, Tag::Wrong, Code("CONFLICT")),
        ("update", true, Tag::Missing, Http400),
        ("update", false, Tag::Right, Code("NOT_FOUND")),
        ("update", false, Tag::Wrong, Code("NOT_FOUND")),
        ("update", false, Tag::Missing, Http400),
        ("replace", true, Tag::Right, Saved),
        ("replace", true, Tag::Wrong, Code("CONFLICT")),
        ("replace", true, Tag::Missing, Http400),
        ("replace", false, Tag::Right, Code("NOT_FOUND")),
        ("replace", false, Tag::Wrong, Code("NOT_FOUND")),
        ("replace", false, Tag::Missing, Http400),
        ("delete", true, Tag::Right, Deleted),
        ("delete", true, Tag::Wrong, Code("CONFLICT")),
        ("delete", true, Tag::Missing, Http400),
        ("delete", false, Tag::Right, Code("NOT_FOUND")),
        ("delete", false, Tag::Wrong, Code("NOT_FOUND")),
        ("delete", false, Tag::Missing, Http400),
        ("forceUpdate", true, Tag::Right, Saved),
        ("forceUpdate", true, Tag::Wrong, Saved),
        ("forceUpdate", true, Tag::Missing, Saved),
        ("forceUpdate", false, Tag::Right, Saved),
        ("forceUpdate", false, Tag::Wrong, Saved),
        ("forceUpdate", false, Tag::Missing, Saved),
        ("forceReplace", true, Tag::Right, Saved),
        ("forceReplace", true, Tag::Wrong, Saved),
        ("forceReplace", true, Tag::Missing, Saved),
        ("forceReplace", false, Tag::Right, Saved),
        ("forceReplace", false, Tag::Wrong, Saved),
        ("forceReplace", false, Tag::Missing, Saved),
        ("forceDelete", true, Tag::Right, Deleted),
        ("forceDelete", true, Tag::Wrong, Deleted),
        ("forceDelete", true, Tag::Missing, Deleted),
        ("forceDelete", false, Tag::Right, Code("NOT_FOUND")),
        ("forceDelete", false, Tag::Wrong, Code("NOT_FOUND")),
        ("forceDelete", false, Tag::Missing, Code("NOT_FOUND")),
    ];
    for (index, (operation, present, tag, expect)) in table.into_iter().enumerate() {
        let name = format!("case-{index}");
        let mut current_tag = "nothing".to_owned();
        if present {
            let created = emu
                .one(
                    "create",
                    json!({"recordName": name, "recordType": "Case",
                    "fields": {"n": {"value": 1, "type": "INT64"}}}),
                )
                .await;
            current_tag = created["recordChangeTag"].as_str().unwrap().to_owned();
        }
        let mut record = json!({"recordName": name, "recordType": "Case",
            "fields": {"n": {"value": 2, "type": "INT64"}}});
        match tag {
            Tag::Right => record["recordChangeTag"] = json!(current_tag),
            Tag::Wrong => record["recordChangeTag"] = json!("stale0"),
            Tag::Missing => {}
        }
        let body = json!({"operations": [{"operationType": operation, "record": record}]});
        let reply = emu.post("records/modify", &body).await;
        let case = format!("{operation} present={present} tag={tag:?}: {}", reply.text);
        match expect {
            Http400 => {
                assert_error_body(&reply, 400, "BAD_REQUEST");
                assert_eq!(
                    reply.json["reason"],
                    "BadRequestException: missing required field 'recordChangeTag'",
                    "{case}"
                );
            }
            Saved => {
                assert_eq!(reply.status, 200, "{case}");
                let entry = &reply.json["records"][0];
                assert_eq!(entry["fields"]["n"]["value"], 2, "{case}");
                assert_ne!(entry["recordChangeTag"], json!(current_tag), "{case}");
                assert_eq!(entry["deleted"], false, "{case}");
            }
            Deleted => {
                assert_eq!(reply.status, 200, "{case}");
                assert_eq!(
                    reply.json["records"][0],
                    json!({"recordName": name, "deleted": true}),
                    "{case}"
                );
                assert_eq!(emu.lookup(&name).await["serverErrorCode"], "NOT_FOUND");
            }
            Code(code) => {
                assert_eq!(reply.status, 200, "{case}");
                let entry = reply.json["records"][0].as_object().unwrap();
                assert_eq!(entry["serverErrorCode"], code, "{case}");
                assert_eq!(entry["recordName"], json!(name), "{case}");
                assert_eq!(
                    entry.len(),
                    3,
                    "only recordName, reason, serverErrorCode: {case}"
                );
            }
        }
        if matches!(expect, Http400 | Code(_)) && present {
            let after = emu.lookup(&name).await;
            assert_eq!(
                after["recordChangeTag"],
                json!(current_tag),
                "unchanged: {case}"
            );
        }
    }
    let reasons = emu
        .modify(json!([
            {"operationType": "create", "record": {"recordName": "case-3", "recordType": "Case"}},
            {"operationType": "update", "record": {"recordName": "case-6", "recordChangeTag": "stale0"}}
        ]))
        .await;
    assert_eq!(reasons[0]["reason"], "record to insert already exists");
    assert_eq!(reasons[1]["reason"], "client oplock error updating record");
}

#[tokio::test]
async fn update_merges_null_removes_and_replace_clears() {
    let emu = Emu::default().await;
    let created = emu
        .one(
            "create",
            json!({"recordName": "t", "recordType": "Team", "fields": {
            "a": {"value": "A"}, "b": {"value": 2}, "c": {"value": 3.5}, "d": {"value": [1, 2]}}}),
        )
        .await;
    assert_eq!(
        created["fields"]["d"],
        json!({"value": [1, 2], "type": "INT64_LIST"})
    );
    let updated = emu
        .one(
            "update",
            json!({"recordName": "t", "recordChangeTag": created["recordChangeTag"],
            "fields": {"a": {"value": "AA"}, "b": null, "c": {"value": null}}}),
        )
        .await;
    assert_eq!(
        updated["fields"],
        json!({"a": {"value": "AA", "type": "STRING"}, "d": {"value": [1, 2], "type": "INT64_LIST"}})
    );
    assert_eq!(updated["created"], created["created"]);
    let replaced = emu
        .one(
            "replace",
            json!({"recordName": "t", "recordChangeTag": updated["recordChangeTag"],
            "fields": {"b": {"value": 9}}}),
        )
        .await;
    assert_eq!(
        replaced["fields"],
        json!({"b": {"value": 9, "type": "INT64"}})
    );
    let looked_up = emu.lookup("t").await;
    assert_eq!(looked_up["fields"], replaced["fields"]);
    assert_eq!(looked_up["recordChangeTag"], replaced["recordChangeTag"]);
}

#[tokio::test]
async fn records_have_the_live_key_order_and_system_fields() {
    let emu = Emu::default().await;
    emu.one(
        "create",
        json!({"recordName": "s", "recordType": "Stadium",
        "fields": {"name": {"value": "Fenway"}}}),
    )
    .await;
    let reply = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Stadium"}}),
        )
        .await;
    let order = [
        "\"recordName\"",
        "\"recordType\"",
        "\"fields\"",
        "\"pluginFields\":{}",
        "\"recordChangeTag\"",
        "\"created\"",
        "\"modified\"",
        "\"deleted\":false",
        "\"zoneID\"",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|key| {
            reply
                .text
                .find(key)
                .unwrap_or_else(|| panic!("{key} in {}", reply.text))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", reply.text);
    let record = &reply.json["records"][0];
    let owner = record["zoneID"]["ownerRecordName"].as_str().unwrap();
    assert_eq!(
        record["zoneID"],
        json!({"zoneName": "_defaultZone", "ownerRecordName": owner, "zoneType": "DEFAULT_ZONE"})
    );
    assert_eq!(record["created"]["deviceID"], "2");
    assert_eq!(record["created"]["userRecordName"], owner);
    assert!(record["created"]["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    let me = emu.get("users/current").await;
    assert_eq!(me.json, json!({"userRecordName": owner}));
    let caller = emu.get("users/caller").await;
    assert_eq!(
        caller.json,
        json!({"userRecordName": owner, "users": [{"userRecordName": owner}]})
    );
    let zones = emu.get("zones/list").await;
    assert_eq!(
        zones.json,
        json!({"zones": [{"zoneID": record["zoneID"], "atomic": false}]})
    );
    let lookup = emu
        .post(
            "zones/lookup",
            &json!({"zones": [{"zoneName": "_defaultZone"}, {"zoneName": "Other"}]}),
        )
        .await;
    assert_eq!(lookup.json["zones"][0]["zoneID"], record["zoneID"]);
    assert_eq!(lookup.json["zones"][1]["serverErrorCode"], "ZONE_NOT_FOUND");
}

async fn page_through(emu: &Emu, first: Json, follow_up_extra: Json) -> Vec<String> {
    let mut names = Vec::new();
    let mut body = first.clone();
    loop {
        let reply = emu.post("records/query", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let records = reply.json["records"].as_array().unwrap();
        assert!(records.len() <= 7);
        names.extend(
            records
                .iter()
                .map(|r| r["recordName"].as_str().unwrap().to_owned()),
        );
        let Some(marker) = reply.json.get("continuationMarker") else {
            break;
        };
        assert_eq!(records.len(), 7, "a marker only with a full page");
        let marker = marker.as_str().unwrap();
        assert!(BASE64.decode(marker).is_ok(), "opaque base64: {marker}");
        body = first.clone();
        for (key, value) in follow_up_extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body["continuationMarker"] = json!(marker);
    }
    names
}

#[tokio::test]
async fn pagination_returns_every_record_once_in_order() {
    let emu = Emu::default().await;
    emu.create_many(
        "Game",
        1000,
        |i| json!({"round": {"value": (i % 10) as i64}}),
    )
    .await;
    let first = json!({"query": {"recordType": "Game"}, "resultsLimit": 7});
    let names = page_through(&emu, first.clone(), json!({})).await;
    let expected: Vec<String> = (0..1000).map(|i| format!("Game-{i:05}")).collect();
    assert_eq!(names, expected);
    let extra = json!({"zoneID": {"zoneName": "_defaultZone"}, "zoneWide": false, "numbersAsStrings": true});
    assert_eq!(page_through(&emu, first, extra).await, expected);
    // Sorted by a field with ties: round descending, then recordName.
    let sorted = json!({"query": {"recordType": "Game", "sortBy": [{"fieldName": "round", "ascending": false}]},
        "resultsLimit": 7});
    let names = page_through(&emu, sorted, json!({})).await;
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_by_key(|name| {
        let i: usize = name[5..].parse().unwrap();
        (std::cmp::Reverse(i % 10), name.clone())
    });
    assert_eq!(names, expected_sorted);
    let default_limit = emu
        .post("records/query", &json!({"query": {"recordType": "Game"}}))
        .await;
    assert_eq!(default_limit.json["records"].as_array().unwrap().len(), 200);
    let clamped = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Game"}, "resultsLimit": 5000}),
        )
        .await;
    assert_eq!(clamped.json["records"].as_array().unwrap().len(), 200);
    let zero = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Game"}, "resultsLimit": 0}),
        )
        .await;
    assert_error_body(&zero, 400, "BAD_REQUEST");
    let numbers = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Game"}, "resultsLimit": 1, "numbersAsStrings": true}),
        )
        .await;
    assert_eq!(
        numbers.json["records"][0]["fields"]["round"],
        json!({"value": "0", "type": "INT64"})
    );
}

#[tokio::test]
async fn desired_keys_select_fields() {
    let emu = Emu::default().await;
    emu.one(
        "create",
        json!({"recordName": "t", "recordType": "Team",
        "fields": {"a": {"value": 1}, "b": {"value": 2}}}),
    )
    .await;
    let query = |keys: Json| json!({"query": {"recordType": "Team"}, "desiredKeys": keys});
    let all = emu
        .post("records/query", &json!({"query": {"recordType": "Team"}}))
        .await;
    assert_eq!(
        all.json["records"][0]["fields"].as_object().unwrap().len(),
        2
    );
    let some = emu.post("records/query", &query(json!(["b", "zzz"]))).await;
    assert_eq!(
        some.json["records"][0]["fields"],
        json!({"b": {"value": 2, "type": "INT64"}})
    );
    let none = emu.post("records/query", &query(json!([]))).await;
    assert!(
        none.json["records"][0].get("fields").is_none(),
        "{}",
        none.text
    );
    assert_eq!(none.json["records"][0]["recordType"], "Team");
    let lookup = emu
        .post(
            "records/lookup",
            &json!({"records": [{"recordName": "t", "desiredKeys": ["a"]}]}),
        )
        .await;
    assert_eq!(
        lookup.json["records"][0]["fields"],
        json!({"a": {"value": 1, "type": "INT64"}})
    );
}

#[tokio::test]
async fn every_filter_comparator() {
    let emu = Emu::default().await;
    emu.create_many("Team", 10, |i| {
        json!({"n": {"value": i as i64}, "name": {"value": format!("team {}", ["red", "blue"][i % 2])},
               "tags": {"value": [format!("t{i}"), "all"], "type": "STRING_LIST"}})
    })
    .await;
    let cases: Vec<(Json, Vec<usize>)> = vec![
        (
            json!({"comparator": "EQUALS", "fieldName": "n", "fieldValue": {"value": 3}}),
            vec![3],
        ),
        (
            json!({"comparator": "NOT_EQUALS", "fieldName": "n", "fieldValue": {"value": 3}}),
            vec![0, 1, 2, 4, 5, 6, 7, 8, 9],
        ),
        (
            json!({"comparator": "LESS_THAN", "fieldName": "n", "fieldValue": {"value": 2}}),
            vec![0, 1],
        ),
        (
            json!({"comparator": "LESS_THAN_OR_EQUALS", "fieldName": "n", "fieldValue": {"value": 2}}),
            vec![0, 1, 2],
        ),
        (
            json!({"comparator": "GREATER_THAN", "fieldName": "n", "fieldValue": {"value": 7}}),
            vec![8, 9],
        ),
        (
            json!({"comparator": "GREATER_THAN_OR_EQUALS", "fieldName": "n", "fieldValue": {"value": 7}}),
            vec![7, 8, 9],
        ),
        (
            json!({"comparator": "IN", "fieldName": "n", "fieldValue": {"value": [1, 5], "type": "INT64_LIST"}}),
            vec![1, 5],
        ),
        (
            json!({"comparator": "NOT_IN", "fieldName": "n", "fieldValue": {"value": [1, 5, 6, 7, 8, 9], "type": "INT64_LIST"}}),
            vec![0, 2, 3, 4],
        ),
        // Without an explicit list type, CloudKit ignores IN (`docs/protocol.md`).
        (
            json!({"comparator": "IN", "fieldName": "n", "fieldValue": {"value": [1]}}),
            (0..10).collect(),
        ),
        (
            json!({"comparator": "BEGINS_WITH", "fieldName": "name", "fieldValue": {"value": "team b"}}),
            vec![1, 3, 5, 7, 9],
        ),
        (
            json!({"comparator": "LIST_CONTAINS", "fieldName": "tags", "fieldValue": {"value": "t4"}}),
            vec![4],
        ),
        (
            json!({"comparator": "EQUALS", "systemFieldName": "recordName",
                "fieldValue": {"value": {"recordName": "Team-00006"}, "type": "REFERENCE"}}),
            vec![6],
        ),
        (
            json!({"comparator": "GREATER_THAN", "systemFieldName": "recordName",
                "fieldValue": {"value": "Team-00007", "type": "STRING"}}),
            vec![8, 9],
        ),
        (
            json!({"comparator": "GREATER_THAN", "systemFieldName": "createdTimestamp",
                "fieldValue": {"value": 0, "type": "TIMESTAMP"}}),
            (0..10).collect(),
        ),
    ];
    for (filter, expected) in cases {
        let reply = emu
            .post(
                "records/query",
                &json!({"query": {"recordType": "Team", "filterBy": [filter.clone()]}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{filter}: {}", reply.text);
        let names: Vec<&str> = reply.json["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["recordName"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = expected.iter().map(|i| format!("Team-{i:05}")).collect();
        assert_eq!(names, expected, "{filter}");
    }
    let both = emu
        .post("records/query", &json!({"query": {"recordType": "Team", "filterBy": [
            {"comparator": "GREATER_THAN", "fieldName": "n", "fieldValue": {"value": 2}},
            {"comparator": "BEGINS_WITH", "fieldName": "name", "fieldValue": {"value": "team r"}}]}}))
        .await;
    assert_eq!(both.json["records"].as_array().unwrap().len(), 3, "4, 6, 8");
    let unknown = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Team", "filterBy": [
            {"comparator": "SOUNDS_LIKE", "fieldName": "n", "fieldValue": {"value": 2}}]}}),
        )
        .await;
    assert_error_body(&unknown, 400, "BAD_REQUEST");
    let unknown_type = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "NeverWritten"}}),
        )
        .await;
    assert_error_body(&unknown_type, 404, "NOT_FOUND");
    assert_eq!(
        unknown_type.json["reason"],
        "Did not find record type: NeverWritten"
    );
}

/// Builds a request whose signature is tampered with in one way.
fn tampered(emu: &Emu, how: &str) -> Call {
    let path = subpath("records/query");
    let body = br#"{"query":{"recordType":"Team"}}"#.to_vec();
    let date = date_now();
    let other_key = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let mut key_id = KEY_ID.to_owned();
    let mut signed_date = date.clone();
    let mut sent_date = date.clone();
    let mut signed_body = body.clone();
    let mut signed_path = path.clone();
    let mut target = path.clone();
    let mut key = emu.key.clone();
    match how {
        "wrong key" => key = other_key,
        "tampered body" => signed_body = br#"{"query":{"recordType":"Other"}}"#.to_vec(),
        "tampered path" => signed_path = subpath("records/lookup"),
        "tampered query string" => {
            signed_path = format!("{path}?ckAPIToken=a");
            target = format!("{path}?ckAPIToken=b");
        }
        "wrong date format" => {
            sent_date = date.replace('Z', "+00:00");
            signed_date = sent_date.clone();
        }
        "fractional date" => {
            sent_date = date.replace('Z', ".000Z");
            signed_date = sent_date.clone();
        }
        "stale date" => {
            let old = chrono::Utc::now() - chrono::Duration::minutes(11);
            sent_date = old.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            signed_date = sent_date.clone();
        }
        "future date" => {
            let late = chrono::Utc::now() + chrono::Duration::minutes(11);
            sent_date = late.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            signed_date = sent_date.clone();
        }
        "unknown key id" => key_id = "ffff".repeat(16),
        _ => {}
    }
    let mut signature = sign(&key, &signed_date, &signed_body, &signed_path);
    match how {
        "raw r||s" => {
            let message = format!("{date}:{}:{path}", BASE64.encode(Sha256::digest(&body)));
            let raw: Signature = key.sign(message.as_bytes());
            signature = BASE64.encode(raw.to_bytes());
        }
        "not base64" => signature = "not base64!!".to_owned(),
        _ => {}
    }
    let mut headers = vec![
        ("X-Apple-CloudKit-Request-KeyID", key_id),
        ("X-Apple-CloudKit-Request-ISO8601Date", sent_date),
        ("X-Apple-CloudKit-Request-SignatureV1", signature),
    ];
    if let Some(missing) = how.strip_prefix("missing ") {
        headers.retain(|(name, _)| !name.ends_with(missing));
    }
    Call {
        method: reqwest::Method::POST,
        target,
        body,
        headers,
    }
}

#[tokio::test]
async fn every_signature_failure_is_401_with_cloudkit_body() {
    let emu = Emu::default().await;
    // Queries on a type never written are a 404; these queries need the type to exist.
    emu.one(
        "create",
        json!({"recordName": "seed", "recordType": "Team"}),
    )
    .await;
    let failures = [
        "wrong key",
        "tampered body",
        "tampered path",
        "tampered query string",
        "wrong date format",
        "fractional date",
        "stale date",
        "future date",
        "unknown key id",
        "raw r||s",
        "not base64",
        "missing KeyID",
        "missing ISO8601Date",
        "missing SignatureV1",
    ];
    for how in failures {
        let reply = emu.send(tampered(&emu, how)).await.unwrap();
        assert_error_body(&reply, 401, AUTH_FAILED);
        assert_eq!(reply.json["reason"], "Authentication failed", "{how}");
    }
    // The untampered request of the same builder passes.
    let ok = emu.send(tampered(&emu, "none")).await.unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(emu.running.stats().statuses["401"], failures.len() as u64);
}

#[tokio::test]
async fn query_strings_content_types_and_get_hash_forms_are_accepted() {
    let emu = Emu::default().await;
    // Queries on a type never written are a 404; these queries need the type to exist.
    emu.one(
        "create",
        json!({"recordName": "seed", "recordType": "Team"}),
    )
    .await;
    let path = subpath("records/query");
    let body = br#"{"query":{"recordType":"Team"}}"#.to_vec();
    let target = format!("{path}?ckAPIToken=abc&extra=1");
    for signed in [target.clone(), path.clone()] {
        for content_type in [
            "text/plain",
            "application/json",
            "application/json; charset=utf-8",
        ] {
            let mut headers = emu.signed(&signed, &body);
            headers.push(("Content-Type", content_type.to_owned()));
            let call = Call {
                method: reqwest::Method::POST,
                target: target.clone(),
                body: body.clone(),
                headers,
            };
            let reply = emu.send(call).await.unwrap();
            assert_eq!(reply.status, 200, "{signed} {content_type}: {}", reply.text);
        }
    }
    // GET signed MistKit's way: an empty hash slot.
    let path = subpath("users/current");
    let date = date_now();
    let message = format!("{date}::{path}");
    let signature: Signature = emu.key.sign(message.as_bytes());
    let headers = vec![
        ("X-Apple-CloudKit-Request-KeyID", KEY_ID.to_owned()),
        ("X-Apple-CloudKit-Request-ISO8601Date", date),
        (
            "X-Apple-CloudKit-Request-SignatureV1",
            BASE64.encode(signature.to_der().as_bytes()),
        ),
    ];
    let call = Call {
        method: reqwest::Method::GET,
        target: path,
        body: Vec::new(),
        headers,
    };
    assert_eq!(emu.send(call).await.unwrap().status, 200);
}

#[tokio::test]
async fn a_key_registered_for_any_id_and_skew_zero() {
    let key = SigningKey::from_slice(&[5u8; 32]).unwrap();
    let config = EmulatorConfig {
        clock_skew: Duration::ZERO,
        keys: vec![RegisteredKey {
            key_id: None,
            key: *key.verifying_key(),
        }],
        ..EmulatorConfig::default()
    };
    let running = emulator::start(config).await.unwrap();
    let path = subpath("zones/list");
    let date = "2016-01-25T22:15:43Z";
    let response = reqwest::Client::new()
        .get(format!("{}{path}", running.url()))
        .header("X-Apple-CloudKit-Request-KeyID", "any-id-at-all")
        .header("X-Apple-CloudKit-Request-ISO8601Date", date)
        .header(
            "X-Apple-CloudKit-Request-SignatureV1",
            sign(&key, date, b"", &path),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    running.shutdown().await;
}

#[tokio::test]
async fn request_level_errors() {
    let emu = Emu::default().await;
    let atomic = emu
        .post(
            "records/modify",
            &json!({"atomic": true, "operations": [
            {"operationType": "create", "record": {"recordName": "a", "recordType": "T"}}]}),
        )
        .await;
    assert_error_body(&atomic, 400, "BAD_REQUEST");
    assert_eq!(
        atomic.json["reason"],
        "atomic operations not supported in default zone"
    );
    let ops: Vec<Json> = (0..201)
        .map(|i| json!({"operationType": "create", "record": {"recordName": format!("r{i}"), "recordType": "T"}}))
        .collect();
    assert_error_body(
        &emu.post("records/modify", &json!({"operations": ops}))
            .await,
        400,
        "BAD_REQUEST",
    );
    let names: Vec<Json> = (0..201)
        .map(|i| json!({"recordName": format!("r{i}")}))
        .collect();
    assert_error_body(
        &emu.post("records/lookup", &json!({"records": names})).await,
        400,
        "BAD_REQUEST",
    );
    let unknown_op = emu
        .post(
            "records/modify",
            &json!({"operations": [{"operationType": "upsert", "record": {"recordName": "a"}}]}),
        )
        .await;
    assert_error_body(&unknown_op, 400, "BAD_REQUEST");
    assert_eq!(emu.lookup("a").await["serverErrorCode"], "NOT_FOUND");
    let path = subpath("records/query");
    let body = b"{not json".to_vec();
    let headers = emu.signed(&path, &body);
    let malformed = emu
        .send(Call {
            method: reqwest::Method::POST,
            target: path,
            body,
            headers,
        })
        .await
        .unwrap();
    assert_error_body(&malformed, 400, "BAD_REQUEST");
    for (target, status, code) in [
        (
            format!("/database/1/{CONTAINER}/staging/public/records/query"),
            400,
            "BAD_REQUEST",
        ),
        (
            format!("/database/1/{CONTAINER}/development/secret/records/query"),
            400,
            "BAD_REQUEST",
        ),
        (
            format!("/database/1/{CONTAINER}/development/public/records/teleport"),
            404,
            "NOT_FOUND",
        ),
        ("/database/2/x".to_owned(), 404, "NOT_FOUND"),
    ] {
        let headers = emu.signed(&target, b"{}");
        let call = Call {
            method: reqwest::Method::POST,
            target,
            body: b"{}".to_vec(),
            headers,
        };
        assert_error_body(&emu.send(call).await.unwrap(), status, code);
    }
    let other_zone = emu
        .post(
            "records/query",
            &json!({"zoneID": {"zoneName": "Custom"}, "query": {"recordType": "T"}}),
        )
        .await;
    assert_error_body(&other_zone, 404, "ZONE_NOT_FOUND");
}

#[tokio::test]
async fn field_type_errors_are_per_record() {
    let emu = Emu::default().await;
    let results = emu
        .modify(json!([
            {"operationType": "create", "record": {"recordName": "a", "recordType": "Game",
                "fields": {"at": {"value": 1762819443586.5, "type": "TIMESTAMP"}}}},
            {"operationType": "create", "record": {"recordName": "b", "recordType": "Game",
                "fields": {"at": {"value": 1762819443586_i64, "type": "TIMESTAMP"}, "score": {"value": 3}}}},
            {"operationType": "create", "record": {"recordName": "c", "recordType": "Game",
                "fields": {"score": {"value": "three", "type": "STRING"}}}},
            {"operationType": "create", "record": {"recordName": "d", "recordType": "Game",
                "fields": {"at": {"value": 1762819443587_i64}}}}
        ]))
        .await;
    assert_eq!(
        results[0],
        json!({"recordName": "a", "reason": "Invalid value, expected type TIMESTAMP.", "serverErrorCode": "BAD_REQUEST"})
    );
    assert_eq!(results[1]["fields"]["at"]["type"], "TIMESTAMP");
    assert_eq!(results[2]["serverErrorCode"], "BAD_REQUEST");
    assert_eq!(
        results[3]["fields"]["at"],
        json!({"value": 1762819443587_i64, "type": "TIMESTAMP"})
    );
    let stats = emu.running.stats();
    assert_eq!(stats.outcomes["ok"], 2);
    assert_eq!(stats.outcomes["BAD_REQUEST"], 2);
    assert_eq!(stats.records, 2);
}

fn config_in(dir: &Path) -> EmulatorConfig {
    EmulatorConfig {
        data_dir: Some(dir.to_owned()),
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn writes_survive_a_restart_and_a_crash_copy_with_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emu::start(config_in(dir.path())).await;
    emu.create_many("Team", 250, |i| json!({"n": {"value": i as i64}}))
        .await;
    let updated = emu
        .one(
            "forceUpdate",
            json!({"recordName": "Team-00001", "fields": {"n": {"value": 100}}}),
        )
        .await;
    emu.one("forceDelete", json!({"recordName": "Team-00002"}))
        .await;
    // What a kill -9 right now would leave: the directory as it is while running.
    let crashed = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), crashed.path().join(entry.file_name())).unwrap();
    }
    emu.running.shutdown().await;

    for data in [dir.path(), crashed.path()] {
        let log = data.join("log.ndjson");
        let mut text = std::fs::read(&log).unwrap_or_default();
        text.extend_from_slice(br#"{"seq":99,"counter":5,"scope":{"container":"iCloud"#);
        std::fs::write(&log, text).unwrap();
        let emu = Emu::start(config_in(data)).await;
        assert_eq!(emu.running.stats().records, 249, "{}", data.display());
        let one = emu.lookup("Team-00001").await;
        assert_eq!(one["fields"]["n"]["value"], 100);
        assert_eq!(one["recordChangeTag"], updated["recordChangeTag"]);
        assert_eq!(
            emu.lookup("Team-00002").await["serverErrorCode"],
            "NOT_FOUND"
        );
        // Types survive too; new tags never repeat old ones.
        let bad = emu.one("forceUpdate", json!({"recordName": "Team-00003", "fields": {"n": {"value": "x", "type": "STRING"}}})).await;
        assert_eq!(bad["serverErrorCode"], "BAD_REQUEST");
        let again = emu
            .one("forceUpdate", json!({"recordName": "Team-00001"}))
            .await;
        assert_ne!(again["recordChangeTag"], updated["recordChangeTag"]);
        emu.running.shutdown().await;
    }
}

#[tokio::test]
async fn throttle_and_unavailable_faults_carry_retry_after_and_change_nothing() {
    for (faults, status, code) in [
        (
            Faults {
                throttle_rate: 1.0,
                ..Faults::default()
            },
            429,
            "THROTTLED",
        ),
        (
            Faults {
                unavailable_rate: 1.0,
                ..Faults::default()
            },
            503,
            "TRY_AGAIN_LATER",
        ),
    ] {
        let emu = Emu::start(EmulatorConfig {
            faults,
            ..EmulatorConfig::default()
        })
        .await;
        let reply = emu
            .post(
                "records/modify",
                &json!({"operations": [
                {"operationType": "create", "record": {"recordName": "a", "recordType": "T"}}]}),
            )
            .await;
        assert_error_body(&reply, status, code);
        assert_eq!(reply.json["retryAfter"], 1.0);
        let stats = emu.running.stats();
        assert_eq!(stats.records, 0);
        assert_eq!(stats.faults.throttled + stats.faults.unavailable, 1);
    }
}

#[tokio::test]
async fn dropped_modify_is_applied_but_unanswered() {
    let emu = Emu::start(EmulatorConfig {
        faults: Faults {
            drop_rate: 1.0,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let path = subpath("records/modify");
    let body = serde_json::to_vec(&json!({"operations": [
        {"operationType": "create", "record": {"recordName": "ghost", "recordType": "T"}}]}))
    .unwrap();
    let headers = emu.signed(&path, &body);
    let outcome = emu
        .send(Call {
            method: reqwest::Method::POST,
            target: path,
            body,
            headers,
        })
        .await;
    assert!(outcome.is_err(), "no response expected");
    assert_eq!(emu.lookup("ghost").await["recordType"], "T");
    assert_eq!(emu.running.stats().faults.dropped, 1);
}

#[tokio::test]
async fn latency_delays_every_database_request() {
    let emu = Emu::start(EmulatorConfig {
        faults: Faults {
            latency_ms: 150,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let started = Instant::now();
    emu.get("zones/list").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn stats_count_requests_and_reset_clears_everything() {
    let emu = Emu::default().await;
    emu.modify(json!([
        {"operationType": "create", "record": {"recordName": "a", "recordType": "T"}},
        {"operationType": "create", "record": {"recordName": "b", "recordType": "T"}},
        {"operationType": "forceReplace", "record": {"recordName": "a", "recordType": "T"}}
    ]))
    .await;
    emu.one("create", json!({"recordName": "a", "recordType": "T"}))
        .await;
    emu.post("records/query", &json!({"query": {"recordType": "T"}}))
        .await;
    emu.lookup("a").await;
    let url = emu.running.url();
    let over_http: Json = reqwest::get(format!("{url}/_emulator/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        over_http,
        serde_json::to_value(emu.running.stats()).unwrap()
    );
    assert_eq!(
        over_http["requests"],
        json!({"records/modify": 2, "records/query": 1, "records/lookup": 1})
    );
    assert_eq!(
        over_http["operations"],
        json!({"create": 3, "forceReplace": 1})
    );
    assert_eq!(
        over_http["outcomes"],
        json!({"ok": 2, "BAD_REQUEST": 1, "EXISTS": 1})
    );
    assert_eq!(over_http["records"], 2);
    assert_eq!(
        over_http["faults"],
        json!({"throttled": 0, "unavailable": 0, "dropped": 0, "records_throttled": 0,
            "lookup_errors": 0, "errors_after_commit": 0, "pages_repeated": 0, "pages_skipped": 0})
    );
    let reset = reqwest::Client::new()
        .post(format!("{url}/_emulator/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let stats = emu.running.stats();
    assert_eq!(stats.records, 0);
    assert!(stats.requests.is_empty());
    assert_eq!(emu.lookup("a").await["serverErrorCode"], "NOT_FOUND");
}

#[tokio::test]
async fn index_enforcement_when_required() {
    let emu = Emu::start(EmulatorConfig {
        require_indexes: true,
        indexes: vec!["Team.name".to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    // Queries on a type never written are a 404; these queries need the type to exist.
    emu.one(
        "create",
        json!({"recordName": "seed", "recordType": "Team"}),
    )
    .await;
    let unfiltered = emu
        .post("records/query", &json!({"query": {"recordType": "Team"}}))
        .await;
    assert_error_body(&unfiltered, 400, "BAD_REQUEST");
    assert_eq!(
        unfiltered.json["reason"],
        "Field 'recordName' is not marked queryable"
    );
    let by_name =
        json!({"comparator": "EQUALS", "fieldName": "name", "fieldValue": {"value": "x"}});
    let other = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Team", "filterBy": [by_name],
                              "sortBy": [{"fieldName": "feed"}]}}),
        )
        .await;
    assert_eq!(other.json["reason"], "Field 'feed' is not marked sortable");
    // Issue 18: system fields are refused under their index names, as CloudKit does.
    let created = json!({"comparator": "GREATER_THAN_OR_EQUALS", "systemFieldName": "createdTimestamp",
                         "fieldValue": {"value": 0, "type": "TIMESTAMP"}});
    let filtered = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Team", "filterBy": [created]}}),
        )
        .await;
    assert_eq!(
        filtered.json["reason"],
        "Field '___createTime' is not marked queryable"
    );
    let sorted = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Team", "filterBy": [by_name],
                              "sortBy": [{"systemFieldName": "createdTimestamp"}]}}),
        )
        .await;
    assert_eq!(
        sorted.json["reason"],
        "Field '___createTime' is not marked sortable"
    );
    let indexed = emu
        .post(
            "records/query",
            &json!({"query": {"recordType": "Team", "filterBy": [
            {"comparator": "EQUALS", "fieldName": "name", "fieldValue": {"value": "x"}}]}}),
        )
        .await;
    assert_eq!(indexed.status, 200);
}

/// Issue 18: `--index Team.___createTime` (or `Team.createdTimestamp`) makes
/// `createdTimestamp` queryable and sortable.
#[tokio::test]
async fn issue_18_a_declared_created_time_index_allows_range_queries() {
    for spelling in ["Team.___createTime", "Team.createdTimestamp"] {
        let emu = Emu::start(EmulatorConfig {
            require_indexes: true,
            indexes: vec!["Team.recordName".to_owned(), spelling.to_owned()],
            ..EmulatorConfig::default()
        })
        .await;
        emu.one("create", json!({"recordName": "a", "recordType": "Team"}))
            .await;
        let reply = emu
            .post(
                "records/query",
                &json!({"query": {"recordType": "Team",
                    "filterBy": [{"comparator": "LESS_THAN", "systemFieldName": "createdTimestamp",
                                  "fieldValue": {"value": i64::MAX, "type": "TIMESTAMP"}}],
                    "sortBy": [{"systemFieldName": "createdTimestamp", "ascending": false}]}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{spelling}: {}", reply.json);
        assert_eq!(reply.json["records"][0]["recordName"], "a");
    }
}

/// Prints records/s through modify with `--data` (fsync per request), 4 requests in
/// flight of 200 operations each. Asserts only completeness, never a speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_throughput_on_loopback() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let emu = Emu::start(config_in(dir.path())).await;
    let total = 20_000;
    let bodies: Vec<Json> = (0..total / 200)
        .map(|batch| {
            let operations: Vec<Json> = (0..200)
                .map(|i| {
                    json!({"operationType": "create", "record": {
                    "recordName": format!("bulk-{batch:03}-{i:03}"), "recordType": "Bulk",
                    "fields": {"n": {"value": i}, "s": {"value": "x"}}}})
                })
                .collect();
            json!({"operations": operations})
        })
        .collect();
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(bodies.iter())
        .map(|body| async { emu.post("records/modify", body).await.status })
        .buffer_unordered(4)
        .collect()
        .await;
    let elapsed = started.elapsed();
    eprintln!(
        "modify: {total} records in {elapsed:?} ({:.0} records/s, 4 in flight, fsync per request)",
        total as f64 / elapsed.as_secs_f64()
    );
    assert!(statuses.iter().all(|s| *s == 200));
    assert_eq!(emu.running.stats().records, total as u64);
}

/// Prints records/s of records/query pages (200 a page, following the continuation
/// marker) over 100,000 records of one type plus 20,000 of another, in memory: default
/// order, a filtered default order and a sorted query. Run with
/// `cargo test --release --test emulator query_paging_throughput -- --ignored --nocapture`.
/// Asserts only that every record came back once, never a speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run in release mode with --nocapture"]
async fn query_paging_throughput_on_loopback() {
    use futures::StreamExt;
    let emu = Emu::default().await;
    let seed = |record_type: &'static str, batches: usize| {
        (0..batches).map(move |batch| {
            let operations: Vec<Json> = (0..200)
                .map(|i| {
                    json!({"operationType": "create", "record": {
                    "recordName": format!("{record_type}-{batch:04}-{i:03}"),
                    "recordType": record_type,
                    "fields": {"n": {"value": (batch * 200 + i) % 977}, "s": {"value": "x"}}}})
                })
                .collect();
            json!({"operations": operations})
        })
    };
    let bodies: Vec<Json> = seed("Page", 500).chain(seed("Other", 100)).collect();
    let statuses: Vec<u16> = futures::stream::iter(bodies.iter())
        .map(|body| async { emu.post("records/modify", body).await.status })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    let queries = [
        ("default order", json!({"recordType": "Page"})),
        (
            "filtered, default order",
            json!({"recordType": "Page", "filterBy": [{"comparator": "GREATER_THAN_OR_EQUALS",
                "fieldName": "n", "fieldValue": {"value": 0}}]}),
        ),
        (
            "sorted by n descending",
            json!({"recordType": "Page", "sortBy": [{"fieldName": "n", "ascending": false}]}),
        ),
    ];
    for (label, query) in queries {
        let started = Instant::now();
        let mut seen = std::collections::HashSet::new();
        let mut marker: Option<Json> = None;
        loop {
            let mut body = json!({"query": query, "resultsLimit": 200});
            if let Some(marker) = marker.take() {
                body["continuationMarker"] = marker;
            }
            let reply = emu.post("records/query", &body).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            for record in reply.json["records"].as_array().unwrap() {
                assert!(seen.insert(record["recordName"].as_str().unwrap().to_owned()));
            }
            match reply.json.get("continuationMarker") {
                Some(next) if !next.is_null() => marker = Some(next.clone()),
                _ => break,
            }
        }
        let elapsed = started.elapsed();
        eprintln!(
            "query ({label}): {} records in {elapsed:?} ({:.0} records/s, pages of 200)",
            seen.len(),
            seen.len() as f64 / elapsed.as_secs_f64()
        );
        assert_eq!(seen.len(), 100_000);
    }
}

#[test]
fn cli_prints_its_url_and_answers() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_slice(&[3u8; 32]).unwrap();
    let pem =
        p256::pkcs8::EncodePublicKey::to_public_key_pem(key.verifying_key(), Default::default())
            .unwrap();
    let pub_path = dir.path().join("pub.pem");
    std::fs::write(&pub_path, pem).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ckplan"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--key"])
        .arg(format!("K={}", pub_path.display()))
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
    let status = runtime.block_on(async {
        let path = subpath("zones/list");
        let date = date_now();
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .header("X-Apple-CloudKit-Request-KeyID", "K")
            .header("X-Apple-CloudKit-Request-ISO8601Date", &date)
            .header(
                "X-Apple-CloudKit-Request-SignatureV1",
                sign(&key, &date, b"", &path),
            )
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(status.unwrap(), 200);
}
