//! The comparison rules (README "The workflow"), kept exactly: scalars by value, LOCATION by latitude
//! and longitude within a tolerance, REFERENCE by recordName, and by action and zone where
//! the desired value states them (issue 17), lists element by element,
//! system metadata never (it is not in `fields`), and a field CloudKit has but the local
//! file lacks is a difference unless the type ignores it. Pure and linear after sorting.

use super::report::{Category, FieldChange, RecordDiff, TypeDiff};
use crate::record::{
    ChangeTag, FieldType, FieldValue, Fields, Record, RecordType, Reference, ScalarType, Value,
};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::iter::Peekable;

/// The default LOCATION tolerance, in degrees.
pub const DEFAULT_LOCATION_TOLERANCE: f64 = 0.0001;

/// Slack for the rounding of decimal coordinates into binary floating point: `42.0001 -
/// 42.0` is `1.0000000000331966e-4`, which must still count as within `0.0001`.
const FLOAT_SLACK: f64 = 1e-12;

/// What a type's comparison ignores and tolerates.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRules {
    /// Fields the app writes itself: never compared, never in `desired`.
    pub ignore_fields: BTreeSet<String>,
    /// Largest latitude or longitude difference, in degrees, still counted as equal.
    pub location_tolerance: f64,
}

impl Default for CompareRules {
    fn default() -> Self {
        Self {
            ignore_fields: BTreeSet::new(),
            location_tolerance: DEFAULT_LOCATION_TOLERANCE,
        }
    }
}

/// Whether `desired` and `current` are equal under the rules. Not symmetric for references:
/// an action or zone is compared only where the first (desired) value states it.
#[inline]
pub fn values_equal(a: &FieldValue, b: &FieldValue, rules: &CompareRules) -> bool {
    match (a, b) {
        (FieldValue::Scalar(a), FieldValue::Scalar(b)) => elements_equal(a, b, rules),
        (FieldValue::List(a_type, a), FieldValue::List(b_type, b)) => {
            // Two empty lists hold the same nothing whatever their declared element type
            // (lengths are equal, so `a` empty means both are).
            a.len() == b.len()
                && (a_type == b_type || a.is_empty())
                && a.iter().zip(b).all(|(a, b)| elements_equal(a, b, rules))
        }
        (
            FieldValue::Unknown {
                type_name: a_type,
                value: a,
            },
            FieldValue::Unknown {
                type_name: b_type,
                value: b,
            },
        ) => a_type == b_type && a == b,
        _ => false,
    }
}

#[inline]
fn elements_equal(a: &Value, b: &Value, rules: &CompareRules) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) | (Value::Bytes(a), Value::Bytes(b)) => a == b,
        (Value::Int64(a), Value::Int64(b)) | (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
        // IEEE equality (-0.0 equals 0.0), except that NaN equals NaN so that a value
        // always equals itself.
        (Value::Double(a), Value::Double(b)) => a == b || a.is_nan() && b.is_nan(),
        (Value::Reference(a), Value::Reference(b)) => references_equal(a, b),
        (Value::Location(a), Value::Location(b)) => {
            let within = |x: f64, y: f64| (x - y).abs() <= rules.location_tolerance + FLOAT_SLACK;
            within(a.latitude, b.latitude) && within(a.longitude, b.longitude)
        }
        (Value::Asset(a), Value::Asset(b)) => assets_equal(a, b),
        _ => false,
    }
}

/// ASSET (issue 21): two local files by their SHA-256; otherwise by `fileChecksum` and
/// `size`, never by `downloadURL` (minted per read) or `receipt` (per upload). A local file
/// carries a `fileChecksum` only where one was learned for its bytes (`sync::assets`), so
/// one whose checksum is unknown differs from every CloudKit asset.
fn assets_equal(desired: &serde_json::Value, current: &serde_json::Value) -> bool {
    let member = |json: &serde_json::Value, key: &str| json.get(key).cloned();
    if let (Some(a), Some(b)) = (member(desired, "sha256"), member(current, "sha256")) {
        return a == b;
    }
    match (
        member(desired, "fileChecksum"),
        member(current, "fileChecksum"),
    ) {
        (Some(a), Some(b)) => a == b && member(desired, "size") == member(current, "size"),
        _ => desired == current,
    }
}

