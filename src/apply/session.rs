//! One apply of a saved plan from start to end, as one object: the plan's journal and
//! receipt paths, the exclusive lock on the journal (held until the session is dropped), the
//! replay of earlier runs (a journal of another plan saved under the same name is moved
//! aside first), the `Start` entry, execution, and the receipt. The command line only
//! chooses options, connects, and renders what comes back.

use super::journal::{self, Entry, Journal, JournalError, Replay};
use super::outcome::{Outcome, Receipt};
use super::receipt::{self, Header, SchemaOutcome, SchemaStep};
use super::{execute, ApplyError, ApplyOptions, ApplyReport, Observer, StopFlag};
use crate::cloudkit::Client;
use crate::lock::{FileLock, Holder, LockError};
use crate::plan::{Change, Plan};
use std::path::{Path, PathBuf};

/// The files of one plan's applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    pub plan: PathBuf,
    /// `<plan>.journal`.
    pub journal: PathBuf,
    /// `<plan>.receipt.json` unless chosen.
    pub receipt: PathBuf,
    /// `<plan>.journal.lock`: locked for the whole apply, naming its holder.
    pub lock: PathBuf,
}

impl Paths {
    /// The paths beside the file `plan` resolves to: a symbolic link is followed to the
    /// absolute path of its file, so every name of one plan file shares one journal, lock
    /// and receipt (a directory symlink on the way leads to the same files anyway);
    /// `receipt` overrides the receipt's. `plan` is kept as given, for messages.
    pub fn beside(plan: &Path, receipt: Option<PathBuf>) -> Self {
        let is_link = std::fs::symlink_metadata(plan).is_ok_and(|m| m.file_type().is_symlink());
        let resolved = match is_link {
            true => std::fs::canonicalize(plan).unwrap_or_else(|_| plan.to_owned()),
            false => plan.to_owned(),
        };
        let journal = journal::path_for(&resolved);
        let mut lock = journal.clone().into_os_string();
        lock.push(".lock");
        Self {
            plan: plan.to_owned(),
            receipt: receipt.unwrap_or_else(|| suffixed(&resolved, ".receipt.json")),
            journal,
            lock: PathBuf::from(lock),
        }
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Another process holds the plan's lock (only [`LockError::Held`]).
    #[error("another apply of plan `{}` is running: {lock}; nothing was sent", plan.display())]
    Locked { plan: PathBuf, lock: LockError },
    /// The lock file could not be created or locked (a read-only or unwritable directory):
    /// the OS error is the source, the lock file is named.
    #[error("cannot apply plan `{}`: {source}; nothing was sent", plan.display())]
    Lock {
        plan: PathBuf,
        #[source]
        source: LockError,
    },
    /// The receipt's or the journal's location cannot be written, found before the first
    /// write.
    #[error("cannot write the {what} `{}` of plan `{}`; nothing was sent", path.display(), plan.display())]
    Unwritable {
        what: &'static str,
        plan: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Assets(#[from] super::upload::UploadError),
    #[error("failed to move `{}` aside", path.display())]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The writes are done (`finished`) or stopped, every outcome is in the journal, and
    /// only the receipt is missing: a run of the same plan writes it without sending again.
    #[error(
        "the apply {} and every outcome is in journal `{}`, but writing receipt `{}` failed",
        if *finished { "finished" } else { "stopped" },
        journal.display(),
        path.display()
    )]
    WriteReceipt {
        finished: bool,
        plan: PathBuf,
        journal: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// What earlier runs of the plan left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Previous {
    /// No earlier run.
    Fresh,
    /// Earlier runs left changes without a final outcome (failed ones are tried again).
    Resume { done: usize, uncertain: usize },
    /// Every change has a final outcome and the receipt was written: nothing to send.
    Finished { conflicts: usize },
}

/// The records of an earlier plan saved under the same name, moved aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptAside {
    pub journal: PathBuf,
    /// The receipt, when it was that plan's.
    pub receipt: Option<PathBuf>,
}

/// One apply of one plan, holding the plan's lock.
pub struct Session<'p> {
    plan: &'p Plan,
    checksum: String,
    paths: Paths,
    replay: Replay,
    kept_aside: Option<KeptAside>,
    /// Where asset files are; `None`: a plan with local assets is applied without them.
    assets: Option<super::upload::AssetFiles>,
    /// What was done with the plan's schema part before the records.
    schema: Option<SchemaStep>,
    _lock: FileLock,
}

/// What a finished session did.
#[derive(Debug)]
pub struct Applied {
    pub report: ApplyReport,
    pub receipt: Receipt,
    pub receipt_path: PathBuf,
    /// Planned changes no run has sent (stopped early).
    pub not_started: usize,
    /// Asset files this run uploaded.
    pub uploaded: super::upload::Uploaded,
}

