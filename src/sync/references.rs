//! The references a plan must not break (issue 17): gathered from what the read already
//! holds, before the comparison consumes it — every reference of the local data (it holds
//! after the apply), and every reference CloudKit holds in a place the apply leaves alone
//! (a record the local data does not name, or a field its type ignores).

use crate::cloudkit::{Client, CloudKitError};
use crate::config::Config;
use crate::diff::{Category, TypeDiff};
use crate::local::{LocalData, Problem};
use crate::plan::{Action, FoundReference, Plan, ReferenceSource, Referrer};
use crate::record::{FieldValue, Record, RecordType, Value};
use std::collections::{BTreeSet, HashSet};

/// Every reference in `record`'s fields accepted by `keep`.
fn references_of(
    record: &Record,
    source: ReferenceSource,
    keep: impl Fn(&str) -> bool,
    found: &mut Vec<FoundReference>,
) {
    for (field, value) in &record.fields {
        if !keep(field) {
            continue;
        }
        let elements: &[Value] = match value {
            FieldValue::Scalar(value) => std::slice::from_ref(value),
            FieldValue::List(_, values) => values,
            FieldValue::Unknown { .. } => &[],
        };
        for element in elements {
            if let Value::Reference(reference) = element {
                found.push(FoundReference {
                    target: reference.record_name.clone(),
                    referrer: Referrer {
                        record_type: record.record_type.clone(),
                        record_name: record.record_name.clone(),
                        field: field.clone(),
                        action: reference.action_or_none().to_owned(),
                        source,
                    },
                });
            }
        }
    }
}

fn ignored(config: &Config, record_type: &RecordType) -> BTreeSet<String> {
    config
        .types
        .get(record_type)
        .map(|t| t.ignore_fields.clone())
        .unwrap_or_default()
}

/// The local data's references (fields its types ignore are never sent, so left out).
pub fn local_references(config: &Config, local: &LocalData) -> Vec<FoundReference> {
    let mut found = Vec::new();
    for (record_type, loaded) in &local.types {
        let ignored = ignored(config, record_type);
        for record in &loaded.records {
            references_of(
                record,
                ReferenceSource::Local,
                |f| !ignored.contains(f),
                &mut found,
            );
        }
    }
    found
}

/// CloudKit's references that an apply leaves in place: all of a record the local data
/// does not name (an orphan), or of every record when the types were not planned
/// (`local` is `None`: types outside `--type`), and those in ignored fields of a record
/// the local data names.
pub fn cloud_references(
    config: &Config,
    local: Option<&LocalData>,
    current: &[(RecordType, Vec<Record>)],
) -> Vec<FoundReference> {
    let mut found = Vec::new();
    for (record_type, records) in current {
        let ignored = ignored(config, record_type);
        let named: HashSet<&str> = match local {
            Some(local) => local
                .records(record_type)
                .iter()
                .map(|r| r.record_name.as_str())
                .collect(),
            None => HashSet::new(),
        };
        for record in records {
            let stays_as_is = !named.contains(record.record_name.as_str());
            let keep = |field: &str| stays_as_is || ignored.contains(field);
            references_of(record, ReferenceSource::CloudKit, keep, &mut found);
        }
    }
    found
}

/// The references CloudKit holds in the configured types outside `selected` (`--type`):
/// read only when the diffs have orphans, as each may be referenced from there.
pub async fn untouched_references(
    config: &Config,
    client: &Client,
    selected: &[RecordType],
    diffs: &[TypeDiff],
) -> Result<Vec<FoundReference>, CloudKitError> {
    let others: Vec<RecordType> = config
        .types
        .keys()
        .filter(|t| !selected.contains(t))
        .cloned()
        .collect();
    let orphans = diffs.iter().any(|d| d.count(Category::Orphan) > 0);
    if others.is_empty() || !orphans {
        return Ok(Vec::new());
    }
    let current = super::read_current(client, &others, &()).await?;
    Ok(cloud_references(config, None, &current.records))
}

/// The dangling-reference warnings of the local data, saying of a record the plan deletes
/// (or keeps only because records reference it) just that, instead of "it may exist only in
/// CloudKit" (issue 17).
pub fn with_plan_fate(problems: Vec<Problem>, plan: &Plan) -> Vec<Problem> {
    let mut problems = problems;
    for problem in &mut problems {
        let target = problem.dangling_target.as_ref();
        let deleted = plan
            .changes
            .iter()
            .any(|c| c.action == Action::Delete && Some(&c.record_name) == target);
        let kept = plan
            .referenced_orphans
            .iter()
            .any(|o| !o.deleted && Some(&o.record_name) == target);
        let fate = match (deleted, kept) {
            (true, _) => "(it is only in CloudKit, and this plan deletes it)",
            (false, true) => {
                "(it is only in CloudKit; this plan keeps it because records reference it)"
            }
            (false, false) => continue,
        };
        problem.message = problem
            .message
            .replace(crate::local::ONLY_IN_CLOUDKIT, fate);
    }
    problems
}
