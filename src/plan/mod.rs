//! The plan: the closed set of actions `ckplan apply` will take, each a
//! `Change { action, before, after }` planned against a record's change tag, with the target,
//! options, input digests and per-type summary that make a plan self-contained. Built purely
//! from the diff (`crate::diff`); no I/O. The on-disk format lives only in [`file`].

pub mod file;
mod references;

pub use references::{FoundReference, ReferenceSource, ReferencedOrphan, Referrer};

use crate::diff::{Category, CompareRules, RecordDiff, TypeDiff};
use crate::record::{ChangeTag, FieldValue, Fields, RecordName, RecordType};
use crate::record::{Target, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// The plan format version this build writes (it also reads version 1; see `file`).
pub const FORMAT_VERSION: u32 = 2;

/// What apply does to one record. Closed: apply never does anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// CloudKit `create`: fails if the record appeared meanwhile.
    Create,
    /// CloudKit `update` with the planned change tag.
    Update,
    /// CloudKit `delete` with the planned change tag.
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One planned change to one record.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub action: Action,
    pub record_type: RecordType,
    pub record_name: RecordName,
    /// The change tag the plan was made against (updates and deletes).
    pub change_tag: Option<ChangeTag>,
    /// CloudKit's values of the fields this change touches (`None`: absent in CloudKit).
    /// Empty for creates.
    pub before: BTreeMap<String, Option<FieldValue>>,
    /// The full desired fields (creates and updates); `None` for deletes.
    pub after: Option<Fields>,
    /// Fields to remove: present in CloudKit, absent locally (updates only).
    pub removed: Vec<String>,
}

/// What the plan found for one record type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeSummary {
    pub record_type: RecordType,
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    /// Records only in CloudKit, whether or not this plan deletes them.
    pub orphans: usize,
}

/// The options a plan was made with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    pub delete_orphans: bool,
    /// With `delete_orphans`: also delete orphans that records staying in CloudKit still
    /// reference (`--delete-referenced-orphans`); without it they are kept.
    pub delete_referenced: bool,
    /// The `--type` filter; `None` means every configured type.
    pub types: Option<Vec<RecordType>>,
}

/// The digest of one input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputDigest {
    /// Relative to the configuration file's directory, with `/` separators.
    pub path: String,
    /// BLAKE3 of the file's bytes, lowercase hex.
    pub blake3: String,
}

/// A complete plan: everything apply needs besides credentials.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub format_version: u32,
    pub tool_version: String,
    /// When the plan was made (to the second).
    pub created_at: Timestamp,
    pub target: Target,
    /// Where the plan's reads went: `embedded` (the in-process emulator) or the base URL
    /// (`https://api.apple-cloudkit.com` for CloudKit). Apply refuses to send the plan
    /// elsewhere. `None` in plans written before it was recorded.
    pub endpoint: Option<String>,
    pub options: PlanOptions,
    /// The configuration file first, then the data files.
    pub inputs: Vec<InputDigest>,
    /// One entry per planned type, alphabetical.
    pub summary: Vec<TypeSummary>,
    /// Dependency order for apply: referenced types first.
    pub type_order: Vec<RecordType>,
    /// Each planned type's comparison rules, so apply judges conflicts as the plan did.
    pub rules: BTreeMap<RecordType, CompareRules>,
    /// Ordered by record type (alphabetical) then record name, so that plans diff well.
    pub changes: Vec<Change>,
    /// Orphans that records staying in CloudKit reference, deleted or kept (see
    /// [`Plan::guard_references`]).
    pub referenced_orphans: Vec<ReferencedOrphan>,
    /// The CloudKit schema changes the records need, when the plan could read the
    /// environment's schema (a management token); `None` when schema checks were skipped.
    pub schema: Option<PlanSchema>,
}

/// The schema part of a plan: what the target environment's schema lacked when the plan
/// was made, and the digest of that schema. Apply adds the additions first (development)
/// or refuses while any is missing (production, deployed from CloudKit Console).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanSchema {
    /// `blake3:<hex>` of the schema the plan read (`crate::schema::digest`).
    pub digest: String,
    /// The team whose schema API the plan read (`team_id:`), so apply imports into that
    /// team's container and refuses a configuration naming another. `None` in plans made
    /// before it was recorded, and against the embedded emulator without `team_id:`.
    pub team: Option<String>,
    /// In the order CloudKit Console would take them.
    pub additions: Vec<crate::schema::Addition>,
}

