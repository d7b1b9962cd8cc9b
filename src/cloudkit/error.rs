//! Every way a CloudKit call can fail, split by what the caller must do about it: the request
//! certainly had no effect (`NotSent`), it may have taken effect (`MaybeSent`, an undecodable
//! reply to a write), or the service answered no (`Service`). Also the one function that maps a
//! non-2xx reply to the service's typed error, and (in `hint`) the advice each error carries
//! to the command line.

mod hint;

use super::wire::{Endpoint, ErrorBody, ServerErrorCode};
use crate::record::Environment;

#[derive(Debug, thiserror::Error)]
pub enum CloudKitError {
    #[error("malformed cloudkit endpoint `{endpoint}`: {reason}")]
    Endpoint { endpoint: String, reason: String },

    #[error("could not build the http client: {source}")]
    HttpClient {
        #[source]
        source: reqwest::Error,
    },

    #[error("could not encode the `{operation}` request body")]
    Encode {
        operation: Endpoint,
        #[source]
        source: serde_json::Error,
    },

    #[error("`{operation}` request was not sent, so it had no effect")]
    NotSent {
        operation: Endpoint,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "`{operation}` request failed after it may have reached cloudkit; it may have taken effect"
    )]
    MaybeSent {
        operation: Endpoint,
        #[source]
        source: reqwest::Error,
    },

    /// A reply over [`crate::cloudkit::client::MAX_REPLY_BYTES`]: not read further. To a
    /// write, the request may have taken effect.
    #[error(
        "the `{operation}` reply is over {}, the most ckplan reads; if it was a write, it may have taken effect",
        super::body::shown_size(*limit)
    )]
    ReplyTooLarge { operation: Endpoint, limit: usize },

    #[error("cannot decode the `{operation}` reply (http {status}) at `{path}`: {message}")]
    Undecodable {
        operation: Endpoint,
        status: u16,
        path: String,
        message: String,
    },

    #[error("cloudkit refused `{operation}`: http {status} `{code}`{}", reason_suffix(.reason))]
    Service {
        operation: Endpoint,
        status: u16,
        code: ServerErrorCode,
        reason: Option<String>,
        retry_after: Option<f64>,
        uuid: Option<String>,
    },

    /// A query named a record type the schema does not have (request-level 404 `NOT_FOUND`
    /// "Did not find record type: X"). In development a type appears with its first record,
    /// so there it means "no records yet"; production only has what was deployed.
    #[error("record type `{record_type}` does not exist in the {} environment of `{container}`{}", .environment.as_str(), reason_suffix(.reason))]
    UnknownRecordType {
        record_type: String,
        container: String,
        environment: Environment,
        reason: Option<String>,
    },

    /// A query was refused because a field it uses has no QUERYABLE index (live: 400
    /// `BAD_REQUEST` "Field 'recordName' is not marked queryable" for a query without filter).
    #[error("cloudkit cannot query record type `{record_type}`: field `{field}` is not marked queryable")]
    NotQueryable { record_type: String, field: String },

    /// A non-JSON 413: a proxy or CloudKit's front end refused the body's size. Not
    /// `QUOTA_EXCEEDED`, which is a JSON error about storage.
    #[error("`{operation}` request is too large for cloudkit (http {status}){}", reason_suffix(.excerpt))]
    RequestTooLarge {
        operation: Endpoint,
        status: u16,
        excerpt: Option<String>,
    },

    /// A non-JSON 502, 503 or 504: a gateway answered, not CloudKit. A read is resent; a
    /// write behind it may have been applied.
    #[error("`{operation}` got http {status} from a gateway in front of cloudkit{}", reason_suffix(.excerpt))]
    Gateway {
        operation: Endpoint,
        status: u16,
        excerpt: Option<String>,
    },

    /// A 3xx reply. ckplan follows no redirect: the signed request (key ID, date,
    /// signature) is sent to the configured endpoint only, never on to where a reply points.
    #[error("`{operation}` got a redirect (http {status}) instead of a reply; ckplan follows no redirect, so the request went no further")]
    Redirect { operation: Endpoint, status: u16 },

    /// One record of a modify is over the documented record size limit; nothing was sent.
    #[error("record `{record_name}` is {bytes} bytes on the wire, over cloudkit's record size limit of {limit} bytes")]
    RecordTooLarge {
        record_name: String,
        bytes: usize,
        limit: usize,
    },

    #[error("query of `{record_type}` returned a continuation marker it had already returned; stopped to avoid an endless loop")]
    RepeatedMarker { record_type: String },

    #[error("a modify batch of {count} operations exceeds the cloudkit limit of {limit}")]
    TooManyOperations { count: usize, limit: usize },

    #[error("record `{record_name}` in the `{operation}` reply cannot be decoded: {message}")]
    Decode {
        operation: Endpoint,
        record_name: String,
        message: String,
    },

    /// A retry wait was ended by the caller's stop token (Ctrl-C during an apply): the
    /// request was not sent again. `last` is the failure that was being waited out; it
    /// decides whether the request may have taken effect.
    #[error("`{operation}` request was not sent again: interrupted while waiting to retry")]
    Interrupted {
        operation: Endpoint,
        #[source]
        last: Box<CloudKitError>,
    },

    #[error("the `{operation}` reply holds an error for record `{record_name}`: `{code}`{}", reason_suffix(.reason))]
    RecordFailed {
        operation: Endpoint,
        record_name: String,
        code: ServerErrorCode,
        reason: Option<String>,
    },
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map_or_else(String::new, |reason| format!(" ({reason})"))
}

