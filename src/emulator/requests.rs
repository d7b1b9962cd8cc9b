//! The request log: every request the emulator answered (method, path, status, time on the
//! emulator's clock) with the outcome of each operation inside it (one per record in
//! modify and lookup, one per query page), in arrival order. Tests read it in-process
//! (`RunningEmulator::requests`) or over HTTP (`GET /_emulator/requests?since=SEQ`), as
//! wiremock records every request. Bounded: the oldest entries are forgotten past
//! `CAPACITY` requests or `OPERATION_CAPACITY` operation outcomes, and `seq` keeps counting
//! so a reader can tell.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Requests kept; older ones are dropped first.
pub const CAPACITY: usize = 100_000;

/// Operation outcomes kept across all kept requests (a full modify holds 200), so a
/// long-running emulator's log stays within tens of megabytes.
pub const OPERATION_CAPACITY: usize = 500_000;

/// What happened to one operation of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    /// `create`, `update`, … for modify; `lookup`; `query` for a query page.
    pub operation: String,
    /// The record concerned; `None` for a query page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_name: Option<String>,
    /// `ok`, a serverErrorCode (`EXISTS`, `CONFLICT`, `THROTTLED`, …), or for a query page
    /// `ok` / `repeated` / `skipped` (an injected page fault).
    pub outcome: String,
    /// For a query page: which query it belongs to and what it returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<QueryPageLog>,
}

/// One query page as the request log keeps it: the pages of one query chain share `query`
/// (a digest of the scope, record type, filters and sorts, the one its continuation
/// markers carry), so a reader can count pages per chain and tell a short page that still
/// had more to come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPageLog {
    pub query: String,
    /// The request carried a continuation marker.
    pub continued: bool,
    /// The request's `resultsLimit` after the emulator's cap.
    pub limit: usize,
    pub records: usize,
    /// The reply carried a continuation marker.
    pub more: bool,
}

impl OperationOutcome {
    pub fn new(operation: &str, record_name: Option<&str>, outcome: &str) -> Self {
        Self {
            operation: operation.to_owned(),
            record_name: record_name.map(str::to_owned),
            outcome: outcome.to_owned(),
            page: None,
        }
    }
}

/// One answered (or dropped) request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    /// 1 for the first request since start or reset.
    pub seq: u64,
    /// Milliseconds since 1970-01-01 UTC on the emulator's clock, when it arrived.
    pub at: i64,
    pub method: String,
    /// The path as sent, without the query string.
    pub path: String,
    /// `records/modify`, …; `None` for unrouted and admin requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The HTTP status (`"200"`, `"404"`, …) or `"dropped"` (closed unanswered).
    pub status: String,
    /// Request-level serverErrorCode of an error reply, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub operations: Vec<OperationOutcome>,
}

/// The log itself.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: VecDeque<LoggedRequest>,
    next_seq: u64,
    /// Operation outcomes held in `entries`.
    operations: usize,
}

impl RequestLog {
    /// Appends `entry`, giving it the next sequence number.
    pub fn push(&mut self, mut entry: LoggedRequest) {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        self.operations += entry.operations.len();
        self.entries.push_back(entry);
        while self.entries.len() > CAPACITY || self.operations > OPERATION_CAPACITY {
            match self.entries.pop_front() {
                Some(oldest) => self.operations -= oldest.operations.len(),
                None => break,
            }
        }
    }

    /// Entries with `seq > since`, oldest first.
    pub fn since(&self, since: u64) -> Vec<LoggedRequest> {
        let start = self.entries.partition_point(|entry| entry.seq <= since);
        self.entries.range(start..).cloned().collect()
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> LoggedRequest {
        LoggedRequest {
            seq: 0,
            at: 7,
            method: "POST".into(),
            path: path.into(),
            endpoint: None,
            status: "200".into(),
            error: None,
            operations: vec![OperationOutcome::new("create", Some("a"), "ok")],
        }
    }

    #[test]
    fn entries_are_numbered_and_read_from_a_sequence_number() {
        let mut log = RequestLog::default();
        log.push(entry("/a"));
        log.push(entry("/b"));
        log.push(entry("/c"));
        let all = log.since(0);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        let later = log.since(2);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].path, "/c");
        log.clear();
        assert!(log.since(0).is_empty());
        log.push(entry("/d"));
        assert_eq!(log.since(0)[0].seq, 1);
    }

    #[test]
    fn the_oldest_entries_go_first_past_the_operation_capacity() {
        let mut log = RequestLog::default();
        let mut big = entry("/big");
        big.operations = vec![OperationOutcome::new("create", Some("a"), "ok"); 200];
        for _ in 0..OPERATION_CAPACITY / 200 + 1 {
            log.push(big.clone());
        }
        let all = log.since(0);
        assert_eq!(all.len(), OPERATION_CAPACITY / 200);
        assert_eq!(all[0].seq, 2);
    }

    #[test]
    fn the_oldest_entries_go_first_past_capacity() {
        let mut log = RequestLog::default();
        for _ in 0..CAPACITY + 2 {
            log.push(entry("/x"));
        }
        let all = log.since(0);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].seq, 3);
    }
}