impl Plan {
    /// The types whose every record in CloudKit this plan deletes, their local data holding
    /// none (an empty or truncated data file reads that way).
    pub fn emptied_types(&self) -> impl Iterator<Item = &TypeSummary> {
        self.summary
            .iter()
            .filter(|s| s.delete > 0 && s.create + s.update + s.unchanged == 0)
    }

    /// Turns diffs into a plan: new records are created, updated ones updated, orphans
    /// deleted only with `delete_orphans`. Diffs of types outside `options.types` are left
    /// out.
    ///
    /// Invariant, whatever the read returned (query pages can repeat or skip records): no
    /// delete is planned for a record name that has a desired state in any diff (a name
    /// present in the local data), and each record gets at most one change.
    pub fn build(
        target: Target,
        options: PlanOptions,
        inputs: Vec<InputDigest>,
        type_order: Vec<RecordType>,
        diffs: Vec<TypeDiff>,
        created_at: Timestamp,
    ) -> Plan {
        let mut summary = Vec::new();
        let diffs = without_local_orphans(diffs);
        // Sized once: grown by doubling, a large first publish's changes would take up to
        // twice their room beside the diffs they come from.
        let most = diffs
            .iter()
            .flat_map(|diff| &diff.records)
            .filter(|record| record.category != Category::Unchanged)
            .count();
        let mut changes = Vec::with_capacity(most);
        for diff in diffs {
            let selected = options
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&diff.record_type));
            if !selected {
                continue;
            }
            let first_change = changes.len();
            let (unchanged, orphans) = (
                diff.count(Category::Unchanged),
                diff.count(Category::Orphan),
            );
            let record_type = diff.record_type;
            // The desired fields move into the changes: a large plan holds them once.
            for record in diff.records {
                changes.extend(change_for(record, options.delete_orphans));
            }
            summary.push(summarize(
                record_type,
                unchanged,
                orphans,
                &changes[first_change..],
            ));
        }
        summary.sort_by(|a, b| a.record_type.cmp(&b.record_type));
        // Usually in order already (types and names come sorted); a sort would still take
        // a scratch buffer of half the changes.
        let ordered = |a: &Change, b: &Change| {
            (&a.record_type, &a.record_name).cmp(&(&b.record_type, &b.record_name))
        };
        if !changes.is_sorted_by(|a, b| ordered(a, b).is_le()) {
            changes.sort_by(ordered);
        }
        Plan {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at,
            target,
            endpoint: None,
            options,
            inputs,
            summary,
            type_order,
            rules: BTreeMap::new(),
            changes,
            referenced_orphans: Vec::new(),
            schema: None,
        }
    }

    /// The plan, recording the endpoint its reads went to.
    pub fn with_endpoint(mut self, endpoint: String) -> Plan {
        self.endpoint = Some(endpoint);
        self
    }

    /// The plan with the comparison rules of its types (`ignore_fields`, tolerance).
    pub fn with_rules(mut self, rules: BTreeMap<RecordType, CompareRules>) -> Plan {
        let planned: Vec<RecordType> = self.summary.iter().map(|s| s.record_type.clone()).collect();
        self.rules = rules
            .into_iter()
            .filter(|(t, _)| planned.contains(t))
            .collect();
        self
    }

    /// The comparison rules per type (defaults for a type without any).
    pub fn compare_rules(&self) -> std::collections::HashMap<RecordType, CompareRules> {
        self.rules
            .iter()
            .map(|(t, r)| (t.clone(), r.clone()))
            .collect()
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || self.schema_additions() > 0
    }

    /// How many schema additions the plan carries (0 without a schema part).
    pub fn schema_additions(&self) -> usize {
        self.schema.as_ref().map_or(0, |part| part.additions.len())
    }

    /// The number of creates, updates and deletes.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |action| self.changes.iter().filter(|c| c.action == action).count();
        (
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
        )
    }

    /// The first type whose summary does not match the changes: a change of a type without
    /// a summary entry, or `(create, update, delete)` counts that differ. Returns the type,
    /// the summary's counts (zeros when it has no entry) and the changes' counts.
    pub fn summary_disagreement(&self) -> Option<(RecordType, [usize; 3], [usize; 3])> {
        let mut counted: BTreeMap<&RecordType, [usize; 3]> = BTreeMap::new();
        for change in &self.changes {
            let slot = match change.action {
                Action::Create => 0,
                Action::Update => 1,
                Action::Delete => 2,
            };
            counted.entry(&change.record_type).or_default()[slot] += 1;
        }
        let summarized: BTreeMap<&RecordType, [usize; 3]> = self
            .summary
            .iter()
            .map(|s| (&s.record_type, [s.create, s.update, s.delete]))
            .collect();
        let types = counted.keys().chain(summarized.keys());
        types.copied().find_map(|record_type| {
            let said = summarized.get(record_type).copied().unwrap_or_default();
            let found = counted.get(record_type).copied().unwrap_or_default();
            (said != found).then(|| (record_type.clone(), said, found))
        })
    }

    /// Orphans this plan leaves alone: all of them without `--delete-orphans`, else those
    /// that records staying in CloudKit reference.
    pub fn orphans_kept(&self) -> usize {
        if self.options.delete_orphans {
            return self.referenced_orphans_kept();
        }
        self.summary.iter().map(|s| s.orphans).sum()
    }
}

