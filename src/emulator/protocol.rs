//! The HTTP side of CloudKit's protocol: parsing `/database/1/{container}/{environment}/
//! {database}/{operation}`, decoding request bodies (any content type: CloudKit's own
//! samples send `text/plain`), and encoding replies and `{uuid, serverErrorCode, reason}`
//! error bodies with the status CloudKit uses for each code.

use super::store::{RequestError, Scope};
use crate::cloudkit::wire::{QueryResponse, RecordResult, ServerErrorCode};
use crate::record::{Database, Environment};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub type Reply = Response<Full<Bytes>>;

pub use crate::cloudkit::wire::Endpoint;

/// The operations the emulator serves; any other is an unknown route (404).
const SERVED: [Endpoint; 8] = [
    Endpoint::Query,
    Endpoint::Lookup,
    Endpoint::Modify,
    Endpoint::ZonesList,
    Endpoint::ZonesLookup,
    Endpoint::UsersCaller,
    Endpoint::UsersCurrent,
    Endpoint::AssetsUpload,
];

/// GET endpoints also take POST; the others take POST only.
fn allows(endpoint: Endpoint, method: &Method) -> bool {
    allowed_methods(endpoint)
        .split(", ")
        .any(|allowed| allowed == method.as_str())
}

/// The `Allow` header of a 405.
fn allowed_methods(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::ZonesList | Endpoint::UsersCaller | Endpoint::UsersCurrent => "GET, POST",
        _ => "POST",
    }
}

/// A routed database request.
#[derive(Clone, Debug)]
pub struct Route {
    pub scope: Scope,
    pub endpoint: Endpoint,
}

/// Why a request was not routed: a CloudKit error, or a method the endpoint does not take.
#[derive(Debug)]
pub enum Refused {
    Error(RequestError),
    /// 405 with an `Allow` header and a CloudKit error body (BAD_REQUEST).
    Method {
        error: RequestError,
        allow: &'static str,
    },
}

impl Refused {
    /// The reply, with `uuid` in its body.
    pub fn reply(&self, uuid: String) -> Reply {
        match self {
            Refused::Error(error) => error_reply(error, uuid, None),
            Refused::Method { error, allow } => {
                let mut response = error_reply(error, uuid, None);
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                response.headers_mut().insert(
                    hyper::header::ALLOW,
                    hyper::header::HeaderValue::from_static(allow),
                );
                response
            }
        }
    }

    pub fn code(&self) -> &ServerErrorCode {
        match self {
            Refused::Error(error) | Refused::Method { error, .. } => &error.code,
        }
    }
}

/// Parses the request path (without query string). One trailing slash is ignored and the
/// container segment is percent-decoded, since clients build URLs differently.
pub fn route(method: &Method, path: &str) -> Result<Route, Refused> {
    let not_found = || {
        Refused::Error(RequestError::new(
            ServerErrorCode::NotFound,
            format!("no such endpoint `{path}`"),
        ))
    };
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let rest = trimmed.strip_prefix("/database/1/").ok_or_else(not_found)?;
    let mut parts = rest.splitn(4, '/');
    let (Some(container), Some(environment), Some(database), Some(operation)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_found());
    };
    let bad_request = |reason: String| Refused::Error(RequestError::bad_request(reason));
    let environment = match environment {
        "development" => Environment::Development,
        "production" => Environment::Production,
        other => {
            return Err(bad_request(format!(
                "BadRequestException: unknown environment '{other}'"
            )))
        }
    };
    let database = match database {
        "public" => Database::Public,
        "private" => Database::Private,
        "shared" => Database::Shared,
        other => {
            return Err(bad_request(format!(
                "BadRequestException: unknown database '{other}'"
            )))
        }
    };
    let endpoint = Endpoint::parse(operation)
        .filter(|endpoint| SERVED.contains(endpoint))
        .ok_or_else(not_found)?;
    let container = percent_decode(container);
    if container.is_empty() {
        return Err(not_found());
    }
    if !allows(endpoint, method) {
        return Err(Refused::Method {
            error: RequestError::bad_request(format!(
                "method `{method}` is not allowed for `{operation}`"
            )),
            allow: allowed_methods(endpoint),
        });
    }
    Ok(Route {
        scope: Scope {
            container,
            environment,
            database,
        },
        endpoint,
    })
}

/// The value of parameter `name` in a query string (`a=1&container=iCloud.x`), with `+`
/// and `%XX` decoded in names and values as HTML forms and URL builders encode them; the
/// first occurrence wins. `None` when the parameter is absent.
pub fn query_parameter(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = |text: &str| percent_decode(&text.replace('+', " "));
        (decoded(key) == name).then(|| decoded(value))
    })
}

/// `%XX` escapes decoded; a malformed escape or non-UTF-8 result leaves the text as is.
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| text.to_owned())
}

