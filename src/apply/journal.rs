//! The apply journal: an append-only file beside the plan (`<plan>.journal`), one JSON
//! object per line, synced to disk before a batch is sent and after its outcome is known.
//! Replaying it tells a later run which records are done, which are uncertain (sent, no
//! known outcome: looked up before anything else) and which were never sent.
//!
//! Every closed set in it is written by name (`event`, `operation`, `outcome`, `cause`).
//! Each run's `start` entry carries the journal format version ([`VERSION`]); a journal of
//! another version is refused with [`JournalError::Version`], never half-read.

use super::outcome::{Outcome, RecordKey};
use crate::record::{ChangeTag, RecordName, RecordType, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The journal format this ckplan writes and reads. 2: operations and failure causes by
/// name, a version in every `start` entry (1 had neither).
pub const VERSION: u32 = 2;

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// A run started on the plan with this checksum.
    Start {
        /// The journal format, [`VERSION`].
        version: u32,
        plan_checksum: String,
        at: Timestamp,
        key_id: String,
    },
    /// A batch is about to be sent: these records, against these change tags.
    Sent {
        batch: u64,
        records: Vec<SentRecord>,
    },
    /// Final outcomes, as they become known.
    Outcomes { outcomes: Vec<(RecordKey, Outcome)> },
    /// What the run did with the plan's schema part, before any record (a plan that adds
    /// nothing to the schema has none). Format 2 still: only a ckplan that reads schema
    /// parts in plans applies a plan that has one.
    Schema(super::receipt::SchemaStep),
    /// The run ended (every record has a final outcome, or the run stopped).
    Finished { at: Timestamp, complete: bool },
}

impl Entry {
    /// The entry that starts a run, in this ckplan's journal format.
    pub fn start(plan_checksum: &str, at: Timestamp, key_id: &str) -> Entry {
        Entry::Start {
            version: VERSION,
            plan_checksum: plan_checksum.to_owned(),
            at,
            key_id: key_id.to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentRecord {
    pub key: RecordKey,
    pub operation: WriteKind,
    pub change_tag: Option<ChangeTag>,
}

/// A [`SentRecord`] borrowed from the work it describes: the same JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SentRef<'a> {
    pub key: KeyRef<'a>,
    pub operation: WriteKind,
    pub change_tag: Option<&'a ChangeTag>,
}

/// A [`RecordKey`] borrowed from a change: the same JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct KeyRef<'a> {
    pub record_type: &'a RecordType,
    pub record_name: &'a RecordName,
}

/// The entries a run writes per batch, from borrowed data: the lines [`Entry`] writes.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Borrowed<'a> {
    Sent {
        batch: u64,
        records: &'a [SentRef<'a>],
    },
    Outcomes {
        outcomes: &'a [(RecordKey, Outcome)],
    },
}

/// The operations apply sends, written by name: `create`, `update` (against a change tag)
/// and `delete` (against a change tag). Apply never sends a `force*` operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    Create,
    Update,
    Delete,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("failed to write journal `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to read journal `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal `{path}` line {line} is not a journal entry: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "journal `{path}` was written by {} (journal format {found}; this ckplan reads format \
         {VERSION}); move it away to apply this plan afresh",
        if *found < u64::from(VERSION) { "an older ckplan" } else { "a newer ckplan" }
    )]
    Version { path: PathBuf, found: u64 },
    #[error("journal `{path}` belongs to another plan (checksum `{found}`, this plan is `{expected}`); move it away to apply this plan afresh")]
    OtherPlan {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// What earlier runs left.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// Records with a final outcome.
    pub done: BTreeMap<RecordKey, Outcome>,
    /// Records sent without a known outcome, with the change tag that was sent.
    pub uncertain: BTreeMap<RecordKey, Option<ChangeTag>>,
    /// A run ended with every record done.
    pub complete: bool,
    /// Earlier runs found.
    pub runs: usize,
    /// The last schema step of an earlier run that sent an import (`imported` or
    /// `imported_unconfirmed`): a resumed run's receipt carries it, since the run that finds
    /// the schema there imports nothing itself.
    pub schema_import: Option<super::receipt::SchemaStep>,
}

