//! One seeded world of the chaos suite: the desired records (local files), the records
//! CloudKit holds before the plan, the concurrent writer's edits between plan and apply, and
//! from those three the exact state every record must end in and the set of records whose
//! conflicts must be reported. Pure: no I/O.

use ckplan::record::{FieldValue, Fields, Record};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};

/// `(record type, record name)`.
pub type Key = (String, String);

/// What the local files say about a record, relative to CloudKit before the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Local only: the plan creates it.
    Create,
    /// CloudKit holds another `score`: the plan updates that field only.
    Update,
    /// Equal on both sides: not in the plan.
    Unchanged,
    /// CloudKit also holds `legacy`, a field the local data dropped: the plan removes it
    /// with a tag-checked `replace`.
    Strip,
    /// CloudKit only: the plan (made with `--delete-orphans`) deletes it.
    Orphan,
}

/// What the concurrent writer does to a record between plan and apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Changes `score`, a field the plan also changes.
    Score,
    /// Changes `note`, a field the plan leaves alone.
    Note,
    Delete,
    /// Creates the record the plan creates, with another `note`.
    CreateOther,
    /// Creates the record the plan creates, exactly as desired.
    CreateSame,
    /// Adds `likes`, a field ckplan does not own (no local data has it).
    AddField,
    /// Removes `note`, a field the plan leaves alone.
    DropField,
    /// Changes `legacy`, the field a `Strip` plan removes.
    Legacy,
}

/// `--on-conflict` of a seed's apply (`abort` stops at a timing-dependent point, so its
/// end state is not a function of the world; its decisions are unit-tested in
/// `apply::resolve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Replan,
    Overwrite,
}

impl Policy {
    pub fn flag(self) -> &'static str {
        match self {
            Policy::Replan => "replan",
            Policy::Overwrite => "overwrite",
        }
    }
}

/// One record of the world.
#[derive(Clone, Debug)]
pub struct Entry {
    pub category: Category,
    /// The local file's version (`None` for orphans).
    pub desired: Option<Fields>,
    /// CloudKit's version when the plan is made (`None` for creates).
    pub initial: Option<Fields>,
    pub edit: Option<Edit>,
}

/// Every record of one seed, keyed by type and name.
pub struct World {
    pub seed: u64,
    pub policy: Policy,
    pub entries: BTreeMap<Key, Entry>,
}

/// How a record must end.
pub struct Expected {
    /// `None`: absent.
    pub records: BTreeMap<Key, Option<Fields>>,
    /// Records whose change must be reported as a conflict.
    pub conflicts: BTreeSet<Key>,
}

pub const TEAM: &str = "Team";
pub const GAME: &str = "Game";

impl World {
    /// 20–40 teams and 280–560 games, a quarter to be created, half updated, a quarter
    /// unchanged, plus 10–40 orphan games; about one record in eight edited by the writer.
    pub fn generate(seed: u64) -> World {
        let mut random = StdRng::seed_from_u64(seed);
        let policy = if random.gen_bool(0.5) {
            Policy::Replan
        } else {
            Policy::Overwrite
        };
        let mut entries = BTreeMap::new();
        let teams = random.gen_range(20..=40);
        let games = random.gen_range(280..=560);
        for index in 0..teams {
            let fields = team_fields(index, &mut random);
            let entry = local_entry(fields, &mut random);
            entries.insert((TEAM.to_owned(), format!("team-{index}")), entry);
        }
        for index in 0..games {
            let fields = game_fields(index, teams, &mut random);
            let entry = local_entry(fields, &mut random);
            entries.insert((GAME.to_owned(), format!("game-{index}")), entry);
        }
        for index in 0..random.gen_range(10..=40) {
            let mut fields = game_fields(index, teams, &mut random);
            fields.insert("note", FieldValue::string(format!("orphan {index}")));
            let entry = Entry {
                category: Category::Orphan,
                desired: None,
                initial: Some(fields),
                edit: orphan_edit(&mut random),
            };
            entries.insert((GAME.to_owned(), format!("orphan-{index}")), entry);
        }
        World {
            seed,
            policy,
            entries,
        }
    }

