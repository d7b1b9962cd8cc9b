//! `import`'s job: `forceReplace` every local record of the selected types, type by type in
//! dependency order, in sequential batches of up to 200; no diff, no change tags.

use crate::apply::BATCH_SIZE;
use crate::cloudkit::client::OperationResult;
use crate::cloudkit::wire::{Operation, OperationType, WireRecord};
use crate::cloudkit::{Client, CloudKitError};
use crate::local::LocalData;
use crate::record::{RecordName, RecordType};

/// Progress of an import.
pub trait ImportObserver {
    /// `done` of the type's `total` records were sent.
    fn batch_done(&self, _record_type: &RecordType, _done: usize, _total: usize) {}
    /// CloudKit refused one record.
    fn failed(&self, _record_type: &RecordType, _name: &RecordName, _code: &str, _reason: &str) {}
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub imported: usize,
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("import of `{record_type}` stopped")]
pub struct ImportError {
    pub record_type: RecordType,
    #[source]
    pub source: CloudKitError,
}

/// Force-replaces the records of `order`'s types that are in `selected`, taking them out
/// of `local`. Stops at the first request that fails after retries.
pub async fn force_replace(
    client: &Client,
    local: &mut LocalData,
    order: &[RecordType],
    selected: &[RecordType],
    observer: &dyn ImportObserver,
) -> Result<Imported, ImportError> {
    let mut totals = Imported::default();
    for record_type in order.iter().filter(|t| selected.contains(t)) {
        let records = local.take_records(record_type);
        let mut done = 0;
        for chunk in records.chunks(BATCH_SIZE) {
            let operations = chunk
                .iter()
                .map(|record| Operation {
                    operation_type: OperationType::ForceReplace,
                    record: WireRecord::from_record(record),
                    desired_keys: None,
                })
                .collect();
            let results = client
                .modify_batch(operations)
                .await
                .map_err(|source| ImportError {
                    record_type: record_type.clone(),
                    source,
                })?;
            for result in results {
                match result {
                    OperationResult::Failed(name, failure) => {
                        totals.failed += 1;
                        let reason = failure.reason.unwrap_or_default();
                        observer.failed(record_type, &name, &failure.code.to_string(), &reason);
                    }
                    _ => totals.imported += 1,
                }
            }
            done += chunk.len();
            observer.batch_done(record_type, done, records.len());
        }
    }
    Ok(totals)
}
