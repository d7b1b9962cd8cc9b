//! The emulator checked against the request and reply shapes of independent CloudKit Web
//! Services clients (`docs/protocol.md`, "Sources"; their sources read for this): MistKit,
//! requests-cloudkit, OpenCloudKit, CloudKitClient (Kotlin), sputnik, CloudyKit,
//! edorphy/CloudKitWebServices and CloudKit JS. Every request is written here as raw
//! HTTP/1.1 bytes over a TCP socket, with JSON hand-written in that client's style and
//! signed the way that client signs (path with or without its query string, hash of the
//! empty body or MistKit's empty hash slot); every reply is checked for the keys and types
//! that client needs to decode it. Nothing here uses ckplan's own client or signer.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ckplan::emulator::{self, EmulatorConfig, Faults, RegisteredKey, RunningEmulator};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const CONTAINER: &str = "iCloud.com.example.Clients";
const KEY_ID: &str = "9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";

/// How a client fills the body-hash slot of the signed message.
#[derive(Clone, Copy, PartialEq)]
enum Hash {
    /// base64(sha256(body)), also for an empty body (Apple, requests-cloudkit, sputnik).
    OfBody,
    /// An empty slot when there is no body: `date::path` (MistKit).
    EmptySlot,
}

fn path(operation: &str) -> String {
    format!("/database/1/{CONTAINER}/development/public/{operation}")
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn signature_headers(
    key: &SigningKey,
    signed_path: &str,
    body: &[u8],
    hash: Hash,
) -> Vec<(String, String)> {
    let date = now();
    let slot = if hash == Hash::EmptySlot && body.is_empty() {
        String::new()
    } else {
        BASE64.encode(Sha256::digest(body))
    };
    let signature: Signature = key.sign(format!("{date}:{slot}:{signed_path}").as_bytes());
    vec![
        ("X-Apple-CloudKit-Request-KeyID".into(), KEY_ID.into()),
        ("X-Apple-CloudKit-Request-ISO8601Date".into(), date),
        (
            "X-Apple-CloudKit-Request-SignatureV1".into(),
            BASE64.encode(signature.to_der().as_bytes()),
        ),
    ]
}

/// One reply as read off the socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    /// The body as JSON, gzip-decoded first when the reply says `Content-Encoding: gzip`
    /// (as Go's transport, curl `--compressed` and browsers do transparently).
    fn json(&self) -> Json {
        let gzipped = self.headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("content-encoding") && value.eq_ignore_ascii_case("gzip")
        });
        let body = if gzipped {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&self.body[..]),
                &mut plain,
            )
            .expect("a gzip body");
            plain
        } else {
            self.body.clone()
        };
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request, as bytes on the wire.
struct Wire {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    chunked: bool,
}

