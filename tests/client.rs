//! Drives `cloudkit::Client` against a scripted HTTP server on 127.0.0.1: each test decides
//! the replies (canned, computed from the request, a dropped connection or a hang) and then
//! inspects the log of what the server received. The server knows nothing of the client; its
//! replies are written from `docs/protocol.md`.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use ckplan::cloudkit::auth::{self, RequestSigner};
use ckplan::cloudkit::client::{Clock, Lookup, OperationResult};
use ckplan::cloudkit::wire::{Operation, OperationType, ServerErrorCode, WireRecord};
use ckplan::cloudkit::{Client, ClientOptions, CloudKitError, RetryPolicy};
use ckplan::record::{Database, Environment, Target};
use ckplan::record::{FieldValue, Record, RecordName, RecordType};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[path = "client/live.rs"]
mod live;

const KEY_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const CONTAINER: &str = "iCloud.com.example.Tests";

/// What the server does with one request.
enum Reply {
    Json(u16, Value),
    Text(u16, &'static str),
    /// JSON, gzip-compressed with `Content-Encoding: gzip` (as live CloudKit answers).
    Gzip(u16, Value),
    /// Reads the request, then closes the connection without a reply.
    Drop,
    /// Reads the request and never answers.
    Hang,
    /// JSON after a pause, so that requests overlap.
    Slow(Duration, Value),
}

/// One request as the server received it.
#[derive(Clone, Debug)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

type Responder = Box<dyn FnMut(&Received) -> Reply + Send>;

struct Shared {
    responder: Mutex<Responder>,
    log: Mutex<Vec<Received>>,
    connections: AtomicUsize,
    /// Requests being answered now, and the most at once so far.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

struct Server {
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// A server answering every request with `responder`.
    async fn start(responder: impl FnMut(&Received) -> Reply + Send + 'static) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            responder: Mutex::new(Box::new(responder)),
            log: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_connection(stream, accepting.clone()));
            }
        });
        Server { address, shared }
    }

    /// A server answering with `replies` in order; past their end it answers 418.
    async fn scripted(replies: Vec<Reply>) -> Server {
        let mut queue = VecDeque::from(replies);
        Server::start(move |_| {
            queue
                .pop_front()
                .unwrap_or(Reply::Text(418, "script exhausted"))
        })
        .await
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }
}

/// Serves one connection; a `Reply::Drop` ends it by dropping the connection future.
async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let kill = Arc::new(Notify::new());
    let on_request = kill.clone();
    let service = hyper::service::service_fn(move |request| {
        handle(shared.clone(), on_request.clone(), request)
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = kill.notified() => {}
    }
}