/// Decodes a JSON body into `T`; malformed JSON or a wrong shape is a 400. A `null` member
/// counts as absent (CloudKitClient sends every unset optional key as `null`, such as
/// `"filterBy": null`), except inside `fields`, where `null` removes a field.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, RequestError> {
    if let Ok(parsed) = serde_json::from_slice(body) {
        return Ok(parsed);
    }
    // Slow path: drop nulls, or tell malformed JSON from a wrong shape.
    let mut json: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        RequestError::bad_request(format!("BadRequestException: malformed JSON body: {e}"))
    })?;
    drop_null_members(&mut json);
    serde_json::from_value(json).map_err(|e| {
        let message = e.to_string();
        let reason = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(field) => format!("BadRequestException: missing required field '{field}'"),
            None => format!("BadRequestException: {message}"),
        };
        RequestError::bad_request(reason)
    })
}

/// Removes `null` object members at every depth except directly inside `fields`.
fn drop_null_members(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(members) => {
            members.retain(|_, value| !value.is_null());
            for (key, value) in members.iter_mut() {
                if key == "fields" {
                    value
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|fields| fields.values_mut())
                        .for_each(drop_null_members);
                } else {
                    drop_null_members(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_null_members),
        _ => {}
    }
}

/// A 200 with a JSON body.
pub fn json_reply<T: Serialize>(body: &T) -> Reply {
    match serde_json::to_vec(body) {
        Ok(bytes) => reply(StatusCode::OK, bytes),
        Err(e) => error_reply(
            &RequestError::new(
                ServerErrorCode::InternalError,
                format!("failed to encode the reply: {e}"),
            ),
            String::new(),
            None,
        ),
    }
}

/// `{records: [...]}` of records/lookup and records/modify: one entry per record, in
/// request order; error entries carry `retryAfter` as whole seconds.
pub fn records_reply(records: &[RecordResult]) -> Reply {
    json_reply(&RecordsBody {
        records: records.iter().map(Entry).collect(),
    })
}

/// The records/query reply: `{records, continuationMarker?}`.
pub fn query_reply(reply: &QueryResponse) -> Reply {
    json_reply(&QueryBody {
        records: reply.records.iter().map(Entry).collect(),
        continuation_marker: reply.continuation_marker.as_deref(),
    })
}

#[derive(Serialize)]
struct RecordsBody<'a> {
    records: Vec<Entry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryBody<'a> {
    records: Vec<Entry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation_marker: Option<&'a str>,
}

/// A reply entry: the record as is, or the error with an integer `retryAfter`.
struct Entry<'a>(&'a RecordResult);

/// A per-record error entry as sent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    record_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    server_error_code: &'a ServerErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<&'a str>,
    #[serde(rename = "redirectURL", skip_serializing_if = "Option::is_none")]
    redirect_url: Option<&'a str>,
}

impl Serialize for Entry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            RecordResult::Record(record) => record.serialize(serializer),
            RecordResult::Error(error) => ErrorEntry {
                record_name: error.record_name.as_deref(),
                reason: error.reason.as_deref(),
                server_error_code: &error.server_error_code,
                retry_after: error.retry_after.map(whole_seconds),
                uuid: error.uuid.as_deref(),
                redirect_url: error.redirect_url.as_deref(),
            }
            .serialize(serializer),
        }
    }
}

/// Seconds rounded up to a whole number (typed clients decode `retryAfter` as an integer).
fn whole_seconds(seconds: f64) -> u64 {
    seconds.max(0.0).ceil() as u64
}

/// A request-level error with CloudKit's body and status; `uuid` comes from the
/// emulator's seeded source, `retry_after` (seconds) is sent when given.
pub fn error_reply(error: &RequestError, uuid: String, retry_after: Option<f64>) -> Reply {
    let body = ErrorReply {
        uuid,
        server_error_code: &error.code,
        reason: &error.reason,
        retry_after: retry_after.map(whole_seconds),
    };
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(status, serde_json::to_vec(&body).unwrap_or_default())
}

/// A request-level error body in live key order. `retryAfter` is a whole number of
/// seconds (rounded up): typed clients decode it as an integer (CloudKitClient `Int`,
/// CloudKitWebServices `UInt`) and would reject `1.0`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorReply<'a> {
    uuid: String,
    server_error_code: &'a ServerErrorCode,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// Largest request body accepted, in bytes. Not documented for Web Services; Apple's
/// native guidance is "2 MB per request (not counting asset sizes)" (CloudKit,
/// `CKError.Code.limitExceeded`), read strictly as 2,000,000 bytes.
pub const MAX_REQUEST_BYTES: usize = 2_000_000;

/// HTTP 413 for a body over `MAX_REQUEST_BYTES`, answered before CloudKit reads it: the
/// HTTP front end's HTML page, not a CloudKit JSON body (a client must not read a
/// serverErrorCode such as QUOTA_EXCEEDED into it).
pub fn too_large_reply() -> Reply {
    let body = b"<html><head><title>413 Request Entity Too Large</title></head>\
<body><h1>Request Entity Too Large</h1></body></html>\n"
        .to_vec();
    let mut response = reply(StatusCode::PAYLOAD_TOO_LARGE, body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html"),
    );
    response
}

