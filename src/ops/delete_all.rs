//! `delete-all`'s job: list every record of one type, find the local records whose
//! references name them (CloudKit deletes a `DELETE_SELF` holder with its target), then
//! `forceDelete` them all.

use crate::cloudkit::client::OperationResult;
use crate::cloudkit::wire::{Operation, OperationType, WireRecord};
use crate::cloudkit::{Client, CloudKitError};
use crate::local::LocalData;
use crate::record::{FieldValue, RecordName, RecordType, Value};
use std::collections::BTreeSet;

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

/// A local record whose field references a record `delete-all` is about to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReference {
    pub record_type: RecordType,
    pub record_name: RecordName,
    pub field: String,
    pub target: RecordName,
    /// `NONE`, `DELETE_SELF` or `VALIDATE` (`NONE` when the data does not say).
    pub action: String,
}

impl LocalReference {
    pub fn deletes_self(&self) -> bool {
        self.action == "DELETE_SELF"
    }
}

/// Every reference in `local` — any type's records, native or plain, scalars and list
/// elements, whatever the config declares — to a record named in `doomed` (the records of
/// `record_type` about to be deleted from `zone`; record names are unique in a zone, so
/// the name alone says the reference is to one of them). References held by `record_type`'s
/// own records go with them and are left out, as are references that state another zone.
/// Ordered by type, name and field.
pub fn local_references(
    local: &LocalData,
    record_type: &RecordType,
    doomed: &[RecordName],
    zone: &str,
) -> Vec<LocalReference> {
    let doomed: BTreeSet<&RecordName> = doomed.iter().collect();
    let mut found = Vec::new();
    for (holder_type, loaded) in &local.types {
        if holder_type == record_type {
            continue;
        }
        for record in &loaded.records {
            for (field, value) in &record.fields {
                let values: &[Value] = match value {
                    FieldValue::Scalar(value) => std::slice::from_ref(value),
                    FieldValue::List(_, values) => values,
                    FieldValue::Unknown { .. } => &[],
                };
                for value in values {
                    let Value::Reference(reference) = value else {
                        continue;
                    };
                    let other_zone = reference
                        .zone_id
                        .as_ref()
                        .and_then(|zone_id| zone_id.get("zoneName"))
                        .and_then(|name| name.as_str())
                        .is_some_and(|name| name != zone);
                    if other_zone || !doomed.contains(&reference.record_name) {
                        continue;
                    }
                    found.push(LocalReference {
                        record_type: holder_type.clone(),
                        record_name: record.record_name.clone(),
                        field: field.to_string(),
                        target: reference.record_name.clone(),
                        action: reference.action_or_none().to_owned(),
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| {
        (&a.record_type, &a.record_name, &a.field, &a.target).cmp(&(
            &b.record_type,
            &b.record_name,
            &b.field,
            &b.target,
        ))
    });
    found
}
