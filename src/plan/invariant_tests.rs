//! The plan builder's safety invariant: no delete of a record name present in the local
//! data, whatever the read returned (repeated or missing records across query pages).

use super::*;
use crate::diff::compare_type;
use crate::record::Record;
use crate::record::{Database, Environment};
use proptest::prelude::*;

fn target() -> Target {
    Target {
        container: "iCloud.com.example.Tests".into(),
        environment: Environment::Development,
        database: Database::Public,
        zone: "_defaultZone".into(),
    }
}

fn record(name: &str, value: i64, tag: Option<&str>) -> Record {
    let mut record = Record::new("Game", name).with_field("n", FieldValue::int64(value));
    record.change_tag = tag.map(ChangeTag::new);
    record
}

fn plan_for(local: Vec<Record>, read: Vec<Record>) -> Plan {
    let diff = compare_type(&"Game".into(), local, read, &CompareRules::default());
    let options = PlanOptions {
        delete_orphans: true,
        delete_referenced: false,
        types: None,
    };
    Plan::build(
        target(),
        options,
        Vec::new(),
        vec!["Game".into()],
        vec![diff],
        "2026-01-01T00:00:00Z".parse().unwrap(),
    )
}

#[test]
fn issue_12_a_record_repeated_across_pages_is_not_deleted() {
    let local: Vec<Record> = (0..3)
        .map(|i| record(&format!("game-{i}"), i, None))
        .collect();
    let mut read: Vec<Record> = (0..3)
        .map(|i| record(&format!("game-{i}"), i, Some("t1")))
        .collect();
    // Page 2 starts with page 1's last record again.
    read.push(record("game-2", 2, Some("t1")));
    let plan = plan_for(local, read);
    assert!(!plan.has_changes(), "{:?}", plan.changes);
    assert_eq!(plan.summary[0].orphans, 0);
    assert_eq!(plan.summary[0].unchanged, 3);
}

proptest! {
    #[test]
    fn issue_12_no_delete_is_planned_for_a_locally_present_name(
        local in proptest::collection::btree_set(0u8..20, 0..12),
        read in proptest::collection::vec((0u8..30, 0i64..3), 0..40),
    ) {
        let local_records: Vec<Record> =
            local.iter().map(|i| record(&format!("r{i}"), 1, None)).collect();
        let read_records: Vec<Record> = read
            .iter()
            .map(|(i, value)| record(&format!("r{i}"), *value, Some("t1")))
            .collect();
        let plan = plan_for(local_records, read_records);
        let mut seen = std::collections::HashSet::new();
        for change in &plan.changes {
            prop_assert!(seen.insert(change.record_name.clone()), "two changes for {}", change.record_name);
            if change.action == Action::Delete {
                let index: u8 = change.record_name.as_str()[1..].parse().unwrap();
                prop_assert!(!local.contains(&index), "delete planned for local {}", change.record_name);
            }
        }
    }
}
