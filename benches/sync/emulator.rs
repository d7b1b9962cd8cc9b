//! The emulator as a separate process (`ckplan emulator`), so its CPU is not the measured
//! command's; its unsigned admin routes (`GET /_emulator/stats`, `POST /_emulator/reset`)
//! spoken over a plain HTTP/1.1 socket so the harness shares no code with the client it
//! measures.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The counters the bench reads from `GET /_emulator/stats`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Stats {
    /// Requests per endpoint (`records/query`, `records/modify`, ...).
    #[serde(default)]
    pub requests: BTreeMap<String, u64>,
    /// Modify operations per operation type (`create`, `update`, ...).
    #[serde(default)]
    pub operations: BTreeMap<String, u64>,
}

impl Stats {
    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Stats) -> Stats {
        let minus = |now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>| {
            now.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.saturating_sub(then.get(k).copied().unwrap_or(0)),
                    )
                })
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        Stats {
            requests: minus(&self.requests, &before.requests),
            operations: minus(&self.operations, &before.operations),
        }
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    pub fn requests_to(&self, endpoint: &str) -> u64 {
        self.requests.get(endpoint).copied().unwrap_or(0)
    }

    pub fn total_operations(&self) -> u64 {
        self.operations.values().sum()
    }

    /// `records/query 3, records/modify 30`: every endpoint that was called.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .requests
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        parts.join(", ")
    }
}

/// One entry of `GET /_emulator/requests`, as much as the bench reads.
#[derive(Clone, Debug, Deserialize)]
pub struct LoggedRequest {
    pub seq: u64,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub operations: Vec<LoggedOperation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LoggedOperation {
    #[serde(default)]
    pub page: Option<LoggedPage>,
}

/// A query page: the query it belongs to (shared by a chain's pages) and what it returned.
#[derive(Clone, Debug, Deserialize)]
pub struct LoggedPage {
    pub query: String,
    pub continued: bool,
    pub limit: usize,
    pub records: usize,
}

#[derive(Deserialize)]
struct RequestsReply {
    requests: Vec<LoggedRequest>,
}

/// A running `ckplan emulator`; killed when dropped.
pub struct Emulator {
    child: Child,
    pub url: String,
    authority: String,
    /// The last request-log sequence number read by [`Emulator::new_requests`].
    cursor: std::cell::Cell<u64>,
}

impl Emulator {
    /// Starts `binary emulator` on a free 127.0.0.1 port with one registered key and the
    /// given latency, and waits for the URL it prints.
    pub fn start(binary: &Path, key: &str, latency_ms: u64, log: &Path) -> anyhow::Result<Self> {
        Self::start_with(binary, key, latency_ms, log, &[])
    }

    /// As [`Emulator::start`], with more `ckplan emulator` flags (`--require-indexes`, ...).
    pub fn start_with(
        binary: &Path,
        key: &str,
        latency_ms: u64,
        log: &Path,
        flags: &[&str],
    ) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log)?;
        let mut child = Command::new(binary)
            .args([
                "--quiet",
                "emulator",
                "--listen",
                "127.0.0.1:0",
                "--key",
                key,
            ])
            .args(["--latency-ms", &latency_ms.to_string()])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("failed to start `{} emulator`", binary.display()))?;
        let stdout = child.stdout.take().context("emulator stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line.trim().to_owned();
        let Some(authority) = url.strip_prefix("http://").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the emulator printed `{url}` instead of its URL");
        };
        Ok(Self {
            child,
            url,
            authority,
            cursor: std::cell::Cell::new(0),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stats(&self) -> anyhow::Result<Stats> {
        let body = self.admin("GET", "/_emulator/stats")?;
        serde_json::from_str(&body).context("failed to decode `/_emulator/stats`")
    }

    /// Empties the store and the counters (the request log starts again at 1).
    pub fn reset(&self) -> anyhow::Result<()> {
        self.admin("POST", "/_emulator/reset")?;
        self.cursor.set(0);
        Ok(())
    }

    /// Answers every database request `latency_ms` late from now on (no other fault).
    pub fn set_latency(&self, latency_ms: u64) -> anyhow::Result<()> {
        let body = format!("{{\"latencyMs\":{latency_ms}}}");
        self.admin_with("POST", "/_emulator/faults", &body)
            .map(drop)
    }

    /// The requests logged since the last call (or the last reset).
    pub fn new_requests(&self) -> anyhow::Result<Vec<LoggedRequest>> {
        let requests = self.requests_since(self.cursor.get())?;
        if let Some(last) = requests.iter().map(|r| r.seq).max() {
            self.cursor.set(last);
        }
        Ok(requests)
    }

    /// The request log after sequence number `since`.
    pub fn requests_since(&self, since: u64) -> anyhow::Result<Vec<LoggedRequest>> {
        let body = self.admin("GET", &format!("/_emulator/requests?since={since}"))?;
        let reply: RequestsReply =
            serde_json::from_str(&body).context("failed to decode `/_emulator/requests`")?;
        Ok(reply.requests)
    }

    fn admin(&self, method: &str, path: &str) -> anyhow::Result<String> {
        self.admin_with(method, path, "")
    }

    fn admin_with(&self, method: &str, path: &str, body: &str) -> anyhow::Result<String> {
        let mut stream = TcpStream::connect(&self.authority)
            .with_context(|| format!("failed to connect to `{}`", self.url))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.authority,
            body.len()
        )?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        parse_reply(&reply).with_context(|| format!("{method} {path} on `{}`", self.url))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a `200` HTTP/1.1 reply with a Content-Length (not chunked).
pub fn parse_reply(reply: &str) -> anyhow::Result<String> {
    let Some((head, body)) = reply.split_once("\r\n\r\n") else {
        bail!("incomplete HTTP reply");
    };
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("answered `{status}`: {body}");
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked replies are not supported by the bench's admin client");
    }
    Ok(body.to_owned())
}
