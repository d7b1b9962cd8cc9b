//! Query filters and sort keys: decoding `filterBy` entries (field or `systemFieldName`)
//! into comparators, evaluating them against stored records, and the ordering of values.
//!
//! A record that lacks the filtered field matches no comparator, the negated ones
//! included. An `IN` / `NOT_IN` filter whose value has no explicit `type` is ignored, as
//! live CloudKit does (`docs/protocol.md`, "records/query and paging").

use super::store::{RequestError, Scope, Store, StoredRecord};
use crate::cloudkit::wire::{Comparator, Filter, Query, Sort, SystemField};
use crate::record::{FieldType, FieldValue, ScalarType, Value};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// What a filter reads from a record.
#[derive(Clone, Debug)]
enum Subject {
    Field(String),
    RecordName,
    Created,
    Modified,
}

/// A decoded filter, ready to evaluate.
#[derive(Clone, Debug)]
pub struct Compiled {
    subject: Subject,
    comparator: Comparator,
    operand: FieldValue,
    distance: f64,
}

/// The label of a filter or sort target: its field or system field name.
pub fn field_label<'a>(field: Option<&'a str>, system: Option<&'a str>) -> &'a str {
    field.or(system).unwrap_or("")
}

/// Decodes every filter of `query`; unusable ones are a 400. Untyped IN / NOT_IN filters
/// are dropped.
pub fn compile(store: &Store, scope: &Scope, query: &Query) -> Result<Vec<Compiled>, RequestError> {
    let schema = store
        .scopes
        .get(scope)
        .and_then(|data| data.schema.get(&query.record_type));
    let mut compiled = Vec::new();
    for filter in &query.filter_by {
        let comparator = filter.comparator;
        let is_membership = matches!(comparator, Comparator::In | Comparator::NotIn);
        if is_membership && filter.field_value.field_type.is_none() {
            continue;
        }
        let subject = subject(filter)?;
        let known = match &subject {
            Subject::Field(name) => schema.and_then(|s| s.get(name)).cloned(),
            Subject::RecordName => None,
            Subject::Created | Subject::Modified => Some(FieldType::Scalar(ScalarType::Timestamp)),
        };
        let operand = decode_operand(filter, comparator, known)?;
        compiled.push(Compiled {
            subject,
            comparator,
            operand,
            distance: filter.distance.unwrap_or(0.0),
        });
    }
    Ok(compiled)
}

fn subject(filter: &Filter) -> Result<Subject, RequestError> {
    match (&filter.field_name, filter.system_field_name.as_deref()) {
        (Some(name), _) => Ok(Subject::Field(name.clone())),
        (None, Some(name)) => match SystemField::parse(name) {
            Some(SystemField::RecordName) if name == "recordName" => Ok(Subject::RecordName),
            Some(SystemField::CreatedTimestamp) if name == "createdTimestamp" => {
                Ok(Subject::Created)
            }
            Some(SystemField::ModifiedTimestamp) if name == "modifiedTimestamp" => {
                Ok(Subject::Modified)
            }
            _ => Err(RequestError::bad_request(format!(
                "BadRequestException: system field '{name}' is not supported by the emulator"
            ))),
        },
        (None, None) => Err(RequestError::bad_request(
            "BadRequestException: missing required field 'fieldName'",
        )),
    }
}

/// The filter's value with its own type, else the list/element form of the field's type,
/// else inferred.
fn decode_operand(
    filter: &Filter,
    comparator: Comparator,
    known: Option<FieldType>,
) -> Result<FieldValue, RequestError> {
    let wants_list = matches!(
        comparator,
        Comparator::In
            | Comparator::NotIn
            | Comparator::ListContainsAny
            | Comparator::NotListContainsAny
            | Comparator::ListContainsAll
            | Comparator::NotListContainsAll
    );
    let element = |t: FieldType| match t {
        FieldType::Scalar(s) | FieldType::List(s) => Some(s),
        FieldType::Unknown(_) => None,
    };
    let from_schema = known.and_then(element).map(|s| {
        if wants_list {
            FieldType::List(s)
        } else {
            FieldType::Scalar(s)
        }
    });
    let value = &filter.field_value.value;
    let field_type = match &filter.field_value.field_type {
        Some(name) => FieldType::parse_known(name),
        None => from_schema.or_else(|| FieldValue::infer_type(value)),
    };
    let label = field_label(
        filter.field_name.as_deref(),
        filter.system_field_name.as_deref(),
    );
    let invalid = || {
        RequestError::bad_request(format!(
            "BadRequestException: invalid filter value for field '{label}'"
        ))
    };
    let field_type = field_type.ok_or_else(invalid)?;
    FieldValue::from_json(&field_type, value).map_err(|_| invalid())
}

impl Compiled {
    pub fn matches(&self, name: &str, record: &StoredRecord) -> bool {
        match &self.subject {
            Subject::Field(field) => record
                .fields
                .get(field)
                .is_some_and(|value| self.evaluate(value)),
            Subject::RecordName => self.evaluate(&FieldValue::string(name)),
            Subject::Created => self.evaluate(&FieldValue::timestamp(record.created)),
            Subject::Modified => self.evaluate(&FieldValue::timestamp(record.modified)),
        }
    }

