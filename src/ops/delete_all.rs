//! `delete-all`'s job: list every record of one type, then `forceDelete` them all.

use crate::cloudkit::client::OperationResult;
use crate::cloudkit::wire::{Operation, OperationType, WireRecord};
use crate::cloudkit::{Client, CloudKitError};
use crate::record::{RecordName, RecordType};

/// The names of every `record_type` record in the client's target.
pub async fn list(
    client: &Client,
    record_type: &RecordType,
) -> Result<Vec<RecordName>, CloudKitError> {
    let records = client.query_all(record_type, &mut |_| {}).await?;
    Ok(records.into_iter().map(|r| r.record_name).collect())
}

/// What a deletion did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub deleted: usize,
    pub failed: usize,
}

/// Force-deletes `names` (no change tags) in batches of up to 200.
pub async fn delete(client: &Client, names: &[RecordName]) -> Result<Deleted, CloudKitError> {
    let operations: Vec<Operation> = names
        .iter()
        .map(|name| Operation {
            operation_type: OperationType::ForceDelete,
            record: WireRecord {
                record_name: Some(name.0.clone()),
                ..WireRecord::default()
            },
            desired_keys: None,
        })
        .collect();
    let results = client.modify(operations).await?;
    let failed = results
        .iter()
        .filter(|r| matches!(r, OperationResult::Failed(..)))
        .count();
    Ok(Deleted {
        deleted: results.len() - failed,
        failed,
    })
}
