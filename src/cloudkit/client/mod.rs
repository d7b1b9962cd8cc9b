//! The CloudKit Web Services client: one pooled HTTP connection set, every request signed
//! afresh with the server-to-server key, retried when that is safe, and decoded with the JSON
//! path of any mismatch. On top of the single-request primitives (`post`, `get`) it offers the
//! record operations ckplan needs: a paginated query, chunked lookups and modify batches whose
//! results come back typed, in request order.

mod assets;
mod download;
mod limits;
mod partition;
mod records;
mod resend;

pub use assets::{AssetToken, UploadedAsset};
pub use download::{AssetDownloader, DownloadError};
pub use partition::{split as split_created, CreatedRange, PartitionedRead, ReadHint};
pub use records::{Lookup, OperationResult, RecordFailure};

use super::auth::{RequestSigner, HEADER_DATE, HEADER_KEY_ID, HEADER_SIGNATURE};
use super::error::{reply_error, CloudKitError};
use super::retry::{retry_after_duration, RetryPolicy};
use super::wire::Endpoint;
use crate::record::Target;
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Apple's endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.apple-cloudkit.com";
/// Most operations one modify request may carry, and most records one reply holds
/// (Apple, CloudKit Web Services Reference, "Data Size Limits": 200 and 200).
pub const MAX_RECORDS_PER_REQUEST: usize = 200;
/// The largest records API reply ckplan reads: 256 MiB, above the most a reply can
/// legitimately hold (200 records of at most `MAX_RECORD_BYTES` each, about 200 MB, plus
/// the JSON around them). A longer reply is refused unread.
pub const MAX_REPLY_BYTES: usize = 256 << 20;

pub use limits::{record_bytes, MAX_RECORD_BYTES, MAX_REQUEST_BYTES};

const CONTENT_TYPE_JSON: &str = "application/json; charset=utf-8";

/// Transport settings of a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    /// Whole request, from sending to the last byte of the reply; `None`: no limit (the
    /// request lasts until its reply, the connection breaks or the run ends).
    pub request_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    /// Seeds the retry jitter (`CKPLAN_RANDOMNESS_SEED`); `None`: fresh randomness.
    pub seed: Option<u64>,
    /// Most requests in flight at once, over every kind (queries, lookups, modifies): the
    /// one concurrency budget of the client and all its clones.
    pub parallelism: usize,
    /// Query chains one type is read with at most (`query_partitioned`); 1 reads each type
    /// as one chain.
    pub partitions: usize,
}

/// The default budget of requests in flight (`--parallelism`), chosen by measurement at
/// 100 ms round trips (README, Performance: the 50,000-record re-plan sweep of
/// `cargo bench --bench sync`, where 16 is where the gain over one chain stops growing).
pub const DEFAULT_PARALLELISM: usize = 16;

/// How long one request may take unless `--request-timeout` says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            connect_timeout: Duration::from_secs(10),
            seed: None,
            parallelism: DEFAULT_PARALLELISM,
            partitions: DEFAULT_PARALLELISM,
        }
    }
}

/// Where request dates come from; replaceable so tests can see each attempt re-signed.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A CloudKit Web Services client for one target. Cheap to clone; clones share connections
/// and request counts. `Debug` shows the key ID, never the key.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Ends every retry wait of this handle at once when cancelled (`interruptible`).
    stop: Option<CancellationToken>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    target: Target,
    signer: RequestSigner,
    options: ClientOptions,
    clock: Clock,
    /// HTTP attempts made, per operation.
    counts: Mutex<BTreeMap<String, u64>>,
    /// The `Date` header of the last reply that had one, with this machine's time then.
    server_clock: Mutex<Option<ServerClock>>,
    /// The retry jitter's source, seeded from `options.seed` when given.
    random: Mutex<rand::rngs::StdRng>,
    /// `options.parallelism` permits; every HTTP attempt holds one while it is in flight
    /// (never while waiting to retry), so no mix of callers exceeds the budget.
    in_flight: tokio::sync::Semaphore,
}