    fn evaluate(&self, subject: &FieldValue) -> bool {
        use Comparator as C;
        let operands = elements(&self.operand);
        let items = elements(subject);
        let scalar = match subject {
            FieldValue::Scalar(v) => Some(v),
            _ => None,
        };
        let ordered = |want: fn(Ordering) -> bool| {
            scalar
                .zip(operands.first())
                .and_then(|(a, b)| compare_values(a, b))
                .is_some_and(want)
        };
        let contains = |v: &Value| items.iter().any(|i| equal(i, v));
        let member = |v: &Value| operands.iter().any(|o| equal(v, o));
        let prefix = |v: &Value| operands.first().is_some_and(|o| begins_with(v, o));
        match self.comparator {
            C::Equals => ordered(Ordering::is_eq),
            C::NotEquals => ordered(Ordering::is_ne),
            C::LessThan => ordered(Ordering::is_lt),
            C::LessThanOrEquals => ordered(Ordering::is_le),
            C::GreaterThan => ordered(Ordering::is_gt),
            C::GreaterThanOrEquals => ordered(Ordering::is_ge),
            C::BeginsWith => scalar.is_some_and(prefix),
            C::NotBeginsWith => scalar.is_some_and(|v| !prefix(v)),
            C::In => scalar.is_some_and(member),
            C::NotIn => scalar.is_some_and(|v| !member(v)),
            C::ListContains => operands.first().is_some_and(contains),
            C::NotListContains => operands.first().is_some_and(|o| !contains(o)),
            C::ListContainsAny => operands.iter().any(contains),
            C::NotListContainsAny => !operands.iter().any(contains),
            C::ListContainsAll => operands.iter().all(contains),
            C::NotListContainsAll => !operands.iter().all(contains),
            C::ListMemberBeginsWith => items.iter().any(prefix),
            C::NotListMemberBeginsWith => !items.iter().any(prefix),
            C::ContainsAllTokens => tokens_match(scalar, operands.first(), true),
            C::ContainsAnyTokens => tokens_match(scalar, operands.first(), false),
            C::Near => near(scalar, operands.first(), self.distance),
        }
    }
}

fn elements(value: &FieldValue) -> &[Value] {
    match value {
        FieldValue::Scalar(v) => std::slice::from_ref(v),
        FieldValue::List(_, items) => items,
        FieldValue::Unknown { .. } => &[],
    }
}

/// A record name or reference compares by its name; numbers numerically.
fn comparable(value: &Value) -> Option<SortValue> {
    Some(match value {
        Value::String(s) | Value::Bytes(s) => SortValue::Text(s.clone()),
        Value::Reference(r) => SortValue::Text(r.record_name.0.clone()),
        Value::Int64(i) | Value::Timestamp(i) => SortValue::Integer(*i),
        Value::Double(d) => SortValue::Float(*d),
        Value::Location(_) | Value::Asset(_) => return None,
    })
}

fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (comparable(a), comparable(b)) {
        (Some(x), Some(y)) if x.same_kind(&y) => Some(x.compare(&y)),
        (None, None) => (a == b).then_some(Ordering::Equal),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    compare_values(a, b) == Some(Ordering::Equal)
}

fn begins_with(value: &Value, prefix: &Value) -> bool {
    match (comparable(value), comparable(prefix)) {
        (Some(SortValue::Text(v)), Some(SortValue::Text(p))) => v.starts_with(&p),
        _ => false,
    }
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn tokens_match(subject: Option<&Value>, operand: Option<&Value>, all: bool) -> bool {
    let (Some(Value::String(text)), Some(Value::String(wanted))) = (subject, operand) else {
        return false;
    };
    let have = tokens(text);
    let mut wanted = tokens(wanted).into_iter();
    if all {
        wanted.all(|t| have.contains(&t))
    } else {
        wanted.any(|t| have.contains(&t))
    }
}

/// Great-circle distance in metres within `distance`.
fn near(subject: Option<&Value>, operand: Option<&Value>, distance: f64) -> bool {
    let (Some(Value::Location(a)), Some(Value::Location(b))) = (subject, operand) else {
        return false;
    };
    const EARTH_RADIUS_METRES: f64 = 6_371_000.0;
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.longitude - a.longitude).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_METRES * h.sqrt().asin() <= distance
}

/// A sortable key. Missing values sort before everything else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    Missing,
    Integer(i64),
    Float(f64),
    Text(String),
}

impl SortValue {
    fn rank(&self) -> u8 {
        match self {
            SortValue::Missing => 0,
            SortValue::Integer(_) | SortValue::Float(_) => 1,
            SortValue::Text(_) => 2,
        }
    }

    fn same_kind(&self, other: &SortValue) -> bool {
        self.rank() == other.rank()
    }

    /// A total order: numbers compare numerically across INT64 and DOUBLE.
    pub fn compare(&self, other: &SortValue) -> Ordering {
        use SortValue as S;
        match (self, other) {
            (S::Integer(a), S::Integer(b)) => a.cmp(b),
            (S::Integer(a), S::Float(b)) => (*a as f64).total_cmp(b),
            (S::Float(a), S::Integer(b)) => a.total_cmp(&(*b as f64)),
            (S::Float(a), S::Float(b)) => a.total_cmp(b),
            (S::Text(a), S::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// The sort key of `record` for one `sortBy` entry.
pub fn sort_value(sort: &Sort, name: &str, record: &StoredRecord) -> SortValue {
    let value = match (&sort.field_name, sort.system_field_name.as_deref()) {
        (Some(field), _) => match record.fields.get(field) {
            Some(FieldValue::Scalar(v)) => comparable(v),
            _ => None,
        },
        (None, Some("recordName")) => Some(SortValue::Text(name.to_owned())),
        (None, Some("createdTimestamp")) => Some(SortValue::Integer(record.created)),
        (None, Some("modifiedTimestamp")) => Some(SortValue::Integer(record.modified)),
        _ => None,
    };
    value.unwrap_or(SortValue::Missing)
}

#[cfg(test)]
mod tests;