fn change_for(record: RecordDiff, delete_orphans: bool) -> Option<Change> {
    let mut change = Change {
        action: Action::Create,
        record_type: record.record_type,
        record_name: record.record_name,
        change_tag: None,
        before: BTreeMap::new(),
        after: None,
        removed: Vec::new(),
    };
    match record.category {
        Category::Unchanged => return None,
        Category::Orphan if !delete_orphans => return None,
        Category::New => change.after = Some(record.desired.unwrap_or_default()),
        Category::Updated => {
            change.action = Action::Update;
            change.after = Some(record.desired.unwrap_or_default());
            change.removed = record
                .changes
                .iter()
                .filter(|field| field.after.is_none())
                .map(|field| field.field.clone())
                .collect();
        }
        Category::Orphan => change.action = Action::Delete,
    }
    if change.action != Action::Create {
        change.change_tag = record.change_tag;
        change.before = record
            .changes
            .into_iter()
            .map(|field| (field.field, field.before))
            .collect();
    }
    Some(change)
}

/// The diffs without an orphan whose name is in the local data (a repeated page can make
/// one record both "unchanged" and "orphan"), and with each (type, name) once.
fn without_local_orphans(mut diffs: Vec<TypeDiff>) -> Vec<TypeDiff> {
    let keep: Vec<Vec<bool>> = {
        let local_orphans = local_orphan_names(&diffs);
        diffs
            .iter()
            .map(|diff| kept(&diff.records, &local_orphans))
            .collect()
    };
    for (diff, keep) in diffs.iter_mut().zip(keep) {
        let mut keep = keep.into_iter();
        diff.records.retain(|_| keep.next().unwrap_or(true));
    }
    diffs
}

/// The names of orphans that a record of the local data (of any type) also has: orphans
/// only for a read that repeated or skipped pages. Usually there is no orphan at all, and
/// nothing is hashed.
fn local_orphan_names(diffs: &[TypeDiff]) -> HashSet<&str> {
    let records = || diffs.iter().flat_map(|diff| &diff.records);
    let orphans: HashSet<&str> = records()
        .filter(|record| record.category == Category::Orphan)
        .map(|record| record.record_name.as_str())
        .collect();
    if orphans.is_empty() {
        return orphans;
    }
    records()
        .filter(|record| record.desired.is_some() || record.category != Category::Orphan)
        .filter_map(|record| orphans.get(record.record_name.as_str()).copied())
        .collect()
}