    /// The records CloudKit holds before the plan.
    pub fn initial_records(&self) -> Vec<Record> {
        self.records(|entry| entry.initial.clone())
    }

    /// What the writer leaves (its version of every record it touched).
    pub fn writer_version(&self, key: &Key) -> Option<Fields> {
        let entry = &self.entries[key];
        let mut fields = match entry.category {
            Category::Create => entry.desired.clone(),
            _ => entry.initial.clone(),
        };
        match entry.edit? {
            Edit::Score => set(&mut fields, "score", FieldValue::int64(writer_score(key))),
            Edit::Note | Edit::CreateOther => set(
                &mut fields,
                "note",
                FieldValue::string(format!("edited by the writer ({})", key.1)),
            ),
            Edit::Delete => fields = None,
            Edit::CreateSame => {}
            Edit::AddField => set(&mut fields, "likes", FieldValue::int64(writer_score(key))),
            Edit::DropField => {
                if let Some(fields) = &mut fields {
                    fields.remove("note");
                }
            }
            Edit::Legacy => set(&mut fields, "legacy", FieldValue::string("the writer's")),
        }
        fields
    }

    /// The writer's edits, as `(key, version after the edit)`.
    pub fn edits(&self) -> Vec<(Key, Edit, Option<Fields>)> {
        self.entries
            .iter()
            .filter_map(|(key, entry)| Some((key.clone(), entry.edit?, self.writer_version(key))))
            .collect()
    }

    /// The state every record must end in, and the conflicts that must be reported.
    pub fn expected(&self) -> Expected {
        let mut records = BTreeMap::new();
        let mut conflicts = BTreeSet::new();
        for (key, entry) in &self.entries {
            let (fields, conflict) = expect(entry, self.writer_version(key), self.policy);
            records.insert(key.clone(), fields);
            if conflict {
                conflicts.insert(key.clone());
            }
        }
        Expected { records, conflicts }
    }

    /// Changes the plan must hold: (creates, updates, deletes).
    pub fn planned_counts(&self) -> (usize, usize, usize) {
        let count = |c: Category| self.entries.values().filter(|e| e.category == c).count();
        (
            count(Category::Create),
            count(Category::Update) + count(Category::Strip),
            count(Category::Orphan),
        )
    }

    /// Local file contents: plain records, teams as a JSON array, games as NDJSON.
    pub fn local_files(&self) -> (String, String) {
        let plain = |record_type: &str| {
            self.entries
                .iter()
                .filter(|((t, _), _)| t == record_type)
                .filter_map(|((_, name), entry)| Some(plain_json(name, entry.desired.as_ref()?)))
                .collect::<Vec<_>>()
        };
        let teams = serde_json::to_string_pretty(&plain(TEAM)).expect("json");
        let games = plain(GAME)
            .iter()
            .map(|game| format!("{game}\n"))
            .collect::<String>();
        (teams, games)
    }

    fn records(&self, fields: impl Fn(&Entry) -> Option<Fields>) -> Vec<Record> {
        self.entries
            .iter()
            .filter_map(|((record_type, name), entry)| {
                Some(Record {
                    record_type: record_type.as_str().into(),
                    record_name: name.as_str().into(),
                    change_tag: None,
                    fields: fields(entry)?,
                    stamps: None,
                })
            })
            .collect()
    }
}

