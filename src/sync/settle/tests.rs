use super::*;
use crate::diff::RecordDiff;
use crate::local::LoadedType;
use crate::record::{FieldValue, Fields};
use proptest::prelude::*;
use std::path::Path;

fn config(ignore: bool) -> Config {
    let ignored = if ignore {
        "    ignore_fields: [note]\n"
    } else {
        ""
    };
    let text = format!(
        "container: iCloud.com.example.App\nenvironment: development\ntypes:\n  Team:\n    \
         file: teams.json\n{ignored}    fields:\n      n: INT64\n      stadium: REFERENCE(Stadium)\n"
    );
    Config::parse(Path::new("project/ckplan.yaml"), &text).unwrap()
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

/// What a comparison says of a record, apart from the settled references of an unchanged
/// one's desired fields (never written, so never read).
fn outline(record: &RecordDiff) -> RecordDiff {
    let mut record = record.clone();
    if record.category == crate::diff::Category::Unchanged {
        record.desired = record.desired.map(|_| Fields::new());
    }
    record
}

/// The comparison of `desired` with the pages `pages` (in the order read, a name may repeat:
/// the later copy wins, as `QueryRead` keeps it) through a `Settler`, and the one of the
/// whole records through `super::compare`.
fn both_ways(config: &Config, desired: Vec<Record>, read: Vec<Record>) -> (TypeDiff, TypeDiff) {
    let team = RecordType::new("Team");
    let mut settled_local = local(desired.clone());
    let (kept, equal): (Vec<Record>, Vec<bool>) = {
        let mut settler = Settler::new(config, &settled_local, &team);
        read.iter()
            .cloned()
            .map(|record| settler.keep(record))
            .unzip()
    };
    let settled = compare_settled(
        config,
        &mut settled_local,
        vec![(team.clone(), kept)],
        vec![equal],
    );
    let whole = super::super::compare(config, &mut local(desired), vec![(team, read)]);
    (
        settled.into_iter().next().unwrap(),
        whole.into_iter().next().unwrap(),
    )
}

fn team(name: &str, n: i64, stadium: &str) -> Record {
    Record::new("Team", name)
        .with_field("n", FieldValue::int64(n))
        .with_field(
            "stadium",
            FieldValue::Scalar(crate::record::Value::Reference(Box::new(
                crate::record::Reference::named(stadium),
            ))),
        )
}

fn cloud(record: Record, tag: &str) -> Record {
    let mut record = record;
    record.change_tag = Some(ChangeTag::new(tag));
    if let Some(FieldValue::Scalar(crate::record::Value::Reference(reference))) =
        record.fields.get_mut("stadium")
    {
        reference.action = Some(crate::record::Reference::shared_action("NONE"));
    }
    record
}

#[test]
fn issue_18_an_equal_record_is_kept_without_its_fields_and_compares_as_before() {
    let config = config(true);
    let local_data = local(vec![team("t-1", 1, "s-1")]);
    let mut settler = Settler::new(&config, &local_data, &RecordType::new("Team"));
    let read = cloud(team("t-1", 1, "s-1"), "k1").with_field("note", FieldValue::string("app"));
    let (kept, equal) = settler.keep(read);
    assert!(equal);
    assert_eq!(
        kept.fields.keys().collect::<Vec<_>>(),
        ["note"],
        "only the ignored field"
    );
    assert_eq!(kept.change_tag, Some(ChangeTag::new("k1")));
    let (kept, equal) = settler.keep(cloud(team("t-1", 2, "s-1"), "k2"));
    assert!(!equal);
    assert_eq!(kept.fields.len(), 2, "a record that differs is kept whole");
    assert!(
        !settler.keep(cloud(team("t-9", 1, "s-1"), "k3")).1,
        "an orphan is kept whole"
    );
    assert_eq!(settler.stored().len(), 3);
}

fn records() -> impl Strategy<Value = Vec<Record>> {
    proptest::collection::vec(("[a-e]", 0i64..2, "[ab]"), 0..8).prop_map(|records| {
        records
            .into_iter()
            .map(|(name, n, stadium)| team(&name, n, &stadium))
            .collect()
    })
}

proptest! {
    /// Issue 18: comparing as pages arrive gives the comparison of the whole records:
    /// same records, categories, change tags and field changes, repeated names included.
    #[test]
    fn issue_18_settled_comparison_is_the_whole_one(
        desired in records(),
        read in records(),
        tags in proptest::collection::vec("[a-z]{2}", 8),
        ignore in any::<bool>(),
    ) {
        // Local names are unique after validation.
        let mut seen = std::collections::HashSet::new();
        let desired: Vec<Record> = desired
            .into_iter()
            .filter(|r| seen.insert(r.record_name.clone()))
            .collect();
        let read: Vec<Record> = read
            .into_iter()
            .zip(&tags)
            .map(|(record, tag)| cloud(record, tag))
            .collect();
        // What a read keeps of a repeated name: the later copy, at the first one's place.
        let mut kept: Vec<Record> = Vec::new();
        for record in read {
            match kept.iter_mut().find(|k| k.record_name == record.record_name) {
                Some(slot) => *slot = record,
                None => kept.push(record),
            }
        }
        let config = config(ignore);
        let (settled, whole) = both_ways(&config, desired, kept);
        let settled: Vec<RecordDiff> = settled.records.iter().map(outline).collect();
        let whole: Vec<RecordDiff> = whole.records.iter().map(outline).collect();
        prop_assert_eq!(settled, whole);
    }
}
