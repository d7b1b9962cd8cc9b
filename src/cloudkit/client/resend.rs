//! Per-record retries. A 200 reply can hold per-record errors that say "not now":
//! `THROTTLED` and `TRY_AGAIN_LATER` in a modify reply (the operation was not applied), or
//! any transient error in a lookup reply. Those records, and only those, are sent again
//! after the server's `retryAfter` (jittered, never sooner) or the policy's backoff, within
//! the policy's attempt and time budget. What still fails is returned as it came, never
//! read as something else (a lookup error is not "absent").

use super::limits::{split, MAX_REQUEST_BYTES};
use super::records::{Lookup, OperationResult};
use super::{Client, MAX_RECORDS_PER_REQUEST};
use crate::cloudkit::error::CloudKitError;
use crate::cloudkit::retry::retry_after_duration;
use crate::cloudkit::wire::{EncodedOperation, Endpoint, Operation, ServerErrorCode};
use crate::record::RecordName;
use std::time::{Duration, Instant};
use tracing::debug;

/// Per-record codes after which the same operation may succeed later.
fn is_transient(code: &ServerErrorCode) -> bool {
    matches!(
        code,
        ServerErrorCode::Throttled | ServerErrorCode::TryAgainLater
    )
}

/// Lookup errors worth asking again: the transient ones, an internal error (a read), and
/// codes this version does not know.
fn lookup_may_recover(code: &ServerErrorCode) -> bool {
    is_transient(code)
        || matches!(
            code,
            ServerErrorCode::InternalError | ServerErrorCode::Other(_)
        )
}

impl Client {
    /// The wait before resending records after `attempts` attempts, given the longest
    /// `retryAfter` among them; `None` when the budget is spent.
    fn record_retry_wait(
        &self,
        attempts: u32,
        started: Instant,
        retry_after: Option<f64>,
    ) -> Option<Duration> {
        let mut random = self
            .inner
            .random
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.inner.options.retry.next_delay(
            attempts,
            started.elapsed(),
            retry_after_duration(retry_after),
            &mut *random,
        )
    }

    /// Looks `names` up (200 a request), one result per name in the order given. Per-record
    /// errors other than `NOT_FOUND` are asked again as the retry policy allows; one that
    /// persists stays `Lookup::Error`.
    pub async fn lookup(&self, names: &[RecordName]) -> Result<Vec<Lookup>, CloudKitError> {
        let mut results = self.lookup_once(names).await?;
        let started = Instant::now();
        let mut attempts = 1;
        loop {
            let failing: Vec<usize> = (0..results.len())
                .filter(|&i| matches!(&results[i], Lookup::Error(_, e) if lookup_may_recover(&e.server_error_code)))
                .collect();
            if failing.is_empty() {
                return Ok(results);
            }
            let retry_after = failing
                .iter()
                .filter_map(|&i| match &results[i] {
                    Lookup::Error(_, error) => error.retry_after,
                    _ => None,
                })
                .reduce(f64::max);
            let Some(wait) = self.record_retry_wait(attempts, started, retry_after) else {
                return Ok(results);
            };
            debug!(
                records = failing.len(),
                wait_ms = wait.as_millis() as u64,
                "lookup errors will be asked again"
            );
            if !self.wait(wait).await {
                return Ok(results);
            }
            attempts += 1;
            let again: Vec<RecordName> = failing.iter().map(|&i| names[i].clone()).collect();
            for (index, result) in failing.into_iter().zip(self.lookup_once(&again).await?) {
                results[index] = result;
            }
        }
    }

    /// Sends `operations` (at most 200) as one batch: in one modify request, or in several
    /// consecutive ones when their bytes exceed a request (see `limits`). One result per
    /// operation, in order. Operations refused per record with `THROTTLED` or
    /// `TRY_AGAIN_LATER` are resent, alone, after at least their `retryAfter`.
    ///
    /// Errors: `TooManyOperations` or `RecordTooLarge` before anything is sent; otherwise
    /// the first request's error (results of earlier requests of the batch are then lost to
    /// the caller, who looks the records up, as for any write whose outcome is unknown).
    pub async fn modify_batch(
        &self,
        operations: Vec<Operation>,
    ) -> Result<Vec<OperationResult>, CloudKitError> {
        self.modify_batch_within(operations, MAX_REQUEST_BYTES)
            .await
    }