/// Which of one type's records stay: not a local orphan, and the first of its name. The
/// records come sorted by name, so repeats are neighbours; otherwise names are hashed.
fn kept(records: &[RecordDiff], local_orphans: &HashSet<&str>) -> Vec<bool> {
    let local_orphan = |record: &RecordDiff| {
        record.category == Category::Orphan && local_orphans.contains(record.record_name.as_str())
    };
    if records.is_sorted_by(|a, b| a.record_name <= b.record_name) {
        let mut last: Option<&RecordName> = None;
        return records
            .iter()
            .map(|record| {
                let keep = !local_orphan(record) && last != Some(&record.record_name);
                if keep {
                    last = Some(&record.record_name);
                }
                keep
            })
            .collect();
    }
    let mut seen = HashSet::with_capacity(records.len());
    records
        .iter()
        .map(|record| !local_orphan(record) && seen.insert(record.record_name.as_str()))
        .collect()
}

fn summarize(
    record_type: RecordType,
    unchanged: usize,
    orphans: usize,
    changes: &[Change],
) -> TypeSummary {
    let count = |action| changes.iter().filter(|c| c.action == action).count();
    TypeSummary {
        record_type,
        create: count(Action::Create),
        update: count(Action::Update),
        delete: count(Action::Delete),
        unchanged,
        orphans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::FieldChange;
    use crate::record::{Database, Environment};

    fn target() -> Target {
        Target {
            container: "iCloud.com.example.SportsTime".into(),
            environment: Environment::Development,
            database: Database::Public,
            zone: "_defaultZone".into(),
        }
    }

    fn record(record_type: &str, name: &str, category: Category) -> RecordDiff {
        let desired = (category != Category::Orphan)
            .then(|| Fields::from([("name".to_owned(), FieldValue::string(name))]));
        let change_tag = (category != Category::New).then(|| ChangeTag::new("k1"));
        RecordDiff {
            record_type: record_type.into(),
            record_name: name.into(),
            category,
            change_tag,
            changes: Vec::new(),
            desired,
        }
    }

    fn diffs() -> Vec<TypeDiff> {
        let mut updated = record("Team", "team-7", Category::Updated);
        updated.changes = vec![
            FieldChange {
                field: "founded".into(),
                before: Some(FieldValue::int64(1901)),
                after: Some(FieldValue::int64(1902)),
            },
            FieldChange {
                field: "nickname".into(),
                before: Some(FieldValue::string("Sox")),
                after: None,
            },
        ];
        vec![
            TypeDiff {
                record_type: "Team".into(),
                records: vec![
                    updated,
                    record("Team", "team-1", Category::Unchanged),
                    record("Team", "team-9", Category::Orphan),
                ],
            },
            TypeDiff {
                record_type: "Stadium".into(),
                records: vec![
                    record("Stadium", "stadium-b", Category::New),
                    record("Stadium", "stadium-a", Category::New),
                ],
            },
        ]
    }

    fn build(options: PlanOptions) -> Plan {
        let order = vec!["Stadium".into(), "Team".into()];
        Plan::build(
            target(),
            options,
            Vec::new(),
            order,
            diffs(),
            "2025-01-01T00:00:00Z".parse().unwrap(),
        )
    }

    /// The rule as it was first written (every name cloned into two sets), kept as the
    /// oracle of the one that hashes only what it must.
    fn without_local_orphans_oracle(mut diffs: Vec<TypeDiff>) -> Vec<TypeDiff> {
        let local: HashSet<RecordName> = diffs
            .iter()
            .flat_map(|diff| &diff.records)
            .filter(|record| record.desired.is_some() || record.category != Category::Orphan)
            .map(|record| record.record_name.clone())
            .collect();
        for diff in &mut diffs {
            let mut seen = HashSet::new();
            diff.records.retain(|record| {
                let local_orphan =
                    record.category == Category::Orphan && local.contains(&record.record_name);
                !local_orphan && seen.insert(record.record_name.clone())
            });
        }
        diffs
    }

    proptest::proptest! {
        /// Issue 18: local orphans and repeated names go as they went, sorted or not.
        #[test]
        fn issue_18_local_orphans_and_repeats_go_as_before(
            types in proptest::collection::vec(
                (
                    proptest::collection::vec((0u8..6, 0u8..4, proptest::bool::ANY), 0..12),
                    proptest::bool::ANY,
                ),
                0..3,
            )
        ) {
            let categories = [Category::New, Category::Updated, Category::Unchanged, Category::Orphan];
            let diffs: Vec<TypeDiff> = types
                .into_iter()
                .enumerate()
                .map(|(index, (records, sorted))| {
                    let mut records: Vec<RecordDiff> = records
                        .into_iter()
                        .map(|(name, category, desired)| {
                            let mut record = record("T", &format!("r{name}"), categories[category as usize]);
                            if desired && record.desired.is_none() {
                                record.desired = Some(Fields::new());
                            }
                            record
                        })
                        .collect();
                    if sorted {
                        records.sort_by(|a, b| a.record_name.cmp(&b.record_name));
                    }
                    TypeDiff { record_type: format!("T{index}").into(), records }
                })
                .collect();
            proptest::prop_assert_eq!(
                without_local_orphans(diffs.clone()),
                without_local_orphans_oracle(diffs)
            );
        }
    }

    #[test]
    fn orphans_are_kept_without_delete_orphans() {
        let plan = build(PlanOptions::default());
        assert_eq!(plan.counts(), (2, 1, 0));
        assert_eq!(plan.orphans_kept(), 1);
        let team = &plan.summary[1];
        assert_eq!((team.update, team.unchanged, team.orphans), (1, 1, 1));
    }

    #[test]
    fn orphans_are_deleted_with_delete_orphans() {
        let plan = build(PlanOptions {
            delete_orphans: true,
            delete_referenced: false,
            types: None,
        });
        assert_eq!(plan.counts(), (2, 1, 1));
        assert_eq!(plan.orphans_kept(), 0);
        let delete = plan.changes.last().expect("a delete");
        assert_eq!(delete.action, Action::Delete);
        assert_eq!(delete.change_tag, Some(ChangeTag::new("k1")));
        assert_eq!(delete.after, None);
    }

    #[test]
    fn changes_are_ordered_by_type_then_name() {
        let plan = build(PlanOptions::default());
        let names: Vec<_> = plan
            .changes
            .iter()
            .map(|c| c.record_name.as_str())
            .collect();
        assert_eq!(names, ["stadium-a", "stadium-b", "team-7"]);
        let types: Vec<_> = plan
            .summary
            .iter()
            .map(|s| s.record_type.as_str())
            .collect();
        assert_eq!(types, ["Stadium", "Team"]);
    }

    #[test]
    fn update_carries_before_removed_and_full_after() {
        let plan = build(PlanOptions::default());
        let update = &plan.changes[2];
        assert_eq!(update.action, Action::Update);
        assert_eq!(update.change_tag, Some(ChangeTag::new("k1")));
        assert_eq!(update.before["founded"], Some(FieldValue::int64(1901)));
        assert_eq!(update.removed, ["nickname"]);
        assert!(update
            .after
            .as_ref()
            .is_some_and(|f| f.contains_key("name")));
        let create = &plan.changes[0];
        assert!(create.before.is_empty() && create.change_tag.is_none());
    }

    #[test]
    fn type_filter_leaves_other_types_out() {
        let plan = build(PlanOptions {
            delete_orphans: false,
            delete_referenced: false,
            types: Some(vec!["Team".into()]),
        });
        assert_eq!(plan.summary.len(), 1);
        assert_eq!(plan.counts(), (0, 1, 0));
        assert!(plan.has_changes());
    }

    #[test]
    fn no_changes_when_everything_is_unchanged() {
        let diff = TypeDiff {
            record_type: "Team".into(),
            records: vec![record("Team", "team-1", Category::Unchanged)],
        };
        let plan = Plan::build(
            target(),
            PlanOptions::default(),
            Vec::new(),
            Vec::new(),
            vec![diff],
            "2025-01-01T00:00:00Z".parse().unwrap(),
        );
        assert!(!plan.has_changes());
        assert_eq!(plan.summary[0].unchanged, 1);
    }
}

#[cfg(test)]
mod invariant_tests;