impl<'p> Session<'p> {
    /// Locks the plan's journal (refusing, with the holder named, when another apply holds
    /// it) and reads what earlier runs of `plan` (whose verified checksum is `checksum`)
    /// left. Sends nothing.
    pub fn open(
        plan: &'p Plan,
        checksum: &str,
        paths: Paths,
        holder: &Holder,
    ) -> Result<Self, SessionError> {
        let lock = FileLock::try_acquire(&paths.lock, holder).map_err(|lock| match lock {
            LockError::Held { .. } => SessionError::Locked {
                plan: paths.plan.clone(),
                lock,
            },
            LockError::Io { .. } => SessionError::Lock {
                plan: paths.plan.clone(),
                source: lock,
            },
        })?;
        check_writable(&paths)?;
        let mut kept_aside = None;
        let replay = match Journal::replay(&paths.journal, checksum) {
            // A new plan saved under the name of one applied before (`ckplan plan > out.plan`
            // every day): keep the earlier run's records aside and start afresh.
            Err(JournalError::OtherPlan { found, .. }) => {
                kept_aside = Some(keep_previous_run(&paths, &found)?);
                Replay::default()
            }
            replay => replay?,
        };
        Ok(Self {
            plan,
            checksum: checksum.to_owned(),
            paths,
            replay,
            kept_aside,
            assets: None,
            schema: None,
            _lock: lock,
        })
    }

    /// Uploads the plan's local asset files from `files` before its records are written.
    pub fn with_assets(mut self, files: super::upload::AssetFiles) -> Self {
        self.assets = Some(files);
        self
    }

    /// Records what was done with the plan's schema part (journal and receipt); a step
    /// that stopped before the import ends the run before any record or upload.
    pub fn with_schema(mut self, step: SchemaStep) -> Self {
        self.schema = Some(step);
        self
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn kept_aside(&self) -> Option<&KeptAside> {
        self.kept_aside.as_ref()
    }

    /// What earlier runs left. A run killed after the journal's last entry but before the
    /// receipt was written is not `Finished`: running it sends nothing and writes the
    /// receipt from the journal.
    pub fn previous(&self) -> Previous {
        let done = &self.replay.done;
        // Failed records are tried again; conflicts are final for this plan.
        let finished = |c: &Change| {
            done.get(&super::work::key(c))
                .is_some_and(|o| !matches!(o, Outcome::Failed { .. }))
        };
        if self.replay.complete
            && self.paths.receipt.exists()
            && self.plan.changes.iter().all(finished)
        {
            let conflicts = self
                .plan
                .changes
                .iter()
                .filter(|c| {
                    done.get(&super::work::key(c))
                        .is_some_and(Outcome::is_conflict)
                })
                .count();
            return Previous::Finished { conflicts };
        }
        if self.replay.runs == 0 {
            return Previous::Fresh;
        }
        Previous::Resume {
            // Failed records are not done: this run tries them again.
            done: self.plan.changes.iter().filter(|c| finished(c)).count(),
            uncertain: self.replay.uncertain.len(),
        }
    }

    /// Journals this run's start, executes the plan with `client` until every change has an
    /// outcome or the run stops (`cancel`, `--on-conflict abort`, a request that failed for
    /// good), and writes the receipt. The lock is released when this returns.
    pub async fn run(
        self,
        client: &Client,
        options: &ApplyOptions,
        observer: &dyn Observer,
        cancel: &StopFlag,
    ) -> Result<Applied, SessionError> {
        // Ctrl-C ends every retry wait of this run at once, the client's included.
        let client = &client.interruptible(cancel.token());
        let started_at = options.clock.timestamp();
        let schema_stopped = self
            .schema
            .as_ref()
            .is_some_and(|step| step.outcome.blocks_records());
        // The receipt carries the import as the journal recorded it: a run that finds the
        // schema there (`already_there`) after an earlier run's import shows that import.
        let receipt_schema = match (&self.schema, &self.replay.schema_import) {
            (Some(step), Some(earlier)) if step.outcome == SchemaOutcome::AlreadyThere => {
                Some(earlier.clone())
            }
            (step, _) => step.clone(),
        };
        let journal_path = self.paths.journal.with_extension("journal.uploads.json");
        let mut replay = self.replay;
        let mut uploaded = super::upload::Uploaded::default();
        let mut first_attempt = true;
        let report = loop {
            let now = options.clock.now().timestamp_millis();
            let (uploaded_plan, this_run) = match &self.assets {
                // Stopped: nothing more is sent, uploads included.
                Some(files) if !cancel.is_stopped() && !schema_stopped => {
                    let done = &replay.done;
                    let pending = |c: &Change| {
                        !done
                            .get(&super::work::key(c))
                            .is_some_and(|o| !matches!(o, Outcome::Failed { .. }))
                    };
                    super::upload::prepare(self.plan, &pending, client, files, &journal_path, now)
                        .await?
                }
                _ => (None, Default::default()),
            };
            uploaded.files += this_run.files;
            uploaded.bytes += this_run.bytes;
            uploaded.reused += this_run.reused;
            let mut journal = Journal::open(&self.paths.journal)?;
            journal.append(&Entry::start(&self.checksum, started_at, client.key_id()))?;
            if let (Some(step), true) = (&self.schema, first_attempt) {
                journal.append(&Entry::Schema(step.clone()))?;
            }
            if schema_stopped {
                // The records wait for the schema (stopped before the import, or an import
                // not confirmed): none is sent, and the run is not complete even when the
                // plan changes no record.
                journal.append(&Entry::Finished {
                    at: options.clock.timestamp(),
                    complete: false,
                })?;
                break stopped_before_records(replay);
            }
            let report = execute(
                uploaded_plan.as_ref().unwrap_or(self.plan),
                client,
                options,
                replay,
                journal,
                observer,
                cancel,
            )
            .await?;
            // An earlier run's upload whose receipt CloudKit no longer takes (its bytes are
            // gone): forgotten, uploaded again, and the records sent again, once.
            let refused = report
                .error
                .as_ref()
                .is_some_and(super::upload::rejects_receipt);
            if !(first_attempt && refused && this_run.reused > 0) || cancel.is_stopped() {
                break report;
            }
            super::upload::forget_earlier(&journal_path, now)?;
            uploaded.reused -= this_run.reused;
            replay = Journal::replay(&self.paths.journal, &self.checksum)?;
            first_attempt = false;
        };
        let header = Header {
            plan_checksum: &self.checksum,
            plan_file: &self.paths.plan,
            key_id: client.key_id(),
            started_at,
            finished_at: options.clock.timestamp(),
            on_conflict: options.on_conflict,
            schema: receipt_schema.as_ref(),
        };
        let receipt = receipt::build(self.plan, &header, &report);
        receipt::write(&receipt, &self.paths.receipt).map_err(|source| {
            SessionError::WriteReceipt {
                finished: report.error.is_none()
                    && !report.cancelled
                    && receipt.records.len() == self.plan.changes.len(),
                plan: self.paths.plan.clone(),
                journal: self.paths.journal.clone(),
                path: self.paths.receipt.clone(),
                source,
            }
        })?;
        Ok(Applied {
            not_started: self.plan.changes.len() - receipt.records.len(),
            report,
            receipt,
            receipt_path: self.paths.receipt,
            uploaded,
        })
    }
}

/// The report of a run interrupted before its first record: what earlier runs decided.
fn stopped_before_records(replay: super::journal::Replay) -> ApplyReport {
    let mut outcomes = replay.done;
    // A failure is not final: a later run tries again.
    outcomes.retain(|_, outcome| !matches!(outcome, Outcome::Failed { .. }));
    ApplyReport {
        from_earlier_runs: outcomes.keys().cloned().collect(),
        outcomes,
        complete: false,
        error: None,
        was_already_complete: replay.complete,
        cancelled: true,
    }
}

/// Checks, before anything is sent, that the journal can be appended to and that the
/// receipt's directory exists and takes a new file, so that a bad `--receipt` is found before
/// the first write rather than after the last.
fn check_writable(paths: &Paths) -> Result<(), SessionError> {
    use std::io::{Error, ErrorKind};
    let unwritable = |what, path: &Path, source| SessionError::Unwritable {
        what,
        plan: paths.plan.clone(),
        path: path.to_owned(),
        source,
    };
    if paths.journal.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&paths.journal)
            .map_err(|source| unwritable("journal", &paths.journal, source))?;
    }
    let receipt = &paths.receipt;
    let directory = match receipt.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !directory.is_dir() {
        let source = Error::new(
            ErrorKind::NotFound,
            format!("directory `{}` does not exist", directory.display()),
        );
        return Err(unwritable("receipt", receipt, source));
    }
    if receipt.is_dir() {
        let source = Error::new(ErrorKind::IsADirectory, "it is a directory");
        return Err(unwritable("receipt", receipt, source));
    }
    // The receipt is written as a new file beside its destination, then renamed over it.
    tempfile::NamedTempFile::new_in(directory)
        .map(drop)
        .map_err(|source| {
            let source = Error::new(
                source.kind(),
                format!("directory `{}`: {}", directory.display(), os_text(&source)),
            );
            unwritable("receipt", receipt, source)
        })
}