fn expect(entry: &Entry, written: Option<Fields>, policy: Policy) -> (Option<Fields>, bool) {
    let desired = entry.desired.clone();
    let overwrite = policy == Policy::Overwrite;
    // The writer's version with the fields the plan writes set as the plan wants: what a
    // write rebuilt over the record as it is now leaves.
    let merged = |plan_sets: &[&str], plan_removes: &[&str]| {
        let mut fields = written.clone();
        for name in plan_sets {
            let value = desired.as_ref().and_then(|d| d.get(name)).cloned();
            if let Some(value) = value {
                set(&mut fields, name, value);
            }
        }
        if let Some(fields) = &mut fields {
            for name in plan_removes {
                fields.remove(name);
            }
        }
        fields
    };
    match (entry.category, entry.edit) {
        (_, None) => (desired, false),
        (_, Some(Edit::Delete)) if entry.category != Category::Orphan => (None, true),
        (Category::Create, Some(Edit::CreateSame)) => (desired, false),
        (Category::Create, Some(_)) if overwrite => (desired, false),
        (Category::Create, Some(_)) => (written, true),
        (Category::Update, Some(Edit::Score)) if overwrite => (merged(&["score"], &[]), false),
        (Category::Update, Some(Edit::Score)) => (written, true),
        (Category::Update, Some(_)) => (merged(&["score"], &[]), false),
        (Category::Strip, Some(Edit::Legacy)) if !overwrite => (written, true),
        (Category::Strip, Some(_)) => (merged(&[], &["legacy"]), false),
        (Category::Unchanged, Some(_)) => (written, false),
        (Category::Orphan, Some(Edit::Delete)) => (None, false),
        (Category::Orphan, Some(_)) if overwrite => (None, false),
        (Category::Orphan, Some(_)) => (written, true),
    }
}

/// A record's fields as CloudKit's wire JSON (`{"value", "type"}`), written out here for the
/// few kinds the world uses rather than through ckplan's encoder, so the suite's oracle
/// shares no code with what it checks. References are stored with `action: NONE`.
pub fn wire_json(fields: &Fields) -> serde_json::Value {
    use ckplan::record::Value;
    let mut object = serde_json::Map::new();
    for (name, value) in fields {
        let wire = match value {
            FieldValue::Scalar(Value::String(text)) => {
                serde_json::json!({"value": text, "type": "STRING"})
            }
            FieldValue::Scalar(Value::Int64(number)) => {
                serde_json::json!({"value": number, "type": "INT64"})
            }
            FieldValue::Scalar(Value::Reference(reference)) => serde_json::json!({
                "value": {"recordName": reference.record_name.0, "action": "NONE"},
                "type": "REFERENCE"
            }),
            FieldValue::Scalar(Value::Double(number)) => {
                serde_json::json!({"value": number, "type": "DOUBLE"})
            }
            FieldValue::Scalar(Value::Timestamp(millis)) => {
                serde_json::json!({"value": millis, "type": "TIMESTAMP"})
            }
            FieldValue::Scalar(Value::Location(location)) => serde_json::json!({
                "value": {"latitude": location.latitude, "longitude": location.longitude},
                "type": "LOCATION"
            }),
            FieldValue::List(ckplan::record::ScalarType::String, items) => {
                let texts: Vec<_> = items
                    .iter()
                    .map(|item| match item {
                        Value::String(text) => text.clone(),
                        other => panic!("the world has no {other:?} in a STRING_LIST"),
                    })
                    .collect();
                serde_json::json!({"value": texts, "type": "STRING_LIST"})
            }
            other => panic!("the world has no {other:?}"),
        };
        object.insert(name.to_string(), wire);
    }
    serde_json::Value::Object(object)
}

fn set(fields: &mut Option<Fields>, name: &str, value: FieldValue) {
    if let Some(fields) = fields {
        fields.insert(name.to_owned(), value);
    }
}

fn writer_score(key: &Key) -> i64 {
    1_000_000 + key.1.len() as i64
}

fn team_fields(index: usize, random: &mut StdRng) -> Fields {
    let mut fields = Fields::new();
    fields.insert("name", FieldValue::string(format!("Team {index}")));
    fields.insert("score", FieldValue::int64(random.gen_range(0..1000)));
    fields.insert("note", FieldValue::string(format!("team note {index}")));
    fields.insert(
        "rating",
        FieldValue::double(f64::from(random.gen_range(0..400)) / 8.0),
    );
    fields.insert(
        "founded",
        FieldValue::timestamp(random.gen_range(-2_000_000_000_000..2_000_000_000_000)),
    );
    fields.insert(
        "ground",
        FieldValue::location(
            f64::from(random.gen_range(-9000..9000)) / 100.0,
            f64::from(random.gen_range(-18000..18000)) / 100.0,
        ),
    );
    let tags = (0..random.gen_range(0..4))
        .map(|n| ckplan::record::Value::String(format!("tag {n}")))
        .collect();
    fields.insert(
        "tags",
        FieldValue::List(ckplan::record::ScalarType::String, tags),
    );
    fields
}

