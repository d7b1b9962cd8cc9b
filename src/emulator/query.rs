//! records/query over one scope: filters, sort order, `desiredKeys`, `resultsLimit` and
//! the continuation marker. The marker is base64 of `{v, q, after}`: a digest of the
//! query (scope, recordType, filterBy, sortBy) and the sort position of the last record
//! returned, so a follow-up request may add or change `zoneID`, `zoneWide`,
//! `numbersAsStrings`, `desiredKeys` or `resultsLimit` and still continue where it stopped.

use super::domain::Page;
use super::faults::{Hook, PageFault};
use super::filter::{self, Compiled, SortValue};
use super::store::{RecordSet, RequestError, Scope, Store, StoredRecord};
use crate::cloudkit::wire::ServerErrorCode;
use crate::cloudkit::wire::{QueryRequest, Sort, SystemField};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

/// Default and maximum `resultsLimit` (`docs/protocol.md`, "records/query and paging").
pub const MAX_RESULTS: u32 = 200;

/// A position in the sort order: the sort keys of a record, then its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Position {
    keys: Vec<SortValue>,
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    v: u8,
    q: String,
    after: Position,
}

/// One page of a query, and the page fault injected into it (only when it changed the
/// page). Faults touch only continued pages: a repeat needs `resultsLimit` ≥ 2 so that
/// every page still moves forward.
pub fn run<'a>(
    store: &'a Store,
    scope: &Scope,
    request: &QueryRequest,
    hook: &mut dyn Hook,
) -> Result<Page<'a>, RequestError> {
    let query = &request.query;
    let limit = match request.results_limit {
        Some(0) => {
            return Err(RequestError::bad_request(
                "BadRequestException: resultsLimit must be at least 1",
            ))
        }
        Some(limit) => limit.min(MAX_RESULTS),
        None => MAX_RESULTS,
    } as usize;
    let data = store.scopes.get(scope);
    if !store.knows_type(scope, &query.record_type) {
        return Err(unknown_type(&query.record_type));
    }
    check_indexes(store, scope, request)?;
    let filters = filter::compile(store, scope, query)?;
    let digest = query_digest(scope, request);
    let after = match &request.continuation_marker {
        Some(marker) => Some(decode_marker(marker, &digest)?),
        None => None,
    };
    let sorts = &query.sort_by;
    let visible = data.map(|d| d.queryable());
    let candidates = Candidates {
        data: visible,
        names: visible.and_then(|set| set.names_of_type(&query.record_type)),
        created: visible.and_then(|set| set.created_of_type(&query.record_type)),
        filters: &filters,
    };
    let fault = match &after {
        Some(_) => hook.query_page(),
        None => None,
    };
    let skip = usize::from(fault == Some(PageFault::SkipOne));
    let count = limit + 1 + skip;
    let mut page = match (name_order(sorts), created_order(sorts)) {
        (Some(descending), _) => candidates.by_name(after.as_ref(), descending, count),
        (None, Some(_)) => candidates.by_created(after.as_ref(), count),
        (None, None) => candidates.sorted(sorts, after.as_ref(), count),
    };
    let previous = after
        .as_ref()
        .and_then(|a| candidates.named(&a.name, &query.record_type));
    let applied = disturb(&mut page, fault, previous, limit);
    let more = page.len() > limit;
    page.truncate(limit);
    let continuation_marker = match (more, page.last()) {
        (true, Some((name, r))) => Some(encode_marker(&digest, &position(sorts, name, r))),
        _ => None,
    };
    Ok(Page {
        records: page,
        continuation_marker,
        fault: applied,
    })
}

