//! Executing a plan: exactly its changes, in dependency order, in batches of at most 200
//! with several in flight, every per-record result inspected, conflicts resolved by
//! `--on-conflict`, unknown outcomes resolved by looking records up (never by resending
//! blindly), and everything journaled so a killed run can be resumed.

mod cancel;
mod held;
pub mod journal;
pub mod outcome;
pub mod receipt;
pub mod resolve;
pub mod schema;
pub mod session;
pub mod upload;
mod work;

pub use cancel::StopFlag;
pub use outcome::{Failure, Outcome, Outcomes, Receipt, ReceiptEntry, RecordKey, Totals};
pub use resolve::OnConflict;
pub use session::{Applied, Previous, Session, SessionError};

use crate::cloudkit::client::{Client, Lookup, OperationResult};
use crate::cloudkit::wire::ServerErrorCode;
use crate::cloudkit::CloudKitError;
use crate::context::Clock;
use crate::diff::CompareRules;
use crate::plan::{Action, Change, Plan};
use crate::record::{ChangeTag, Record, RecordType};
use futures::stream::{self, StreamExt};
use journal::{Entry, Journal, JournalError, Replay, SentRef};
use resolve::Decision;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use work::Work;

/// The most operations CloudKit takes in one request.
pub const BATCH_SIZE: usize = 200;

/// The longest `retryAfter` an apply waits out between rounds: 60 seconds. Records CloudKit
/// asks to leave alone for longer are reported as not applied for this run.
pub const LONGEST_PAUSE: Duration = Duration::from_secs(60);

/// How an apply runs.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    pub on_conflict: OnConflict,
    /// Batches in flight at once.
    pub parallelism: usize,
    /// Rounds of re-sending after conflicts resolved as "send again" or per-record
    /// throttling, before giving up on a record.
    pub max_rounds: u32,
    /// Stamps the journal's entries.
    pub clock: Clock,
}

/// Progress callbacks (the CLI draws bars from them).
pub trait Observer: Send + Sync {
    /// The run has `_changes` planned changes without a final outcome.
    fn started(&self, _changes: usize) {}
    /// More of them reached their final outcome (applied, already applied, conflict or
    /// failed), journaled before this is called. Each change is reported once, however
    /// often it was sent.
    fn changes_finished(&self, _finals: &[(RecordKey, Outcome)]) {}
}

/// Observes nothing.
pub struct Silent;
impl Observer for Silent {}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("looking up records to resolve conflicts failed")]
    Lookup(#[source] CloudKitError),
}

/// What an apply did.
#[derive(Debug)]
pub struct ApplyReport {
    /// Final outcome per record (this run and earlier runs of the same plan).
    pub outcomes: Outcomes,
    /// Whether every change of the plan has a final outcome other than `Failed`.
    pub complete: bool,
    /// A request failed in a way that stopped the run (after retries).
    pub error: Option<CloudKitError>,
    /// Whether the run found the plan already fully applied by an earlier run.
    pub was_already_complete: bool,
    /// Records whose outcome an earlier run of the plan decided (not sent by this run).
    pub from_earlier_runs: BTreeSet<RecordKey>,
    /// The caller's stop flag ended the run before every change had an outcome.
    pub cancelled: bool,
}

impl ApplyReport {
    pub fn has_conflicts(&self) -> bool {
        self.outcomes.values().any(Outcome::is_conflict)
    }
    pub fn has_failures(&self) -> bool {
        self.error.is_some()
            || self
                .outcomes
                .values()
                .any(|o| matches!(o, Outcome::Failed { .. }))
    }
}

struct Run<'a> {
    client: &'a Client,
    /// The plan's changes; work items and outcomes refer to them by index.
    changes: &'a [Change],
    /// Per change (by index): `Some(failed)` once it has a final outcome.
    settled: Mutex<Vec<Option<bool>>>,
    options: &'a ApplyOptions,
    rules: HashMap<RecordType, CompareRules>,
    /// The rules of a type the plan states none for.
    default_rules: CompareRules,
    journal: Mutex<Journal>,
    outcomes: Mutex<Outcomes>,
    /// Set by the run itself (`--on-conflict abort`, a request that failed for good).
    stop: AtomicBool,
    /// Set by the caller (Ctrl-C).
    cancel: &'a StopFlag,
    error: Mutex<Option<CloudKitError>>,
    batches: AtomicU64,
    observer: &'a dyn Observer,
}

