//! Durability for `--data DIR`: an append-only log (`log.ndjson`, one JSON line per
//! committed request, `fsync`ed before the reply is sent) plus a periodic snapshot
//! (`snapshot.json`, written to a temporary file, synced, then renamed over the old one).
//!
//! Start-up loads the snapshot, then replays log entries whose sequence number is above
//! the snapshot's. A final line that is torn (no newline, or not JSON) is a write cut short
//! by a crash: it was never acknowledged, so it is ignored and cut off. A bad line anywhere
//! else is corruption and refuses the start.
//!
//! One server at a time owns a directory: `open_exclusive` takes an exclusive lock on its
//! `lock` file (naming the holder) for as long as the `Persister` lives.

use super::domain::WriteOutcome;
use super::store::{Change, Scope, ScopeData, Store, StoredRecord};
use crate::cloudkit::wire::WireField;
use crate::record::{FieldType, Fields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const LOG_FILE: &str = "log.ndjson";
const SNAPSHOT_FILE: &str = "snapshot.json";
const SNAPSHOT_TEMP: &str = "snapshot.json.tmp";
const LOCK_FILE: &str = "lock";
const FORMAT: u32 = 1;
/// Log lines between snapshots.
const SNAPSHOT_EVERY: u64 = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("failed to access `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the store is in use by another server")]
    Locked(#[from] crate::lock::LockError),
    #[error("`{path}` line {line} is corrupt: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersistedRecord {
    record_name: String,
    record_type: String,
    fields: BTreeMap<String, WireField>,
    record_change_tag: String,
    created: i64,
    modified: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum LoggedChange {
    Put(PersistedRecord),
    Delete(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct LogEntry {
    seq: u64,
    counter: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changes: Vec<LoggedChange>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reset: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotScope {
    scope: Scope,
    records: Vec<PersistedRecord>,
    schema: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    sequence: u64,
    counter: u64,
    scopes: Vec<SnapshotScope>,
}

/// A log write not yet known to be on disk.
#[must_use = "a commit is durable only once `wait` returns"]
pub struct Pending(Option<(PathBuf, Arc<File>)>);

impl Pending {
    /// Syncs the log (covering every line written before this one).
    pub fn wait(self) -> Result<(), PersistError> {
        match self.0 {
            Some((path, log)) => log.sync_data().map_err(io(&path)),
            None => Ok(()),
        }
    }
}

/// The open log of one data directory.
#[derive(Debug)]
pub struct Persister {
    dir: PathBuf,
    log: Arc<File>,
    sequence: u64,
    since_snapshot: u64,
    /// Held by `open_exclusive`: no other server writes this directory meanwhile.
    _lock: Option<crate::lock::FileLock>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Persister {
    /// As `open`, holding the directory's lock until dropped; fails with
    /// `PersistError::Locked`, naming the holder, while another server holds it.
    pub fn open_exclusive(dir: &Path, store: &mut Store) -> Result<Self, PersistError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let holder = crate::lock::Holder::this_process("ckplan emulator", &started);
        let lock = crate::lock::FileLock::try_acquire(&dir.join(LOCK_FILE), &holder)?;
        let mut persister = Self::open(dir, store)?;
        persister._lock = Some(lock);
        Ok(persister)
    }

    /// Creates `dir` if needed and loads its snapshot and log into `store`.
    pub fn open(dir: &Path, store: &mut Store) -> Result<Self, PersistError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let sequence = load_snapshot(dir, store)?;
        let log_path = dir.join(LOG_FILE);
        let (sequence, lines) = replay_log(&log_path, sequence, store)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        Ok(Self {
            dir: dir.to_owned(),
            log: Arc::new(log),
            sequence,
            since_snapshot: lines,
            _lock: None,
        })
    }

    /// Writes one request's changes to the log. The returned `Pending` must be waited on
    /// (it syncs the log) before the request is answered; waiting outside the store lock
    /// lets concurrent requests share their syncs.
    pub fn commit(
        &mut self,
        scope: &Scope,
        outcomes: &[WriteOutcome],
        store: &Store,
    ) -> Result<Pending, PersistError> {
        let changes: Vec<LoggedChange> = outcomes.iter().filter_map(logged).collect();
        if changes.is_empty() {
            return Ok(Pending(None));
        }
        let entry = LogEntry {
            seq: self.sequence + 1,
            counter: store.counter,
            scope: Some(scope.clone()),
            changes,
            reset: false,
        };
        self.append(&entry)?;
        if self.since_snapshot >= SNAPSHOT_EVERY {
            self.snapshot(store)?;
            return Ok(Pending(None));
        }
        Ok(Pending(Some((self.dir.join(LOG_FILE), self.log.clone()))))
    }

    /// Logs that everything was cleared, then compacts.
    pub fn reset(&mut self, store: &Store) -> Result<(), PersistError> {
        let entry = LogEntry {
            seq: self.sequence + 1,
            counter: 0,
            scope: None,
            changes: Vec::new(),
            reset: true,
        };
        self.append(&entry)?;
        self.log.sync_data().map_err(io(&self.dir.join(LOG_FILE)))?;
        self.snapshot(store)
    }

    fn append(&mut self, entry: &LogEntry) -> Result<(), PersistError> {
        let path = self.dir.join(LOG_FILE);
        let mut line = serde_json::to_vec(entry).map_err(|e| PersistError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');
        (&*self.log).write_all(&line).map_err(io(&path))?;
        self.sequence = entry.seq;
        self.since_snapshot += 1;
        Ok(())
    }

    /// Writes the whole store to a new snapshot, atomically, then empties the log.
    pub fn snapshot(&mut self, store: &Store) -> Result<(), PersistError> {
        let snapshot = Snapshot {
            format: FORMAT,
            sequence: self.sequence,
            counter: store.counter,
            scopes: store
                .scopes
                .iter()
                .map(|(scope, data)| snapshot_scope(scope, data))
                .collect(),
        };
        let mut snapshot = snapshot;
        snapshot.scopes.sort_by(|a, b| {
            let key = |s: &SnapshotScope| {
                let scope = &s.scope;
                (
                    scope.container.clone(),
                    scope.environment.as_str(),
                    scope.database.as_str(),
                )
            };
            key(a).cmp(&key(b))
        });
        let temp = self.dir.join(SNAPSHOT_TEMP);
        let file = File::create(&temp).map_err(io(&temp))?;
        let mut writer = BufWriter::new(file);
        serde_json::to_writer(&mut writer, &snapshot).map_err(|e| PersistError::Io {
            path: temp.clone(),
            source: e.into(),
        })?;
        let file = writer.into_inner().map_err(|e| PersistError::Io {
            path: temp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io(&temp))?;
        let target = self.dir.join(SNAPSHOT_FILE);
        std::fs::rename(&temp, &target).map_err(io(&target))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        // Entries up to `sequence` are now in the snapshot; replay would skip them anyway.
        self.log.set_len(0).map_err(io(&self.dir.join(LOG_FILE)))?;
        self.log.sync_all().map_err(io(&self.dir.join(LOG_FILE)))?;
        self.since_snapshot = 0;
        Ok(())
    }
}

fn snapshot_scope(scope: &Scope, data: &ScopeData) -> SnapshotScope {
    SnapshotScope {
        scope: scope.clone(),
        records: data
            .records()
            .iter()
            .map(|(name, record)| persisted(name, record))
            .collect(),
        schema: data
            .schema
            .iter()
            .map(|(record_type, fields)| {
                let fields = fields
                    .iter()
                    .map(|(f, t)| (f.clone(), t.to_string()))
                    .collect();
                (record_type.clone(), fields)
            })
            .collect(),
    }
}

fn persisted(name: &str, record: &StoredRecord) -> PersistedRecord {
    PersistedRecord {
        record_name: name.to_owned(),
        record_type: record.record_type.clone(),
        fields: record
            .fields
            .iter()
            .map(|(f, v)| (f.to_string(), WireField::from_value(v)))
            .collect(),
        record_change_tag: record.change_tag.clone(),
        created: record.created,
        modified: record.modified,
    }
}

/// The log form of a write that took effect.
fn logged(outcome: &WriteOutcome) -> Option<LoggedChange> {
    match outcome {
        WriteOutcome::Saved { name, record } => Some(LoggedChange::Put(persisted(name, record))),
        WriteOutcome::Deleted { name } => Some(LoggedChange::Delete(name.clone())),
        WriteOutcome::Failed(_) => None,
    }
}

fn restored(record: PersistedRecord) -> Result<(String, StoredRecord), String> {
    let mut fields = Fields::with_capacity(record.fields.len());
    for (name, field) in record.fields {
        let value = field
            .to_value(None)
            .map_err(|e| format!("record `{}` field `{name}`: {e}", record.record_name))?;
        fields.insert(name, value);
    }
    let stored = StoredRecord {
        record_type: record.record_type,
        fields,
        change_tag: record.record_change_tag,
        created: record.created,
        modified: record.modified,
    };
    Ok((record.record_name, stored))
}

/// Loads `snapshot.json` if present; returns its sequence number.
fn load_snapshot(dir: &Path, store: &mut Store) -> Result<u64, PersistError> {
    let path = dir.join(SNAPSHOT_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(&path)(e)),
    };
    let corrupt = |reason: String| PersistError::Corrupt {
        path: path.clone(),
        line: 1,
        reason,
    };
    let snapshot: Snapshot = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    if snapshot.format != FORMAT {
        return Err(corrupt(format!("unknown format `{}`", snapshot.format)));
    }
    store.counter = snapshot.counter;
    for part in snapshot.scopes {
        let data = store.scopes.entry(part.scope).or_default();
        for record in part.records {
            let (name, stored) = restored(record).map_err(&corrupt)?;
            data.insert(name, stored);
        }
        for (record_type, fields) in part.schema {
            let types = data.schema.entry(record_type).or_default();
            for (field, type_name) in fields {
                let field_type = FieldType::parse_known(&type_name)
                    .ok_or_else(|| corrupt(format!("unknown type `{type_name}`")))?;
                types.insert(field, field_type);
            }
        }
    }
    Ok(snapshot.sequence)
}

/// Replays log entries after `sequence`; cuts off a torn last line. Returns the last
/// sequence number and the number of lines kept.
fn replay_log(
    path: &Path,
    mut sequence: u64,
    store: &mut Store,
) -> Result<(u64, u64), PersistError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((sequence, 0)),
        Err(e) => return Err(io(path)(e)),
    };
    let mut offset = 0;
    let mut lines = 0;
    let mut line_number = 0;
    while offset < text.len() {
        line_number += 1;
        let end = text[offset..].iter().position(|b| *b == b'\n');
        let parsed = end
            .and_then(|end| serde_json::from_slice::<LogEntry>(&text[offset..offset + end]).ok());
        let Some(entry) = parsed else {
            let is_last = end.is_none_or(|end| offset + end + 1 >= text.len());
            if !is_last {
                return Err(PersistError::Corrupt {
                    path: path.to_owned(),
                    line: line_number,
                    reason: "not a log entry".to_owned(),
                });
            }
            truncate(path, offset as u64)?;
            break;
        };
        offset += end.unwrap_or(0) + 1;
        lines += 1;
        if entry.seq <= sequence {
            continue;
        }
        sequence = entry.seq;
        apply_entry(store, entry).map_err(|reason| PersistError::Corrupt {
            path: path.to_owned(),
            line: line_number,
            reason,
        })?;
    }
    Ok((sequence, lines))
}

fn apply_entry(store: &mut Store, entry: LogEntry) -> Result<(), String> {
    if entry.reset {
        store.clear();
        return Ok(());
    }
    store.counter = store.counter.max(entry.counter);
    let Some(scope) = entry.scope else {
        return Ok(());
    };
    for change in entry.changes {
        let change = match change {
            LoggedChange::Put(record) => {
                let (name, record) = restored(record)?;
                Change::Put { name, record }
            }
            LoggedChange::Delete(name) => Change::Delete { name },
        };
        store.replay(&scope, change);
    }
    Ok(())
}

fn truncate(path: &Path, length: u64) -> Result<(), PersistError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(path))?;
    file.set_len(length).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::wire::{ModifyRequest, Operation, OperationType, WireRecord};
    use crate::record::{Database, Environment};
    use crate::record::{FieldValue, Record};

    fn scope() -> Scope {
        Scope {
            container: "iCloud.test".into(),
            environment: Environment::Development,
            database: Database::Public,
        }
    }

    fn write(store: &mut Store, persister: &mut Persister, name: &str, year: i64) {
        let record = Record::new("Team", name).with_field("founded", FieldValue::int64(year));
        let request = ModifyRequest::new(vec![Operation {
            operation_type: OperationType::ForceReplace,
            record: WireRecord::from_record(&record),
            desired_keys: None,
        }]);
        let batch = crate::emulator::translate::write_batch(&request).unwrap();
        let outcomes = store
            .modify(&scope(), &batch, 1_000, &mut crate::emulator::faults::Exact)
            .unwrap();
        persister
            .commit(&scope(), &outcomes, store)
            .unwrap()
            .wait()
            .unwrap();
    }

    fn reopen(dir: &Path) -> Store {
        let mut store = Store::new(Default::default());
        Persister::open(dir, &mut store).unwrap();
        store
    }

    #[test]
    fn log_and_snapshot_restore_the_same_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(Default::default());
        let mut persister = Persister::open(dir.path(), &mut store).unwrap();
        write(&mut store, &mut persister, "a", 1901);
        persister.snapshot(&store).unwrap();
        write(&mut store, &mut persister, "b", 1902);
        write(&mut store, &mut persister, "a", 1903);
        let restored = reopen(dir.path());
        assert_eq!(
            restored.scopes[&scope()].records(),
            store.scopes[&scope()].records()
        );
        assert_eq!(restored.counter, store.counter);
        assert_eq!(
            restored.scopes[&scope()].schema,
            store.scopes[&scope()].schema
        );
    }

    #[test]
    fn torn_last_line_is_ignored_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(Default::default());
        let mut persister = Persister::open(dir.path(), &mut store).unwrap();
        write(&mut store, &mut persister, "a", 1901);
        drop(persister);
        let log = dir.path().join(LOG_FILE);
        let mut file = OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(br#"{"seq":2,"counter":9,"scope":{"contai"#)
            .unwrap();
        drop(file);
        let mut restored = Store::new(Default::default());
        let mut persister = Persister::open(dir.path(), &mut restored).unwrap();
        assert_eq!(restored.record_count(), 1);
        write(&mut restored, &mut persister, "b", 1902);
        assert_eq!(reopen(dir.path()).record_count(), 2);
    }

    #[test]
    fn corruption_in_the_middle_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LOG_FILE),
            "garbage\n{\"seq\":1,\"counter\":1}\n",
        )
        .unwrap();
        let error = Persister::open(dir.path(), &mut Store::new(Default::default())).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[test]
    fn reset_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(Default::default());
        let mut persister = Persister::open(dir.path(), &mut store).unwrap();
        write(&mut store, &mut persister, "a", 1901);
        store.clear();
        persister.reset(&store).unwrap();
        assert_eq!(reopen(dir.path()).record_count(), 0);
    }
}
