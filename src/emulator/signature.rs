//! Server-to-server signature check (`docs/protocol.md`, "Signing"). The message is rebuilt from the
//! raw body bytes and the raw request target exactly as sent: `date:base64(sha256(body)):
//! subpath`. Accepted variants, because known clients differ (`docs/emulator.md`, "Signatures"):
//!
//! - subpath = the path alone, or the path + `?` + query string as sent;
//! - for an empty body (GET), the hash of the empty body (`47DEQpj8…`) or, as MistKit
//!   signs, an empty hash slot (`date::subpath`).
//!
//! Only ASN.1 DER signatures verify (raw `r||s` is refused); the date must be exactly
//! `YYYY-MM-DDTHH:MM:SSZ` and within the configured clock skew (zero turns the check off);
//! the key ID must be registered (or a key registered for any ID must verify).

use super::RegisteredKey;
use crate::cloudkit::auth::{self, HEADER_DATE, HEADER_KEY_ID, HEADER_SIGNATURE};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use p256::ecdsa::{Signature, VerifyingKey};
use std::time::Duration;

/// Why a request was refused; every variant answers the same 401 body, the reason is only
/// logged.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("header `{0}` is missing or not text")]
    MissingHeader(&'static str),
    #[error("date `{0}` is not `YYYY-MM-DDTHH:MM:SSZ`")]
    BadDate(String),
    #[error("date `{0}` is outside the allowed clock skew")]
    Stale(String),
    #[error("key ID `{0}` is not registered")]
    UnknownKey(String),
    #[error("signature does not verify")]
    Mismatch,
}

/// The parts of a request the signature covers.
pub struct SignedRequest<'a> {
    pub headers: &'a hyper::HeaderMap,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// Checks the three S2S headers against the registered keys.
pub fn check(
    request: &SignedRequest<'_>,
    keys: &[RegisteredKey],
    clock_skew: Duration,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let header = |name: &'static str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::MissingHeader(name))
    };
    let key_id = header(HEADER_KEY_ID)?;
    let date = header(HEADER_DATE)?;
    let signature = header(HEADER_SIGNATURE)?;
    let signed_at = auth::parse_date(date).ok_or_else(|| AuthError::BadDate(date.to_owned()))?;
    if !clock_skew.is_zero() {
        let skew = (now - signed_at).num_seconds().unsigned_abs();
        if skew > clock_skew.as_secs() {
            return Err(AuthError::Stale(date.to_owned()));
        }
    }
    let candidates: Vec<&VerifyingKey> = keys
        .iter()
        .filter(|k| k.key_id.as_deref().is_none_or(|id| id == key_id))
        .map(|k| &k.key)
        .collect();
    if candidates.is_empty() {
        return Err(AuthError::UnknownKey(key_id.to_owned()));
    }
    let with_query = request.query.map(|q| format!("{}?{q}", request.path));
    let subpaths = std::iter::once(request.path).chain(with_query.as_deref());
    for subpath in subpaths {
        for key in &candidates {
            if auth::verify(key, date, request.body, subpath, signature).is_ok() {
                return Ok(());
            }
            if request.body.is_empty() && verify_empty_slot(key, date, subpath, signature) {
                return Ok(());
            }
        }
    }
    Err(AuthError::Mismatch)
}

/// MistKit's form for body-less requests: `date::subpath`.
fn verify_empty_slot(key: &VerifyingKey, date: &str, subpath: &str, signature: &str) -> bool {
    let Ok(der) = BASE64.decode(signature.trim()) else {
        return false;
    };
    if Signature::from_der(&der).is_err() {
        return false;
    }
    auth::verifies(key, format!("{date}::{subpath}").as_bytes(), &der)
}
