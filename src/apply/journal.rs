//! The apply journal: an append-only file beside the plan (`<plan>.journal`), one JSON
//! object per line, synced to disk before a batch is sent and after its outcome is known.
//! Replaying it tells a later run which records are done, which are uncertain (sent, no
//! known outcome: looked up before anything else) and which were never sent.

use super::outcome::{Outcome, RecordKey};
use crate::record::ChangeTag;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// A run started on the plan with this checksum.
    Start {
        plan_checksum: String,
        at: String,
        key_id: String,
    },
    /// A batch is about to be sent: these records, against these change tags.
    Sent {
        batch: u64,
        records: Vec<SentRecord>,
    },
    /// Final outcomes, as they become known.
    Outcomes { outcomes: Vec<(RecordKey, Outcome)> },
    /// The run ended (every record has a final outcome, or the run stopped).
    Finished { at: String, complete: bool },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentRecord {
    pub key: RecordKey,
    pub operation: String,
    pub change_tag: Option<ChangeTag>,
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
            let entry: Entry = match serde_json::from_str(line) {
                Ok(entry) => entry,
                Err(_) if index + 1 == lines.len() => break,
                Err(error) => {
                    return Err(JournalError::Corrupt {
                        path: path.to_owned(),
                        line: index + 1,
                        message: error.to_string(),
                    })
                }
            };
            replay.apply(entry, path, plan_checksum)?;
        }
        Ok(replay)
    }

    /// Opens (creating, mode 0600 on Unix like plans and receipts) the journal for
    /// appending.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|source| JournalError::Write {
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

impl Replay {
    fn apply(
        &mut self,
        entry: Entry,
        path: &Path,
        plan_checksum: &str,
    ) -> Result<(), JournalError> {
        match entry {
            Entry::Start {
                plan_checksum: found,
                ..
            } => {
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
            .append(&Entry::Start {
                plan_checksum: "c".into(),
                at: "now".into(),
                key_id: "k".into(),
            })
            .unwrap();
        let sent = |name: &str| SentRecord {
            key: key(name),
            operation: "create".into(),
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
    fn missing_journal_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Journal::replay(&dir.path().join("none"), "c").unwrap(),
            Replay::default()
        );
    }
}