/// REFERENCE: the recordName always; the action when `desired` states one (CloudKit's
/// default, `NONE`, for a current value without); the zone when `desired` states one, by
/// the members it states (`zoneName` defaulting to `_defaultZone` on both sides).
fn references_equal(desired: &Reference, current: &Reference) -> bool {
    desired.record_name == current.record_name
        && desired
            .action
            .as_deref()
            .is_none_or(|action| action == current.action_or_none())
        && desired
            .zone_id
            .as_ref()
            .is_none_or(|zone| zones_equal(zone, current.zone_id.as_deref()))
}

const DEFAULT_ZONE: &str = "_defaultZone";

fn zones_equal(desired: &serde_json::Value, current: Option<&serde_json::Value>) -> bool {
    fn member<'a>(zone: Option<&'a serde_json::Value>, key: &str) -> Option<&'a str> {
        zone.and_then(|z| z.get(key)).and_then(|v| v.as_str())
    }
    let zone_name = |zone| member(zone, "zoneName").unwrap_or(DEFAULT_ZONE);
    zone_name(Some(desired)) == zone_name(current)
        && member(Some(desired), "ownerRecordName")
            .is_none_or(|owner| member(current, "ownerRecordName").is_none_or(|o| o == owner))
}

/// Fills what desired references leave unstated, so that a plan states every action it
/// sends: where the recordName matches CloudKit's, CloudKit's action and zone (so that a
/// whole-record write keeps them); elsewhere `NONE`, CloudKit's default.
fn settle_references(desired: &mut FieldValue, current: Option<&FieldValue>) {
    let settle = |value: &mut Value, current: Option<&Value>| {
        let Value::Reference(reference) = value else {
            return;
        };
        let current = match current {
            Some(Value::Reference(c)) if c.record_name == reference.record_name => Some(c),
            _ => None,
        };
        if reference.action.is_none() {
            let action = current.map_or("NONE", |c| c.action_or_none());
            reference.action = Some(Reference::shared_action(action));
        }
        if reference.zone_id.is_none() {
            reference.zone_id = current.and_then(|c| c.zone_id.clone());
        }
    };
    match (desired, current) {
        (FieldValue::Scalar(value), Some(FieldValue::Scalar(current))) => {
            settle(value, Some(current))
        }
        (FieldValue::Scalar(value), _) => settle(value, None),
        (FieldValue::List(_, values), current) => {
            let current = match current {
                Some(FieldValue::List(_, current)) => current.as_slice(),
                _ => &[],
            };
            for (index, value) in values.iter_mut().enumerate() {
                settle(value, current.get(index));
            }
        }
        (FieldValue::Unknown { .. }, _) => {}
    }
}

fn settle_all(fields: &mut Fields, current: Option<&Fields>) {
    for (name, value) in fields.iter_mut() {
        let is_reference = matches!(
            value.field_type(),
            FieldType::Scalar(ScalarType::Reference) | FieldType::List(ScalarType::Reference)
        );
        if is_reference {
            settle_references(value, current.and_then(|c| c.get(name)));
        }
    }
}