/// Who sent the writes whose outcome is unknown: this run (a lost reply; a record found as
/// planned was written by it) or an earlier run (journaled as uncertain; found as planned
/// counts as already applied).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    ThisRun,
    EarlierRun,
}

/// What a batch left to do next.
#[derive(Default)]
struct Leftovers<'a> {
    /// Refused (CONFLICT, EXISTS, NOT_FOUND): look up, then decide.
    refused: Vec<Work<'a>>,
    /// Outcome unknown: look up, then decide.
    unknown: Vec<Work<'a>>,
    /// Retry as is (per-record THROTTLED and the like).
    retry: Vec<Work<'a>>,
    /// The longest `retryAfter` (seconds) CloudKit asked for among `retry`.
    retry_after: Option<f64>,
}

/// Applies `plan` with `client`. `replay` is what earlier runs journaled; the journal must
/// already have this run's `Start` entry. Once `cancel` is raised no new batch starts; the
/// batches in flight finish and are journaled, and the report says `cancelled`.
pub async fn execute(
    plan: &Plan,
    client: &Client,
    options: &ApplyOptions,
    replay: Replay,
    journal: Journal,
    observer: &dyn Observer,
    cancel: &StopFlag,
) -> Result<ApplyReport, ApplyError> {
    let was_already_complete = replay.complete;
    let mut done = replay.done;
    // A failure is not final: a later run tries again.
    done.retain(|_, outcome| !matches!(outcome, Outcome::Failed { .. }));
    let from_earlier_runs = done.keys().cloned().collect();
    let settled = settled_by_index(&plan.changes, &done);
    let run = Run {
        client,
        changes: &plan.changes,
        settled: Mutex::new(settled),
        options,
        rules: plan.compare_rules(),
        default_rules: CompareRules::default(),
        journal: Mutex::new(journal),
        outcomes: Mutex::new(done),
        stop: AtomicBool::new(false),
        cancel,
        error: Mutex::new(None),
        batches: AtomicU64::new(0),
        observer,
    };
    let pending = run
        .settled
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| s.is_none())
        .count();
    observer.started(pending);
    for phase in phases(plan) {
        if run.stopping() {
            break;
        }
        run.phase(phase, &replay.uncertain).await?;
    }
    let outcomes = run.outcomes.into_inner().expect("lock");
    // Complete: every change has a final outcome, and none failed (a failed change is
    // tried again by a later run).
    let settled = run.settled.into_inner().expect("lock");
    let complete = settled.iter().all(|s| *s == Some(false));
    let mut journal = run.journal.into_inner().expect("lock");
    journal.append(&Entry::Finished {
        at: options.clock.timestamp(),
        complete,
    })?;
    Ok(ApplyReport {
        outcomes,
        complete,
        error: run.error.into_inner().expect("lock"),
        was_already_complete,
        from_earlier_runs,
        cancelled: cancel.is_stopped() && !complete,
    })
}

/// A change with its index in the plan.
type Indexed<'a> = (usize, &'a Change);

/// The changes in the order they are sent: creates and updates type by type in dependency
/// order, then deletions in reverse order; each change with its level (its place in that
/// sequence of type groups).
fn ordered(plan: &Plan) -> Vec<(usize, Indexed<'_>)> {
    let mut order: Vec<&RecordType> = plan.type_order.iter().collect();
    let mut extra: Vec<&RecordType> = plan
        .changes
        .iter()
        .map(|c| &c.record_type)
        .filter(|t| !order.contains(t))
        .collect();
    extra.sort();
    extra.dedup();
    order.extend(extra);
    // Level of the writes of the type at position `p`: `p`; of its deletions: counted
    // from the other end after every write level. Each level keeps the plan's order.
    let types = order.len();
    let position: HashMap<&RecordType, usize> =
        order.iter().enumerate().map(|(p, t)| (*t, p)).collect();
    let mut levels: Vec<Vec<Indexed<'_>>> = vec![Vec::new(); 2 * types];
    for (index, change) in plan.changes.iter().enumerate() {
        let p = position[&change.record_type];
        let level = match change.action {
            Action::Delete => 2 * types - 1 - p,
            Action::Create | Action::Update => p,
        };
        levels[level].push((index, change));
    }
    levels
        .into_iter()
        .enumerate()
        .flat_map(|(level, changes)| changes.into_iter().map(move |c| (level, c)))
        .collect()
}

