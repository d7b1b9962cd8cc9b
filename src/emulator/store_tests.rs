//! Unit tests of the store's modify / lookup / query semantics, with JSON requests written
//! from `docs/protocol.md`, translated to and from the store's domain types as the routes
//! do.

use super::*;
use crate::cloudkit::wire::{LookupRequest, ModifyRequest, QueryRequest, RecordResult};
use crate::emulator::faults::Exact;
use crate::emulator::translate;
use crate::record::{Database, Environment};
use serde_json::{json, Value as Json};
use std::ops::Bound;

fn scope() -> Scope {
    Scope {
        container: "iCloud.test".into(),
        environment: Environment::Development,
        database: Database::Public,
    }
}

fn modify(store: &mut Store, body: Json) -> Result<Json, RequestError> {
    let request: ModifyRequest = serde_json::from_value(body).unwrap();
    let results = modify_results(store, &request, 1_700_000_000_000)?;
    Ok(serde_json::to_value(&results).unwrap())
}

/// records/modify through the protocol's translation, as the routes do.
fn modify_results(
    store: &mut Store,
    request: &ModifyRequest,
    now: i64,
) -> Result<Vec<RecordResult>, RequestError> {
    let batch = translate::write_batch(request)?;
    let outcomes = store.modify(&scope(), &batch, now, &mut Exact)?;
    let user = store.user_record_name().to_owned();
    Ok(translate::modify_results(&outcomes, request, &user))
}

fn one(store: &mut Store, op: &str, record: Json) -> Json {
    let results = modify(
        store,
        json!({"operations": [{"operationType": op, "record": record}]}),
    )
    .unwrap();
    results[0].clone()
}

fn create(store: &mut Store, name: &str, fields: Json) -> String {
    let result = one(
        store,
        "create",
        json!({"recordName": name, "recordType": "Team", "fields": fields}),
    );
    result["recordChangeTag"].as_str().unwrap().to_owned()
}

fn lookup(store: &Store, name: &str) -> Json {
    let request: LookupRequest =
        serde_json::from_value(json!({"records": [{"recordName": name}]})).unwrap();
    let names = translate::lookup_names(&request).unwrap();
    let found = store.lookup(&scope(), &names, &mut Exact);
    let results = translate::lookup_results(&found, &request, store.user_record_name());
    serde_json::to_value(&results[0]).unwrap()
}

fn query(store: &Store, body: Json) -> Json {
    let request: QueryRequest = serde_json::from_value(body).unwrap();
    let page = store.query(&scope(), &request, &mut Exact).unwrap();
    let reply = translate::query_response(&page, &request, store.user_record_name());
    serde_json::to_value(reply).unwrap()
}

#[test]
fn create_reply_has_the_live_shape_without_zone() {
    let mut store = Store::new(Indexes::default());
    let reply = one(
        &mut store,
        "create",
        json!({"recordName": "t1", "recordType": "Team", "fields": {"name": {"value": "Sox"}}}),
    );
    // serde_json::Value sorts keys; the order on the wire is the struct's.
    let request: ModifyRequest =
        serde_json::from_value(json!({"operations": [{"operationType": "forceUpdate",
        "record": {"recordName": "t1"}}]}))
        .unwrap();
    let results = modify_results(&mut store, &request, 5).unwrap();
    let text = serde_json::to_string(&results[0]).unwrap();
    let positions: Vec<usize> = [
        "recordName",
        "recordType",
        "fields",
        "pluginFields",
        "recordChangeTag",
        "created",
        "modified",
        "deleted",
    ]
    .iter()
    .map(|key| text.find(&format!("\"{key}\"")).unwrap())
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(!text.contains("zoneID"));
    assert_eq!(
        reply["fields"]["name"],
        json!({"value": "Sox", "type": "STRING"})
    );
    assert_eq!(reply["created"]["deviceID"], "2");
    let user = reply["created"]["userRecordName"].as_str().unwrap();
    assert!(user.starts_with('_') && user.len() == 33, "{user}");
    assert_eq!(lookup(&store, "t1")["zoneID"]["zoneType"], "DEFAULT_ZONE");
}