/// Compares the desired records of one type with CloudKit's. The result is ordered by
/// recordName; desired fields are moved into it, not copied.
pub fn compare_type(
    record_type: &RecordType,
    mut desired: Vec<Record>,
    mut current: Vec<Record>,
    rules: &CompareRules,
) -> TypeDiff {
    sort_by_name(&mut desired);
    sort_by_name(&mut current);
    let mut records = Vec::with_capacity(desired.len().max(current.len()));
    let mut desired = desired.into_iter().peekable();
    let mut current = current.into_iter().peekable();
    loop {
        let order = match (desired.peek(), current.peek()) {
            (Some(d), Some(c)) => d.record_name.cmp(&c.record_name),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        let diff = match order {
            Ordering::Less => new_record(next(&mut desired), rules),
            Ordering::Greater => orphan_record(next(&mut current)),
            Ordering::Equal => both(next(&mut desired), next(&mut current), rules),
        };
        records.push(diff);
    }
    TypeDiff {
        record_type: record_type.clone(),
        records,
    }
}

/// Sorts by recordName unless already sorted: CloudKit query results arrive in recordName
/// order and local files often are, so the O(n) check usually saves the O(n log n) sort.
/// Names are unique after validation, so an unstable sort loses nothing.
fn sort_by_name(records: &mut [Record]) {
    if !records
        .windows(2)
        .all(|pair| pair[0].record_name <= pair[1].record_name)
    {
        records.sort_unstable_by(|a, b| a.record_name.cmp(&b.record_name));
    }
}

fn next<I: Iterator<Item = Record>>(records: &mut Peekable<I>) -> Record {
    records.next().expect("peeked a record")
}

fn without_ignored(mut fields: Fields, rules: &CompareRules) -> Fields {
    if !rules.ignore_fields.is_empty() {
        fields.retain(|name, _| !rules.ignore_fields.contains(name.as_str()));
    }
    fields
}

fn new_record(record: Record, rules: &CompareRules) -> RecordDiff {
    let mut fields = without_ignored(record.fields, rules);
    settle_all(&mut fields, None);
    RecordDiff {
        record_type: record.record_type,
        record_name: record.record_name,
        category: Category::New,
        change_tag: None,
        changes: Vec::new(),
        desired: Some(fields),
    }
}

fn orphan_record(record: Record) -> RecordDiff {
    RecordDiff {
        record_type: record.record_type,
        record_name: record.record_name,
        category: Category::Orphan,
        change_tag: record.change_tag,
        changes: Vec::new(),
        desired: None,
    }
}

fn both(desired: Record, current: Record, rules: &CompareRules) -> RecordDiff {
    let mut fields = without_ignored(desired.fields, rules);
    // Settling copies CloudKit's action and zone only where the recordName matches and
    // the desired value left them unstated, so it changes no comparison.
    settle_all(&mut fields, Some(&current.fields));
    let changes = field_changes(&fields, current.fields, rules);
    RecordDiff {
        record_type: desired.record_type,
        record_name: desired.record_name,
        category: if changes.is_empty() {
            Category::Unchanged
        } else {
            Category::Updated
        },
        change_tag: current.change_tag,
        changes,
        desired: Some(fields),
    }
}

/// Whether `compare_type` finds `current` unchanged against `desired` (no field change),
/// without building the changes or settling references: settling fills only what the
/// desired value leaves unstated from the current value of the same recordName, which no
/// comparison looks at (`references_equal`), so it never changes the outcome.
pub fn fields_equal(desired: &Fields, current: &Fields, rules: &CompareRules) -> bool {
    let compared = |(name, _): &(&crate::record::FieldName, &FieldValue)| {
        !rules.ignore_fields.contains(name.as_str())
    };
    let mut desired = desired.iter().filter(compared);
    let mut current = current.iter().filter(compared);
    loop {
        match (desired.next(), current.next()) {
            (None, None) => return true,
            (Some((name, after)), Some((current_name, before))) => {
                if name != current_name || !values_equal(after, before, rules) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The comparison of a record already found equal to CloudKit's (`fields_equal`), whose
/// tag was `change_tag`. Its references are left unsettled: an unchanged record is never
/// written, so nothing reads them.
pub fn unchanged_record(
    desired: Record,
    change_tag: Option<ChangeTag>,
    rules: &CompareRules,
) -> RecordDiff {
    RecordDiff {
        record_type: desired.record_type,
        record_name: desired.record_name,
        category: Category::Unchanged,
        change_tag,
        changes: Vec::new(),
        desired: Some(without_ignored(desired.fields, rules)),
    }
}

/// Differences between desired fields (ignored ones already removed) and CloudKit's, by
/// merging the two name-ordered maps.
fn field_changes(desired: &Fields, current: Fields, rules: &CompareRules) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut desired = desired.iter().peekable();
    let mut current = current
        .into_iter()
        .filter(|(name, _)| !rules.ignore_fields.contains(name.as_str()))
        .peekable();
    loop {
        let order = match (desired.peek(), current.peek()) {
            (Some((d, _)), Some((c, _))) => d.as_str().cmp(c.as_str()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        let change = match order {
            Ordering::Less => desired.next().map(|(name, after)| FieldChange {
                field: name.to_string(),
                before: None,
                after: Some(after.clone()),
            }),
            Ordering::Greater => current.next().map(|(name, before)| FieldChange {
                field: name.into(),
                before: Some(before),
                after: None,
            }),
            Ordering::Equal => {
                let (name, after) = desired.next().expect("peeked a field");
                let (_, before) = current.next().expect("peeked a field");
                (!values_equal(after, &before, rules)).then(|| FieldChange {
                    field: name.to_string(),
                    before: Some(before),
                    after: Some(after.clone()),
                })
            }
        };
        changes.extend(change);
    }
    changes
}

#[cfg(test)]
mod tests;