/// Splits the ordered changes into batches of `BATCH_SIZE` across type boundaries (CloudKit
/// applies a request's operations in order, so stadiums before teams in one request is
/// still stadiums first), and groups consecutive batches into phases whose batches run
/// concurrently. Batches holding one level only share a phase with the batches of the same
/// level; a batch spanning levels is a phase of its own, since its later part depends on
/// every batch before it. This sends the fewest requests, ⌈changes / 200⌉.
fn phases(plan: &Plan) -> Vec<Vec<Indexed<'_>>> {
    let ordered = ordered(plan);
    // Deletes never share a batch or a phase with creates and updates: an update that drops
    // a reference must have its outcome before the record it referenced is deleted
    // (issue 17: a batch is not atomic, and a conflict on the update would otherwise let
    // the delete through and CloudKit's DELETE_SELF cascade take the referencing record).
    let first_delete = ordered
        .iter()
        .position(|(_, (_, c))| c.action == Action::Delete)
        .unwrap_or(ordered.len());
    let (writes, deletes) = ordered.split_at(first_delete);
    // (level when every batch of the phase holds that level only, changes by index)
    let mut phases: Vec<(Option<usize>, Vec<Indexed<'_>>)> = Vec::new();
    let batches = writes.chunks(BATCH_SIZE).chain(deletes.chunks(BATCH_SIZE));
    // Write and delete levels differ, so no phase spans both.
    for batch in batches {
        let first = batch[0].0;
        let level = batch
            .iter()
            .all(|(level, _)| *level == first)
            .then_some(first);
        let changes = batch.iter().map(|(_, c)| *c);
        match phases.last_mut() {
            Some((Some(phase_level), phase)) if level == Some(*phase_level) => {
                phase.extend(changes)
            }
            _ => phases.push((level, changes.collect())),
        }
    }
    phases.into_iter().map(|(_, phase)| phase).collect()
}