fn game_fields(index: usize, teams: usize, random: &mut StdRng) -> Fields {
    let mut fields = Fields::new();
    let home = random.gen_range(0..teams);
    fields.insert("home", FieldValue::reference(format!("team-{home}")));
    fields.insert("score", FieldValue::int64(random.gen_range(0..1000)));
    fields.insert("note", FieldValue::string(format!("game note {index}")));
    fields
}

/// A local record's category and the writer's edit of it.
fn local_entry(desired: Fields, random: &mut StdRng) -> Entry {
    let roll = random.gen_range(0..100);
    let (category, initial) = match roll {
        0..=24 => (Category::Create, None),
        25..=74 => {
            let mut initial = desired.clone();
            let score = match desired.get("score") {
                Some(FieldValue::Scalar(ckplan::record::Value::Int64(n))) => *n,
                _ => 0,
            };
            initial.insert("score", FieldValue::int64(score + random.gen_range(1..100)));
            (Category::Update, Some(initial))
        }
        75..=87 => {
            let mut initial = desired.clone();
            initial.insert("legacy", FieldValue::string("dropped locally"));
            (Category::Strip, Some(initial))
        }
        _ => (Category::Unchanged, Some(desired.clone())),
    };
    let edit = local_edit(category, random);
    Entry {
        category,
        desired: Some(desired),
        initial,
        edit,
    }
}

fn local_edit(category: Category, random: &mut StdRng) -> Option<Edit> {
    let roll = random.gen_range(0..100);
    match category {
        Category::Create => match roll {
            0..=5 => Some(Edit::CreateOther),
            6..=11 => Some(Edit::CreateSame),
            _ => None,
        },
        Category::Update => match roll {
            0..=4 => Some(Edit::Score),
            5..=9 => Some(Edit::Note),
            10..=12 => Some(Edit::Delete),
            13..=16 => Some(Edit::AddField),
            17..=20 => Some(Edit::DropField),
            _ => None,
        },
        Category::Strip => match roll {
            0..=5 => Some(Edit::Score),
            6..=11 => Some(Edit::AddField),
            12..=17 => Some(Edit::DropField),
            18..=23 => Some(Edit::Legacy),
            24..=26 => Some(Edit::Delete),
            _ => None,
        },
        Category::Unchanged => match roll {
            0..=3 => Some(Edit::Note),
            4..=7 => Some(Edit::AddField),
            _ => None,
        },
        Category::Orphan => None,
    }
}

fn orphan_edit(random: &mut StdRng) -> Option<Edit> {
    match random.gen_range(0..100) {
        0..=7 => Some(Edit::Note),
        8..=13 => Some(Edit::Delete),
        14..=19 => Some(Edit::AddField),
        _ => None,
    }
}

/// A plain local record: `id` feeds the `record_name` template.
fn plain_json(name: &str, fields: &Fields) -> serde_json::Value {
    let id = name.rsplit('-').next().unwrap_or(name);
    let mut object = serde_json::Map::new();
    object.insert("id".into(), serde_json::Value::String(id.to_owned()));
    for (field, value) in fields {
        let json = match value {
            FieldValue::Scalar(ckplan::record::Value::Reference(reference)) => {
                serde_json::Value::String(reference.record_name.0.clone())
            }
            other => other.to_json(false),
        };
        object.insert(field.to_string(), json);
    }
    serde_json::Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_world_with_every_kind_of_record() {
        let world = World::generate(7);
        let again = World::generate(7);
        assert_eq!(world.local_files(), again.local_files());
        let (creates, updates, deletes) = world.planned_counts();
        assert!(creates > 0 && updates > 0 && deletes > 0);
        assert!(world.edits().len() > 10);
        assert!(!world.expected().conflicts.is_empty());
    }
}