/// CloudKit's clock as its last reply stated it (HTTP `Date`, 1 s resolution) and this
/// machine's clock when it signed that request (the time CloudKit checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerClock {
    pub server: DateTime<Utc>,
    pub local: DateTime<Utc>,
}

impl ServerClock {
    /// How far this machine's clock is ahead of CloudKit's (negative: behind).
    pub fn skew(&self) -> chrono::Duration {
        self.local - self.server
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("target", &self.inner.target)
            .field("key_id", &self.inner.signer.key_id())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `target` at `endpoint` (`https://api.apple-cloudkit.com`, or a local
    /// emulator such as `http://127.0.0.1:8080`).
    pub fn new(
        endpoint: &str,
        target: Target,
        signer: RequestSigner,
        options: ClientOptions,
    ) -> Result<Client, CloudKitError> {
        Self::with_clock(endpoint, target, signer, options, Arc::new(Utc::now))
    }

    /// As `new`, with request dates taken from `clock`.
    pub fn with_clock(
        endpoint: &str,
        target: Target,
        signer: RequestSigner,
        options: ClientOptions,
        clock: Clock,
    ) -> Result<Client, CloudKitError> {
        let endpoint = parse_endpoint(endpoint)?;
        // The container goes into every request's path: never one that could leave it.
        if let Some(reason) = crate::record::container_problem(&target.container) {
            return Err(CloudKitError::Endpoint {
                endpoint: endpoint.to_string(),
                reason,
            });
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("ckplan/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            // Batches run in parallel; keep their connections instead of reopening them.
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(60))
            .tcp_nodelay(true)
            // The signature goes to the configured endpoint and nowhere else: a 3xx is an
            // error (`CloudKitError::Redirect`), never followed.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(timeout) = options.request_timeout {
            builder = builder.timeout(timeout);
        }
        if is_loopback(&endpoint) {
            // A local emulator must never be reached through a proxy from the environment.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|source| CloudKitError::HttpClient { source })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                target,
                signer,
                options,
                clock,
                counts: Mutex::new(BTreeMap::new()),
                server_clock: Mutex::new(None),
                random: Mutex::new(match options.seed {
                    Some(seed) => rand::SeedableRng::seed_from_u64(seed),
                    None => rand::SeedableRng::from_entropy(),
                }),
                in_flight: tokio::sync::Semaphore::new(options.parallelism.max(1)),
            }),
            stop: None,
        })
    }

    /// This client (same connections, budget and counts) with every retry wait — a
    /// whole request's backoff or `retryAfter`, a per-record resend's — ending at once when
    /// `stop` is cancelled. A request then ends without sending again: `Interrupted` for a
    /// whole request, and the per-record results as they last came for a resend. Requests
    /// already on the wire are never cut short.
    pub fn interruptible(&self, stop: CancellationToken) -> Client {
        Client {
            inner: self.inner.clone(),
            stop: Some(stop),
        }
    }

    /// Sleeps `wait`; false, at once, when this client's stop token is (or becomes)
    /// cancelled first.
    async fn wait(&self, wait: Duration) -> bool {
        let Some(stop) = &self.stop else {
            tokio::time::sleep(wait).await;
            return true;
        };
        tokio::select! {
            biased;
            () = stop.cancelled() => false,
            () = tokio::time::sleep(wait) => true,
        }
    }

    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    pub fn key_id(&self) -> &str {
        self.inner.signer.key_id()
    }

    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// The query chains one type's read starts with (`ClientOptions::partitions`; a long
    /// chain is split again, see `partition`).
    pub fn partitions(&self) -> usize {
        self.inner.options.partitions.max(1)
    }

    /// The most requests this client has in flight at once (`ClientOptions::parallelism`).
    pub fn parallelism(&self) -> usize {
        self.inner.options.parallelism.max(1)
    }

    /// HTTP attempts made so far (retries included), per operation such as `records/modify`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// CloudKit's clock from the last reply that carried a `Date` header (any status).
    pub fn server_clock(&self) -> Option<ServerClock> {
        *self
            .inner
            .server_clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the reply's `Date` with `signed_at`, the time this machine put in the request.
    fn note_server_date(&self, headers: &reqwest::header::HeaderMap, signed_at: DateTime<Utc>) {
        let server = headers
            .get(reqwest::header::DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| DateTime::parse_from_rfc2822(text).ok());
        if let Some(server) = server {
            let clock = ServerClock {
                server: server.with_timezone(&Utc),
                local: signed_at,
            };
            *self
                .inner
                .server_clock
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(clock);
        }
    }

    /// One POST of `body` to `operation` (such as `zones/lookup`), retried as the policy and
    /// the operation allow, its reply decoded as `Resp`.
    pub async fn post<Req, Resp>(
        &self,
        operation: Endpoint,
        body: &Req,
    ) -> Result<Resp, CloudKitError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.call(operation, body).await.map(|(_, reply)| reply)
    }

    /// One GET of `operation` (such as `zones/list` or `users/current`), signed over the
    /// empty body.
    pub async fn get<Resp: DeserializeOwned>(
        &self,
        operation: Endpoint,
    ) -> Result<Resp, CloudKitError> {
        let (status, reply) = self.execute(Method::GET, operation, Vec::new()).await?;
        decode(operation, status, &reply)
    }

    async fn call<Req, Resp>(
        &self,
        operation: Endpoint,
        body: &Req,
    ) -> Result<(u16, Resp), CloudKitError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let (status, reply) = self.call_raw(operation, body).await?;
        Ok((status, decode(operation, status, &reply)?))
    }

    /// One POST of `body`, retried like `post`, its 2xx reply left undecoded.
    async fn call_raw<Req>(
        &self,
        operation: Endpoint,
        body: &Req,
    ) -> Result<(u16, Vec<u8>), CloudKitError>
    where
        Req: Serialize + ?Sized,
    {
        let bytes = serde_json::to_vec(body)
            .map_err(|source| CloudKitError::Encode { operation, source })?;
        self.execute(Method::POST, operation, bytes).await
    }

    /// Sends until a 2xx reply, a final error, or the retry budget is spent.
    async fn execute(
        &self,
        method: Method,
        operation: Endpoint,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), CloudKitError> {
        let url = self.url(operation)?;
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self
                .attempt(&method, operation, &url, &body, attempts)
                .await
            {
                Ok(reply) => return Ok(reply),
                Err(error) => error,
            };
            // A write that may have reached the server is never resent blindly: the caller
            // resolves it by looking the records up.
            let resend = error.is_retryable()
                || (operation.retry_safe() && matches!(error, CloudKitError::MaybeSent { .. }));
            let wait = resend
                .then(|| self.retry_wait(attempts, started, &error))
                .flatten();
            let Some(wait) = wait else {
                if resend {
                    warn!(operation = operation.path(), attempts, error = %error, "cloudkit request failed; retries exhausted");
                }
                return Err(error);
            };
            debug!(operation = operation.path(), attempt = attempts, wait_ms = millis(wait), error = %error, "cloudkit request will be retried");
            if !self.wait(wait).await {
                return Err(CloudKitError::Interrupted {
                    operation,
                    last: Box::new(error),
                });
            }
        }
    }

    /// One signed attempt. Non-2xx replies become errors here.
    async fn attempt(
        &self,
        method: &Method,
        operation: Endpoint,
        url: &Url,
        body: &[u8],
        attempt: u32,
    ) -> Result<(u16, Vec<u8>), CloudKitError> {
        // The semaphore is never closed, so acquiring fails only if it were; then go on
        // without a permit rather than fail a request.
        let _permit = self.inner.in_flight.acquire().await.ok();
        let signed_at = (self.inner.clock)();
        let signed = self.inner.signer.sign(signed_at, body, url.path());
        self.count(operation);
        let started = Instant::now();
        let response = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE_JSON)
            .header(HEADER_KEY_ID, &signed.key_id)
            .header(HEADER_DATE, &signed.date)
            .header(HEADER_SIGNATURE, &signed.signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|source| CloudKitError::transport(operation, source))?;
        let status = response.status().as_u16();
        self.note_server_date(response.headers(), signed_at);
        // The reply has begun, so the request was sent: a failure now leaves its effect unknown.
        let reply = super::body::read_bounded(response, MAX_REPLY_BYTES)
            .await
            .map_err(|error| match error {
                super::body::BodyError::TooLarge { limit } => {
                    CloudKitError::ReplyTooLarge { operation, limit }
                }
                super::body::BodyError::Transport(source) => {
                    CloudKitError::MaybeSent { operation, source }
                }
            })?;
        debug!(
            operation = operation.path(),
            attempt,
            status,
            elapsed_ms = millis(started.elapsed()),
            request_bytes = body.len(),
            reply_bytes = reply.len(),
            "cloudkit request"
        );
        if (200..300).contains(&status) {
            Ok((status, reply))
        } else if (300..400).contains(&status) {
            Err(CloudKitError::Redirect { operation, status })
        } else {
            Err(reply_error(operation, status, &reply))
        }
    }

    fn url(&self, operation: Endpoint) -> Result<Url, CloudKitError> {
        let subpath = subpath(&self.inner.target, operation);
        self.inner
            .endpoint
            .join(&subpath)
            .map_err(|error| CloudKitError::Endpoint {
                endpoint: self.inner.endpoint.to_string(),
                reason: format!("cannot append `{subpath}`: {error}"),
            })
    }

    fn count(&self, operation: Endpoint) {
        let mut counts = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *counts.entry(operation.path().to_owned()).or_insert(0) += 1;
    }
}

