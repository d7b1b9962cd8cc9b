//! The Database API v1 schema endpoints, served beside the records API on the same
//! server (`docs/emulator.md`, "Schema API"), as Apple's typings for CKTool JS
//! (`@apple/cktool.api.database` 1.3.2) describe them under
//! `/v1/database/teams/{teamId}/containers/{containerId}/environments/{environment}`:
//!
//! - `GET …/schema/export` → 200, the schema text as `application/octet-stream` (CKTool
//!   JS reads the export only as a binary body);
//! - `POST …/schema/validate`, multipart part `file` → 200 `{isValid, errorMessage?}`;
//! - `PUT …/schema`, multipart part `file` → 202, empty body.
//!
//! Authenticated by `X-Apple-CloudKit-Management-Token` (never a server-to-server
//! signature); errors are `RequestError` JSON `{code, message, reason, requestUuid}`. The
//! environment is accepted in either case (CKTool sends `DEVELOPMENT`). The unsigned admin
//! route `POST /_emulator/schema/deploy?container=C` deploys development to production.

use super::protocol::Reply;
use super::schema_book::NOT_APPLICABLE_IN_PRODUCTION;
use super::Shared;
use crate::record::Environment;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Response, StatusCode};
use serde_json::json;

/// The management token header.
pub const TOKEN_HEADER: &str = "X-Apple-CloudKit-Management-Token";
const PREFIX: &str = "/v1/database/";

/// Whether `path` belongs to the schema API.
pub(super) fn owns(path: &str) -> bool {
    path.starts_with(PREFIX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Export,
    Validate,
    Import,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Export => "schema/export",
            Operation::Validate => "schema/validate",
            Operation::Import => "schema/import",
        }
    }
}

struct Route {
    container: String,
    environment: Environment,
    operation: Operation,
}

/// Answers a schema API request; the second value names the endpoint for the log.
pub(super) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (Reply, Option<&'static str>) {
    let route = match route(method, path) {
        Ok(route) => route,
        Err((status, reason)) => return (error(shared, status, &reason), None),
    };
    let name = Some(route.operation.name());
    let offered = headers
        .get(TOKEN_HEADER)
        .and_then(|value| value.to_str().ok());
    let accepted = match (&shared.management_token, offered) {
        (Some(token), Some(offered)) => token.matches(offered),
        _ => false,
    };
    if !accepted {
        let reply = error(shared, StatusCode::UNAUTHORIZED, "invalid management token");
        return (reply, name);
    }
    (answer(shared, &route, headers, body), name)
}

fn answer(shared: &Shared, route: &Route, headers: &HeaderMap, body: &[u8]) -> Reply {
    let (container, environment) = (route.container.as_str(), route.environment);
    if route.operation == Operation::Export {
        let state = shared.lock();
        let text =
            crate::schema::print(&state.schemas.export(&state.store, container, environment));
        drop(state);
        // A name a record write brought in that schema text cannot hold: no text at all,
        // rather than text that says something else.
        let text = match text {
            Ok(text) => text,
            Err(unprintable) => {
                let reason = unprintable.to_string();
                return error(shared, StatusCode::INTERNAL_SERVER_ERROR, &reason);
            }
        };
        return Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "application/octet-stream")
            .body(Full::new(Bytes::from(text)))
            .unwrap_or_default();
    }
    if environment == Environment::Production {
        return error(
            shared,
            StatusCode::BAD_REQUEST,
            NOT_APPLICABLE_IN_PRODUCTION,
        );
    }
    let text = match multipart_file(headers, body) {
        Ok(file) => String::from_utf8_lossy(&file).into_owned(),
        Err(reason) => return error(shared, StatusCode::BAD_REQUEST, &reason),
    };
    let mut state = shared.lock();
    let checked = state
        .schemas
        .check(&state.store, container, environment, &text);
    match (route.operation, checked) {
        (Operation::Validate, Ok(_)) => json_reply(StatusCode::OK, &json!({"isValid": true})),
        (Operation::Validate, Err(reason)) => json_reply(
            StatusCode::OK,
            &json!({"isValid": false, "errorMessage": reason}),
        ),
        (_, Ok(schema)) => {
            state.schemas.import(container, environment, schema);
            if let Err(error) = state.save_schemas() {
                tracing::warn!("emulator: failed to save the schema: {error}");
            }
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .body(Full::new(Bytes::new()))
                .unwrap_or_default()
        }
        (_, Err(reason)) => {
            drop(state);
            error(shared, StatusCode::BAD_REQUEST, &reason)
        }
    }
}

fn route(method: &Method, path: &str) -> Result<Route, (StatusCode, String)> {
    let not_found = || (StatusCode::NOT_FOUND, format!("no such endpoint `{path}`"));
    let rest = path.strip_prefix(PREFIX).ok_or_else(not_found)?;
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let (container, environment, tail) = match parts.as_slice() {
        ["teams", team, "containers", container, "environments", environment, "schema", tail @ ..]
            if !team.is_empty() && !container.is_empty() =>
        {
            (*container, *environment, tail)
        }
        _ => return Err(not_found()),
    };
    let environment = match environment.to_ascii_lowercase().as_str() {
        "development" => Environment::Development,
        "production" => Environment::Production,
        _ => {
            let reason = format!("unknown environment `{environment}`");
            return Err((StatusCode::BAD_REQUEST, reason));
        }
    };
    let operation = match (method, tail) {
        (&Method::GET, ["export"]) => Operation::Export,
        (&Method::POST, ["validate"]) => Operation::Validate,
        (&Method::PUT, []) => Operation::Import,
        (_, ["export"] | ["validate"] | []) => {
            let reason = format!("method {method} not allowed on `{path}`");
            return Err((StatusCode::METHOD_NOT_ALLOWED, reason));
        }
        _ => return Err(not_found()),
    };
    // As the records API: clients encode the container differently.
    Ok(Route {
        container: super::protocol::percent_decode(container),
        environment,
        operation,
    })
}

