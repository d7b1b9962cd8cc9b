//! CloudKit's size limits on what the client sends, and splitting modify operations into
//! requests that respect them.
//!
//! Sources: Apple, *CloudKit Web Services Reference*, "Data Size Limits" (2016-06-13):
//! 200 operations per request, 200 records per response, "Maximum record size (not
//! including Asset fields): 1 MB". The Web Services reference gives no request size; the
//! only figure Apple publishes is the native framework's `CKError.Code.limitExceeded`
//! guidance, "2 MB per request (not counting asset sizes)". Both "MB" are read as decimal
//! megabytes, the stricter reading: whatever passes here passes under either reading.

use super::MAX_RECORDS_PER_REQUEST;
use crate::cloudkit::error::CloudKitError;
use crate::cloudkit::wire::{EncodedOperation, Operation};

/// Largest record CloudKit stores, assets excluded: 1 MB = 1,000,000 bytes, measured as
/// the field names plus their values' JSON on the wire (`record_bytes`).
pub const MAX_RECORD_BYTES: usize = 1_000_000;

/// Largest modify request body the client sends: 2 MB = 2,000,000 bytes.
pub const MAX_REQUEST_BYTES: usize = 2_000_000;

/// Bytes of the request envelope around the operations (`{"operations":[...]`, `zoneID`,
/// `atomic`), with room to spare.
const ENVELOPE_BYTES: usize = 1_024;

/// The size of an operation's record as CloudKit counts it against `MAX_RECORD_BYTES`:
/// each field's name plus its value's JSON.
pub fn record_bytes(operation: &Operation) -> usize {
    crate::cloudkit::wire::record_bytes(&operation.record).unwrap_or(0)
}

/// Splits encoded `operations` (in order) into consecutive groups that each fit one
/// request: at most 200 operations and `max_request_bytes` of body. Refuses, before
/// anything is sent, a record over `MAX_RECORD_BYTES` or an operation that alone exceeds a
/// request.
pub fn split(
    operations: Vec<EncodedOperation>,
    max_request_bytes: usize,
) -> Result<Vec<Vec<EncodedOperation>>, CloudKitError> {
    let mut groups: Vec<Vec<EncodedOperation>> = Vec::new();
    let mut bytes = ENVELOPE_BYTES;
    for operation in operations {
        let name = || operation.record_name.clone().unwrap_or_default();
        let record = operation.record_bytes;
        if record > MAX_RECORD_BYTES {
            return Err(CloudKitError::RecordTooLarge {
                record_name: name(),
                bytes: record,
                limit: MAX_RECORD_BYTES,
            });
        }
        let size = operation.json().len() + 1;
        if ENVELOPE_BYTES + size > max_request_bytes {
            return Err(CloudKitError::RecordTooLarge {
                record_name: name(),
                bytes: size,
                limit: max_request_bytes - ENVELOPE_BYTES,
            });
        }
        let full = groups.last().is_none_or(|group| {
            group.len() >= MAX_RECORDS_PER_REQUEST || bytes + size > max_request_bytes
        });
        if full {
            groups.push(Vec::new());
            bytes = ENVELOPE_BYTES;
        }
        bytes += size;
        groups.last_mut().expect("a group").push(operation);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::wire::{OperationType, WireRecord};
    use crate::record::{encoded_length, FieldValue, Record};

    fn create(name: &str, text_bytes: usize) -> EncodedOperation {
        let record = Record::new("Team", name)
            .with_field("text", FieldValue::string("x".repeat(text_bytes)));
        let operation = Operation {
            operation_type: OperationType::Create,
            record: WireRecord::from_record(&record),
            desired_keys: None,
        };
        EncodedOperation::new(&operation).unwrap()
    }

    #[test]
    fn lengths_are_counted_as_written() {
        let values = [
            serde_json::json!(null),
            serde_json::json!("a \"quoted\" é"),
            serde_json::json!({"b": [1, 2.5, {"c": "d"}], "a": true}),
        ];
        for value in &values {
            let written = serde_json::to_vec(value).unwrap().len();
            assert_eq!(encoded_length(value).unwrap(), written, "{value}");
        }
    }

    #[test]
    fn issue_11_batches_split_by_bytes_as_well_as_count() {
        // 5 records of ~600 kB: at most 3 fit 2 MB.
        let operations: Vec<_> = (0..5).map(|i| create(&format!("r{i}"), 600_000)).collect();
        let groups = split(operations, MAX_REQUEST_BYTES).unwrap();
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 2]);
        for group in &groups {
            let body = group.iter().map(|o| o.json().len() + 1).sum::<usize>() + 1;
            assert!(body + ENVELOPE_BYTES <= MAX_REQUEST_BYTES, "{body}");
        }
        // Small records: by count.
        let operations: Vec<_> = (0..450).map(|i| create(&format!("r{i}"), 10)).collect();
        let sizes: Vec<usize> = split(operations, MAX_REQUEST_BYTES)
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [200, 200, 50]);
        // Order is kept.
        let operations: Vec<_> = (0..5).map(|i| create(&format!("r{i}"), 700_000)).collect();
        let names: Vec<String> = split(operations, MAX_REQUEST_BYTES)
            .unwrap()
            .into_iter()
            .flatten()
            .map(|o| o.record_name.unwrap())
            .collect();
        assert_eq!(names, ["r0", "r1", "r2", "r3", "r4"]);
    }

    #[test]
    fn issue_11_records_are_checked_against_the_documented_1_mb() {
        // Over 1,000,000 bytes but under 1 MiB: refused, naming the record.
        let error = split(vec![create("big", 1_000_100)], MAX_REQUEST_BYTES).unwrap_err();
        let CloudKitError::RecordTooLarge {
            record_name, limit, ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(record_name, "big");
        assert_eq!(*limit, 1_000_000);
        assert!(split(vec![create("ok", 999_000)], MAX_REQUEST_BYTES).is_ok());
    }
}