/// The OS's words for `error`, without the path `tempfile` appends.
fn os_text(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => error.kind().to_string(),
    }
}

/// Renames the journal (and the receipt, if it is that plan's) of the plan saved under the
/// same name before, tagging both with the start of its checksum.
fn keep_previous_run(paths: &Paths, previous: &str) -> Result<KeptAside, SessionError> {
    let hex = previous.trim_start_matches("blake3:");
    let tag = &hex[..hex.len().min(12)];
    let journal = suffixed(&paths.journal, &format!(".{tag}"));
    std::fs::rename(&paths.journal, &journal).map_err(|source| SessionError::MoveAside {
        path: paths.journal.clone(),
        source,
    })?;
    // An unreadable receipt is no record of that plan: the new run writes over it.
    let receipt_checksum = Receipt::read(&paths.receipt).ok().map(|r| r.plan_checksum);
    let mut receipt = None;
    if receipt_checksum.as_deref() == Some(previous) {
        let kept = paths.receipt.with_extension(format!("{tag}.json"));
        std::fs::rename(&paths.receipt, &kept).map_err(|source| SessionError::MoveAside {
            path: paths.receipt.clone(),
            source,
        })?;
        receipt = Some(kept);
    }
    Ok(KeptAside { journal, receipt })
}