#[test]
fn tags_change_on_every_write() {
    let mut store = Store::new(Indexes::default());
    let first = create(&mut store, "t1", json!({}));
    let second = one(&mut store, "forceUpdate", json!({"recordName": "t1"}));
    assert_ne!(second["recordChangeTag"], json!(first));
    assert!(second["recordChangeTag"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
}

#[test]
fn update_merges_and_null_removes() {
    let mut store = Store::new(Indexes::default());
    let tag = create(
        &mut store,
        "t1",
        json!({"a": {"value": 1}, "b": {"value": 2}, "c": {"value": 3}}),
    );
    let reply = one(
        &mut store,
        "update",
        json!({"recordName": "t1", "recordChangeTag": tag,
               "fields": {"a": {"value": 10}, "b": null, "c": {"value": null}}}),
    );
    assert_eq!(
        reply["fields"],
        json!({"a": {"value": 10, "type": "INT64"}})
    );
}

#[test]
fn replace_drops_unnamed_fields() {
    let mut store = Store::new(Indexes::default());
    let tag = create(
        &mut store,
        "t1",
        json!({"a": {"value": 1}, "b": {"value": 2}}),
    );
    let reply = one(
        &mut store,
        "replace",
        json!({"recordName": "t1", "recordChangeTag": tag, "fields": {"b": {"value": 5}}}),
    );
    assert_eq!(reply["fields"], json!({"b": {"value": 5, "type": "INT64"}}));
}

#[test]
fn conflicts_exists_and_not_found_are_per_record() {
    let mut store = Store::new(Indexes::default());
    create(&mut store, "t1", json!({}));
    let results = modify(
        &mut store,
        json!({"operations": [
            {"operationType": "create", "record": {"recordName": "t1", "recordType": "Team"}},
            {"operationType": "update", "record": {"recordName": "t1", "recordChangeTag": "zz"}},
            {"operationType": "delete", "record": {"recordName": "gone", "recordChangeTag": "1"}},
            {"operationType": "forceDelete", "record": {"recordName": "gone2"}},
            {"operationType": "forceDelete", "record": {"recordName": "t1"}}
        ]}),
    )
    .unwrap();
    assert_eq!(
        results,
        json!([
            {"recordName": "t1", "reason": "record to insert already exists", "serverErrorCode": "EXISTS"},
            {"recordName": "t1", "reason": "record appears more than once in this request", "serverErrorCode": "BAD_REQUEST"},
            {"recordName": "gone", "reason": "Record not found", "serverErrorCode": "NOT_FOUND"},
            {"recordName": "gone2", "reason": "Record not found", "serverErrorCode": "NOT_FOUND"},
            {"recordName": "t1", "reason": "record appears more than once in this request", "serverErrorCode": "BAD_REQUEST"}
        ])
    );
    let deleted = one(&mut store, "forceDelete", json!({"recordName": "t1"}));
    assert_eq!(deleted, json!({"recordName": "t1", "deleted": true}));
    assert_eq!(lookup(&store, "t1")["serverErrorCode"], "NOT_FOUND");
}

#[test]
fn stale_tag_is_a_conflict() {
    let mut store = Store::new(Indexes::default());
    let tag = create(&mut store, "t1", json!({}));
    one(&mut store, "forceUpdate", json!({"recordName": "t1"}));
    let reply = one(
        &mut store,
        "replace",
        json!({"recordName": "t1", "recordChangeTag": tag}),
    );
    assert_eq!(reply["serverErrorCode"], "CONFLICT");
    assert_eq!(reply["reason"], "client oplock error updating record");
}

#[test]
fn request_level_failures_apply_nothing() {
    let mut store = Store::new(Indexes::default());
    let missing_tag = modify(
        &mut store,
        json!({"operations": [
            {"operationType": "create", "record": {"recordName": "new", "recordType": "Team"}},
            {"operationType": "update", "record": {"recordName": "x"}}
        ]}),
    )
    .unwrap_err();
    assert_eq!(
        missing_tag.reason,
        "BadRequestException: missing required field 'recordChangeTag'"
    );
    assert_eq!(store.record_count(), 0);
    let atomic = modify(&mut store, json!({"operations": [], "atomic": true})).unwrap_err();
    assert_eq!(
        atomic.reason,
        "atomic operations not supported in default zone"
    );
    assert!(modify(&mut store, json!({"operations": [], "atomic": false})).is_ok());
    let ops: Vec<Json> = (0..201)
        .map(|i| json!({"operationType": "create", "record": {"recordName": format!("r{i}"), "recordType": "Team"}}))
        .collect();
    let too_many = modify(&mut store, json!({"operations": ops})).unwrap_err();
    assert_eq!(too_many.code, ServerErrorCode::BadRequest);
    assert_eq!(store.record_count(), 0);
}

#[test]
fn types_are_fixed_by_first_write() {
    let mut store = Store::new(Indexes::default());
    create(
        &mut store,
        "t1",
        json!({"founded": {"value": 1901, "type": "INT64"}}),
    );
    let mismatch = one(
        &mut store,
        "create",
        json!({"recordName": "t2", "recordType": "Team", "fields": {"founded": {"value": "x", "type": "STRING"}}}),
    );
    assert_eq!(mismatch["serverErrorCode"], "BAD_REQUEST");
    let untyped_double = one(
        &mut store,
        "create",
        json!({"recordName": "t3", "recordType": "Team", "fields": {"founded": {"value": "abc"}}}),
    );
    assert_eq!(untyped_double["serverErrorCode"], "BAD_REQUEST");
    let fractional = one(
        &mut store,
        "create",
        json!({"recordName": "t4", "recordType": "Team", "fields": {"at": {"value": 1.5, "type": "TIMESTAMP"}}}),
    );
    assert_eq!(
        fractional["reason"],
        "Invalid value, expected type TIMESTAMP."
    );
    // The failed write did not fix the type of `at`.
    let reply = one(
        &mut store,
        "create",
        json!({"recordName": "t5", "recordType": "Team", "fields": {"at": {"value": "s"}}}),
    );
    assert_eq!(reply["fields"]["at"]["type"], "STRING");
}

#[test]
fn create_without_name_gets_a_uuid() {
    let mut store = Store::new(Indexes::default());
    let reply = one(&mut store, "create", json!({"recordType": "Team"}));
    let name = reply["recordName"].as_str().unwrap();
    assert_eq!(name.len(), 36, "{name}");
    assert_eq!(name.matches('-').count(), 4);
}

#[test]
fn query_pages_filters_and_desired_keys() {
    let mut store = Store::new(Indexes::default());
    for i in 0..25 {
        create(
            &mut store,
            &format!("t{i:02}"),
            json!({"n": {"value": i}, "name": {"value": format!("team {i}")}}),
        );
    }
    let mut names = Vec::new();
    let mut marker: Option<Json> = None;
    loop {
        let mut body = json!({"query": {"recordType": "Team",
            "filterBy": [{"comparator": "GREATER_THAN_OR_EQUALS", "fieldName": "n", "fieldValue": {"value": 5}}],
            "sortBy": [{"fieldName": "n", "ascending": false}]},
            "resultsLimit": 4, "desiredKeys": ["n"]});
        if let Some(m) = &marker {
            body["continuationMarker"] = m.clone();
        }
        let page = query(&store, body);
        for record in page["records"].as_array().unwrap() {
            assert!(record["fields"].get("name").is_none());
            names.push(record["fields"]["n"]["value"].as_i64().unwrap());
        }
        match page.get("continuationMarker") {
            Some(m) => marker = Some(m.clone()),
            None => break,
        }
    }
    assert_eq!(names, (5..25).rev().collect::<Vec<i64>>());
    let none = query(
        &store,
        json!({"query": {"recordType": "Team"}, "desiredKeys": []}),
    );
    assert!(none["records"][0].get("fields").is_none());
    let request: QueryRequest =
        serde_json::from_value(json!({"query": {"recordType": "Nobody"}})).unwrap();
    let unknown = store.query(&scope(), &request, &mut Exact).unwrap_err();
    assert_eq!(unknown.code, ServerErrorCode::NotFound);
    assert_eq!(unknown.reason, "Did not find record type: Nobody");
}

#[test]
fn index_enforcement() {
    let mut indexes = Indexes {
        required: true,
        ..Indexes::default()
    };
    indexes.queryable.insert("Team.n".into());
    let mut store = Store::new(indexes);
    create(&mut store, "t1", json!({"n": {"value": 1}}));
    let request: QueryRequest =
        serde_json::from_value(json!({"query": {"recordType": "Team"}})).unwrap();
    let error = store.query(&scope(), &request, &mut Exact).unwrap_err();
    assert_eq!(error.reason, "Field 'recordName' is not marked queryable");
    // A sort is no filter: the query still needs `recordName` (issue 18).
    let request: QueryRequest = serde_json::from_value(json!({"query": {"recordType": "Team",
        "sortBy": [{"fieldName": "n"}]}}))
    .unwrap();
    let error = store.query(&scope(), &request, &mut Exact).unwrap_err();
    assert_eq!(error.reason, "Field 'recordName' is not marked queryable");
    store.indexes.queryable.insert("Team.recordName".into());
    assert!(store.query(&scope(), &request, &mut Exact).is_ok());
}

/// Issue 20: with `--require-indexes`, a schema imported through the schema API declares
/// indexes too (QUERYABLE for filters, SORTABLE for sorts, `___recordID` for `recordName`),
/// for its own container and environment only, and makes its types known before a write.
#[test]
fn issue_20_indexes_come_from_the_held_schema() {
    let mut store = Store::new(Indexes {
        required: true,
        ..Indexes::default()
    });
    let query_of = |body: Json| serde_json::from_value::<QueryRequest>(body).unwrap();
    let unfiltered = query_of(json!({"query": {"recordType": "Team",
        "sortBy": [{"systemFieldName": "createdTimestamp"}]}}));
    let error = store.query(&scope(), &unfiltered, &mut Exact).unwrap_err();
    assert_eq!(error.reason, "Did not find record type: Team");
    let schema = crate::schema::parse(
        "DEFINE SCHEMA RECORD TYPE Team (\"___createTime\" TIMESTAMP QUERYABLE, \
         \"___recordID\" REFERENCE QUERYABLE, n INT64 QUERYABLE);",
    )
    .unwrap();
    let held = scope();
    let other = (held.container.clone(), Environment::Production);
    store.indexes.schemas.insert(other, schema.clone());
    let error = store.query(&scope(), &unfiltered, &mut Exact).unwrap_err();
    assert_eq!(error.reason, "Did not find record type: Team");
    store
        .indexes
        .schemas
        .insert((held.container.clone(), held.environment), schema);
    let error = store.query(&scope(), &unfiltered, &mut Exact).unwrap_err();
    assert_eq!(error.reason, "Field '___createTime' is not marked sortable");
    let filtered = query_of(json!({"query": {"recordType": "Team",
        "filterBy": [{"fieldName": "n", "comparator": "EQUALS",
            "fieldValue": {"value": 1, "type": "INT64"}}]}}));
    assert!(store.query(&scope(), &filtered, &mut Exact).is_ok());
    let plain = query_of(json!({"query": {"recordType": "Team"}}));
    assert!(store.query(&scope(), &plain, &mut Exact).is_ok());
}

/// Every recordName of `query` followed page by page (`resultsLimit` 3); `between` runs
/// after each page with the page's last name.
fn paged_names(
    store: &mut Store,
    query_body: Json,
    between: impl Fn(&mut Store, &str),
) -> Vec<String> {
    let mut names = Vec::new();
    let mut marker: Option<Json> = None;
    loop {
        let mut body = json!({"query": query_body, "resultsLimit": 3});
        if let Some(m) = marker.take() {
            body["continuationMarker"] = m;
        }
        let page = query(store, body);
        for record in page["records"].as_array().unwrap() {
            names.push(record["recordName"].as_str().unwrap().to_owned());
        }
        if let Some(last) = names.last() {
            between(store, last);
        }
        match page.get("continuationMarker") {
            Some(m) => marker = Some(m.clone()),
            None => return names,
        }
    }
}

#[test]
fn paging_follows_every_order_and_skips_other_types() {
    let mut store = Store::new(Indexes::default());
    for i in [7, 3, 9, 1, 5, 8, 2, 6, 4, 0] {
        create(&mut store, &format!("t{i}"), json!({"n": {"value": i % 3}}));
        one(
            &mut store,
            "create",
            json!({"recordName": format!("o{i}"), "recordType": "Other"}),
        );
    }
    // Team is now under half the scope: sorted queries look its names up in the index
    // (query_pages_filters_and_desired_keys covers the walk of a single-type scope).
    one(
        &mut store,
        "create",
        json!({"recordName": "o10", "recordType": "Other"}),
    );
    let ascending: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let all = paged_names(&mut store, json!({"recordType": "Team"}), |_, _| {});
    assert_eq!(all, ascending);
    let by_name_descending = json!({"recordType": "Team",
        "sortBy": [{"systemFieldName": "recordName", "ascending": false}]});
    let descending = paged_names(&mut store, by_name_descending, |_, _| {});
    assert_eq!(
        descending,
        ascending.iter().rev().cloned().collect::<Vec<_>>()
    );
    let by_n = json!({"recordType": "Team", "sortBy": [{"fieldName": "n", "ascending": false}]});
    let sorted = paged_names(&mut store, by_n, |_, _| {});
    let expected = ["t2", "t5", "t8", "t1", "t4", "t7", "t0", "t3", "t6", "t9"];
    assert_eq!(sorted, expected);
    let filtered = json!({"recordType": "Team", "filterBy": [{"comparator": "EQUALS",
        "fieldName": "n", "fieldValue": {"value": 1}}]});
    assert_eq!(
        paged_names(&mut store, filtered, |_, _| {}),
        ["t1", "t4", "t7"]
    );
}

#[test]
fn paging_continues_after_the_last_record_is_deleted_or_retyped() {
    let mut store = Store::new(Indexes::default());
    for i in 0..9 {
        create(&mut store, &format!("t{i}"), json!({}));
    }
    // Deletes the page's last record (the marker's) and the one after it.
    let deleting = |store: &mut Store, last: &str| {
        let data = store.scopes.get_mut(&scope()).unwrap();
        let names = data.queryable().names_of_type("Team").unwrap();
        let next = names
            .range::<str, _>((Bound::Excluded(last), Bound::Unbounded))
            .next();
        for name in [Some(last.to_owned()), next.cloned()].into_iter().flatten() {
            data.remove(&name);
        }
    };
    let names = paged_names(&mut store, json!({"recordType": "Team"}), deleting);
    assert_eq!(names, ["t0", "t1", "t2", "t4", "t5", "t6", "t8"]);
    let data = store.scopes.get_mut(&scope()).unwrap();
    let mut record = data.get("t0").unwrap().clone();
    record.record_type = "Other".into();
    data.insert("t0".into(), record);
    let teams: Vec<&String> = data
        .queryable()
        .names_of_type("Team")
        .unwrap()
        .iter()
        .collect();
    assert_eq!(teams, ["t1", "t4", "t5"]);
    assert!(data
        .queryable()
        .names_of_type("Other")
        .unwrap()
        .contains("t0"));
    data.remove("t0");
    assert!(data.queryable().names_of_type("Other").is_none());
}

/// A hook that refuses exactly the named records, to test where the store consults it.
struct Refusing(&'static [&'static str]);

impl crate::emulator::faults::Hook for Refusing {
    fn request(&mut self, _: bool) -> Option<crate::emulator::faults::RequestFault> {
        None
    }
    fn record_write(&mut self, name: &str) -> Option<RecordFault> {
        self.0.contains(&name).then_some(RecordFault {
            code: ServerErrorCode::Throttled,
            reason: "Request throttled",
            retry_after: Some(1.5),
        })
    }
    fn record_read(&mut self, name: &str) -> Option<RecordFault> {
        self.0.contains(&name).then_some(RecordFault {
            code: ServerErrorCode::TryAgainLater,
            reason: "later",
            retry_after: None,
        })
    }
    fn after_commit(&mut self) -> Option<crate::emulator::faults::CommitFault> {
        None
    }
    fn query_page(&mut self) -> Option<crate::emulator::faults::PageFault> {
        None
    }
    fn index_lag_ms(&self) -> i64 {
        0
    }
}

#[test]
fn issue_10_the_hook_is_asked_per_record_before_any_effect() {
    let mut store = Store::new(Indexes::default());
    let tag = create(&mut store, "b", json!({"n": {"value": 1}}));
    let request: ModifyRequest = serde_json::from_value(json!({"operations": [
        {"operationType": "create", "record": {"recordName": "a", "recordType": "Team"}},
        {"operationType": "update", "record": {"recordName": "b", "recordChangeTag": tag,
            "fields": {"n": {"value": 2}}}},
        {"operationType": "create", "record": {"recordName": "c", "recordType": "Team"}}
    ]}))
    .unwrap();
    let batch = translate::write_batch(&request).unwrap();
    let outcomes = store
        .modify(&scope(), &batch, 9, &mut Refusing(&["b"]))
        .unwrap();
    assert!(matches!(&outcomes[0], WriteOutcome::Saved { name, .. } if name == "a"));
    assert!(matches!(&outcomes[2], WriteOutcome::Saved { name, .. } if name == "c"));
    let WriteOutcome::Failed(failure) = &outcomes[1] else {
        panic!("b was not refused: {:?}", outcomes[1]);
    };
    assert_eq!(failure.code, ServerErrorCode::Throttled);
    assert_eq!(failure.retry_after, Some(2.0), "whole seconds, rounded up");
    let b = lookup(&store, "b");
    assert_eq!(b["recordChangeTag"], json!(tag), "b untouched");
    assert_eq!(b["fields"]["n"]["value"], 1);
    let names = vec!["a".to_owned(), "b".to_owned()];
    let found = store.lookup(&scope(), &names, &mut Refusing(&["a"]));
    assert!(
        matches!(&found[0], ReadOutcome::Failed(f) if f.code == ServerErrorCode::TryAgainLater)
    );
    assert!(matches!(&found[1], ReadOutcome::Found { name, .. } if *name == "b"));
}

fn reference(target: &str, action: &str) -> Json {
    json!({"value": {"recordName": target, "action": action}, "type": "REFERENCE"})
}

fn delete_at(store: &mut Store, name: &str, now: i64) {
    let tag = lookup(store, name)["recordChangeTag"].clone();
    let request: ModifyRequest = serde_json::from_value(json!({"operations": [
        {"operationType": "delete", "record": {"recordName": name, "recordChangeTag": tag}}
    ]}))
    .unwrap();
    let results = modify_results(store, &request, now).unwrap();
    assert_eq!(serde_json::to_value(&results).unwrap()[0]["deleted"], true);
}

fn exists(store: &Store, name: &str) -> bool {
    store
        .scopes
        .get(&scope())
        .is_some_and(|d| d.get(name).is_some())
}

#[test]
fn issue_17_delete_self_cascades_after_the_delay_and_only_then() {
    let mut store = Store::new(Indexes::default());
    store.cascade_delay_ms = 1_000;
    create(&mut store, "stadium-1", json!({}));
    create(
        &mut store,
        "team-1",
        json!({"stadium": reference("stadium-1", "DELETE_SELF")}),
    );
    create(
        &mut store,
        "team-2",
        json!({"stadium": reference("stadium-1", "NONE")}),
    );
    create(
        &mut store,
        "team-3",
        json!({"stadium": reference("stadium-1", "VALIDATE")}),
    );
    create(
        &mut store,
        "team-4",
        json!({"rivals": {"value": [{"recordName": "x", "action": "NONE"},
                                     {"recordName": "stadium-1", "action": "DELETE_SELF"}],
                          "type": "REFERENCE_LIST"}}),
    );
    // game-1 references team-1 with DELETE_SELF: the cascade goes on, one delay later.
    create(
        &mut store,
        "game-1",
        json!({"home": reference("team-1", "DELETE_SELF")}),
    );
    let t0 = 1_700_000_000_000;
    delete_at(&mut store, "stadium-1", t0);
    assert!(
        exists(&store, "team-1"),
        "not at once: CloudKit cascades asynchronously"
    );
    assert!(store.run_cascades(t0 + 999).is_empty());
    assert!(exists(&store, "team-1"));
    let done = store.run_cascades(t0 + 1_000);
    let names: Vec<_> = done[0]
        .1
        .iter()
        .map(|o| match o {
            WriteOutcome::Deleted { name } => name.as_str(),
            _ => panic!("only deletions"),
        })
        .collect();
    assert_eq!(names, ["team-1", "team-4"]);
    assert!(!exists(&store, "team-1") && !exists(&store, "team-4"));
    assert!(
        exists(&store, "team-2") && exists(&store, "team-3"),
        "NONE and VALIDATE stay"
    );
    assert!(
        exists(&store, "game-1"),
        "the next step waits its own delay"
    );
    assert!(store.run_cascades(t0 + 1_999).is_empty());
    store.run_cascades(t0 + 2_000);
    assert!(!exists(&store, "game-1"));
    assert!(
        store.run_cascades(t0 + 3_000).is_empty(),
        "nothing references game-1"
    );
    assert!(store.cascades.is_empty());
}

#[test]
fn issue_17_a_target_created_again_before_the_cascade_keeps_its_referrers() {
    let mut store = Store::new(Indexes::default());
    create(&mut store, "stadium-1", json!({}));
    create(
        &mut store,
        "team-1",
        json!({"stadium": reference("stadium-1", "DELETE_SELF")}),
    );
    let t0 = 1_700_000_000_000;
    delete_at(&mut store, "stadium-1", t0);
    create(&mut store, "stadium-1", json!({}));
    // Delay 0: due at once, run before the next request is answered.
    assert!(store.run_cascades(t0).is_empty());
    assert!(exists(&store, "team-1"));
}

/// Issue 18: queries in `createdTimestamp` order page through the creation-time index
/// (ties by name) and give exactly what the general sort gives, with range filters, after
/// updates (which keep `created`) and deletes, page after page.
#[test]
fn created_order_pages_like_the_general_sort() {
    let mut store = Store::new(Indexes::default());
    for i in 0..40_i64 {
        let request: ModifyRequest = serde_json::from_value(json!({"operations": [
            {"operationType": "create", "record": {"recordName": format!("r{:02}", (i * 7) % 40),
             "recordType": "Team", "fields": {"n": {"value": i}}}}]}))
        .unwrap();
        // Five records a millisecond: ties broken by name.
        modify_results(&mut store, &request, 1_000 + i / 5).unwrap();
    }
    one(
        &mut store,
        "forceUpdate",
        json!({"recordName": "r03", "recordType": "Team",
        "fields": {"n": {"value": 99}}}),
    );
    one(
        &mut store,
        "forceDelete",
        json!({"recordName": "r10", "recordType": "Team"}),
    );
    let range = json!([
        {"comparator": "GREATER_THAN_OR_EQUALS", "systemFieldName": "createdTimestamp",
         "fieldValue": {"value": 1_002, "type": "TIMESTAMP"}},
        {"comparator": "LESS_THAN", "systemFieldName": "createdTimestamp",
         "fieldValue": {"value": 1_006, "type": "TIMESTAMP"}}]);
    for filters in [json!([]), range] {
        let fast = paged_names(
            &mut store,
            json!({"recordType": "Team", "filterBy": filters,
                   "sortBy": [{"systemFieldName": "createdTimestamp"}]}),
            |_, _| {},
        );
        // A second, constant key sends the query the general way.
        let general = paged_names(
            &mut store,
            json!({"recordType": "Team", "filterBy": filters,
                   "sortBy": [{"systemFieldName": "createdTimestamp"}, {"fieldName": "absent"}]}),
            |_, _| {},
        );
        assert_eq!(fast, general);
        assert!(!fast.contains(&"r10".to_owned()));
        assert!(fast.len() >= 19, "{fast:?}");
    }
}
