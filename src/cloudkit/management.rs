//! The CloudKit Database API v1 schema endpoints (`docs/protocol.md`, "Schema API"): another
//! URL family than Web Services (`/v1/database/teams/{teamId}/containers/{containerId}/
//! environments/{ENVIRONMENT}/schema…`, default host `https://api.icloud.apple.com`) and
//! another credential (a management token in `X-Apple-CloudKit-Management-Token`, never a
//! server-to-server signature). Export, validate and import, typed; every non-2xx reply
//! becomes a [`ManagementError`] from its `RequestError` body.

use super::token::ManagementToken;
use crate::record::Environment;
use serde::Deserialize;

/// Where the schema API lives when the records go to CloudKit itself.
pub const DEFAULT_MANAGEMENT_ENDPOINT: &str = "https://api.icloud.apple.com";
const TOKEN_HEADER: &str = "X-Apple-CloudKit-Management-Token";

/// The largest schema API reply ckplan reads: 10 MiB. A schema export is text of a few
/// lines per field; real ones are kilobytes (even hundreds of types with dozens of fields
/// stay well under 1 MiB). A longer reply is refused unread.
pub const MAX_SCHEMA_REPLY_BYTES: usize = 10 << 20;

/// What the schema API said no to, or why it could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    #[error("schema API request `{operation}` could not be sent to `{url}`")]
    Transport {
        operation: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the schema API refused the management token (HTTP 401): {reason}")]
    Unauthorized { reason: String },
    /// A 3xx reply: never followed, so the token goes to the configured host only.
    #[error(
        "the schema API answered `{operation}` with a redirect (HTTP {status}); ckplan follows \
         no redirect, so the management token went no further"
    )]
    Redirect {
        operation: &'static str,
        status: u16,
    },
    #[error("the schema API answered `{operation}` with HTTP {status}{}: {reason}", code_suffix(.code))]
    Service {
        operation: &'static str,
        status: u16,
        code: String,
        reason: String,
    },
    #[error(
        "the schema API's reply to `{operation}` is over {}, the most ckplan reads",
        super::body::shown_size(*limit)
    )]
    TooLarge {
        operation: &'static str,
        limit: usize,
    },
    #[error("the schema API's reply to `{operation}` is not what the API documents: {reason}")]
    Decode {
        operation: &'static str,
        reason: String,
    },
}

/// ` CODE` after the status, or nothing when the reply named no code.
fn code_suffix(code: &str) -> String {
    match code.is_empty() {
        true => String::new(),
        false => format!(" {code}"),
    }
}

/// `RequestError` of the Database API (`@apple/cktool.api.base`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
}

/// `CKDBValidateSchemaResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidateResponse {
    is_valid: bool,
    #[serde(default)]
    error_message: Option<String>,
}

/// The schema endpoints of one container environment.
#[derive(Debug)]
pub struct SchemaApi {
    http: reqwest::Client,
    /// `{endpoint}/v1/database/teams/{team}/containers/{container}/environments/{ENV}`.
    base: String,
    token: ManagementToken,
}