/// `/database/1/{container}/{environment}/{database}/{operation}`: the signed subpath of
/// `operation` (e.g. `records/query`) at `target`.
pub fn subpath(target: &Target, operation: Endpoint) -> String {
    format!(
        "/database/1/{}/{}/{}/{}",
        target.container,
        target.environment.as_str(),
        target.database.as_str(),
        operation.path()
    )
}

impl Client {
    /// The wait before the next attempt, or `None` to give up. The random source is locked
    /// only inside this call, never across an await.
    fn retry_wait(
        &self,
        attempts: u32,
        started: Instant,
        error: &CloudKitError,
    ) -> Option<Duration> {
        let retry_after = retry_after_duration(error.retry_after());
        let mut random = self
            .inner
            .random
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner
            .options
            .retry
            .next_delay(attempts, started.elapsed(), retry_after, &mut *random)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Decodes a 2xx reply, naming the JSON path of the first mismatch. Decoded without
/// tracking the path first (tracking it costs an allocation per member of every record);
/// only a reply that fails is decoded again to find where.
fn decode<T: DeserializeOwned>(
    operation: Endpoint,
    status: u16,
    body: &[u8],
) -> Result<T, CloudKitError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(error) => Err(decode_tracked::<T>(operation, status, body)
            .err()
            .unwrap_or_else(|| CloudKitError::Undecodable {
                operation,
                status,
                path: ".".to_owned(),
                message: error.to_string(),
            })),
    }
}