impl CloudKitError {
    /// Whether a write may have taken effect despite this error, so that the caller must look
    /// the records up before deciding anything. False only when that is certain.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            CloudKitError::MaybeSent { .. } => true,
            CloudKitError::Interrupted { last, .. } => last.may_have_been_applied(),
            CloudKitError::Gateway { operation, .. }
            | CloudKitError::Undecodable { operation, .. }
            | CloudKitError::Decode { operation, .. } => !operation.retry_safe(),
            CloudKitError::Service {
                operation,
                status,
                code,
                ..
            } => {
                !operation.retry_safe()
                    && *status >= 500
                    && !matches!(
                        code,
                        ServerErrorCode::TryAgainLater | ServerErrorCode::Throttled
                    )
            }
            _ => false,
        }
    }

    /// Whether resending the same request is safe and may succeed: throttling and transient
    /// service errors, gateway errors on reads, and transport failures before anything was
    /// sent. Never true when a write may have taken effect (`may_have_been_applied`): such a
    /// write is resolved by looking its records up, not resent (reads that may have been
    /// sent are resent by the client itself).
    pub fn is_retryable(&self) -> bool {
        if self.may_have_been_applied() {
            return false;
        }
        match self {
            CloudKitError::NotSent { source, .. } => !source.is_builder(),
            CloudKitError::Gateway { operation, .. } => operation.retry_safe(),
            CloudKitError::Service { status, code, .. } => {
                matches!(
                    code,
                    ServerErrorCode::Throttled
                        | ServerErrorCode::TryAgainLater
                        | ServerErrorCode::InternalError
                ) || matches!(status, 429 | 500 | 503)
            }
            _ => false,
        }
    }

    /// The server's suggested wait in seconds, when it gave one.
    pub fn retry_after(&self) -> Option<f64> {
        match self {
            CloudKitError::Service { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classifies a transport failure by whether the request can have reached the server.
    pub(crate) fn transport(operation: Endpoint, source: reqwest::Error) -> Self {
        // A connect failure (refused, DNS, TLS handshake, connect timeout) or a request that
        // could not be built never put a byte of the request on the wire. Anything later
        // (timeout while waiting, connection closed before or during the reply) may have.
        if source.is_connect() || source.is_builder() {
            CloudKitError::NotSent { operation, source }
        } else {
            CloudKitError::MaybeSent { operation, source }
        }
    }
}

/// Maps a non-2xx reply to an error: the documented `{serverErrorCode, reason, uuid}` body
/// when there is one; otherwise the code CloudKit uses for that HTTP status; otherwise
/// `Undecodable`.
pub fn reply_error(operation: Endpoint, status: u16, body: &[u8]) -> CloudKitError {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, ErrorBody>(&mut deserializer) {
        Ok(error) => CloudKitError::Service {
            operation,
            status,
            code: error.server_error_code,
            reason: error.reason,
            retry_after: error.retry_after,
            uuid: error.uuid,
        },
        Err(decode) => match code_for_status(status) {
            _ if status == 413 => CloudKitError::RequestTooLarge {
                operation,
                status,
                excerpt: body_excerpt(body),
            },
            _ if matches!(status, 502..=504) => CloudKitError::Gateway {
                operation,
                status,
                excerpt: body_excerpt(body),
            },
            Some(code) => CloudKitError::Service {
                operation,
                status,
                code,
                reason: body_excerpt(body),
                retry_after: None,
                uuid: None,
            },
            None => CloudKitError::Undecodable {
                operation,
                status,
                path: decode.path().to_string(),
                message: format!(
                    "{}; body starts `{}`",
                    decode.inner(),
                    body_excerpt(body).unwrap_or_default()
                ),
            },
        },
    }
}

/// The code CloudKit documents for an HTTP status, when the status identifies one and the
/// body is not CloudKit's JSON. 400, 404 and 409 are shared by several codes; the most
/// general one is chosen. 413 and 502-504 without a JSON body come from a front end, not
/// from CloudKit, and are handled before this.
fn code_for_status(status: u16) -> Option<ServerErrorCode> {
    Some(match status {
        400 => ServerErrorCode::BadRequest,
        401 => ServerErrorCode::AuthenticationFailed,
        403 => ServerErrorCode::AccessDenied,
        404 => ServerErrorCode::NotFound,
        409 => ServerErrorCode::Conflict,
        412 => ServerErrorCode::ValidatingReferenceError,
        421 => ServerErrorCode::AuthenticationRequired,
        429 => ServerErrorCode::Throttled,
        500 => ServerErrorCode::InternalError,
        _ => return None,
    })
}

/// The first line of a body, trimmed to 200 characters, for error messages.
fn body_excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    Some(line.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_error_body_becomes_service_error() {
        let body =
            br#"{"uuid":"u-1","serverErrorCode":"THROTTLED","reason":"slow down","retryAfter":2}"#;
        let error = reply_error(Endpoint::Modify, 429, body);
        let CloudKitError::Service {
            code,
            reason,
            retry_after,
            uuid,
            status,
            ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(*code, ServerErrorCode::Throttled);
        assert_eq!(reason.as_deref(), Some("slow down"));
        assert_eq!(*retry_after, Some(2.0));
        assert_eq!(uuid.as_deref(), Some("u-1"));
        assert_eq!(*status, 429);
        assert!(error.is_retryable());
        assert!(!error.may_have_been_applied());
        assert_eq!(
            error.to_string(),
            "cloudkit refused `records/modify`: http 429 `THROTTLED` (slow down)"
        );
    }

    #[test]
    fn non_json_body_takes_the_code_of_its_status() {
        let error = reply_error(Endpoint::Query, 500, b"<html>\n<b>Internal</b>");
        let CloudKitError::Service { code, reason, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(*code, ServerErrorCode::InternalError);
        assert_eq!(reason.as_deref(), Some("<html>"));
        assert!(error.is_retryable());
    }

    #[test]
    fn issue_11_html_gateway_errors_are_retried_on_reads_and_unknown_on_writes() {
        for status in [502, 503, 504] {
            let read = reply_error(Endpoint::Query, status, b"<html>\n<b>Bad Gateway</b>");
            assert!(
                matches!(read, CloudKitError::Gateway { .. }),
                "{status}: {read:?}"
            );
            assert!(read.is_retryable(), "{status}");
            assert!(!read.may_have_been_applied(), "{status}");
            let write = reply_error(Endpoint::Modify, status, b"bad gateway");
            assert!(!write.is_retryable(), "{status}");
            assert!(
                write.may_have_been_applied(),
                "a write behind a {status} is unknown"
            );
        }
    }

    #[test]
    fn issue_11_html_413_is_request_too_large_not_quota() {
        let error = reply_error(
            Endpoint::Modify,
            413,
            b"<html><body>413 Request Entity Too Large",
        );
        assert!(
            matches!(error, CloudKitError::RequestTooLarge { status: 413, .. }),
            "{error:?}"
        );
        assert!(!error.to_string().contains("QUOTA_EXCEEDED"), "{error}");
        let quota = reply_error(
            Endpoint::Modify,
            413,
            br#"{"serverErrorCode":"QUOTA_EXCEEDED","reason":"quota"}"#,
        );
        assert!(matches!(
            quota,
            CloudKitError::Service {
                code: ServerErrorCode::QuotaExceeded,
                ..
            }
        ));
    }

    #[test]
    fn issue_11_internal_error_on_a_write_is_never_resent() {
        let body = br#"{"serverErrorCode":"INTERNAL_ERROR"}"#;
        let write = reply_error(Endpoint::Modify, 500, body);
        assert!(write.may_have_been_applied());
        assert!(!write.is_retryable());
        assert!(reply_error(Endpoint::Query, 500, body).is_retryable());
        // Throttling certainly did nothing: resent, write or not.
        let throttled = reply_error(
            Endpoint::Modify,
            503,
            br#"{"serverErrorCode":"TRY_AGAIN_LATER"}"#,
        );
        assert!(throttled.is_retryable());
    }

    #[test]
    fn only_transient_codes_retry() {
        for (status, code, retryable) in [
            (429, "THROTTLED", true),
            (503, "TRY_AGAIN_LATER", true),
            (500, "INTERNAL_ERROR", true),
            (401, "AUTHENTICATION_FAILED", false),
            (400, "BAD_REQUEST", false),
            (403, "ACCESS_DENIED", false),
            (404, "NOT_FOUND", false),
            (409, "CONFLICT", false),
            (421, "AUTHENTICATION_REQUIRED", false),
            (400, "SOMETHING_NEW", false),
        ] {
            let body = format!(r#"{{"serverErrorCode":"{code}"}}"#);
            let error = reply_error(Endpoint::Query, status, body.as_bytes());
            assert_eq!(error.is_retryable(), retryable, "{code}");
        }
    }

    #[test]
    fn internal_error_on_a_write_may_have_been_applied() {
        let body = br#"{"serverErrorCode":"INTERNAL_ERROR"}"#;
        assert!(reply_error(Endpoint::Modify, 500, body).may_have_been_applied());
        assert!(!reply_error(Endpoint::Query, 500, body).may_have_been_applied());
    }

    #[test]
    fn reads_are_known() {
        assert!(Endpoint::Query.retry_safe());
        assert!(Endpoint::Lookup.retry_safe());
        assert!(!Endpoint::Modify.retry_safe());
        assert!(!Endpoint::ZonesModify.retry_safe());
        assert!(!Endpoint::AssetsUpload.retry_safe());
    }
}
