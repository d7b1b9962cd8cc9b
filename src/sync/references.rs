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
                        field: field.to_string(),
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

/// The references that can keep an orphan from deletion: the local data's and CloudKit's
/// that an apply leaves in place, or none when CloudKit holds no record the local data does
/// not name (no orphan, so nothing to delete and nothing to guard; a first publish or an
/// edit of records that all exist is the usual case, and its references are most of a
/// plan's memory: three strings and a name per reference, three references per game).
pub fn guarding_references(
    config: &Config,
    local: &LocalData,
    current: &[(RecordType, Vec<Record>)],
) -> Vec<FoundReference> {
    if !has_unnamed(local, current) {
        return Vec::new();
    }
    let mut found = local_references(config, local);
    found.extend(cloud_references(config, Some(local), current));
    found
}

/// Whether `current` holds a record `local` does not name under its type: the only
/// records a plan can delete.
fn has_unnamed(local: &LocalData, current: &[(RecordType, Vec<Record>)]) -> bool {
    current.iter().any(|(record_type, records)| {
        let named: HashSet<&str> = local
            .records(record_type)
            .iter()
            .map(|r| r.record_name.as_str())
            .collect();
        records
            .iter()
            .any(|r| !named.contains(r.record_name.as_str()))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LoadedType;
    use std::path::Path;

    fn config() -> Config {
        let text = "container: iCloud.com.example.App\nenvironment: development\ntypes:\n  \
                    Team:\n    file: teams.json\n    fields:\n      stadium: REFERENCE(Stadium)\n";
        Config::parse(Path::new("project/ckplan.yaml"), text).unwrap()
    }

    fn team(name: &str, stadium: &str) -> Record {
        Record::new("Team", name).with_field("stadium", FieldValue::reference(stadium))
    }

    fn local(records: Vec<Record>) -> LocalData {
        let loaded = LoadedType {
            records,
            ..LoadedType::default()
        };
        LocalData {
            types: [(RecordType::new("Team"), loaded)].into(),
            ..LocalData::default()
        }
    }

    fn targets(found: &[FoundReference]) -> Vec<(&str, &str)> {
        found
            .iter()
            .map(|f| (f.referrer.record_name.as_str(), f.target.as_str()))
            .collect()
    }

    #[test]
    fn issue_18_no_references_are_gathered_when_cloudkit_holds_only_named_records() {
        let local = local(vec![team("t-1", "s-1"), team("t-2", "s-2")]);
        let current = vec![(RecordType::new("Team"), vec![team("t-1", "s-9")])];
        assert!(guarding_references(&config(), &local, &current).is_empty());
        assert!(guarding_references(&config(), &local, &[]).is_empty());
    }

    #[test]
    fn an_unnamed_record_in_cloudkit_gathers_the_local_references_and_its_own() {
        let local = local(vec![team("t-1", "s-1")]);
        let current = vec![(
            RecordType::new("Team"),
            vec![team("t-1", "s-9"), team("t-8", "s-8")],
        )];
        let found = guarding_references(&config(), &local, &current);
        assert_eq!(targets(&found), [("t-1", "s-1"), ("t-8", "s-8")]);
        assert_eq!(found[0].referrer.source, ReferenceSource::Local);
        assert_eq!(found[1].referrer.source, ReferenceSource::CloudKit);
    }
}