impl<'a> Run<'a> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.cancel.is_stopped()
    }

    /// Sleeps `wait`, ending at once when Ctrl-C or SIGTERM stops the run (it must not
    /// wait out a long `retryAfter`).
    async fn pause(&self, wait: Duration) {
        tokio::select! {
            biased;
            () = self.cancel.stopped() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }

    fn rules(&self, record_type: &RecordType) -> &CompareRules {
        self.rules.get(record_type).unwrap_or(&self.default_rules)
    }

    /// The outcome of a delete that must not be sent: a change of this plan that dropped
    /// a reference to the record did not apply, so the reference stays (see [`held`]).
    fn held_delete(&self, delete: &Change) -> Option<Outcome> {
        let outcomes = self.outcomes.lock().expect("lock");
        let applied = |index: usize| {
            let key = work::key(&self.changes[index]);
            matches!(
                outcomes.get(&key),
                Some(
                    Outcome::Created { .. }
                        | Outcome::Updated { .. }
                        | Outcome::AlreadyApplied { .. }
                )
            )
        };
        let (index, field) = held::blocking_reference(self.changes, delete, applied)?;
        let referrer = &self.changes[index];
        Some(Outcome::Conflict {
            reason: format!(
                "not deleted: {} `{}` still references it in field `{field}` (that change did not apply)",
                referrer.record_type, referrer.record_name
            ),
            fields: Vec::new(),
        })
    }

    /// Records final outcomes, given by change index: journal, observer, outcomes.
    fn finish(&self, finals: Vec<(usize, Outcome)>) -> Result<(), JournalError> {
        if finals.is_empty() {
            return Ok(());
        }
        {
            let mut settled = self.settled.lock().expect("lock");
            for (index, outcome) in &finals {
                settled[*index] = Some(matches!(outcome, Outcome::Failed { .. }));
            }
        }
        let finals: Vec<(RecordKey, Outcome)> = finals
            .into_iter()
            .map(|(index, outcome)| (work::key(&self.changes[index]), outcome))
            .collect();
        if self.options.on_conflict == OnConflict::Abort
            && finals.iter().any(|(_, o)| o.is_conflict())
        {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.journal
            .lock()
            .expect("lock")
            .append_outcomes(&finals)?;
        self.observer.changes_finished(&finals);
        self.outcomes.lock().expect("lock").extend(finals);
        Ok(())
    }

    async fn phase(
        &self,
        changes: Vec<Indexed<'a>>,
        uncertain: &BTreeMap<RecordKey, Option<ChangeTag>>,
    ) -> Result<(), ApplyError> {
        let mut todo = Vec::new();
        let mut unknown = Vec::new();
        let mut held = Vec::new();
        for (index, change) in changes {
            if self.settled.lock().expect("lock")[index].is_some() {
                continue;
            }
            if change.action == Action::Delete {
                if let Some(outcome) = self.held_delete(change) {
                    held.push((index, outcome));
                    continue;
                }
            }
            // Only a resumed run has uncertain records: no key is built otherwise.
            let sent_tag = match uncertain.is_empty() {
                true => None,
                false => uncertain.get(&work::key(change)),
            };
            match sent_tag {
                Some(sent_tag) => unknown.push(Work::resend(index, change, sent_tag.clone())),
                None => todo.push(Work::fresh(index, change)),
            }
        }
        self.finish(held)?;
        if !unknown.is_empty() {
            todo.extend(
                self.resolve(Vec::new(), unknown, Sender::EarlierRun)
                    .await?,
            );
        }
        let mut round = 0;
        while !todo.is_empty() && !self.stopping() {
            round += 1;
            let leftovers = self.send_all(todo).await?;
            let mut next = self
                .resolve(leftovers.refused, leftovers.unknown, Sender::ThisRun)
                .await?;
            let mut retry = leftovers.retry;
            if !retry.is_empty() && round < self.options.max_rounds {
                // Records CloudKit said "not now" to are never resent sooner than asked; a
                // pause longer than `LONGEST_PAUSE` would stall the apply, so those records
                // are given up for this run instead (a re-run sends them).
                let wait = crate::cloudkit::retry::retry_after_duration(leftovers.retry_after);
                match wait {
                    Some(wait) if wait > LONGEST_PAUSE => {
                        let finals = retry
                            .drain(..)
                            .map(|w| {
                                let cause = Failure::GaveUp { rounds: round };
                                (w.index, Outcome::Failed { cause })
                            })
                            .collect();
                        self.finish(finals)?;
                    }
                    Some(wait) => self.pause(wait).await,
                    None => {}
                }
            }
            next.extend(retry);
            if round >= self.options.max_rounds && !next.is_empty() {
                let finals = next
                    .iter()
                    .map(|w| {
                        (
                            w.index,
                            Outcome::Failed {
                                cause: Failure::GaveUp { rounds: round },
                            },
                        )
                    })
                    .collect();
                self.finish(finals)?;
                break;
            }
            todo = next;
        }
        Ok(())
    }

    /// Sends `todo` in batches, `parallelism` at a time, and sorts what comes back.
    async fn send_all(&self, todo: Vec<Work<'a>>) -> Result<Leftovers<'a>, ApplyError> {
        let mut batches = Vec::new();
        let mut todo = todo.into_iter().peekable();
        while todo.peek().is_some() {
            batches.push(todo.by_ref().take(BATCH_SIZE).collect::<Vec<_>>());
        }
        let results: Vec<Result<Leftovers<'a>, ApplyError>> = stream::iter(batches)
            .map(|batch| self.send_batch(batch))
            .buffer_unordered(self.options.parallelism.max(1))
            .collect()
            .await;
        let mut all = Leftovers::default();
        for result in results {
            let leftovers = result?;
            all.refused.extend(leftovers.refused);
            all.unknown.extend(leftovers.unknown);
            all.retry.extend(leftovers.retry);
            all.retry_after = max_seconds(all.retry_after, leftovers.retry_after);
        }
        Ok(all)
    }

    async fn send_batch(&self, batch: Vec<Work<'a>>) -> Result<Leftovers<'a>, ApplyError> {
        if self.stopping() {
            return Ok(Leftovers::default());
        }
        let number = self.batches.fetch_add(1, Ordering::SeqCst);
        let sent: Vec<SentRef<'_>> = batch.iter().map(Work::sent).collect();
        self.journal
            .lock()
            .expect("lock")
            .append_sent(number, &sent)?;
        let operations = batch
            .iter()
            .map(|work| work.operation(self.rules(&work.change.record_type)))
            .collect::<Result<Vec<_>, _>>();
        let sent = match operations {
            Ok(operations) => self.client.modify_encoded(operations).await,
            Err(source) => Err(CloudKitError::Encode {
                operation: crate::cloudkit::wire::Endpoint::Modify,
                source,
            }),
        };
        let mut leftovers = Leftovers::default();
        match sent {
            Ok(results) => {
                let mut finals = Vec::new();
                for (work, result) in batch.into_iter().zip(results) {
                    match result {
                        OperationResult::Saved(record) => {
                            finals.push((work.index, work.saved(record)))
                        }
                        OperationResult::Deleted(_) => finals.push((work.index, work.deleted())),
                        OperationResult::Failed(_, failure) => match failure.code {
                            ServerErrorCode::Conflict
                            | ServerErrorCode::Exists
                            | ServerErrorCode::NotFound => leftovers.refused.push(work),
                            ServerErrorCode::Throttled
                            | ServerErrorCode::TryAgainLater
                            | ServerErrorCode::InternalError => {
                                leftovers.retry_after =
                                    max_seconds(leftovers.retry_after, failure.retry_after);
                                leftovers.retry.push(work)
                            }
                            code => finals.push((
                                work.index,
                                Outcome::Failed {
                                    cause: Failure::Refused {
                                        code,
                                        reason: failure.reason.unwrap_or_default(),
                                    },
                                },
                            )),
                        },
                    }
                }
                self.finish(finals)?;
            }
            Err(CloudKitError::Interrupted { .. }) => {
                // Ctrl-C or SIGTERM ended the wait before the batch was sent again: its
                // records stay journaled as sent without an outcome, so the next run looks
                // them up before anything else and sends only what is not there.
                tracing::debug!("batch {number}: interrupted while waiting to retry");
            }
            Err(error) if error.may_have_been_applied() => {
                tracing::warn!("batch {number}: outcome unknown ({error}); looking the records up");
                leftovers.unknown = batch;
            }
            Err(error) => {
                // Certainly not applied, and retries are exhausted: stop starting batches.
                // The journal still lists these records as sent, so a later run looks
                // them up before anything else.
                tracing::debug!("batch {number}: {error}");
                self.stop.store(true, Ordering::SeqCst);
                self.error.lock().expect("lock").get_or_insert(error);
            }
        }
        Ok(leftovers)
    }

    /// Looks up refused and unknown-outcome records and decides what to do with each.
    /// Returns the work to send again.
    async fn resolve(
        &self,
        refused: Vec<Work<'a>>,
        unknown: Vec<Work<'a>>,
        sender: Sender,
    ) -> Result<Vec<Work<'a>>, ApplyError> {
        if refused.is_empty() && unknown.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<_> = refused
            .iter()
            .chain(&unknown)
            .map(|w| w.change.record_name.clone())
            .collect();
        let found = match self.client.lookup(&names).await {
            Ok(found) => found,
            // Interrupted while waiting to ask again: these records keep no outcome (the
            // journal has them as sent), and the next run looks them up first.
            Err(CloudKitError::Interrupted { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(ApplyError::Lookup(error)),
        };
        let mut current: HashMap<_, Record> = HashMap::new();
        // A lookup that kept failing says nothing about the record: it is neither absent nor
        // present. Its change gets no outcome (the journal keeps it uncertain, so a later
        // run looks it up again) and the run stops, naming it.
        let mut unreadable = HashMap::new();
        for lookup in found {
            match lookup {
                Lookup::Found(record) => {
                    current.insert(record.record_name.clone(), *record);
                }
                Lookup::NotFound(_) => {}
                Lookup::Error(name, error) => {
                    unreadable.insert(name, error);
                }
            }
        }
        // (Unless Ctrl-C ended the lookup's retries: then the run is interrupted, not
        // failed, and those records stay uncertain the same way.)
        let unread = unreadable.iter().min_by(|a, b| a.0.cmp(b.0));
        if let Some((name, error)) = unread.filter(|_| !self.cancel.is_stopped()) {
            self.stop.store(true, Ordering::SeqCst);
            self.error
                .lock()
                .expect("lock")
                .get_or_insert(CloudKitError::RecordFailed {
                    operation: crate::cloudkit::wire::Endpoint::Lookup,
                    record_name: name.0.clone(),
                    code: error.server_error_code.clone(),
                    reason: error.reason.clone(),
                });
        }
        let policy = self.options.on_conflict;
        let mut again = Vec::new();
        let mut finals = Vec::new();
        let tagged = refused
            .into_iter()
            .map(|w| (w, false))
            .chain(unknown.into_iter().map(|w| (w, true)));
        for (work, outcome_unknown) in tagged {
            if unreadable.contains_key(&work.change.record_name) {
                continue;
            }
            let rules = self.rules(&work.change.record_type);
            let now = current.get(&work.change.record_name);
            let decision = if outcome_unknown {
                resolve::after_unknown_outcome(
                    work.change,
                    work.change_tag.as_ref(),
                    now,
                    policy,
                    rules,
                )
            } else {
                resolve::after_refusal(work.change, now, policy, rules)
            };
            match decision {
                // This run's write whose reply was lost, found as planned: the write did it.
                Decision::AlreadyApplied { change_tag }
                    if outcome_unknown && sender == Sender::ThisRun =>
                {
                    finals.push((work.index, work.confirmed(change_tag)))
                }
                Decision::AlreadyApplied { change_tag } => {
                    finals.push((work.index, Outcome::AlreadyApplied { change_tag }))
                }
                Decision::Send { change_tag } => again.push(Work::after_conflict(
                    work.index,
                    work.change,
                    change_tag,
                    now,
                    rules,
                )),
                Decision::Overwrite { change_tag, fields } => {
                    let mut work =
                        Work::after_conflict(work.index, work.change, change_tag, now, rules);
                    work.overwritten = fields;
                    again.push(work)
                }
                Decision::Reapply { change_tag, fields } => {
                    let mut work =
                        Work::after_conflict(work.index, work.change, change_tag, now, rules);
                    work.reapplied = Some(fields);
                    again.push(work)
                }
                Decision::Conflict(reason) => finals.push((work.index, Outcome::conflict(&reason))),
            }
        }
        self.finish(finals)?;
        Ok(again)
    }
}

/// Per change of `changes` (by index): `Some(failed)` when `done` has its final outcome.
fn settled_by_index(changes: &[Change], done: &Outcomes) -> Vec<Option<bool>> {
    let mut settled = vec![None; changes.len()];
    if done.is_empty() {
        return settled;
    }
    let index: HashMap<(&str, &str), usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.record_type.as_str(), c.record_name.as_str()), i))
        .collect();
    for (key, outcome) in done {
        let place = (key.record_type.as_str(), key.record_name.as_str());
        if let Some(&i) = index.get(&place) {
            settled[i] = Some(matches!(outcome, Outcome::Failed { .. }));
        }
    }
    settled
}

fn max_seconds(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Change;

    fn change(record_type: &str, name: usize, action: Action) -> Change {
        Change {
            action,
            record_type: record_type.into(),
            record_name: format!("{record_type}-{name:05}").into(),
            change_tag: None,
            before: BTreeMap::new(),
            after: None,
            removed: Vec::new(),
        }
    }

    #[test]
    fn batches_span_type_boundaries_and_phases_respect_dependencies() {
        let mut changes = Vec::new();
        changes.extend((0..32).map(|i| change("Stadium", i, Action::Create)));
        changes.extend((0..60).map(|i| change("Team", i, Action::Create)));
        changes.extend((0..5760).map(|i| change("Game", i, Action::Create)));
        changes.extend((0..3).map(|i| change("Team", 1000 + i, Action::Delete)));
        let plan = Plan::build(
            crate::record::Target {
                container: "c".into(),
                environment: crate::record::Environment::Development,
                database: crate::record::Database::Public,
                zone: "_defaultZone".into(),
            },
            crate::plan::PlanOptions::default(),
            Vec::new(),
            vec!["Stadium".into(), "Team".into(), "Game".into()],
            Vec::new(),
            crate::record::Timestamp::now(),
        );
        let plan = Plan { changes, ..plan };
        let phases = phases(&plan);
        let sizes: Vec<usize> = phases.iter().map(Vec::len).collect();
        // Stadiums open the first batch (with the teams and 108 games); the rest of the
        // games run concurrently once it is done; the team deletions wait for every write
        // and never share a batch with one (issue 17: an update that drops a reference has
        // its outcome before the referenced record is deleted).
        assert_eq!(sizes, [200, 5652, 3]);
        let batches: usize = phases.iter().map(|p| p.len().div_ceil(BATCH_SIZE)).sum();
        assert_eq!(
            batches,
            (32 + 60 + 5760_usize).div_ceil(BATCH_SIZE) + 3_usize.div_ceil(BATCH_SIZE)
        );
        assert_eq!(phases[0][31].1.record_type.as_str(), "Stadium");
        assert_eq!(phases[0][32].1.record_type.as_str(), "Team");
        // Each change carries its index in the plan.
        assert!(phases
            .iter()
            .flatten()
            .all(|(index, change)| std::ptr::eq(&plan.changes[*index], *change)));
    }
}