/// Applies a page fault to a continued page fetched with one extra record for a skip:
/// drops its first record, or puts the previous page's last record (`previous`, when it
/// still matches) in front; a repeat needs `limit` ≥ 2 so every page moves forward.
/// Returns the fault if it changed the page.
fn disturb<'a>(
    page: &mut Matches<'a>,
    fault: Option<PageFault>,
    previous: Option<(&'a String, &'a StoredRecord)>,
    limit: usize,
) -> Option<PageFault> {
    match (fault?, previous) {
        (PageFault::SkipOne, _) if !page.is_empty() => {
            page.remove(0);
            fault
        }
        (PageFault::RepeatPrevious, Some(previous)) if limit >= 2 => {
            page.insert(0, previous);
            fault
        }
        _ => None,
    }
}

/// The records of the queried type that pass every filter, reached through the name
/// index of what queries see (lagging behind writes under index lag).
struct Candidates<'a, 'f> {
    data: Option<&'a RecordSet>,
    names: Option<&'a BTreeSet<String>>,
    created: Option<&'a BTreeSet<(i64, String)>>,
    filters: &'f [Compiled],
}

type Matches<'a> = Vec<(&'a String, &'a StoredRecord)>;

impl<'a> Candidates<'a, '_> {
    fn matching(&self, name: &'a String) -> Option<(&'a String, &'a StoredRecord)> {
        let record = self.data?.get(name)?;
        self.filters
            .iter()
            .all(|f| f.matches(name, record))
            .then_some((name, record))
    }

    /// The record called `name` if it is of `record_type` and passes every filter.
    fn named(&self, name: &str, record_type: &str) -> Option<(&'a String, &'a StoredRecord)> {
        let (name, record) = self.data?.records().get_key_value(name)?;
        let matches = record.record_type == record_type
            && self.filters.iter().all(|f| f.matches(name, record));
        matches.then_some((name, record))
    }

    /// Every match: a walk of the scope's records when the type is most of them (no
    /// lookups), else lookups of the type's names.
    fn all_matching(&self) -> Box<dyn Iterator<Item = (&'a String, &'a StoredRecord)> + '_> {
        let (Some(data), Some(names)) = (self.data, self.names) else {
            return Box::new(std::iter::empty());
        };
        if names.len() * 2 < data.records().len() {
            return Box::new(names.iter().filter_map(|name| self.matching(name)));
        }
        let record_type = data.get(names.iter().next().map_or("", String::as_str));
        let record_type = record_type.map(|r| r.record_type.as_str()).unwrap_or("");
        Box::new(data.records().iter().filter(move |(name, record)| {
            record.record_type == record_type
                && self.filters.iter().all(|f| f.matches(name, record))
        }))
    }

    /// Name order: a range scan from the marker's name, stopping after `count` matches.
    fn by_name(&self, after: Option<&Position>, descending: bool, count: usize) -> Matches<'a> {
        let Some(names) = self.names else {
            return Vec::new();
        };
        let from = after.map(|p| p.name.as_str());
        let bounds = match (from, descending) {
            (None, _) => (Bound::Unbounded, Bound::Unbounded),
            (Some(name), false) => (Bound::Excluded(name), Bound::Unbounded),
            (Some(name), true) => (Bound::Unbounded, Bound::Excluded(name)),
        };
        let range = names.range::<str, _>(bounds);
        let matching = |name: &'a String| self.matching(name);
        if descending {
            range.rev().filter_map(matching).take(count).collect()
        } else {
            range.filter_map(matching).take(count).collect()
        }
    }

    /// Ascending `createdTimestamp` order (ties by name): a range scan of the type's
    /// creation-time index from the marker's position, stopping after `count` matches.
    fn by_created(&self, after: Option<&Position>, count: usize) -> Matches<'a> {
        let Some(entries) = self.created else {
            return Vec::new();
        };
        let from = after.and_then(|position| match position.keys.first() {
            Some(SortValue::Integer(created)) => Some((*created, position.name.clone())),
            _ => None,
        });
        let start = from.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        entries
            .range::<(i64, String), _>((start, Bound::Unbounded))
            .filter_map(|(_, name)| self.matching(name))
            .take(count)
            .collect()
    }

    /// Any other order: the matches after the marker, of which only the first `count`
    /// are fully sorted.
    fn sorted(&self, sorts: &[Sort], after: Option<&Position>, count: usize) -> Matches<'a> {
        let keyed = self
            .all_matching()
            .map(|(name, r)| (sort_keys(sorts, name, r), name, r))
            .filter(|(keys, name, _)| {
                after.is_none_or(|a| compare(sorts, keys, name, &a.keys, &a.name).is_gt())
            });
        let mut keyed: Vec<(Vec<SortValue>, &'a String, &'a StoredRecord)> = keyed.collect();
        let order = |a: &(Vec<SortValue>, &String, &StoredRecord),
                     b: &(Vec<SortValue>, &String, &StoredRecord)| {
            compare(sorts, &a.0, a.1, &b.0, b.1)
        };
        if keyed.len() > count {
            keyed.select_nth_unstable_by(count, order);
            keyed.truncate(count);
        }
        keyed.sort_by(order);
        keyed.into_iter().map(|(_, name, r)| (name, r)).collect()
    }
}

