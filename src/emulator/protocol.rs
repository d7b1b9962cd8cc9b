//! The HTTP side of CloudKit's protocol: parsing `/database/1/{container}/{environment}/
//! {database}/{operation}`, decoding request bodies (any content type: CloudKit's own
//! samples send `text/plain`), and encoding replies and `{uuid, serverErrorCode, reason}`
//! error bodies with the status CloudKit uses for each code.

use super::store::{RequestError, Scope};
use crate::cloudkit::wire::{ErrorBody, ServerErrorCode};
use crate::cloudkit::{Database, Environment};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub type Reply = Response<Full<Bytes>>;

/// The operations the emulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Query,
    Lookup,
    Modify,
    ZonesList,
    ZonesLookup,
    UsersCaller,
    UsersCurrent,
}

const ENDPOINTS: [(&str, Endpoint); 7] = [
    ("records/query", Endpoint::Query),
    ("records/lookup", Endpoint::Lookup),
    ("records/modify", Endpoint::Modify),
    ("zones/list", Endpoint::ZonesList),
    ("zones/lookup", Endpoint::ZonesLookup),
    ("users/caller", Endpoint::UsersCaller),
    ("users/current", Endpoint::UsersCurrent),
];

impl Endpoint {
    pub fn name(self) -> &'static str {
        ENDPOINTS
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("", |(name, _)| name)
    }

    /// GET endpoints also take POST; the others take POST only.
    fn allows(self, method: &Method) -> bool {
        match self {
            Endpoint::ZonesList | Endpoint::UsersCaller | Endpoint::UsersCurrent => {
                method == Method::GET || method == Method::POST
            }
            _ => method == Method::POST,
        }
    }
}

/// A routed database request.
#[derive(Clone, Debug)]
pub struct Route {
    pub scope: Scope,
    pub endpoint: Endpoint,
}

/// Parses the request path (without query string).
pub fn route(method: &Method, path: &str) -> Result<Route, RequestError> {
    let not_found = || {
        RequestError::new(
            ServerErrorCode::NotFound,
            format!("no such endpoint `{path}`"),
        )
    };
    let rest = path.strip_prefix("/database/1/").ok_or_else(not_found)?;
    let mut parts = rest.splitn(4, '/');
    let (Some(container), Some(environment), Some(database), Some(operation)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_found());
    };
    let environment = match environment {
        "development" => Environment::Development,
        "production" => Environment::Production,
        other => {
            return Err(RequestError::bad_request(format!(
                "BadRequestException: unknown environment '{other}'"
            )))
        }
    };
    let database = match database {
        "public" => Database::Public,
        "private" => Database::Private,
        "shared" => Database::Shared,
        other => {
            return Err(RequestError::bad_request(format!(
                "BadRequestException: unknown database '{other}'"
            )))
        }
    };
    let endpoint = ENDPOINTS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, e)| *e)
        .ok_or_else(not_found)?;
    if container.is_empty() {
        return Err(not_found());
    }
    if !endpoint.allows(method) {
        return Err(RequestError::new(
            ServerErrorCode::NotFound,
            format!("`{method}` is not served for `{operation}`"),
        ));
    }
    Ok(Route {
        scope: Scope {
            container: container.to_owned(),
            environment,
            database,
        },
        endpoint,
    })
}

/// Decodes a JSON body into `T`; malformed JSON or a wrong shape is a 400.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, RequestError> {
    if let Ok(parsed) = serde_json::from_slice(body) {
        return Ok(parsed);
    }
    // Slow path, only to tell malformed JSON from a wrong shape.
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        RequestError::bad_request(format!("BadRequestException: malformed JSON body: {e}"))
    })?;
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

/// A 200 with a JSON body.
pub fn json_reply<T: Serialize>(body: &T) -> Reply {
    match serde_json::to_vec(body) {
        Ok(bytes) => reply(StatusCode::OK, bytes),
        Err(e) => error_reply(&RequestError::new(
            ServerErrorCode::InternalError,
            format!("failed to encode the reply: {e}"),
        )),
    }
}

/// A request-level error with CloudKit's body and status.
pub fn error_reply(error: &RequestError) -> Reply {
    error_reply_after(error, None)
}

/// As `error_reply`, with `retryAfter` (seconds).
pub fn error_reply_after(error: &RequestError, retry_after: Option<f64>) -> Reply {
    let body = ErrorBody {
        uuid: Some(new_uuid()),
        server_error_code: error.code.clone(),
        reason: Some(error.reason.clone()),
        retry_after,
        redirect_url: None,
    };
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(status, serde_json::to_vec(&body).unwrap_or_default())
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

/// A random version-4 UUID, lower case, for error bodies.
fn new_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
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
        assert_eq!(env.unwrap_err().code, ServerErrorCode::BadRequest);
        let db = super::route(
            &Method::POST,
            "/database/1/c/development/secret/records/query",
        );
        assert_eq!(db.unwrap_err().code, ServerErrorCode::BadRequest);
        let op = super::route(
            &Method::POST,
            "/database/1/c/development/public/records/nope",
        );
        assert_eq!(op.unwrap_err().code, ServerErrorCode::NotFound);
        let get = super::route(&Method::GET, "/database/1/c/development/public/zones/list");
        assert_eq!(get.unwrap().endpoint, Endpoint::ZonesList);
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
    fn uuids_are_version_4() {
        let uuid = new_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }
}
