//! The records of one container, environment and database, and what queries see of them.
//! `RecordSet` keeps records by name with a per-type name index. `ScopeData` holds the
//! exact set (modify, lookup, dump) and, while index lag is on, a lagging copy that
//! queries read: each write reaches it at its visibility time on the emulator's clock.
//! Apple: "indexes are updated asynchronously", so query results may lag writes
//! (CloudKit Web Services Reference, `QueryingRecords`); lookups by ID stay exact.

use super::store::StoredRecord;
use crate::record::FieldType;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// `recordType` → field name → the type fixed by the field's first write. A record type
/// is known (queries do not answer 404) once it is a key here.
pub type Schema = BTreeMap<String, BTreeMap<String, FieldType>>;

/// Records by name, with the names of each record type in name order (queries page
/// through these instead of scanning and sorting every record of the scope).
#[derive(Clone, Debug, Default)]
pub struct RecordSet {
    records: BTreeMap<String, StoredRecord>,
    names_by_type: HashMap<String, BTreeSet<String>>,
    /// The records of each type in `createdTimestamp` order, ties by name, so that queries
    /// sorted by `createdTimestamp` page by a range scan too.
    created_by_type: HashMap<String, BTreeSet<(i64, String)>>,
}

impl RecordSet {
    /// Every record, by name.
    pub fn records(&self) -> &BTreeMap<String, StoredRecord> {
        &self.records
    }

    pub fn get(&self, name: &str) -> Option<&StoredRecord> {
        self.records.get(name)
    }

    /// The names of the records of `record_type`, in name order.
    pub fn names_of_type(&self, record_type: &str) -> Option<&BTreeSet<String>> {
        self.names_by_type.get(record_type)
    }

    /// `(createdTimestamp, name)` of the records of `record_type`, in that order.
    pub fn created_of_type(&self, record_type: &str) -> Option<&BTreeSet<(i64, String)>> {
        self.created_by_type.get(record_type)
    }

    /// Stores `record` under `name`, replacing any record of that name.
    pub fn insert(&mut self, name: String, record: StoredRecord) {
        let previous = self
            .records
            .get(&name)
            .map(|previous| (previous.record_type.clone(), previous.created));
        if let Some((former_type, created)) = previous {
            self.unindex_created(&former_type, created, &name);
            if former_type != record.record_type {
                self.unindex(&former_type, &name);
            }
        }
        self.created_by_type
            .entry(record.record_type.clone())
            .or_default()
            .insert((record.created, name.clone()));
        match self.names_by_type.get_mut(&record.record_type) {
            Some(names) if names.contains(&name) => {}
            Some(names) => {
                names.insert(name.clone());
            }
            None => {
                let names = BTreeSet::from([name.clone()]);
                self.names_by_type.insert(record.record_type.clone(), names);
            }
        }
        self.records.insert(name, record);
    }

    pub fn remove(&mut self, name: &str) -> Option<StoredRecord> {
        let removed = self.records.remove(name)?;
        self.unindex(&removed.record_type, name);
        self.unindex_created(&removed.record_type, removed.created, name);
        Some(removed)
    }

    fn unindex_created(&mut self, record_type: &str, created: i64, name: &str) {
        if let Some(entries) = self.created_by_type.get_mut(record_type) {
            entries.remove(&(created, name.to_owned()));
            if entries.is_empty() {
                self.created_by_type.remove(record_type);
            }
        }
    }

    fn unindex(&mut self, record_type: &str, name: &str) {
        if let Some(names) = self.names_by_type.get_mut(record_type) {
            names.remove(name);
            if names.is_empty() {
                self.names_by_type.remove(record_type);
            }
        }
    }

    fn put(&mut self, name: &str, record: Option<StoredRecord>) {
        match record {
            Some(record) => self.insert(name.to_owned(), record),
            None => {
                self.remove(name);
            }
        }
    }
}

/// One write not yet visible to queries: at `visible_at` (ms), `name` becomes `record`
/// (`None`: deleted).
#[derive(Clone, Debug)]
struct Pending {
    visible_at: i64,
    name: String,
    record: Option<StoredRecord>,
}

/// What queries see while writes are pending.
#[derive(Clone, Debug, Default)]
struct Lagging {
    view: RecordSet,
    /// In visibility order (times never decrease along the queue).
    pending: VecDeque<Pending>,
}

/// The records and schema of one scope (default zone only).
#[derive(Clone, Debug, Default)]
pub struct ScopeData {
    exact: RecordSet,
    lagging: Option<Lagging>,
    pub schema: Schema,
}

impl ScopeData {
    /// Every record as stored now, by name.
    pub fn records(&self) -> &BTreeMap<String, StoredRecord> {
        self.exact.records()
    }