/// Request-level 404 for a record type never written in this scope: live CloudKit's
/// answer on a fresh container ("Did not find record type: Game"; MistKit's integration
/// runner treats the 404 NOT_FOUND as "schema not indexed yet", `docs/protocol.md`).
fn unknown_type(record_type: &str) -> RequestError {
    RequestError::new(
        ServerErrorCode::NotFound,
        format!("Did not find record type: {record_type}"),
    )
}

/// `Some(descending)` when the order is by recordName alone: no sort, or sorts that are
/// constant for every record before a `recordName` sort.
fn name_order(sorts: &[Sort]) -> Option<bool> {
    for sort in sorts {
        match (&sort.field_name, sort.system_field_name.as_deref()) {
            (None, Some("recordName")) => return Some(sort.ascending == Some(false)),
            (None, Some("createdTimestamp" | "modifiedTimestamp")) | (Some(_), _) => return None,
            (None, _) => {}
        }
    }
    Some(false)
}

/// `Some(false)` when the order is one ascending `createdTimestamp` sort (ties by
/// `recordName` ascending, as every order ends): the creation-time index is in exactly that
/// order. A descending one goes the general way, whose ties are still by name ascending.
fn created_order(sorts: &[Sort]) -> Option<bool> {
    match sorts {
        [only]
            if only.field_name.is_none()
                && only.system_field_name.as_deref() == Some("createdTimestamp")
                && only.ascending != Some(false) =>
        {
            Some(false)
        }
        _ => None,
    }
}

/// With `--require-indexes`: every filtered field needs a QUERYABLE index and every sorted
/// field a SORTABLE one (`--index Type.field` declares both); a query without a filter
/// also needs `Type.recordName`, as live CloudKit reports it. A system field is named by its
/// index in the refusal (`Field '___createTime' is not marked queryable`), except
/// `recordName`, which live refusals name so; `--index` accepts either spelling. A schema
/// imported or deployed through the schema API declares indexes too: QUERYABLE for a
/// filter, SORTABLE for a sort, system fields by their schema names (`___recordID`).
fn check_indexes(store: &Store, scope: &Scope, request: &QueryRequest) -> Result<(), RequestError> {
    if !store.indexes.required {
        return Ok(());
    }
    let query = &request.query;
    let mut needed: Vec<(&str, &str)> = query
        .filter_by
        .iter()
        .map(|f| {
            (
                index_label(f.field_name.as_deref(), f.system_field_name.as_deref()),
                "queryable",
            )
        })
        .chain(query.sort_by.iter().map(|s| {
            (
                index_label(s.field_name.as_deref(), s.system_field_name.as_deref()),
                "sortable",
            )
        }))
        .collect();
    if query.filter_by.is_empty() {
        needed.insert(0, ("recordName", "queryable"));
    }
    for (name, kind) in needed {
        let declared = |spelling: &str| {
            store
                .indexes
                .queryable
                .contains(&format!("{}.{spelling}", query.record_type))
        };
        let system = SystemField::parse(name);
        let indexed = declared(name)
            || system.is_some_and(|field| declared(field.name()) || declared(field.index_name()))
            || in_schema(store, scope, &query.record_type, name, kind);
        if !indexed {
            return Err(RequestError::bad_request(format!(
                "Field '{name}' is not marked {kind}"
            )));
        }
    }
    Ok(())
}

