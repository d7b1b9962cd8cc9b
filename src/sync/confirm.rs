//! Confirming a comparison by lookup. A query reads indexes that CloudKit updates
//! asynchronously (Apple, *CloudKit Web Services Reference*, "Fetching Records Using a
//! Query": indexes are updated asynchronously) and pages by relative markers that can repeat
//! or skip a record; `records/lookup` reads by recordName and is exact. So every record the
//! query says is new, updated or orphaned is looked up, and its comparison is redone against
//! what the lookup returned. Records the query calls unchanged are not looked up: a lagging
//! index can only hide a change made after the plan's own inputs, which the plan's change
//! tags catch at apply time.

use crate::cloudkit::{Client, CloudKitError, Lookup};
use crate::config::Config;
use crate::diff::{compare_type, Category, NameClash, RecordDiff, TypeDiff};
use crate::record::{Record, RecordName};
use std::collections::HashMap;
use tracing::debug;

/// Looks up every new, updated and deleted record of `diffs` (200 a request, the requests
/// concurrently within the client's budget, each name once) and replaces
/// its comparison with one against the looked-up record; a record that turns out equal
/// becomes unchanged, an orphan that is gone disappears. Returns every local record whose
/// name the lookup found under another record type (see [`NameClash`]), by recordName.
///
/// Errors: the lookup's request error, or `RecordFailed` naming the first record whose
/// lookup kept failing (a record is never taken as absent because its lookup failed).
pub async fn confirm_differences(
    client: &Client,
    config: &Config,
    diffs: &mut [TypeDiff],
) -> Result<Vec<NameClash>, CloudKitError> {
    // A name in two types' differences (a clash) is looked up once.
    let mut seen = std::collections::HashSet::new();
    let names: Vec<RecordName> = diffs
        .iter()
        .flat_map(|diff| diff.records.iter())
        .filter(|record| record.category != Category::Unchanged)
        .map(|record| &record.record_name)
        .filter(|&name| seen.insert(name))
        .cloned()
        .collect();
    drop(seen);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    debug!(records = names.len(), "confirming differences by lookup");
    // Not sized for every name: in a first publish none is found.
    let mut found: HashMap<RecordName, Record> = HashMap::new();
    for lookup in client.lookup(&names).await? {
        match lookup {
            Lookup::Found(record) => {
                found.insert(record.record_name.clone(), *record);
            }
            Lookup::NotFound(_) => {}
            Lookup::Error(name, error) => {
                return Err(CloudKitError::RecordFailed {
                    operation: crate::cloudkit::wire::Endpoint::Lookup,
                    record_name: name.0,
                    code: error.server_error_code,
                    reason: error.reason,
                })
            }
        }
    }
    let mut clashes = Vec::new();
    for diff in diffs.iter_mut() {
        let type_config = config.types.get(&diff.record_type);
        let rules = type_config.map(|t| t.compare_rules()).unwrap_or_default();
        let declared = type_config.map(|t| t.fields.clone()).unwrap_or_default();
        // Sized once (a record stays one record or goes): growing it by doubling beside
        // the old one would hold up to three times a large first publish's diffs.
        let records = std::mem::take(&mut diff.records);
        let mut confirmed = Vec::with_capacity(records.len());
        for record in records {
            match record.category {
                Category::Unchanged => confirmed.push(record),
                _ => confirmed.extend(recompare(
                    record,
                    &mut found,
                    (&rules, &declared),
                    &mut clashes,
                )),
            }
        }
        diff.records = confirmed;
    }
    clashes.sort_by(|a: &NameClash, b| a.record_name.cmp(&b.record_name));
    Ok(clashes)
}

/// The fields a type's `fields:` declares.
type Declared = std::collections::BTreeMap<String, crate::config::FieldSpec>;

/// The comparison of one record redone against its looked-up state (`found` holds every
/// record the lookup returned). A record of another type under the same name is not this
/// record's current state; the query's comparison is kept for it, and when the record is
/// a local one, the clash is added to `clashes`.
fn recompare(
    record: RecordDiff,
    found: &mut HashMap<RecordName, Record>,
    (rules, declared): (&crate::diff::CompareRules, &Declared),
    clashes: &mut Vec<NameClash>,
) -> Vec<RecordDiff> {
    let current = match found.remove(&record.record_name) {
        Some(current) if current.record_type != record.record_type => {
            if record.desired.is_some() {
                clashes.push(NameClash {
                    record_name: record.record_name.clone(),
                    local: record.record_type.clone(),
                    stored: current.record_type.clone(),
                });
            }
            found.insert(current.record_name.clone(), current);
            return vec![record];
        }
        current => current,
    };
    let mut current = current;
    if let Some(current) = &mut current {
        super::assets::drop_unmanaged(declared, record.desired.as_ref(), current);
    }
    let desired = record.desired.map(|fields| Record {
        record_type: record.record_type.clone(),
        record_name: record.record_name,
        change_tag: None,
        fields,
        stamps: None,
    });
    compare_type(
        &record.record_type,
        desired.into_iter().collect(),
        current.into_iter().collect(),
        rules,
    )
    .records
}