impl SchemaApi {
    /// `endpoint` without a trailing slash (`https://api.icloud.apple.com` or an emulator).
    pub fn new(
        endpoint: &str,
        team_id: &str,
        container: &str,
        environment: Environment,
        token: ManagementToken,
    ) -> Result<Self, ManagementError> {
        let environment = match environment {
            Environment::Development => "DEVELOPMENT",
            Environment::Production => "PRODUCTION",
        };
        let base = format!(
            "{}/v1/database/teams/{}/containers/{}/environments/{environment}",
            endpoint.trim_end_matches('/'),
            encoded(team_id),
            encoded(container),
        );
        let mut builder = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            // The token goes to the configured host and nowhere else: a 3xx is an error
            // (`ManagementError::Redirect`), never followed with the header re-sent.
            .redirect(reqwest::redirect::Policy::none());
        if reqwest::Url::parse(&base).is_ok_and(|url| super::client::is_loopback(&url)) {
            // A local emulator must never be reached through a proxy from the environment.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|source| ManagementError::Transport {
                operation: "connect",
                url: base.clone(),
                source,
            })?;
        Ok(Self { http, base, token })
    }

    /// `GET …/schema/export`: the environment's schema text.
    pub async fn export(&self) -> Result<String, ManagementError> {
        let url = format!("{}/schema/export", self.base);
        let request = self.http.get(&url);
        let body = self.send("export", &url, request).await?;
        String::from_utf8(body).map_err(|_| ManagementError::Decode {
            operation: "export",
            reason: "the schema is not UTF-8".to_owned(),
        })
    }

    /// `POST …/schema/validate`: `Ok(None)` when `text` could be imported, else CloudKit's
    /// reason.
    pub async fn validate(&self, text: &str) -> Result<Option<String>, ManagementError> {
        let url = format!("{}/schema/validate", self.base);
        let request = self.multipart(self.http.post(&url), text);
        let body = self.send("validate", &url, request).await?;
        let reply: ValidateResponse =
            serde_json::from_slice(&body).map_err(|error| ManagementError::Decode {
                operation: "validate",
                reason: error.to_string(),
            })?;
        Ok(match reply.is_valid {
            true => None,
            false => Some(reply.error_message.unwrap_or_default()),
        })
    }

    /// `PUT …/schema`: replaces the environment's schema by `text` (202).
    pub async fn import(&self, text: &str) -> Result<(), ManagementError> {
        let url = format!("{}/schema", self.base);
        let request = self.multipart(self.http.put(&url), text);
        self.send("import", &url, request).await.map(drop)
    }

    /// `text` as the multipart part `file`, written by hand (one part, a fixed boundary
    /// that the schema language cannot contain: it has no `=`).
    fn multipart(&self, request: reqwest::RequestBuilder, text: &str) -> reqwest::RequestBuilder {
        const BOUNDARY: &str = "ckplan=schema=boundary";
        let body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"schema.ckdb\"\r\nContent-Type: application/octet-stream\r\n\r\n\
             {text}\r\n--{BOUNDARY}--\r\n"
        );
        request
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary=\"{BOUNDARY}\""),
            )
            .body(body)
    }

    async fn send(
        &self,
        operation: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, ManagementError> {
        let transport = |source| ManagementError::Transport {
            operation,
            url: url.to_owned(),
            source,
        };
        let reply = request
            .header(TOKEN_HEADER, self.token.expose())
            .send()
            .await
            .map_err(transport)?;
        let status = reply.status();
        let body = super::body::read_bounded(reply, MAX_SCHEMA_REPLY_BYTES)
            .await
            .map_err(|error| match error {
                super::body::BodyError::TooLarge { limit } => {
                    ManagementError::TooLarge { operation, limit }
                }
                super::body::BodyError::Transport(source) => transport(source),
            })?;
        if status.is_success() {
            return Ok(body);
        }
        if status.is_redirection() {
            return Err(ManagementError::Redirect {
                operation,
                status: status.as_u16(),
            });
        }
        let error: RequestError = serde_json::from_slice(&body).unwrap_or(RequestError {
            message: String::new(),
            reason: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
        if status.as_u16() == 401 {
            return Err(ManagementError::Unauthorized {
                reason: error.reason,
            });
        }
        Err(ManagementError::Service {
            operation,
            status: status.as_u16(),
            code: error.message,
            reason: error.reason,
        })
    }
}

/// A path segment with everything but `A-Za-z0-9._-` percent-encoded.
fn encoded(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"._-".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_20_a_service_error_without_a_code_has_no_stray_space() {
        let error = |code: &str| ManagementError::Service {
            operation: "import",
            status: 500,
            code: code.to_owned(),
            reason: "boom".to_owned(),
        };
        assert_eq!(
            error("").to_string(),
            "the schema API answered `import` with HTTP 500: boom"
        );
        assert_eq!(
            error("INTERNAL_ERROR").to_string(),
            "the schema API answered `import` with HTTP 500 INTERNAL_ERROR: boom"
        );
    }
}
