//! The order record types are applied in: a type that others reference comes before them
//! (stadiums and teams before games), so a create never points at a record not yet made.
//! Edges come from declared reference targets (`REFERENCE(Stadium)`) and, for undeclared
//! ones, from the type whose local records define the referenced recordName.

use super::Config;
use crate::record::{FieldValue, Record, RecordType, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Types in dependency order. When types reference each other in a cycle, `cycle` lists
/// the types that were blocked when it was found (the cycle and the types waiting on it);
/// they are placed by name from there on, each as soon as nothing else blocks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeOrder {
    pub types: Vec<RecordType>,
    pub cycle: Option<Vec<RecordType>>,
}

/// Computes the apply order of the configured types: referenced before referencing, ties
/// by name; self-references are fine. A cycle does not fail: the rest of the types are
/// placed by name and reported in `cycle`.
pub fn type_order<'a>(config: &Config, records: impl IntoIterator<Item = &'a Record>) -> TypeOrder {
    let dependencies = dependencies(config, records);
    let mut placed: BTreeSet<&RecordType> = BTreeSet::new();
    let mut types = Vec::with_capacity(dependencies.len());
    let mut cycle: Option<Vec<RecordType>> = None;
    while types.len() < dependencies.len() {
        let ready = dependencies.iter().find(|(record_type, needs)| {
            !placed.contains(record_type)
                && needs
                    .iter()
                    .all(|need| need == *record_type || placed.contains(need))
        });
        let next = match ready {
            Some((record_type, _)) => record_type,
            None => {
                let remaining = dependencies.keys().filter(|t| !placed.contains(t));
                if cycle.is_none() {
                    cycle = Some(remaining.clone().cloned().collect());
                }
                // Blocked only by a cycle: place the first remaining type by name.
                remaining
                    .min()
                    .expect("a type remains while the order is incomplete")
            }
        };
        placed.insert(next);
        types.push(next.clone());
    }
    TypeOrder { types, cycle }
}

/// For every configured type, the configured types it references.
fn dependencies<'a>(
    config: &Config,
    records: impl IntoIterator<Item = &'a Record>,
) -> BTreeMap<RecordType, BTreeSet<RecordType>> {
    let records: Vec<&Record> = records.into_iter().collect();
    let defined_by: HashMap<&str, &RecordType> = records
        .iter()
        .map(|r| (r.record_name.as_str(), &r.record_type))
        .collect();
    let mut dependencies: BTreeMap<RecordType, BTreeSet<RecordType>> = config
        .types
        .keys()
        .map(|t| (t.clone(), BTreeSet::new()))
        .collect();
    for (record_type, type_config) in &config.types {
        let needs = dependencies.entry(record_type.clone()).or_default();
        needs.extend(type_config.fields.values().filter_map(|f| f.target.clone()));
    }
    for record in records {
        let Some(type_config) = config.types.get(&record.record_type) else {
            continue;
        };
        for (field, value) in &record.fields {
            let declared = type_config
                .fields
                .get(field.as_str())
                .and_then(|f| f.target.as_ref());
            if declared.is_some() {
                continue;
            }
            for name in referenced_names(value) {
                if let Some(target) = defined_by.get(name) {
                    if let Some(needs) = dependencies.get_mut(&record.record_type) {
                        needs.insert((*target).clone());
                    }
                }
            }
        }
    }
    for needs in dependencies.values_mut() {
        needs.retain(|t| config.types.contains_key(t));
    }
    dependencies
}

/// The recordNames a REFERENCE or REFERENCE_LIST value points at.
pub(crate) fn referenced_names(value: &FieldValue) -> impl Iterator<Item = &str> {
    let items: &[Value] = match value {
        FieldValue::Scalar(single) => std::slice::from_ref(single),
        FieldValue::List(_, items) => items,
        FieldValue::Unknown { .. } => &[],
    };
    items.iter().filter_map(|item| match item {
        Value::Reference(reference) => Some(reference.record_name.as_str()),
        _ => None,
    })
}