/// Whether the schema held for `scope` gives `record_type`'s field `name` (a system field
/// by either spelling) the index `kind` (`queryable` or `sortable`).
fn in_schema(store: &Store, scope: &Scope, record_type: &str, name: &str, kind: &str) -> bool {
    let Some(definition) = store.indexes.schema_type(scope, record_type) else {
        return false;
    };
    let index = match kind {
        "sortable" => crate::schema::Index::Sortable,
        _ => crate::schema::Index::Queryable,
    };
    let schema_name: &str = match SystemField::parse(name) {
        Some(field) => field.index_name(),
        None => name,
    };
    definition.fields.iter().any(|(field, def)| {
        let same = match schema_name.starts_with("___") {
            true => field.eq_ignore_ascii_case(schema_name),
            false => field == schema_name,
        };
        same && def.indexes.contains(&index)
    })
}

/// The name a refusal gives a filtered or sorted field: a field's own name, a system
/// field's index name (`___createTime`), `recordName` as is.
fn index_label<'a>(field: Option<&'a str>, system: Option<&'a str>) -> &'a str {
    match (field, system.and_then(SystemField::parse)) {
        (Some(field), _) => field,
        (None, Some(SystemField::RecordName)) => "recordName",
        (None, Some(system)) => system.index_name(),
        (None, None) => filter::field_label(field, system),
    }
}

fn sort_keys(sorts: &[Sort], name: &str, record: &StoredRecord) -> Vec<SortValue> {
    sorts
        .iter()
        .map(|sort| filter::sort_value(sort, name, record))
        .collect()
}

fn position(sorts: &[Sort], name: &str, record: &StoredRecord) -> Position {
    Position {
        keys: sort_keys(sorts, name, record),
        name: name.to_owned(),
    }
}

/// Sort keys in order (each ascending unless `ascending: false`), then recordName ascending.
fn compare(
    sorts: &[Sort],
    a_keys: &[SortValue],
    a_name: &str,
    b_keys: &[SortValue],
    b_name: &str,
) -> Ordering {
    for (index, sort) in sorts.iter().enumerate() {
        let (Some(x), Some(y)) = (a_keys.get(index), b_keys.get(index)) else {
            continue;
        };
        let order = x.compare(y);
        let order = if sort.ascending == Some(false) {
            order.reverse()
        } else {
            order
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a_name.cmp(b_name)
}

/// The query a continuation marker belongs to (and the request log names a page by).
pub(super) fn query_digest(scope: &Scope, request: &QueryRequest) -> String {
    let canonical = serde_json::json!({
        "scope": scope,
        "recordType": request.query.record_type,
        "filterBy": request.query.filter_by,
        "sortBy": request.query.sort_by,
    });
    blake3::hash(canonical.to_string().as_bytes()).to_hex()[..16].to_owned()
}

fn encode_marker(digest: &str, after: &Position) -> String {
    let marker = Marker {
        v: 1,
        q: digest.to_owned(),
        after: after.clone(),
    };
    BASE64.encode(serde_json::to_vec(&marker).unwrap_or_default())
}

fn decode_marker(text: &str, digest: &str) -> Result<Position, RequestError> {
    let invalid = || RequestError::bad_request("BadRequestException: invalid continuationMarker");
    let bytes = BASE64.decode(text.trim()).map_err(|_| invalid())?;
    let marker: Marker = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if marker.v != 1 || marker.q != digest {
        return Err(RequestError::bad_request(
            "BadRequestException: continuationMarker does not belong to this query",
        ));
    }
    Ok(marker.after)
}