/// Whether `Accept-Encoding` allows gzip (`gzip`, `x-gzip` or `*` with a non-zero `q`;
/// an explicit `gzip;q=0` wins over `*`). Live replies are gzip-encoded (`docs/protocol.md`,
/// "Endpoints": `content-encoding: gzip` in captured response headers).
pub fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    let values = headers.get_all(hyper::header::ACCEPT_ENCODING);
    for item in values
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(quality > 0.0),
            "*" => any = Some(quality > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// `body` gzip-encoded, or `None` if encoding failed.
pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

fn reply(status: StatusCode, body: Vec<u8>) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn issue_20_query_parameters_are_decoded() {
        let query = Some("a=1&container=iCloud%2Ecom.x&since=4&name+with=a+b%20c");
        assert_eq!(
            query_parameter(query, "container").as_deref(),
            Some("iCloud.com.x")
        );
        assert_eq!(query_parameter(query, "since").as_deref(), Some("4"));
        assert_eq!(
            query_parameter(query, "name with").as_deref(),
            Some("a b c")
        );
        assert_eq!(query_parameter(query, "contain"), None);
        assert_eq!(query_parameter(None, "since"), None);
    }

    use super::*;

    #[test]
    fn routes_parse_and_reject() {
        let route = route(
            &Method::POST,
            "/database/1/iCloud.com.example/development/public/records/query",
        )
        .unwrap();
        assert_eq!(route.endpoint, Endpoint::Query);
        assert_eq!(route.scope.container, "iCloud.com.example");
        let env = super::route(&Method::POST, "/database/1/c/staging/public/records/query");
        assert_eq!(env.unwrap_err().code(), &ServerErrorCode::BadRequest);
        let db = super::route(
            &Method::POST,
            "/database/1/c/development/secret/records/query",
        );
        assert_eq!(db.unwrap_err().code(), &ServerErrorCode::BadRequest);
        let op = super::route(
            &Method::POST,
            "/database/1/c/development/public/records/nope",
        );
        assert_eq!(op.unwrap_err().code(), &ServerErrorCode::NotFound);
        let get = super::route(&Method::GET, "/database/1/c/development/public/zones/list");
        assert_eq!(get.unwrap().endpoint, Endpoint::ZonesList);
        let slash = super::route(
            &Method::POST,
            "/database/1/iCloud%2Ea/development/public/records/modify/",
        );
        let slash = slash.unwrap();
        assert_eq!(slash.endpoint, Endpoint::Modify);
        assert_eq!(slash.scope.container, "iCloud.a");
        let wrong = super::route(
            &Method::GET,
            "/database/1/c/development/public/records/query",
        );
        assert_eq!(
            wrong.unwrap_err().reply(String::new()).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%E2%98%95%zz"), "\u{2615}%zz");
    }

    #[test]
    fn issue_11_accept_encoding_decides_gzip() {
        let accepts = |value: &str| {
            let mut headers = hyper::HeaderMap::new();
            headers.insert(
                hyper::header::ACCEPT_ENCODING,
                hyper::header::HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&headers)
        };
        assert!(accepts("gzip"));
        assert!(accepts("br, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("identity"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("*, gzip;q=0"));
        assert!(!accepts_gzip(&hyper::HeaderMap::new()));
        let packed = gzip(b"{\"records\":[]}").unwrap();
        assert_eq!(&packed[..2], &[0x1f, 0x8b]);
    }

    #[test]
    fn missing_fields_read_like_cloudkit() {
        let error = parse_body::<crate::cloudkit::wire::ModifyRequest>(b"{}").unwrap_err();
        assert_eq!(
            error.reason,
            "BadRequestException: missing required field 'operations'"
        );
        let error = parse_body::<crate::cloudkit::wire::ModifyRequest>(b"{").unwrap_err();
        assert!(error.reason.contains("malformed JSON"), "{}", error.reason);
    }

    #[test]
    fn null_members_count_as_absent_except_fields() {
        let body =
            br#"{"query":{"recordType":"T","filterBy":null,"sortBy":null},"resultsLimit":null}"#;
        let request: crate::cloudkit::wire::QueryRequest = parse_body(body).unwrap();
        assert!(request.query.filter_by.is_empty());
        let body = br#"{"operations":[{"operationType":"update","desiredKeys":null,"record":{"recordName":"a","recordChangeTag":"1","zoneID":null,"fields":{"gone":null,"kept":{"value":1,"type":null}}}}],"atomic":null}"#;
        let request: crate::cloudkit::wire::ModifyRequest = parse_body(body).unwrap();
        let fields = request.operations[0].record.fields.as_ref().unwrap();
        assert_eq!(fields["gone"], None);
        assert!(fields["kept"].is_some());
    }
}