impl Wire {
    fn bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            self.method, self.target
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut bytes = Vec::new();
        if self.chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            bytes.extend_from_slice(head.as_bytes());
            for piece in self.body.chunks(7) {
                bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                bytes.extend_from_slice(piece);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        } else {
            if !self.body.is_empty() || self.method != "GET" {
                head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
            }
            head.push_str("\r\n");
            bytes.extend_from_slice(head.as_bytes());
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// Reads one HTTP/1.1 reply (skipping `100 Continue`).
async fn read_reply(reader: &mut BufReader<TcpStream>) -> Raw {
    loop {
        let mut status_line = String::new();
        reader.read_line(&mut status_line).await.unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no status line: {status_line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if status == 100 {
            continue;
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("replies carry Content-Length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        return Raw {
            status,
            headers,
            body,
        };
    }
}

struct Emu {
    running: RunningEmulator,
    key: SigningKey,
}

impl Emu {
    async fn start() -> Self {
        Self::with(EmulatorConfig::default()).await
    }

    async fn with(mut config: EmulatorConfig) -> Self {
        let key = SigningKey::from_slice(&[11u8; 32]).unwrap();
        config.keys.push(RegisteredKey {
            key_id: Some(KEY_ID.to_owned()),
            key: *key.verifying_key(),
        });
        Self {
            running: emulator::start(config).await.unwrap(),
            key,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    async fn connect(&self) -> BufReader<TcpStream> {
        BufReader::new(TcpStream::connect(self.addr()).await.unwrap())
    }

    async fn send(&self, wire: Wire) -> Raw {
        let mut stream = self.connect().await;
        stream.get_mut().write_all(&wire.bytes()).await.unwrap();
        read_reply(&mut stream).await
    }

    /// A request signed over `signed_path` (the target, or the target without its query).
    fn signed(
        &self,
        method: &'static str,
        target: &str,
        signed_path: &str,
        body: &[u8],
        hash: Hash,
        extra: &[(&str, &str)],
    ) -> Wire {
        let mut headers = signature_headers(&self.key, signed_path, body, hash);
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        Wire {
            method,
            target: target.to_owned(),
            headers,
            body: body.to_vec(),
            chunked: false,
        }
    }

    /// A POST of raw body text to `operation`, signed over the path, with `content_type`.
    async fn post_text(&self, operation: &str, body: &str, content_type: Option<&str>) -> Raw {
        let target = path(operation);
        let extra: Vec<(&str, &str)> = content_type
            .map(|c| ("Content-Type", c))
            .into_iter()
            .collect();
        self.send(self.signed(
            "POST",
            &target,
            &target,
            body.as_bytes(),
            Hash::OfBody,
            &extra,
        ))
        .await
    }

    /// An asset uploaded as CloudKit clients do (issue 21): `assets/upload`, then the bytes
    /// POSTed unsigned to the URL it answers; returns the `singleFile` dictionary.
    async fn upload(&self, bytes: &[u8]) -> Json {
        self.upload_for("Thing", "asset", bytes).await
    }

    /// As [`Emu::upload`], for field `field` of `record_type` (the emulator saves the
    /// receipt only there).
    async fn upload_for(&self, record_type: &str, field: &str, bytes: &[u8]) -> Json {
        let tokens = json!({"tokens": [{"recordType": record_type, "fieldName": field}]});
        let reply = ok(&self.post("assets/upload", &tokens).await);
        let url = reply["tokens"][0]["url"].as_str().unwrap();
        let target = format!("/{}", url.splitn(4, '/').nth(3).unwrap());
        let wire = Wire {
            method: "POST",
            target,
            headers: Vec::new(),
            body: bytes.to_vec(),
            chunked: false,
        };
        ok(&self.send(wire).await)["singleFile"].clone()
    }

    async fn post(&self, operation: &str, body: &Json) -> Raw {
        self.post_text(operation, &body.to_string(), Some("text/plain"))
            .await
    }

    async fn get(&self, operation: &str, hash: Hash) -> Raw {
        let target = path(operation);
        self.send(self.signed("GET", &target, &target, b"", hash, &[]))
            .await
    }
}

fn ok(reply: &Raw) -> Json {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// A request-level error as CloudyKit, edorphy and MistKit decode it: `uuid` (a UUID),
/// `serverErrorCode` and `reason`, all strings.
fn assert_request_error(reply: &Raw, status: u16, code: &str) {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let body = reply.json();
    let uuid = body["uuid"].as_str().expect("uuid");
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid}");
    assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    assert_eq!(body["serverErrorCode"], code);
    assert!(body["reason"].is_string());
}

/// `created` / `modified` as OpenCloudKit (`CKRecordLog`), edorphy and the Kotlin client
/// (`TimeInformation`) require them: integer timestamp, user record name, device ID.
fn assert_stamp(stamp: &Json) {
    assert!(stamp["timestamp"].is_i64(), "{stamp}");
    assert!(stamp["userRecordName"].is_string(), "{stamp}");
    assert!(stamp["deviceID"].is_string(), "{stamp}");
}

const WIRE_TYPES: [&str; 17] = [
    "STRING",
    "INT64",
    "DOUBLE",
    "TIMESTAMP",
    "BYTES",
    "REFERENCE",
    "ASSETID",
    "LOCATION",
    "STRING_LIST",
    "INT64_LIST",
    "DOUBLE_LIST",
    "TIMESTAMP_LIST",
    "BYTES_LIST",
    "REFERENCE_LIST",
    "LOCATION_LIST",
    "ASSETID_LIST",
    "UNKNOWN_LIST",
];

/// A successful record entry as every client decodes it: name, type, change tag, a
/// `fields` object whose every value has `value` and a known `type`, stamps.
fn assert_record(entry: &Json) {
    assert!(entry.get("serverErrorCode").is_none(), "an error: {entry}");
    assert!(entry["recordName"].is_string(), "{entry}");
    assert!(entry["recordType"].is_string(), "{entry}");
    assert!(entry["recordChangeTag"].is_string(), "{entry}");
    let fields = entry["fields"].as_object().expect("fields object");
    for (name, field) in fields {
        assert!(field.get("value").is_some(), "{name}: {field}");
        let field_type = field["type"].as_str().unwrap_or_default();
        assert!(WIRE_TYPES.contains(&field_type), "{name}: {field}");
        if field_type == "REFERENCE" {
            assert!(field["value"]["action"].is_string(), "{name}: {field}");
        }
    }
    assert_eq!(entry["pluginFields"], json!({}));
    assert_stamp(&entry["created"]);
    assert_stamp(&entry["modified"]);
    assert_eq!(entry["deleted"], false);
}

/// A per-record error entry: `recordName`, `reason` and `serverErrorCode` strings, no
/// `recordType` (MistKit's test for an error), `retryAfter` absent or a whole number.
fn assert_record_error(entry: &Json, code: &str) {
    assert!(entry["recordName"].is_string(), "{entry}");
    assert!(entry["reason"].is_string(), "{entry}");
    assert_eq!(entry["serverErrorCode"], code, "{entry}");
    assert!(entry.get("recordType").is_none(), "{entry}");
    assert!(entry.get("retryAfter").is_none_or(Json::is_u64), "{entry}");
}

// ---------------------------------------------------------------------------------------
// MistKit (Swift, swift-openapi-generator): JSON with `charset=utf-8`, `atomic: false`,
// fields without `type`, GETs signed with an empty hash slot; an entry without
// `recordType` is an error.

#[tokio::test]
async fn mistkit_modify_query_and_gets() {
    let emu = Emu::start().await;
    let body = r#"{"operations":[{"operationType":"forceReplace","record":{"recordName":"feed-1","recordType":"Feed","fields":{"title":{"value":"Daring"},"isActive":{"value":1},"added":{"value":1762819443586},"rating":{"value":0.1546950340270996}}}},{"operationType":"forceReplace","record":{"recordName":"feed-2","recordType":"Feed","fields":{"title":{"value":"Fireball"},"isActive":{"value":0}}}}],"atomic":false}"#;
    let reply = emu
        .post_text(
            "records/modify",
            body,
            Some("application/json; charset=utf-8"),
        )
        .await;
    let records = ok(&reply)["records"].clone();
    assert_eq!(records.as_array().unwrap().len(), 2);
    for entry in records.as_array().unwrap() {
        assert_record(entry);
    }
    assert_eq!(records[0]["fields"]["added"]["type"], "INT64");
    assert_eq!(records[0]["fields"]["rating"]["value"], 0.1546950340270996);

    let query = r#"{"zoneID":{"zoneName":"_defaultZone"},"resultsLimit":1,"query":{"recordType":"Feed","sortBy":[]}}"#;
    let reply = emu
        .post_text(
            "records/query",
            query,
            Some("application/json; charset=utf-8"),
        )
        .await;
    let page = ok(&reply);
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    assert_record(&page["records"][0]);
    assert_eq!(page["records"][0]["zoneID"]["zoneName"], "_defaultZone");
    assert!(page["continuationMarker"].is_string());

    let me = ok(&emu.get("users/current", Hash::EmptySlot).await);
    assert!(me["userRecordName"].as_str().unwrap().starts_with('_'));
    let zones = ok(&emu.get("zones/list", Hash::EmptySlot).await);
    assert_eq!(zones["zones"][0]["zoneID"]["zoneName"], "_defaultZone");
    assert_eq!(
        zones["zones"][0]["zoneID"]["ownerRecordName"],
        me["userRecordName"]
    );
    assert_eq!(zones["zones"][0]["atomic"], false);
}

#[tokio::test]
async fn mistkit_error_entries_lack_record_type_and_request_errors_have_uuid() {
    let emu = Emu::start().await;
    let reply = emu
        .post_text(
            "records/lookup",
            r#"{"records":[{"recordName":"missing"}]}"#,
            Some("application/json; charset=utf-8"),
        )
        .await;
    assert_record_error(&ok(&reply)["records"][0], "NOT_FOUND");
    let atomic = r#"{"operations":[{"operationType":"create","record":{"recordType":"Feed","fields":{}}}],"atomic":true}"#;
    let reply = emu.post_text("records/modify", atomic, None).await;
    assert_request_error(&reply, 400, "BAD_REQUEST");
    // A wrong signature: the live 401 body.
    let target = path("users/current");
    let mut wire = emu.signed("GET", &target, &target, b"", Hash::EmptySlot, &[]);
    wire.headers[2].1 = "MEUCIQ".to_owned();
    assert_request_error(&emu.send(wire).await, 401, "AUTHENTICATION_FAILED");
}

// ---------------------------------------------------------------------------------------
// requests-cloudkit (Python): signs `path_url`, query string included; hashes "" for a
// GET; replaces every header with its four (so no Content-Length: requests then sends the
// body chunked); `Content-Type: text/plain`.

#[tokio::test]
async fn requests_cloudkit_signs_the_query_string_and_sends_chunked() {
    let emu = Emu::start().await;
    let target = format!("{}?trace=on&limit=2", path("zones/list"));
    let zones = ok(&emu
        .send(emu.signed("GET", &target, &target, b"", Hash::OfBody, &[]))
        .await);
    assert_eq!(zones["zones"][0]["zoneID"]["zoneName"], "_defaultZone");

    let body = r#"{"operations":[{"operationType":"create","record":{"recordName":"café","recordType":"Note","fields":{"text":{"value":"naïve ☕","type":"STRING"}}}}]}"#;
    let target = format!("{}?source=python", path("records/modify"));
    let mut wire = emu.signed(
        "POST",
        &target,
        &target,
        body.as_bytes(),
        Hash::OfBody,
        &[("Content-Type", "text/plain")],
    );
    wire.chunked = true;
    let created = ok(&emu.send(wire).await);
    assert_record(&created["records"][0]);
    assert_eq!(created["records"][0]["recordName"], "café");
    assert_eq!(created["records"][0]["fields"]["text"]["value"], "naïve ☕");
}

// ---------------------------------------------------------------------------------------
// OpenCloudKit (Swift, 2016-17): `application/json; charset=utf-8`; `atomic: false` in
// the public database; `create` without tag, `update`/`forceUpdate` with it, deletes
// always `forceDelete`; `createShortGUID` + `parent`; untyped NSNumber values; queries
// with `zoneWide: false`, no zoneID, and the marker decoded to bytes and re-encoded.

#[tokio::test]
async fn opencloudkit_save_update_delete_cycle() {
    let emu = Emu::start().await;
    let json_utf8 = Some("application/json; charset=utf-8");
    let create = r#"{"atomic":false,"operations":[{"operationType":"create","record":{"recordType":"Place","recordName":"place-1","fields":{"name":{"value":"Harbour","type":"STRING"},"visits":{"value":3},"score":{"value":4.5},"seen":{"value":1466000000000,"type":"TIMESTAMP"},"where":{"value":{"latitude":-33.8568,"longitude":151.2153},"type":"LOCATION"}},"createShortGUID":1,"parent":{"recordName":"place-0"}}}]}"#;
    let reply = ok(&emu.post_text("records/modify", create, json_utf8).await);
    let saved = &reply["records"][0];
    assert_record(saved);
    if let Some(zone) = saved.get("zoneID") {
        assert!(zone["zoneName"].is_string() && zone["ownerRecordName"].is_string());
    }
    assert_eq!(saved["fields"]["visits"]["type"], "INT64");
    assert_eq!(saved["fields"]["score"]["type"], "DOUBLE");
    let tag = saved["recordChangeTag"].as_str().unwrap();

    let update = json!({"atomic": false, "operations": [{"operationType": "update", "record": {
        "recordType": "Place", "recordName": "place-1", "recordChangeTag": tag,
        "fields": {"visits": {"value": 4}}}}]});
    let updated = ok(&emu
        .post_text("records/modify", &update.to_string(), json_utf8)
        .await);
    assert_record(&updated["records"][0]);
    assert_eq!(updated["records"][0]["fields"]["name"]["value"], "Harbour");
    let stale = update.to_string();
    let conflict = ok(&emu.post_text("records/modify", &stale, json_utf8).await);
    assert_record_error(&conflict["records"][0], "CONFLICT");
    let force = update.to_string().replace("\"update\"", "\"forceUpdate\"");
    assert_record(&ok(&emu.post_text("records/modify", &force, json_utf8).await)["records"][0]);

    let delete = r#"{"atomic":false,"operations":[{"operationType":"forceDelete","record":{"recordName":"place-1"}},{"operationType":"forceDelete","record":{"recordName":"place-1"}}]}"#;
    let deleted = ok(&emu.post_text("records/modify", delete, json_utf8).await);
    assert_eq!(deleted["records"][0]["recordName"], "place-1");
    assert_eq!(deleted["records"][0]["deleted"], true);
    // The second delete of the same name in one request: an error entry OCK can read.
    let second = &deleted["records"][1];
    assert!(second["reason"].is_string() && second["serverErrorCode"].is_string());
}

#[tokio::test]
async fn opencloudkit_query_pages_with_a_reencoded_marker() {
    let emu = Emu::start().await;
    let operations: Vec<Json> = (0..5)
        .map(|i| {
            json!({"operationType": "create", "record": {"recordType": "Place",
            "recordName": format!("p{i}"), "fields": {"rank": {"value": i}}}})
        })
        .collect();
    ok(&emu
        .post(
            "records/modify",
            &json!({"atomic": false, "operations": operations}),
        )
        .await);
    let mut names = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let mut body = json!({"zoneWide": false, "resultsLimit": 2,
            "query": {"recordType": "Place", "filterBy": [], "sortBy": []}});
        if let Some(bytes) = &cursor {
            body["continuationMarker"] = json!(BASE64.encode(bytes));
        }
        let page = ok(&emu
            .post_text(
                "records/query",
                &body.to_string(),
                Some("application/json; charset=utf-8"),
            )
            .await);
        for record in page["records"].as_array().unwrap() {
            assert_record(record);
            names.push(record["recordName"].as_str().unwrap().to_owned());
        }
        match page.get("continuationMarker").and_then(Json::as_str) {
            Some(marker) => cursor = Some(BASE64.decode(marker).expect("standard base64")),
            None => break,
        }
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
}

// ---------------------------------------------------------------------------------------
// CloudKitClient (Kotlin, kotlinx.serialization with `encodeDefaults = true`): every
// optional key is sent, as `null` when unset; `zoneID` with `zoneType`; `resultsLimit:
// 200`, `zoneWide: true`; update is `replace`; references sent as `{recordName}` only.
// Decoding needs `records`, `fields`, stamps with all three keys, reference `action`,
// per-record errors with a `reason`, `retryAfter` as an integer.

const KOTLIN_ZONE: &str =
    r#"{"zoneName":"_defaultZone","ownerRecordName":null,"zoneType":"DEFAULT_ZONE"}"#;

fn kotlin_record(name: &str, first: &str, tag: Option<&str>) -> String {
    let tag = tag.map_or("null".to_owned(), |t| format!("\"{t}\""));
    format!(
        r#"{{"recordName":"{name}","fields":{{"firstName":{{"type":"STRING","value":"{first}"}},"lastName":null,"friend":{{"type":"REFERENCE","value":{{"recordName":"p0"}}}}}},"created":null,"modified":null,"deleted":null,"pluginFields":{{}},"recordChangeTag":{tag},"zoneID":{KOTLIN_ZONE},"recordType":"Person"}}"#
    )
}

fn kotlin_operations(operation: &str, record: &str) -> String {
    format!(
        r#"{{"operations":[{{"record":{record},"operationType":"{operation}","desiredKeys":null}}],"zoneID":{KOTLIN_ZONE},"atomic":null,"desiredKeys":null,"numbersAsStrings":false}}"#
    )
}

#[tokio::test]
async fn kotlin_client_create_query_replace_lookup_delete() {
    let emu = Emu::start().await;
    let json_type = Some("application/json");
    let create = kotlin_operations("create", &kotlin_record("p1", "Ada", None));
    let created = ok(&emu.post_text("records/modify", &create, json_type).await);
    let record = &created["records"][0];
    assert_record(record);
    assert_eq!(record["fields"]["friend"]["value"]["action"], "NONE");
    assert!(record["fields"].get("lastName").is_none());

    let query = format!(
        r#"{{"zoneID":{KOTLIN_ZONE},"resultsLimit":200,"query":{{"recordType":"Person","filterBy":[{{"fieldName":"firstName","comparator":"EQUALS","fieldValue":{{"type":"STRING","value":"Ada"}},"distance":null}}],"sortBy":[{{"fieldName":"lastName","ascending":true}}]}},"continuationMarker":null,"desiredKeys":null,"numbersAsStrings":false,"zoneWide":true}}"#
    );
    let found = ok(&emu.post_text("records/query", &query, json_type).await);
    assert_eq!(found["records"].as_array().unwrap().len(), 1);
    assert_record(&found["records"][0]);

    let tag = record["recordChangeTag"].as_str().unwrap();
    let replace = kotlin_operations("replace", &kotlin_record("p1", "Grace", Some(tag)));
    let replaced = ok(&emu.post_text("records/modify", &replace, json_type).await);
    assert_record(&replaced["records"][0]);
    assert_eq!(
        replaced["records"][0]["fields"]["firstName"]["value"],
        "Grace"
    );

    let lookup = format!(
        r#"{{"records":[{{"recordName":"p1","desiredKeys":null}},{{"recordName":"nobody","desiredKeys":null}}],"zoneID":{KOTLIN_ZONE},"desiredKeys":null,"numbersAsStrings":false}}"#
    );
    let looked = ok(&emu.post_text("records/lookup", &lookup, json_type).await);
    assert_record(&looked["records"][0]);
    assert_record_error(&looked["records"][1], "NOT_FOUND");

    let tag = replaced["records"][0]["recordChangeTag"].as_str().unwrap();
    let delete = kotlin_operations("delete", &kotlin_record("p1", "Grace", Some(tag)));
    let deleted = ok(&emu.post_text("records/modify", &delete, json_type).await);
    assert_eq!(deleted["records"][0]["deleted"], true);
}

#[tokio::test]
async fn retry_after_is_a_whole_number_of_seconds() {
    let emu = Emu::with(EmulatorConfig {
        faults: Faults {
            throttle_rate: 1.0,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let reply = emu
        .post_text(
            "records/lookup",
            r#"{"records":[{"recordName":"x"}]}"#,
            Some("application/json"),
        )
        .await;
    assert_request_error(&reply, 429, "THROTTLED");
    assert!(reply.json()["retryAfter"].is_u64(), "{}", reply.json());
}

// ---------------------------------------------------------------------------------------
// sputnik (Go): no Content-Type at all, Go's default `Accept-Encoding: gzip`, bodies as
// pretty-printed fixture text (emoji included), creates without recordName and without
// types (a location among them), an EQUALS query with `resultsLimit: 1`.

#[tokio::test]
async fn sputnik_fixtures_untyped_create_and_equals_query() {
    let emu = Emu::start().await;
    let create = "{\n    \"operations\": [\n        {\n            \"operationType\": \"create\",\n            \"record\": {\n                \"recordType\": \"City\",\n                \"fields\": {\n                    \"name\": {\"value\": \"La Citta Nel Cielo\"},\n                    \"alternatenames\": {\"value\": \"\"},\n                    \"location\": {\"value\": {\"latitude\": 40.0, \"longitude\": 10.0}},\n                    \"population\": {\"value\": 500},\n                    \"title\": {\"value\": \"panda panda \u{1f43c}\u{1f43c}\"}\n                }\n            }\n        }\n    ]\n}";
    let target = path("records/modify");
    let wire = emu.signed(
        "POST",
        &target,
        &target,
        create.as_bytes(),
        Hash::OfBody,
        &[
            ("Accept-Encoding", "gzip"),
            ("User-Agent", "Go-http-client/1.1"),
        ],
    );
    let created = ok(&emu.send(wire).await);
    let city = &created["records"][0];
    assert_record(city);
    assert_eq!(city["recordName"].as_str().unwrap().len(), 36);
    assert_eq!(city["fields"]["location"]["type"], "LOCATION");
    assert_eq!(
        city["fields"]["title"]["value"],
        "panda panda \u{1f43c}\u{1f43c}"
    );
    ok(&emu
        .post(
            "records/modify",
            &json!({"operations": [{"operationType": "create", "record": {
                "recordType": "City", "fields": {"name": {"value": "Roma"}}}}]}),
        )
        .await);

    let query = "{\n   \"query\":{\n      \"recordType\":\"City\",\n      \"filterBy\":[\n         {\n            \"comparator\":\"EQUALS\",\n            \"fieldName\":\"name\",\n            \"fieldValue\":{\n               \"value\":\"La Citta Nel Cielo\"\n            }\n         }\n      ]\n   },\n   \"resultsLimit\":1\n}\n";
    let found = ok(&emu.post_text("records/query", query, None).await);
    assert_eq!(found["records"].as_array().unwrap().len(), 1);
    assert_eq!(found["records"][0]["recordName"], city["recordName"]);
    let me = ok(&emu.get("users/current", Hash::OfBody).await);
    assert!(me["userRecordName"].is_string());
}

// ---------------------------------------------------------------------------------------
// CloudyKit (Swift Codable): `application/json`, zoneID as `{zoneName, ownerName}`,
// one record per request, no resultsLimit; decodes `records[].recordName` (required),
// `created.timestamp` as Int, and request errors as `{uuid, serverErrorCode, reason}`.

#[tokio::test]
async fn cloudykit_single_record_calls_and_error_bodies() {
    let emu = Emu::start().await;
    let json_type = Some("application/json");
    let create = r#"{"operations":[{"operationType":"create","record":{"recordName":"doc-1","recordType":"Doc","fields":{"title":{"value":"Hi","type":"STRING"},"count":{"value":2,"type":"INT64"},"blob":{"value":"aGVsbG8=","type":"BYTES"},"tags":{"value":["a","b"],"type":"STRING_LIST"},"links":{"value":[{"recordName":"doc-0","action":"NONE","zoneID":{"zoneName":"_defaultZone","ownerRecordName":"_defaultOwner","zoneType":"DEFAULT_ZONE"}}],"type":"REFERENCE_LIST"}}}}]}"#;
    let created = ok(&emu.post_text("records/modify", create, json_type).await);
    assert_record(&created["records"][0]);
    assert_eq!(created["records"][0]["fields"]["blob"]["value"], "aGVsbG8=");

    let query = r#"{"zoneID":{"zoneName":"_defaultZone","ownerName":"__defaultOwner__"},"query":{"recordType":"Doc","filterBy":[{"comparator":"EQUALS","fieldName":"title","fieldValue":{"value":"Hi","type":"STRING"}}],"sortBy":[{"fieldName":"count","ascending":false}]}}"#;
    let found = ok(&emu.post_text("records/query", query, json_type).await);
    assert_eq!(found["records"][0]["recordName"], "doc-1");

    let fetch = r#"{"records":[{"recordName":"nope"}]}"#;
    let missing = ok(&emu.post_text("records/lookup", fetch, json_type).await);
    assert_record_error(&missing["records"][0], "NOT_FOUND");

    let untagged = r#"{"operations":[{"operationType":"update","record":{"recordName":"doc-1","recordType":"Doc","fields":{}}}]}"#;
    let reply = emu.post_text("records/modify", untagged, json_type).await;
    assert_request_error(&reply, 400, "BAD_REQUEST");
    assert_eq!(
        reply.json()["reason"],
        "BadRequestException: missing required field 'recordChangeTag'"
    );
}

// ---------------------------------------------------------------------------------------
// edorphy/CloudKitWebServices (Swift Codable): a record needs `recordChangeTag` and a
// `fields` object (even when empty), stamps need `deviceID`; error `uuid` must parse as a
// UUID; a reference's `zoneID` needs `ownerRecordName`; users/current `{userRecordName}`.

#[tokio::test]
async fn edorphy_records_always_have_fields_and_zone_owners() {
    let emu = Emu::start().await;
    let asset = emu.upload(b"twelve bytes").await;
    let create = json!({"operations": [
        {"operationType": "create", "record": {"recordName": "empty", "recordType": "Thing"}},
        {"operationType": "create", "record": {"recordName": "linked", "recordType": "Thing",
            "fields": {"to": {"value": {"recordName": "empty", "action": "VALIDATE"}, "type": "REFERENCE"},
                       "asset": {"value": asset, "type": "ASSETID"}}}}]});
    let created = ok(&emu.post("records/modify", &create).await);
    assert_eq!(created["records"][0]["fields"], json!({}));
    assert_record(&created["records"][1]);
    assert_eq!(created["records"][1]["fields"]["asset"]["type"], "ASSETID");
    let query = json!({"query": {"recordType": "Thing"}});
    let found = ok(&emu.post("records/query", &query).await);
    for record in found["records"].as_array().unwrap() {
        assert_record(record);
        assert!(record["zoneID"]["ownerRecordName"].is_string());
    }
    let me = ok(&emu.get("users/current", Hash::OfBody).await);
    assert!(me["userRecordName"].is_string());
}

// ---------------------------------------------------------------------------------------
// CloudKit JS: performQuery continues by re-issuing the same query with the previous
// reply's `continuationMarker`; lookups carry `desiredKeys` per record; numbers may be
// asked for as strings; users/caller answers `{users: [identity]}`.

#[tokio::test]
async fn cloudkit_js_continuation_desired_keys_and_numbers_as_strings() {
    let emu = Emu::start().await;
    let operations: Vec<Json> = (0..7)
        .map(|i| json!({"operationType": "forceUpdate", "record": {"recordType": "Score",
            "recordName": format!("s{i}"), "fields": {"points": {"value": 9_007_199_254_740_993_i64 - i, "type": "INT64"},
            "player": {"value": format!("player {i}"), "type": "STRING"}}}}))
        .collect();
    let created = ok(&emu
        .post("records/modify", &json!({"operations": operations}))
        .await);
    assert!(created["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["recordType"] == "Score"));

    let first = json!({"zoneID": {"zoneName": "_defaultZone"}, "resultsLimit": 3,
        "numbersAsStrings": true, "query": {"recordType": "Score",
        "sortBy": [{"fieldName": "points", "ascending": false}]}});
    let mut request = first.clone();
    let mut seen = Vec::new();
    loop {
        let page = ok(&emu.post("records/query", &request).await);
        for record in page["records"].as_array().unwrap() {
            assert!(record["fields"]["points"]["value"].is_string());
            seen.push(record["recordName"].as_str().unwrap().to_owned());
        }
        let Some(marker) = page.get("continuationMarker") else {
            break;
        };
        request = first.clone();
        request["continuationMarker"] = marker.clone();
    }
    assert_eq!(seen, ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]);

    let lookup = json!({"records": [{"recordName": "s0", "desiredKeys": ["player"]},
        {"recordName": "s1"}], "desiredKeys": ["points"]});
    let looked = ok(&emu.post("records/lookup", &lookup).await);
    let keys = |i: usize| -> Vec<String> {
        looked["records"][i]["fields"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(0), ["player"]);
    assert_eq!(keys(1), ["points"]);
    assert_eq!(
        looked["records"][1]["fields"]["points"]["value"],
        9_007_199_254_740_992_i64
    );

    let caller = ok(&emu.get("users/caller", Hash::OfBody).await);
    let users = caller["users"].as_array().expect("users array");
    assert_eq!(users.len(), 1);
    assert!(users[0]["userRecordName"].is_string());
}

// ---------------------------------------------------------------------------------------
// HTTP details every client meets: trailing slashes, a percent-encoded container, GET and
// POST for the GET endpoints, `{}` bodies on GETs, charset variants, `Expect:
// 100-continue`, keep-alive, a 200-operation modify of about 1 MB, CloudKit error JSON for
// unknown routes and 405 for wrong methods.

#[tokio::test]
async fn routes_methods_and_paths() {
    let emu = Emu::start().await;
    let slash = format!("{}/", path("records/lookup"));
    let body = br#"{"records":[{"recordName":"a"}]}"#;
    let reply = emu
        .send(emu.signed("POST", &slash, &slash, body, Hash::OfBody, &[]))
        .await;
    assert_record_error(&ok(&reply)["records"][0], "NOT_FOUND");

    let encoded = path("zones/list").replace(CONTAINER, &CONTAINER.replace('.', "%2E"));
    let reply = emu
        .send(emu.signed("GET", &encoded, &encoded, b"", Hash::OfBody, &[]))
        .await;
    assert_eq!(ok(&reply)["zones"][0]["zoneID"]["zoneName"], "_defaultZone");

    for operation in ["zones/list", "users/current", "users/caller"] {
        let reply = emu.post(operation, &json!({})).await;
        ok(&reply);
        let target = path(operation);
        let get_with_body = emu.signed("GET", &target, &target, b"{}", Hash::OfBody, &[]);
        ok(&emu.send(get_with_body).await);
    }
    let target = path("records/query");
    let reply = emu
        .send(emu.signed("GET", &target, &target, b"", Hash::OfBody, &[]))
        .await;
    assert_request_error(&reply, 405, "BAD_REQUEST");
    assert!(reply.header("allow").is_some_and(|a| a.contains("POST")));
    let reply = emu.post("records/frobnicate", &json!({})).await;
    assert_request_error(&reply, 404, "NOT_FOUND");
    let reply = emu
        .send(Wire {
            method: "GET",
            target: "/favicon.ico".to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            chunked: false,
        })
        .await;
    assert_request_error(&reply, 404, "NOT_FOUND");
}

#[tokio::test]
async fn content_types_continue_keep_alive_and_big_bodies() {
    let emu = Emu::start().await;
    let lookup = r#"{"records":[{"recordName":"a"}]}"#;
    for content_type in [
        "application/json",
        "application/json; charset=UTF-8",
        "application/json;charset=utf-8",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
    ] {
        ok(&emu
            .post_text("records/lookup", lookup, Some(content_type))
            .await);
    }

    let target = path("records/lookup");
    let wire = emu.signed(
        "POST",
        &target,
        &target,
        lookup.as_bytes(),
        Hash::OfBody,
        &[("Expect", "100-continue")],
    );
    let mut stream = emu.connect().await;
    let bytes = wire.bytes();
    let split = bytes.len() - lookup.len();
    stream.get_mut().write_all(&bytes[..split]).await.unwrap();
    let mut interim = String::new();
    stream.read_line(&mut interim).await.unwrap();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream.read_line(&mut interim).await.unwrap();
    stream.get_mut().write_all(&bytes[split..]).await.unwrap();
    ok(&read_reply(&mut stream).await);

    let mut stream = emu.connect().await;
    for _ in 0..3 {
        let wire = emu.signed(
            "POST",
            &target,
            &target,
            lookup.as_bytes(),
            Hash::OfBody,
            &[],
        );
        stream.get_mut().write_all(&wire.bytes()).await.unwrap();
        let reply = read_reply(&mut stream).await;
        ok(&reply);
        assert_ne!(reply.header("connection"), Some("close"));
    }

    let filler = "x".repeat(5_000);
    let operations: Vec<Json> = (0..200)
        .map(|i| json!({"operationType": "forceReplace", "record": {"recordType": "Blob",
            "recordName": format!("b{i:03}"), "fields": {"data": {"value": filler, "type": "STRING"}}}}))
        .collect();
    let body = json!({"operations": operations});
    assert!(body.to_string().len() > 1_000_000);
    let reply = ok(&emu.post("records/modify", &body).await);
    assert_eq!(reply["records"].as_array().unwrap().len(), 200);
    assert!(reply["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["recordType"] == "Blob"));
}

#[tokio::test]
async fn request_shapes_with_nulls_owner_names_and_untyped_values() {
    let emu = Emu::start().await;
    let owner = ok(&emu.get("users/current", Hash::OfBody).await)["userRecordName"].clone();
    let create = json!({"zoneID": {"zoneName": "_defaultZone", "ownerRecordName": owner},
        "operations": [{"operationType": "create", "desiredKeys": null, "record": {
        "recordName": "u1", "recordType": "Mixed", "recordChangeTag": null, "fields": {
            "ref": {"value": {"recordName": "u0"}},
            "refs": {"value": [{"recordName": "u0", "action": "DELETE_SELF"}]},
            "nums": {"value": [1, 2, 3]},
            "spots": {"value": [{"latitude": 1.0, "longitude": 2.0}]},
            "when": {"value": 1_700_000_000_000_i64, "type": "TIMESTAMP"},
            "file": {"value": emu.upload_for("Mixed", "file", b"foo").await}}}}]});
    let created = ok(&emu.post("records/modify", &create).await);
    let record = &created["records"][0];
    assert_record(record);
    let types: Vec<(&str, &str)> = ["ref", "refs", "nums", "spots", "when", "file"]
        .iter()
        .map(|f| (*f, record["fields"][f]["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("ref", "REFERENCE"),
            ("refs", "REFERENCE_LIST"),
            ("nums", "INT64_LIST"),
            ("spots", "LOCATION_LIST"),
            ("when", "TIMESTAMP"),
            ("file", "ASSETID")
        ]
    );
    let query = json!({"zoneID": {"zoneName": "_defaultZone", "ownerRecordName": owner},
        "desiredKeys": null, "continuationMarker": null, "resultsLimit": null,
        "query": {"recordType": "Mixed", "filterBy": null, "sortBy": null}});
    let found = ok(&emu.post("records/query", &query).await);
    assert_eq!(found["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        found["records"][0]["fields"]["refs"]["value"][0]["action"],
        "DELETE_SELF"
    );
}

// ---------------------------------------------------------------------------------------
// Issue 21, assets as Apple's "Uploading Assets" describes them: an upload URL per token, an
// unsigned POST of the bytes, a receipt required to save, a downloadURL with `${f}` served
// without authentication.

#[tokio::test]
async fn assets_save_only_with_a_receipt_and_download_as_uploaded() {
    let emu = Emu::start().await;
    let forged = json!({"operations": [{"operationType": "create", "record": {
        "recordName": "a1", "recordType": "Thing",
        "fields": {"asset": {"value": {"fileChecksum": "AQID", "size": 3}, "type": "ASSETID"}}}}]});
    let reply = emu.post("records/modify", &forged).await;
    assert_request_error(&reply, 400, "BAD_REQUEST");
    let asset = emu.upload(b"the bytes").await;
    assert_eq!(asset["size"], 9);
    let checksum = asset["fileChecksum"].as_str().unwrap().to_owned();
    assert_eq!(checksum.len(), 28, "21 bytes, base64");
    // The same bytes answer the same checksum.
    assert_eq!(emu.upload(b"the bytes").await["fileChecksum"], checksum);
    let create = json!({"operations": [{"operationType": "create", "record": {
        "recordName": "a1", "recordType": "Thing",
        "fields": {"asset": {"value": asset, "type": "ASSETID"}}}}]});
    let created = ok(&emu.post("records/modify", &create).await);
    let saved = &created["records"][0]["fields"]["asset"]["value"];
    assert_eq!(saved["fileChecksum"], checksum);
    assert!(saved.get("receipt").is_none(), "{saved}");
    let found = ok(&emu
        .post(
            "records/lookup",
            &json!({"records": [{"recordName": "a1"}]}),
        )
        .await);
    let url = found["records"][0]["fields"]["asset"]["value"]["downloadURL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.ends_with("/${f}"), "{url}");
    let target = format!(
        "/{}",
        url.replace("${f}", "a.bin").splitn(4, '/').nth(3).unwrap()
    );
    let wire = Wire {
        method: "GET",
        target,
        headers: Vec::new(),
        body: Vec::new(),
        chunked: false,
    };
    let download = emu.send(wire).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, b"the bytes");
    let stats = emu.running.stats().assets;
    assert_eq!((stats.uploads, stats.bytes, stats.downloads), (2, 18, 1));
}

/// Issue 21 (hostile review 6), the emulator stricter than anything known of CloudKit
/// (`docs/protocol.md`, *Assets*): a receipt saves one field of one record, of its token's
/// recordType and fieldName, in the container, environment and database the token was
/// asked in, with the uploaded size; anything else is refused with 400 BAD_REQUEST.
#[tokio::test]
async fn a_receipt_saves_one_field_of_one_record_in_its_own_scope() {
    let emu = Emu::start().await;
    let create = |name: &str, field: &str, value: &Json| {
        json!({"operations": [{"operationType": "create", "record": {
            "recordName": name, "recordType": "Thing",
            "fields": {field: {"value": value, "type": "ASSETID"}}}}]})
    };
    let refused = |reply: &Raw, reason: &str| {
        assert_request_error(reply, 400, "BAD_REQUEST");
        let text = String::from_utf8_lossy(&reply.body);
        assert!(text.contains(reason), "{text}");
    };
    let asset = emu.upload(b"one slot").await;
    // Another field of the same type, another record type, a wrong size.
    let reply = emu
        .post("records/modify", &create("a1", "other", &asset))
        .await;
    refused(
        &reply,
        "asset receipt was not issued for field 'other' of Thing record",
    );
    let mut other_type = create("a1", "asset", &asset);
    other_type["operations"][0]["record"]["recordType"] = json!("Other");
    refused(
        &emu.post("records/modify", &other_type).await,
        "was not issued for",
    );
    let mut resized = asset.clone();
    resized["size"] = json!(99);
    let reply = emu
        .post("records/modify", &create("a1", "asset", &resized))
        .await;
    refused(&reply, "asset size 99 does not match the uploaded 8 bytes");
    // Another environment of the same container.
    let target = format!("/database/1/{CONTAINER}/production/public/records/modify");
    let body = create("a1", "asset", &asset).to_string();
    let extra = [("Content-Type", "text/plain")];
    let signed = emu.signed(
        "POST",
        &target,
        &target,
        body.as_bytes(),
        Hash::OfBody,
        &extra,
    );
    refused(&emu.send(signed).await, "was not issued for");
    // Its own slot saves; a second record, or the same record again, does not.
    ok(&emu
        .post("records/modify", &create("a1", "asset", &asset))
        .await);
    let reply = emu
        .post("records/modify", &create("a2", "asset", &asset))
        .await;
    refused(&reply, "already saved in a record field");
    // Two elements of one list need two uploads.
    let list = json!([emu.upload(b"element").await, emu.upload(b"element").await]);
    ok(&emu
        .post("records/modify", &create("a3", "asset", &list))
        .await);
    let shared = emu.upload(b"element").await;
    let twice = json!([shared.clone(), shared]);
    let reply = emu
        .post("records/modify", &create("a4", "asset", &twice))
        .await;
    refused(&reply, "already saved in a record field");
}