    /// As `modify_batch`, with requests of at most `max_request_bytes` (tests).
    pub async fn modify_batch_within(
        &self,
        operations: Vec<Operation>,
        max_request_bytes: usize,
    ) -> Result<Vec<OperationResult>, CloudKitError> {
        let operations = operations
            .iter()
            .map(EncodedOperation::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CloudKitError::Encode {
                operation: Endpoint::Modify,
                source,
            })?;
        self.modify_encoded_within(operations, max_request_bytes)
            .await
    }

    /// As `modify_batch`, for operations already encoded (the caller wrote them once,
    /// straight from its own values: see [`crate::cloudkit::wire::RecordWrite`]).
    pub async fn modify_encoded(
        &self,
        operations: Vec<EncodedOperation>,
    ) -> Result<Vec<OperationResult>, CloudKitError> {
        self.modify_encoded_within(operations, MAX_REQUEST_BYTES)
            .await
    }

    async fn modify_encoded_within(
        &self,
        operations: Vec<EncodedOperation>,
        max_request_bytes: usize,
    ) -> Result<Vec<OperationResult>, CloudKitError> {
        if operations.len() > MAX_RECORDS_PER_REQUEST {
            return Err(CloudKitError::TooManyOperations {
                count: operations.len(),
                limit: MAX_RECORDS_PER_REQUEST,
            });
        }
        let mut results = Vec::with_capacity(operations.len());
        for group in split(operations, max_request_bytes)? {
            results.extend(self.modify_until_accepted(group).await?);
        }
        Ok(results)
    }

    /// One request, then the throttled part of it again after the wait asked for, until
    /// nothing is throttled or the retry budget is spent.
    async fn modify_until_accepted(
        &self,
        operations: Vec<EncodedOperation>,
    ) -> Result<Vec<OperationResult>, CloudKitError> {
        let mut results = self.modify_request(&operations).await?;
        let started = Instant::now();
        let mut attempts = 1;
        loop {
            let throttled: Vec<usize> = (0..results.len())
                .filter(|&i| matches!(&results[i], OperationResult::Failed(_, f) if is_transient(&f.code)))
                .collect();
            if throttled.is_empty() {
                return Ok(results);
            }
            let retry_after = throttled
                .iter()
                .filter_map(|&i| match &results[i] {
                    OperationResult::Failed(_, failure) => failure.retry_after,
                    _ => None,
                })
                .reduce(f64::max);
            let Some(wait) = self.record_retry_wait(attempts, started, retry_after) else {
                return Ok(results);
            };
            debug!(
                records = throttled.len(),
                wait_ms = wait.as_millis() as u64,
                "throttled records will be resent"
            );
            if !self.wait(wait).await {
                return Ok(results);
            }
            attempts += 1;
            let again: Vec<EncodedOperation> =
                throttled.iter().map(|&i| operations[i].clone()).collect();
            for (index, result) in throttled
                .into_iter()
                .zip(self.modify_request(&again).await?)
            {
                results[index] = result;
            }
        }
    }

    /// Sends `operations` in sequential batches of at most 200; results in order.
    pub async fn modify(
        &self,
        operations: Vec<Operation>,
    ) -> Result<Vec<OperationResult>, CloudKitError> {
        let mut results = Vec::with_capacity(operations.len());
        let mut remaining = operations;
        while !remaining.is_empty() {
            let rest = remaining.split_off(remaining.len().min(MAX_RECORDS_PER_REQUEST));
            results.extend(self.modify_batch(remaining).await?);
            remaining = rest;
        }
        Ok(results)
    }
}