/// The journal of one plan, open for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
}

/// `<plan>.journal`.
pub fn path_for(plan: &Path) -> PathBuf {
    let mut name = plan.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

impl Journal {
    /// Reads what earlier runs wrote (nothing if there is no journal yet). A torn last line
    /// (a run killed mid-write) is ignored; a torn line elsewhere is corruption.
    pub fn replay(path: &Path, plan_checksum: &str) -> Result<Replay, JournalError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Replay::default())
            }
            Err(source) => {
                return Err(JournalError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let lines: Vec<String> = BufReader::new(file)
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|source| JournalError::Read {
                path: path.to_owned(),
                source,
            })?;
        let mut replay = Replay::default();
        for (index, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let last = index + 1 == lines.len();
            let Some(entry) = parse_line(path, index + 1, line, last)? else {
                break;
            };
            replay.apply(entry, path, plan_checksum)?;
        }
        Ok(replay)
    }

    /// Opens (creating, mode 0600 on Unix like plans and receipts) the journal for
    /// appending.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|source| JournalError::Write {
            path: path.to_owned(),
            source,
        })?;
        cut_torn_tail(&file).map_err(|source| JournalError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one entry and syncs it to disk before returning.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        self.append_line(entry)
    }

    /// Appends the `sent` entry of `batch` (as [`Entry::Sent`] writes it) from borrowed
    /// records, and syncs it to disk before returning.
    pub fn append_sent(&mut self, batch: u64, records: &[SentRef<'_>]) -> Result<(), JournalError> {
        self.append_line(&Borrowed::Sent { batch, records })
    }

    /// Appends an `outcomes` entry (as [`Entry::Outcomes`] writes it) without copying the
    /// outcomes, and syncs it to disk before returning.
    pub fn append_outcomes(
        &mut self,
        outcomes: &[(RecordKey, Outcome)],
    ) -> Result<(), JournalError> {
        self.append_line(&Borrowed::Outcomes { outcomes })
    }

    fn append_line(&mut self, entry: &impl Serialize) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry).expect("journal entries always serialize");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| JournalError::Write {
                path: self.path.clone(),
                source,
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Cuts a torn last line (a run killed, or out of disk space, mid-write) off the journal
/// before anything is appended: appended after it, the next entry would join it into one
/// unreadable line in the middle of the journal, which replay must take as corruption.
fn cut_torn_tail(file: &File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(());
    }
    let mut reader = file;
    // Read back from the end in blocks to the last line end.
    let mut end = length;
    let mut block = vec![0_u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let size = (end - start) as usize;
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(&mut block[..size])?;
        if let Some(at) = block[..size].iter().rposition(|b| *b == b'\n') {
            let keep = start + at as u64 + 1;
            if keep != length {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    // No line end at all: the whole file is one torn line.
    file.set_len(0)
}

/// One line as an entry; `None` for a torn last line (a run killed mid-write). A `start`
/// line of another format version is refused as such, not as corruption.
fn parse_line(
    path: &Path,
    number: usize,
    line: &str,
    last: bool,
) -> Result<Option<Entry>, JournalError> {
    match serde_json::from_str(line) {
        Ok(entry) => Ok(Some(entry)),
        Err(error) => match start_version(line) {
            Some(found) if found != u64::from(VERSION) => Err(JournalError::Version {
                path: path.to_owned(),
                found,
            }),
            _ if last => Ok(None),
            _ => Err(JournalError::Corrupt {
                path: path.to_owned(),
                line: number,
                message: error.to_string(),
            }),
        },
    }
}

/// The format version of a `start` line that may not parse as this version's entry: its
/// `version`, or 1 when it has none (journals before versions). `None` for other lines.
fn start_version(line: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    (value.get("event")? == "start")
        .then(|| {
            value
                .get("version")
                .map_or(Some(1), serde_json::Value::as_u64)
        })
        .flatten()
}

impl Replay {
    fn apply(
        &mut self,
        entry: Entry,
        path: &Path,
        plan_checksum: &str,
    ) -> Result<(), JournalError> {
        match entry {
            Entry::Start {
                version,
                plan_checksum: found,
                ..
            } => {
                if version != VERSION {
                    return Err(JournalError::Version {
                        path: path.to_owned(),
                        found: version.into(),
                    });
                }
                if found != plan_checksum {
                    return Err(JournalError::OtherPlan {
                        path: path.to_owned(),
                        found,
                        expected: plan_checksum.to_owned(),
                    });
                }
                self.runs += 1;
                self.complete = false;
            }
            Entry::Sent { records, .. } => {
                for sent in records {
                    self.done.remove(&sent.key);
                    self.uncertain.insert(sent.key, sent.change_tag);
                }
            }
            Entry::Outcomes { outcomes } => {
                for (key, outcome) in outcomes {
                    self.uncertain.remove(&key);
                    self.done.insert(key, outcome);
                }
            }
            Entry::Finished { complete, .. } => self.complete = complete,
            // The schema step is checked afresh by every run (an export); the journal keeps
            // the import an earlier run sent, for the receipt.
            Entry::Schema(step) => {
                if step.outcome.sent_import() {
                    self.schema_import = Some(step);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> RecordKey {
        RecordKey {
            record_type: "Team".into(),
            record_name: name.into(),
        }
    }

    #[test]
    fn replay_splits_done_and_uncertain_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.plan.journal");
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&Entry::start("c", Timestamp::now(), "k"))
            .unwrap();
        let sent = |name: &str| SentRecord {
            key: key(name),
            operation: WriteKind::Create,
            change_tag: None,
        };
        journal
            .append(&Entry::Sent {
                batch: 0,
                records: vec![sent("a"), sent("b")],
            })
            .unwrap();
        journal
            .append(&Entry::Outcomes {
                outcomes: vec![(
                    key("a"),
                    Outcome::Created {
                        change_tag: ChangeTag::new("t"),
                    },
                )],
            })
            .unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"event\":\"outco").unwrap();

        let replay = Journal::replay(&path, "c").unwrap();
        assert_eq!(replay.runs, 1);
        assert_eq!(replay.done.len(), 1);
        assert!(replay.uncertain.contains_key(&key("b")));
        assert!(!replay.complete);
        assert!(matches!(
            Journal::replay(&path, "other"),
            Err(JournalError::OtherPlan { .. })
        ));
    }

    #[test]
    fn the_borrowed_batch_entries_write_the_lines_entry_writes() {
        let dir = tempfile::tempdir().unwrap();
        let owned = dir.path().join("owned.journal");
        let borrowed = dir.path().join("borrowed.journal");
        let records = [
            SentRecord {
                key: key("a \"quoted\""),
                operation: WriteKind::Create,
                change_tag: None,
            },
            SentRecord {
                key: key("b"),
                operation: WriteKind::Update,
                change_tag: Some(ChangeTag::new("t1")),
            },
        ];
        let outcomes = vec![
            (
                key("a"),
                Outcome::Created {
                    change_tag: ChangeTag::new("t2"),
                },
            ),
            (
                key("b"),
                Outcome::Deleted {
                    overwritten: Vec::new(),
                    reapplied: true,
                },
            ),
        ];
        let mut journal = Journal::open(&owned).unwrap();
        journal
            .append(&Entry::Sent {
                batch: 7,
                records: records.to_vec(),
            })
            .unwrap();
        journal
            .append(&Entry::Outcomes {
                outcomes: outcomes.clone(),
            })
            .unwrap();
        let refs: Vec<SentRef<'_>> = records
            .iter()
            .map(|r| SentRef {
                key: KeyRef {
                    record_type: &r.key.record_type,
                    record_name: &r.key.record_name,
                },
                operation: r.operation,
                change_tag: r.change_tag.as_ref(),
            })
            .collect();
        let mut journal = Journal::open(&borrowed).unwrap();
        journal.append_sent(7, &refs).unwrap();
        journal.append_outcomes(&outcomes).unwrap();
        assert_eq!(
            std::fs::read_to_string(&borrowed).unwrap(),
            std::fs::read_to_string(&owned).unwrap()
        );
    }

    #[test]
    fn missing_journal_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Journal::replay(&dir.path().join("none"), "c").unwrap(),
            Replay::default()
        );
    }

    #[test]
    fn issue_10_journal_entries_write_closed_sets_by_name() {
        use super::super::outcome::Failure;
        use crate::cloudkit::wire::ServerErrorCode;
        let sent = Entry::Sent {
            batch: 3,
            records: vec![SentRecord {
                key: key("a"),
                operation: WriteKind::Update,
                change_tag: Some(ChangeTag::new("t1")),
            }],
        };
        let refused = Outcome::Failed {
            cause: Failure::Refused {
                code: ServerErrorCode::BadRequest,
                reason: "no".into(),
            },
        };
        let gave_up = Outcome::Failed {
            cause: Failure::GaveUp { rounds: 5 },
        };
        let outcomes = Entry::Outcomes {
            outcomes: vec![(key("a"), refused.clone()), (key("b"), gave_up.clone())],
        };
        assert_eq!(
            serde_json::to_value(&sent).unwrap(),
            serde_json::json!({"event": "sent", "batch": 3, "records": [{
                "key": {"record_type": "Team", "record_name": "a"},
                "operation": "update", "change_tag": "t1"}]})
        );
        assert_eq!(
            serde_json::to_value(&outcomes).unwrap()["outcomes"],
            serde_json::json!([
                [{"record_type": "Team", "record_name": "a"},
                 {"outcome": "failed", "cause": "refused", "code": "BAD_REQUEST", "reason": "no"}],
                [{"record_type": "Team", "record_name": "b"},
                 {"outcome": "failed", "cause": "gave_up", "rounds": 5}],
            ])
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.plan.journal");
        let mut journal = Journal::open(&path).unwrap();
        for entry in [Entry::start("c", Timestamp::now(), "k"), sent, outcomes] {
            journal.append(&entry).unwrap();
        }
        let replay = Journal::replay(&path, "c").unwrap();
        assert_eq!(replay.done.get(&key("a")), Some(&refused));
        assert_eq!(replay.done.get(&key("b")), Some(&gave_up));
    }

    #[test]
    fn issue_10_a_journal_of_another_format_is_refused_by_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.plan.journal");
        // Format 1: no version, operations as Rust debug names, failures with a bare code.
        std::fs::write(
            &path,
            concat!(
                r#"{"event":"start","plan_checksum":"c","at":"2025-01-02T03:04:05Z","key_id":"k"}"#,
                "\n",
                r#"{"event":"sent","batch":0,"records":[{"key":{"record_type":"Team","record_name":"a"},"operation":"Create","change_tag":null}]}"#,
                "\n",
            ),
        )
        .unwrap();
        let error = Journal::replay(&path, "c").unwrap_err();
        assert!(
            matches!(error, JournalError::Version { found: 1, .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("written by an older ckplan (journal format 1"),
            "{error}"
        );
        // A start entry from a newer format is refused too, even when it parses.
        let newer = Entry::Start {
            version: VERSION + 1,
            plan_checksum: "c".into(),
            at: Timestamp::now(),
            key_id: "k".into(),
        };
        std::fs::write(&path, serde_json::to_string(&newer).unwrap() + "\n").unwrap();
        let error = Journal::replay(&path, "c").unwrap_err();
        assert!(error.to_string().contains("a newer ckplan"), "{error}");
    }

    #[test]
    fn a_torn_tail_is_cut_before_the_next_entry_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.journal");
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&Entry::Finished {
                at: "2026-01-01T00:00:00Z".parse().unwrap(),
                complete: false,
            })
            .unwrap();
        drop(journal);
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"event\":\"outco");
        std::fs::write(&path, &text).unwrap();
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&Entry::Finished {
                at: "2026-01-01T00:00:01Z".parse().unwrap(),
                complete: true,
            })
            .unwrap();
        let lines = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lines.lines().count(), 2, "{lines}");
        assert!(
            lines
                .lines()
                .all(|l| l.starts_with("{\"event\":\"finished\"")),
            "{lines}"
        );
    }
}