async fn handle(
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let received = Received {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body: body.collect().await?.to_bytes().to_vec(),
    };
    let reply = (shared.responder.lock().unwrap())(&received);
    shared.log.lock().unwrap().push(received);
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = match reply {
        Reply::Slow(pause, value) => {
            tokio::time::sleep(pause).await;
            Reply::Json(200, value)
        }
        other => other,
    };
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let (status, content_type, encoding, body) = match reply {
        Reply::Json(status, value) => (
            status,
            "application/json; charset=UTF-8",
            None,
            value.to_string().into_bytes(),
        ),
        Reply::Text(status, text) => (
            status,
            "text/plain; charset=utf-8",
            None,
            text.as_bytes().to_vec(),
        ),
        Reply::Gzip(status, value) => {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(value.to_string().as_bytes()).unwrap();
            (
                status,
                "application/json; charset=UTF-8",
                Some("gzip"),
                encoder.finish().unwrap(),
            )
        }
        Reply::Drop => {
            kill.notify_one();
            std::future::pending().await
        }
        Reply::Hang => std::future::pending().await,
        Reply::Slow(..) => unreachable!("answered above"),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(encoding) = encoding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    Ok(response)
}

fn target(zone: &str) -> Target {
    Target {
        container: CONTAINER.to_owned(),
        environment: Environment::Development,
        database: Database::Public,
        zone: zone.to_owned(),
    }
}

fn signing_key() -> SigningKey {
    SigningKey::random(&mut rand::rngs::OsRng)
}

fn options(retry: RetryPolicy) -> ClientOptions {
    ClientOptions {
        retry,
        request_timeout: Some(Duration::from_secs(10)),
        connect_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

/// A client for `server` with up to `attempts` immediate attempts; returns its public key.
fn client_for(server: &Server, attempts: u32) -> (Client, VerifyingKey) {
    let key = signing_key();
    let public = *key.verifying_key();
    let client = Client::new(
        &server.endpoint(),
        target("_defaultZone"),
        RequestSigner::new(KEY_ID, key),
        options(RetryPolicy::immediate(attempts)),
    )
    .unwrap();
    (client, public)
}

/// A reply record dictionary as CloudKit emits it.
fn wire_record(record_type: &str, name: &str, tag: &str) -> Value {
    json!({
        "recordName": name, "recordType": record_type,
        "fields": {"name": {"value": format!("Team {name}"), "type": "STRING"},
                   "founded": {"value": 1901, "type": "INT64"}},
        "pluginFields": {}, "recordChangeTag": tag,
        "created": {"timestamp": 1762819443586_i64, "userRecordName": "_abc", "deviceID": "2"},
        "modified": {"timestamp": 1762819443586_i64, "userRecordName": "_abc", "deviceID": "2"},
        "deleted": false,
        "zoneID": {"zoneName": "_defaultZone", "ownerRecordName": "_abc", "zoneType": "DEFAULT_ZONE"}
    })
}

fn page(from: usize, count: usize, marker: Option<&str>) -> Value {
    let records: Vec<Value> = (from..from + count)
        .map(|i| wire_record("Team", &format!("team-{i:04}"), "t1"))
        .collect();
    match marker {
        Some(marker) => json!({"records": records, "continuationMarker": marker}),
        None => json!({"records": records}),
    }
}

fn throttled(retry_after: f64) -> Reply {
    Reply::Json(
        429,
        json!({"uuid": "u-429", "serverErrorCode": "THROTTLED", "reason": "throttled", "retryAfter": retry_after}),
    )
}

async fn query(client: &Client) -> Result<Vec<Record>, CloudKitError> {
    client
        .query_all(&RecordType::new("Team"), &mut |_| {})
        .await
}

fn create(name: &str) -> Operation {
    let record = Record::new("Team", name).with_field("name", FieldValue::string("x"));
    Operation {
        operation_type: OperationType::Create,
        record: WireRecord::from_record(&record),
        desired_keys: None,
    }
}

#[tokio::test]
async fn requests_carry_verifiable_signature_headers() {
    let server = Server::scripted(vec![Reply::Json(200, json!({"records": []}))]).await;
    let (client, public) = client_for(&server, 1);
    assert!(query(&client).await.unwrap().is_empty());

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    let path = format!("/database/1/{CONTAINER}/development/public/records/query");
    assert_eq!(request.path, path);
    assert_eq!(
        request.header("content-type"),
        "application/json; charset=utf-8"
    );
    assert_eq!(request.header(auth::HEADER_KEY_ID), KEY_ID);
    let date = request.header(auth::HEADER_DATE);
    let signed_at = auth::parse_date(&date).expect("date in the signed format");
    assert!((Utc::now() - signed_at).num_seconds().abs() < 60);
    let signature = request.header(auth::HEADER_SIGNATURE);
    auth::verify(&public, &date, &request.body, &path, &signature).unwrap();
    // The body: one page of at most 200, default zone, so no zoneID and no atomic.
    assert_eq!(
        request.json(),
        json!({"resultsLimit": 200, "query": {"recordType": "Team"}})
    );
    let shown = format!("{client:?}");
    assert!(shown.contains(KEY_ID), "{shown}");
    assert!(!shown.to_lowercase().contains("signing"), "{shown}");
}

#[tokio::test]
async fn get_signs_the_empty_body() {
    let server = Server::scripted(vec![Reply::Json(200, json!({"userRecordName": "_abc"}))]).await;
    let (client, public) = client_for(&server, 1);
    let user: ckplan::cloudkit::wire::UserIdentity = client
        .get(ckplan::cloudkit::wire::Endpoint::UsersCurrent)
        .await
        .unwrap();
    assert_eq!(user.user_record_name, "_abc");
    let request = &server.requests()[0];
    assert_eq!(request.method, Method::GET);
    assert!(request.body.is_empty());
    auth::verify(
        &public,
        &request.header(auth::HEADER_DATE),
        b"",
        &request.path,
        &request.header(auth::HEADER_SIGNATURE),
    )
    .unwrap();
}

#[tokio::test]
async fn query_follows_markers_until_the_last_page() {
    let server = Server::start(|request| {
        let marker = request.json()["continuationMarker"]
            .as_str()
            .map(str::to_owned);
        Reply::Json(
            200,
            match marker.as_deref() {
                None => page(0, 200, Some("bWFya2VyLTE=")),
                Some("bWFya2VyLTE=") => page(200, 200, Some("bWFya2VyLTI=")),
                Some("bWFya2VyLTI=") => page(400, 50, None),
                Some(other) => panic!("unexpected marker {other}"),
            },
        )
    })
    .await;
    let (client, _) = client_for(&server, 1);
    let mut progress = Vec::new();
    let records = client
        .query_all(&RecordType::new("Team"), &mut |so_far| {
            progress.push(so_far)
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 450);
    assert_eq!(progress, vec![200, 400, 450]);
    assert_eq!(records[449].record_name.as_str(), "team-0449");
    assert_eq!(records[0].change_tag.as_ref().unwrap().as_str(), "t1");
    assert_eq!(records[0].fields["founded"], FieldValue::int64(1901));
    let markers: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r.json()["continuationMarker"].clone())
        .collect();
    assert_eq!(
        markers,
        vec![Value::Null, json!("bWFya2VyLTE="), json!("bWFya2VyLTI=")]
    );
    assert_eq!(client.request_counts()["records/query"], 3);
}

#[tokio::test]
async fn a_repeated_marker_stops_the_query() {
    let server = Server::scripted(vec![
        Reply::Json(200, page(0, 2, Some("m1"))),
        Reply::Json(200, page(2, 2, Some("m2"))),
        Reply::Json(200, page(4, 2, Some("m1"))),
    ])
    .await;
    let (client, _) = client_for(&server, 1);
    let error = query(&client).await.unwrap_err();
    assert!(
        matches!(&error, CloudKitError::RepeatedMarker { record_type } if record_type == "Team"),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn query_reply_with_a_record_error_fails() {
    let server = Server::scripted(vec![Reply::Json(
        200,
        json!({"records": [{"recordName": "x", "serverErrorCode": "ACCESS_DENIED", "reason": "no"}]}),
    )])
    .await;
    let (client, _) = client_for(&server, 1);
    let error = query(&client).await.unwrap_err();
    assert!(
        matches!(&error, CloudKitError::RecordFailed { code: ServerErrorCode::AccessDenied, record_name, .. } if record_name == "x"),
        "{error:?}"
    );
}

/// Answers a lookup in order: names divisible by 7 are missing, by 11 denied.
fn lookup_responder(request: &Received) -> Reply {
    let entries: Vec<Value> = request.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let name = entry["recordName"].as_str().unwrap();
            let number: usize = name.trim_start_matches("team-").parse().unwrap();
            if number.is_multiple_of(7) {
                json!({"recordName": name, "serverErrorCode": "NOT_FOUND", "reason": "Record not found"})
            } else if number.is_multiple_of(11) {
                json!({"recordName": name, "serverErrorCode": "ACCESS_DENIED", "reason": "no"})
            } else {
                wire_record("Team", name, "t9")
            }
        })
        .collect();
    Reply::Json(200, json!({ "records": entries }))
}

/// Issue 18: lookup chunks run concurrently, and every request of the client (lookups,
/// queries and modifies alike) shares one budget of `parallelism` requests in flight.
#[tokio::test]
async fn issue_18_requests_overlap_within_one_budget() {
    let server = Server::start(|request| {
        let body = request.json();
        let lookups = body["records"].as_array().into_iter().flatten();
        let writes = body["operations"].as_array().into_iter().flatten();
        let entries: Vec<Value> = lookups
            .chain(writes.map(|operation| &operation["record"]))
            .map(|entry| wire_record("Team", entry["recordName"].as_str().unwrap(), "t1"))
            .collect();
        Reply::Slow(Duration::from_millis(40), json!({ "records": entries }))
    })
    .await;
    let key = signing_key();
    let client = Client::new(
        &server.endpoint(),
        target("_defaultZone"),
        RequestSigner::new(KEY_ID, key),
        ClientOptions {
            parallelism: 3,
            ..options(RetryPolicy::immediate(1))
        },
    )
    .unwrap();
    let names: Vec<RecordName> = (0..2000)
        .map(|i| RecordName::new(format!("team-{i:04}")))
        .collect();
    // One lookup of 10 chunks alone fills the budget.
    let first = client.lookup(&names).await.unwrap();
    assert_eq!(first.len(), 2000);
    for (name, result) in names.iter().zip(&first) {
        assert!(
            matches!(result, Lookup::Found(r) if &r.record_name == name),
            "{result:?}"
        );
    }
    assert_eq!(server.shared.most_in_flight.load(Ordering::SeqCst), 3);
    // Lookups, a query and modifies at once never exceed it.
    let team = RecordType::new("Team");
    let mut on_page = |_| {};
    let creates: Vec<Operation> = (0..200)
        .map(|i| Operation {
            operation_type: OperationType::Create,
            record: WireRecord::from_record(&Record::new("Team", format!("new-{i}"))),
            desired_keys: None,
        })
        .collect();
    let (second, third, query, modify) = tokio::join!(
        client.lookup(&names),
        client.lookup(&names[..600]),
        client.query_all(&team, &mut on_page),
        client.modify_batch(creates),
    );
    assert_eq!(second.unwrap().len(), 2000);
    assert_eq!(third.unwrap().len(), 600);
    assert!(query.unwrap().is_empty());
    assert_eq!(modify.unwrap().len(), 200);
    assert_eq!(server.requests().len(), 10 + 10 + 3 + 1 + 1);
    assert_eq!(
        server.shared.most_in_flight.load(Ordering::SeqCst),
        3,
        "the budget is used, never exceeded"
    );
}

#[tokio::test]
async fn lookup_chunks_by_200_and_keeps_order() {
    let server = Server::start(lookup_responder).await;
    let (client, _) = client_for(&server, 1);
    let names: Vec<RecordName> = (0..450)
        .rev()
        .map(|i| RecordName::new(format!("team-{i:04}")))
        .collect();
    let results = client.lookup(&names).await.unwrap();

    let sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|r| r.json()["records"].as_array().unwrap().len())
        .collect();
    // Chunks go out concurrently, so they may arrive in any order.
    let mut sizes = sizes;
    sizes.sort_unstable();
    assert_eq!(sizes, vec![50, 200, 200]);
    assert_eq!(results.len(), 450);
    for (name, result) in names.iter().zip(&results) {
        let number: usize = name.as_str()[5..].parse().unwrap();
        match result {
            Lookup::NotFound(found) => {
                assert_eq!(found, name);
                assert_eq!(number % 7, 0);
            }
            Lookup::Error(found, error) => {
                assert_eq!(found, name);
                assert_eq!(error.server_error_code, ServerErrorCode::AccessDenied);
                assert_eq!(number % 11, 0);
            }
            Lookup::Found(record) => {
                assert_eq!(&record.record_name, name);
                assert!(!number.is_multiple_of(7) && !number.is_multiple_of(11));
            }
        }
    }
}

/// Answers a modify in order with a per-record outcome chosen by the name's number.
fn modify_responder(request: &Received) -> Reply {
    let entries: Vec<Value> = request.json()["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|operation| {
            let name = operation["record"]["recordName"].as_str().unwrap();
            let number: usize = name.trim_start_matches("op-").parse().unwrap();
            let code = ["CONFLICT", "EXISTS", "NOT_FOUND", "BAD_REQUEST", "ACCESS_DENIED", "SOMETHING_NEW"]
                .get(number % 9);
            match (code, operation["operationType"].as_str()) {
                (Some(code), _) => json!({"recordName": name, "serverErrorCode": code, "reason": format!("{code} reason")}),
                (None, Some("delete")) => json!({"recordName": name, "deleted": true}),
                (None, _) => wire_record("Team", name, &format!("new-{number}")),
            }
        })
        .collect();
    Reply::Json(200, json!({ "records": entries }))
}

#[tokio::test]
async fn modify_splits_into_batches_and_types_each_result() {
    let server = Server::start(modify_responder).await;
    let (client, _) = client_for(&server, 1);
    let operations: Vec<Operation> = (0..450)
        .map(|i| {
            let mut operation = create(&format!("op-{i:04}"));
            if i % 9 == 8 {
                operation.operation_type = OperationType::Delete;
                operation.record.record_change_tag = Some("old".into());
            }
            operation
        })
        .collect();
    let results = client.modify(operations).await.unwrap();

    let requests = server.requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.json()["operations"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![200, 200, 50]);
    for request in &requests {
        let body = request.json();
        assert!(
            body.get("atomic").is_none(),
            "atomic sent in the default zone"
        );
        assert!(body.get("zoneID").is_none());
    }
    assert_eq!(results.len(), 450);
    let codes = [
        ServerErrorCode::Conflict,
        ServerErrorCode::Exists,
        ServerErrorCode::NotFound,
        ServerErrorCode::BadRequest,
        ServerErrorCode::AccessDenied,
        ServerErrorCode::Other("SOMETHING_NEW".into()),
    ];
    for (number, result) in results.iter().enumerate() {
        let name = RecordName::new(format!("op-{number:04}"));
        match (number % 9, result) {
            (kind @ 0..=5, OperationResult::Failed(failed, failure)) => {
                assert_eq!(failed, &name);
                assert_eq!(failure.code, codes[kind]);
                assert_eq!(
                    failure.reason.as_deref(),
                    Some(format!("{} reason", codes[kind]).as_str())
                );
            }
            (6 | 7, OperationResult::Saved(record)) => {
                assert_eq!(record.record_name, name);
                assert_eq!(
                    record.change_tag.as_ref().unwrap().as_str(),
                    format!("new-{number}")
                );
            }
            (8, OperationResult::Deleted(deleted)) => assert_eq!(deleted, &name),
            (_, other) => panic!("op {number}: unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn modify_batch_refuses_more_than_200_before_sending() {
    let server = Server::scripted(vec![]).await;
    let (client, _) = client_for(&server, 1);
    let operations = (0..201).map(|i| create(&format!("op-{i}"))).collect();
    let error = client.modify_batch(operations).await.unwrap_err();
    assert!(
        matches!(
            error,
            CloudKitError::TooManyOperations {
                count: 201,
                limit: 200
            }
        ),
        "{error:?}"
    );
    assert!(!error.may_have_been_applied());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn modify_reply_with_a_missing_entry_is_undecodable() {
    let server = Server::scripted(vec![Reply::Json(
        200,
        json!({"records": [wire_record("Team", "a", "t")]}),
    )])
    .await;
    let (client, _) = client_for(&server, 1);
    let error = client
        .modify_batch(vec![create("a"), create("b")])
        .await
        .unwrap_err();
    let CloudKitError::Undecodable { path, message, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(path, "records");
    assert!(message.contains("expected 2 entries"), "{message}");
    assert!(error.may_have_been_applied());
}

#[tokio::test]
async fn custom_zone_requests_name_the_zone_and_are_not_atomic() {
    let server = Server::start(modify_responder).await;
    let key = signing_key();
    let client = Client::new(
        &server.endpoint(),
        target("Games"),
        RequestSigner::new(KEY_ID, key),
        options(RetryPolicy::none()),
    )
    .unwrap();
    client.modify_batch(vec![create("op-0007")]).await.unwrap();
    let body = server.requests()[0].json();
    assert_eq!(body["zoneID"], json!({"zoneName": "Games"}));
    assert_eq!(body["atomic"], json!(false));
}

/// A clock that moves one minute on every reading, so each signature has its own date.
fn stepping_clock() -> Clock {
    let start = Utc.with_ymd_and_hms(2025, 11, 10, 22, 29, 40).unwrap();
    let readings = Arc::new(Mutex::new(0));
    Arc::new(move || -> DateTime<Utc> {
        let mut count = readings.lock().unwrap();
        *count += 1;
        start + ChronoDuration::minutes(*count)
    })
}

#[tokio::test]
async fn throttled_request_is_retried_after_retry_after_and_re_signed() {
    let server = Server::scripted(vec![throttled(0.2), Reply::Json(200, page(0, 1, None))]).await;
    let key = signing_key();
    let public = *key.verifying_key();
    let client = Client::with_clock(
        &server.endpoint(),
        target("_defaultZone"),
        RequestSigner::new(KEY_ID, key),
        options(RetryPolicy::immediate(3)),
        stepping_clock(),
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(query(&client).await.unwrap().len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "retryAfter not honoured"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let dates: Vec<String> = requests
        .iter()
        .map(|r| r.header(auth::HEADER_DATE))
        .collect();
    assert_eq!(dates, vec!["2025-11-10T22:30:40Z", "2025-11-10T22:31:40Z"]);
    assert_eq!(requests[0].body, requests[1].body);
    for request in &requests {
        auth::verify(
            &public,
            &request.header(auth::HEADER_DATE),
            &request.body,
            &request.path,
            &request.header(auth::HEADER_SIGNATURE),
        )
        .unwrap();
    }
}

/// A write whose outcome is unknown (500: CloudKit may have committed it) is never resent
/// blindly: the caller resolves it by lookup. Only "not now" answers are resent.
#[tokio::test]
async fn issue_11_a_500_on_a_write_is_left_to_lookup_and_only_try_again_later_is_resent() {
    let server = Server::scripted(vec![
        Reply::Json(
            503,
            json!({"serverErrorCode": "TRY_AGAIN_LATER", "reason": "later"}),
        ),
        Reply::Text(500, "<html>Internal Server Error</html>"),
        Reply::Json(200, json!({"records": [wire_record("Team", "a", "t2")]})),
    ])
    .await;
    let (client, _) = client_for(&server, 5);
    let error = client.modify_batch(vec![create("a")]).await.unwrap_err();
    assert!(
        matches!(
            &error,
            CloudKitError::Service {
                status: 500,
                code: ServerErrorCode::InternalError,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.may_have_been_applied());
    assert!(!error.is_retryable());
    assert_eq!(server.requests().len(), 2, "the 500 was resent");
    assert_eq!(client.request_counts()["records/modify"], 2);
}

#[tokio::test]
async fn retries_stop_at_the_attempt_limit() {
    let server = Server::start(|_| throttled(0.0)).await;
    let (client, _) = client_for(&server, 3);
    let error = query(&client).await.unwrap_err();
    assert!(
        matches!(
            &error,
            CloudKitError::Service {
                status: 429,
                code: ServerErrorCode::Throttled,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn authentication_failure_is_not_retried() {
    let server = Server::start(|_| {
        Reply::Json(
            401,
            json!({"uuid": "u-401", "serverErrorCode": "AUTHENTICATION_FAILED", "reason": "Authentication failed"}),
        )
    })
    .await;
    let (client, _) = client_for(&server, 5);
    let error = query(&client).await.unwrap_err();
    let CloudKitError::Service {
        status, code, uuid, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(
        (*status, code, uuid.as_deref()),
        (401, &ServerErrorCode::AuthenticationFailed, Some("u-401"))
    );
    assert!(!error.is_retryable());
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        error.to_string(),
        "cloudkit refused `records/query`: http 401 `AUTHENTICATION_FAILED` (Authentication failed)"
    );
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let server = Server::start(|_| {
        Reply::Json(
            400,
            json!({"uuid": "u", "serverErrorCode": "BAD_REQUEST",
                   "reason": "BadRequestException: missing required field 'recordChangeTag'"}),
        )
    })
    .await;
    let (client, _) = client_for(&server, 5);
    let error = client.modify_batch(vec![create("a")]).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("http 400 `BAD_REQUEST` (BadRequestException: missing required field"),
        "{error}"
    );
    assert!(!error.may_have_been_applied());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn modify_on_a_closed_connection_is_maybe_sent_and_not_resent() {
    let server = Server::scripted(vec![
        Reply::Drop,
        Reply::Json(200, json!({"records": [wire_record("Team", "a", "t")]})),
    ])
    .await;
    let (client, _) = client_for(&server, 5);
    let error = client.modify_batch(vec![create("a")]).await.unwrap_err();
    assert!(
        matches!(&error, CloudKitError::MaybeSent { operation, .. } if *operation == ckplan::cloudkit::wire::Endpoint::Modify),
        "{error:?}"
    );
    assert!(error.may_have_been_applied());
    assert!(!error.is_retryable());
    assert_eq!(server.requests().len(), 1, "a write was resent blindly");
}

#[tokio::test]
async fn modify_timeout_is_maybe_sent_and_not_resent() {
    let server = Server::scripted(vec![Reply::Hang, Reply::Hang]).await;
    let client = Client::new(
        &server.endpoint(),
        target("_defaultZone"),
        RequestSigner::new(KEY_ID, signing_key()),
        ClientOptions {
            retry: RetryPolicy::immediate(5),
            request_timeout: Some(Duration::from_millis(300)),
            connect_timeout: Duration::from_secs(2),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let error = client.modify_batch(vec![create("a")]).await.unwrap_err();
    assert!(
        matches!(error, CloudKitError::MaybeSent { .. }),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn query_on_a_dropped_connection_is_retried() {
    let server = Server::scripted(vec![Reply::Drop, Reply::Json(200, page(0, 3, None))]).await;
    let (client, _) = client_for(&server, 3);
    assert_eq!(query(&client).await.unwrap().len(), 3);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn refused_connection_is_not_sent_and_retried() {
    // A port that was free a moment ago and has no listener now.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client = Client::new(
        &format!("http://{address}"),
        target("_defaultZone"),
        RequestSigner::new(KEY_ID, signing_key()),
        options(RetryPolicy::immediate(3)),
    )
    .unwrap();
    let error = client.modify_batch(vec![create("a")]).await.unwrap_err();
    assert!(matches!(error, CloudKitError::NotSent { .. }), "{error:?}");
    assert!(!error.may_have_been_applied());
    assert!(error.is_retryable());
    assert_eq!(client.request_counts()["records/modify"], 3);
}

#[tokio::test]
async fn garbage_replies_are_undecodable_naming_the_path() {
    let server = Server::scripted(vec![
        Reply::Json(
            200,
            json!({"records": [wire_record("Team", "a", "t"), {"recordName": "b", "recordChangeTag": 5}]}),
        ),
        Reply::Text(200, "this is not json"),
        Reply::Json(200, json!({"records": {"recordName": "a"}})),
    ])
    .await;
    let (client, _) = client_for(&server, 1);
    for expected_path in ["records[1].recordChangeTag", ".", "records"] {
        let error = query(&client).await.unwrap_err();
        let CloudKitError::Undecodable {
            path,
            status,
            operation,
            ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(
            (path.as_str(), *status, operation.path()),
            (expected_path, 200, "records/query")
        );
        assert!(error.to_string().contains(&format!("`{expected_path}`")));
    }
}

#[tokio::test]
async fn undecodable_field_names_record_and_field() {
    let mut record = wire_record("Team", "team-7", "t");
    record["fields"]["founded"] = json!({"value": "nineteen-oh-one", "type": "INT64"});
    let server = Server::scripted(vec![Reply::Json(200, json!({ "records": [record] }))]).await;
    let (client, _) = client_for(&server, 1);
    let error = query(&client).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, CloudKitError::Decode { .. }), "{error:?}");
    assert!(
        text.contains("`team-7`") && text.contains("fields.founded"),
        "{text}"
    );
}

#[test]
fn malformed_endpoint_is_a_clear_error() {
    for endpoint in ["localhost:8080", "127.0.0.1:8080", "http//127.0.0.1", ""] {
        let error = Client::new(
            endpoint,
            target("_defaultZone"),
            RequestSigner::new(KEY_ID, signing_key()),
            ClientOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(error, CloudKitError::Endpoint { .. }),
            "{endpoint}: {error:?}"
        );
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("malformed cloudkit endpoint `{endpoint}`: ")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn connections_are_reused_across_sequential_and_parallel_requests() {
    let server = Server::start(modify_responder).await;
    let (client, _) = client_for(&server, 1);
    for _ in 0..10 {
        client.modify_batch(vec![create("op-0007")]).await.unwrap();
    }
    assert_eq!(
        server.connections(),
        1,
        "sequential requests opened new connections"
    );

    // A season of 5,760 games: 29 batches, 8 in flight at a time.
    let operations: Vec<Operation> = (0..5760).map(|i| create(&format!("op-{i:04}"))).collect();
    let batches: Vec<Vec<Operation>> = operations.chunks(200).map(<[Operation]>::to_vec).collect();
    let started = Instant::now();
    let mut saved = 0;
    for wave in batches.chunks(8) {
        let results =
            futures::future::join_all(wave.iter().map(|batch| client.modify_batch(batch.clone())))
                .await;
        saved += results.into_iter().map(|r| r.unwrap().len()).sum::<usize>();
    }
    let elapsed = started.elapsed();
    assert_eq!(saved, 5760);
    assert!(
        server.connections() <= 8,
        "{} connections",
        server.connections()
    );
    assert_eq!(client.request_counts()["records/modify"], 10 + 29);
    eprintln!(
        "5760 operations in 29 batches, 8 in flight: {} ms over {} connections",
        elapsed.as_millis(),
        server.connections()
    );
}