/// [`decode`], naming the JSON path of the first mismatch.
fn decode_tracked<T: DeserializeOwned>(
    operation: Endpoint,
    status: u16,
    body: &[u8],
) -> Result<T, CloudKitError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        CloudKitError::Undecodable {
            operation,
            status,
            path: error.path().to_string(),
            message: error.inner().to_string(),
        }
    })?;
    deserializer
        .end()
        .map_err(|error| CloudKitError::Undecodable {
            operation,
            status,
            path: ".".to_owned(),
            message: error.to_string(),
        })?;
    Ok(value)
}

/// The one parser of a CloudKit Web Services base URL (the config's `endpoint:` and the
/// client both use it): `http` or `https`, a host, an optional port, no credentials, no path
/// beyond `/` (requests go to `/database/1/...` under it), no query or fragment.
///
/// Errors: `CloudKitError::Endpoint` naming the text and why.
pub fn parse_endpoint(endpoint: &str) -> Result<Url, CloudKitError> {
    let refuse = |reason: String| CloudKitError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let url = Url::parse(endpoint.trim()).map_err(|error| refuse(error.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(refuse(format!(
            "scheme `{}` is not `https` or `http`",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("it names no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it must not carry credentials".to_owned()));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse(
            "it must be a scheme, host and port only; requests go to `/database/1/...` under it"
                .to_owned(),
        ));
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .map_or(host.eq_ignore_ascii_case("localhost"), |address| {
            address.is_loopback()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::wire::{QueryResponse, RecordsResponse};

    #[test]
    fn endpoints_are_validated_with_a_reason() {
        assert!(parse_endpoint(DEFAULT_ENDPOINT).is_ok());
        assert!(parse_endpoint("http://127.0.0.1:8080").is_ok());
        assert!(parse_endpoint("http://127.0.0.1:8080/").is_ok());
        for (bad, reason) in [
            ("api.apple-cloudkit.com", "relative URL without a base"),
            ("ftp://example.com", "scheme `ftp`"),
            (
                "http://127.0.0.1:8080/database/1",
                "scheme, host and port only",
            ),
            ("https://user:pw@example.com", "credentials"),
            ("http://[::1", "invalid IPv6"),
        ] {
            let error = parse_endpoint(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
            assert!(error.contains(reason), "{error}");
        }
    }

    #[test]
    fn issue_10_a_seed_makes_the_retry_jitter_repeatable() {
        let client = |seed: u64| {
            let key = crate::cloudkit::auth::parse_private_pem(
                &crate::cloudkit::auth::generate_key_pair().0,
            )
            .unwrap();
            let target = Target {
                container: "c".into(),
                environment: crate::record::Environment::Development,
                database: crate::record::Database::Public,
                zone: "_defaultZone".into(),
            };
            let options = ClientOptions {
                retry: RetryPolicy::default(),
                seed: Some(seed),
                ..ClientOptions::default()
            };
            Client::new(
                "http://127.0.0.1:9",
                target,
                RequestSigner::new("k", key),
                options,
            )
            .unwrap()
        };
        let error = CloudKitError::Endpoint {
            endpoint: "x".into(),
            reason: "y".into(),
        };
        let delays = |client: &Client| {
            let started = Instant::now();
            (1..4)
                .map(|attempt| client.retry_wait(attempt, started, &error))
                .collect::<Vec<_>>()
        };
        assert_eq!(delays(&client(7)), delays(&client(7)));
        assert_ne!(delays(&client(7)), delays(&client(8)));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for (endpoint, loopback) in [
            ("http://127.0.0.1:1", true),
            ("http://[::1]:1", true),
            ("http://localhost:1", true),
            ("https://api.apple-cloudkit.com", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(endpoint).unwrap()), loopback);
        }
    }

    #[test]
    fn decode_names_the_json_path() {
        let error = decode::<QueryResponse>(
            Endpoint::Query,
            200,
            br#"{"records": [], "continuationMarker": 7}"#,
        )
        .unwrap_err();
        let CloudKitError::Undecodable { path, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(path, "continuationMarker");
    }

    #[test]
    fn decode_names_the_path_and_the_message_of_a_nested_mismatch_and_of_trailing_text() {
        let body = br#"{"records": [{"recordName": "a"}, {"recordName": 7}]}"#;
        let error = decode::<RecordsResponse>(Endpoint::Lookup, 200, body).unwrap_err();
        let CloudKitError::Undecodable { path, message, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(path, "records[1].recordName");
        assert!(message.contains("invalid type: integer `7`"), "{message}");
        let error =
            decode::<RecordsResponse>(Endpoint::Lookup, 200, b"{\"records\": []} x").unwrap_err();
        let CloudKitError::Undecodable { path, message, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(path, ".");
        assert!(message.contains("trailing characters"), "{message}");
    }
}