    pub fn get(&self, name: &str) -> Option<&StoredRecord> {
        self.exact.get(name)
    }

    /// The records queries see: the lagging copy while one exists, else the exact set.
    pub fn queryable(&self) -> &RecordSet {
        self.lagging.as_ref().map_or(&self.exact, |l| &l.view)
    }

    /// Stores `record` at once for queries too (start-up load and replay).
    pub fn insert(&mut self, name: String, record: StoredRecord) {
        if let Some(lagging) = &mut self.lagging {
            lagging.view.insert(name.clone(), record.clone());
        }
        self.exact.insert(name, record);
    }

    /// Removes `name` at once for queries too (start-up replay).
    pub fn remove(&mut self, name: &str) -> Option<StoredRecord> {
        if let Some(lagging) = &mut self.lagging {
            lagging.view.remove(name);
        }
        self.exact.remove(name)
    }

    /// A committed write of `name` (`None`: delete). Queries see it at `visible_at` (ms on
    /// the emulator's clock), or at once when `None` and nothing is pending.
    pub fn write(&mut self, name: &str, record: Option<StoredRecord>, visible_at: Option<i64>) {
        if visible_at.is_some() && self.lagging.is_none() {
            self.lagging = Some(Lagging {
                view: self.exact.clone(),
                pending: VecDeque::new(),
            });
        }
        if let Some(lagging) = &mut self.lagging {
            let last = lagging.pending.back().map_or(i64::MIN, |p| p.visible_at);
            lagging.pending.push_back(Pending {
                visible_at: visible_at.unwrap_or(i64::MIN).max(last),
                name: name.to_owned(),
                record: record.clone(),
            });
        }
        self.exact.put(name, record);
    }

    /// Makes every write due by `now` visible to queries. Without lag (`lag_on` false)
    /// and nothing pending, the copy is dropped and queries read the exact set again.
    pub fn catch_up(&mut self, now: i64, lag_on: bool) {
        let Some(lagging) = &mut self.lagging else {
            return;
        };
        while lagging
            .pending
            .front()
            .is_some_and(|pending| pending.visible_at <= now)
        {
            if let Some(pending) = lagging.pending.pop_front() {
                lagging.view.put(&pending.name, pending.record);
            }
        }
        if lagging.pending.is_empty() && !lag_on {
            self.lagging = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Fields;

    fn record(record_type: &str, tag: &str) -> StoredRecord {
        StoredRecord {
            record_type: record_type.to_owned(),
            fields: Fields::new(),
            change_tag: tag.to_owned(),
            created: 0,
            modified: 0,
        }
    }

    fn seen(data: &ScopeData) -> Vec<(String, String)> {
        data.queryable()
            .records()
            .iter()
            .map(|(name, r)| (name.clone(), r.change_tag.clone()))
            .collect()
    }

    #[test]
    fn issue_11_writes_reach_queries_at_their_visibility_time() {
        let mut data = ScopeData::default();
        data.write("a", Some(record("T", "1")), None);
        data.write("b", Some(record("T", "2")), Some(100));
        data.write("a", Some(record("T", "3")), Some(150));
        data.write("a", None, Some(200));
        assert_eq!(data.get("a"), None, "the exact set has every write");
        assert_eq!(data.get("b").unwrap().change_tag, "2");
        data.catch_up(99, true);
        assert_eq!(seen(&data), [("a".into(), "1".into())]);
        data.catch_up(100, true);
        assert_eq!(seen(&data).len(), 2);
        data.catch_up(150, true);
        assert_eq!(seen(&data)[0], ("a".into(), "3".into()));
        data.catch_up(199, true);
        assert_eq!(data.queryable().names_of_type("T").unwrap().len(), 2);
        data.catch_up(200, false);
        assert_eq!(seen(&data), [("b".into(), "2".into())]);
        assert!(data.lagging.is_none(), "no copy kept without lag");
    }

    #[test]
    fn a_write_is_never_visible_before_an_earlier_one() {
        let mut data = ScopeData::default();
        data.write("a", Some(record("T", "1")), Some(500));
        data.write("b", Some(record("T", "2")), None);
        data.catch_up(400, false);
        assert!(seen(&data).is_empty());
        data.catch_up(500, false);
        assert_eq!(seen(&data).len(), 2);
    }

    #[test]
    fn retyping_moves_a_name_between_type_indexes() {
        let mut set = RecordSet::default();
        set.insert("a".into(), record("T", "1"));
        set.insert("a".into(), record("U", "2"));
        assert!(set.names_of_type("T").is_none());
        assert_eq!(set.names_of_type("U").unwrap().len(), 1);
        set.remove("a");
        assert!(set.names_of_type("U").is_none());
    }
}