/// The content of the multipart part named `file`.
fn multipart_file(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    let content_type = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .filter(|_| content_type.starts_with("multipart/form-data"))
        .map(|b| b.trim_matches('"'))
        .ok_or("expected a multipart/form-data body with a `file` part")?;
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = split(text, delimiter.as_bytes()).into_iter().skip(1);
    parts
        .find_map(|part| {
            let part = part.strip_prefix(b"\r\n").unwrap_or(part);
            let end = find(part, b"\r\n\r\n")?;
            let head = String::from_utf8_lossy(&part[..end]).to_ascii_lowercase();
            let named_file = head.lines().any(|line| {
                line.starts_with("content-disposition:") && line.contains("name=\"file\"")
            });
            let content = &part[end + 4..];
            let content = content.strip_suffix(b"\r\n").unwrap_or(content);
            named_file.then(|| content.to_vec())
        })
        .ok_or_else(|| "the multipart body has no part named `file`".to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut text: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(text, delimiter) {
        parts.push(&text[..at]);
        text = &text[at + delimiter.len()..];
    }
    parts.push(text);
    parts
}

fn json_reply(status: StatusCode, body: &serde_json::Value) -> Reply {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// `RequestError`: `{code, message, reason, requestUuid}`.
fn error(shared: &Shared, status: StatusCode, reason: &str) -> Reply {
    let message = match status {
        StatusCode::UNAUTHORIZED => "AUTHENTICATION_FAILED",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        _ => "BAD_REQUEST",
    };
    let uuid = shared.lock().entropy.uuid();
    let body = json!({
        "code": status.as_u16(),
        "message": message,
        "reason": reason,
        "requestUuid": uuid,
    });
    json_reply(status, &body)
}

/// `POST /_emulator/schema/deploy?container=C`: development's schema deployed to
/// production, additively, as CloudKit Console's "Deploy Schema Changes".
pub(super) fn admin(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<Reply> {
    if path != "/_emulator/schema/deploy" {
        return None;
    }
    if method != Method::POST {
        return Some(error(shared, StatusCode::METHOD_NOT_ALLOWED, "use POST"));
    }
    let container = super::protocol::query_parameter(query, "container");
    let Some(container) = container.filter(|c| !c.is_empty()) else {
        return Some(error(
            shared,
            StatusCode::BAD_REQUEST,
            "`container` is required",
        ));
    };
    let container = container.as_str();
    let mut state = shared.lock();
    let super::State { schemas, store, .. } = &mut *state;
    // A misspelt container would deploy nothing and look done: refused, named (escaped,
    // the parameter is the caller's text).
    if !schemas.has_development(store, container) {
        drop(state);
        let reason = format!(
            "container `{}` has no development schema to deploy",
            crate::record::identifier::escaped(container)
        );
        return Some(error(shared, StatusCode::NOT_FOUND, &reason));
    }
    schemas.deploy(store, container);
    if let Err(error) = state.save_schemas() {
        tracing::warn!("emulator: failed to save the schema: {error}");
    }
    Some(json_reply(StatusCode::OK, &json!({"deployed": container})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(hyper::header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    #[test]
    fn issue_20_the_file_part_is_found_among_others() {
        let body =
            "preamble\r\n--b1\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n\
                    --b1\r\ncontent-disposition: form-data; name=\"file\"; filename=\"blob\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\nDEFINE SCHEMA\r\n\r\n--b1--\r\n";
        let file = multipart_file(
            &headers("multipart/form-data; boundary=b1"),
            body.as_bytes(),
        );
        assert_eq!(file.unwrap(), b"DEFINE SCHEMA\r\n");
        let quoted = headers("multipart/form-data; boundary=\"b1\"");
        assert!(multipart_file(&quoted, body.as_bytes()).is_ok());
        let no_file = "--b1\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b1--";
        let error = multipart_file(&quoted, no_file.as_bytes()).unwrap_err();
        assert_eq!(error, "the multipart body has no part named `file`");
        let error = multipart_file(&headers("text/plain"), body.as_bytes()).unwrap_err();
        assert!(
            error.starts_with("expected a multipart/form-data body"),
            "{error}"
        );
    }

    #[test]
    fn issue_20_routes_take_either_case_and_refuse_the_rest() {
        let base = "/v1/database/teams/T/containers/iCloud.x/environments";
        let export = route(&Method::GET, &format!("{base}/DEVELOPMENT/schema/export"))
            .ok()
            .unwrap();
        assert_eq!(
            (export.operation, export.environment),
            (Operation::Export, Environment::Development)
        );
        assert_eq!(export.container, "iCloud.x");
        let import = route(&Method::PUT, &format!("{base}/production/schema"))
            .ok()
            .unwrap();
        assert_eq!(
            (import.operation, import.environment),
            (Operation::Import, Environment::Production)
        );
        let status = |method: Method, path: String| route(&method, &path).err().unwrap().0;
        assert_eq!(
            status(Method::POST, format!("{base}/development/schema/export")),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            status(Method::GET, format!("{base}/staging/schema/export")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(Method::GET, format!("{base}/development/schema/other")),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(
                Method::GET,
                "/v1/database/teams//containers/c/environments/development/schema/export".into()
            ),
            StatusCode::NOT_FOUND
        );
    }
}
