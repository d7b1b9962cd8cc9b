//! The work shared by `diff`, `plan` and smart sync: load the desired records, read the
//! current ones from CloudKit (every type concurrently, and each type as several query
//! chains over `createdTimestamp` ranges when CloudKit has that index, see
//! `cloudkit::client::partition`), confirm by lookup every record the query says differs
//! (queries are eventually consistent, lookups by ID are not), compare, and gather what a
//! plan records about its inputs.

pub mod assets;
mod confirm;
pub mod connect;
pub mod doctor;
pub mod read_hints;
pub mod references;
mod settle;

use crate::cloudkit::client::ReadHint;
use crate::cloudkit::{Client, CloudKitError};
use crate::config::Config;
use crate::diff::{
    compare_type, type_conflicts_with, CompareRules, NameClash, TypeConflict, TypeDiff,
};
use crate::local::LocalData;
use crate::plan::InputDigest;
use crate::record::Environment;
use crate::record::{Record, RecordName, RecordType};
use futures::future::try_join_all;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use connect::{connect, connect_with_token, ConnectError, Connection};

/// Reading progress: records read so far over all types.
pub trait ReadProgress: Send + Sync {
    fn records_read(&self, _total: usize) {}
}

impl ReadProgress for () {}

/// Something a read found that is worth saying but is not an error (the CLI prints each
/// once, as a warning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadNote {
    /// Development answered 404 "Did not find record type": no record of this type was
    /// ever saved there, so it was read as no records.
    TypeNotCreatedYet(RecordType),
    /// Production does not have this type, and the plan's schema part lists it among the
    /// items to deploy from CloudKit Console: read as no records.
    TypeNotDeployed(RecordType),
    /// CloudKit refused to sort or filter these types by `createdTimestamp` (no index on
    /// `___createTime`), so each was read as one query chain instead of several at once.
    NoCreatedIndex(Vec<RecordType>),
    /// `.ckplan/assets.json` was unreadable or malformed, and ignored as a whole.
    AssetLedgerIgnored(crate::local::asset::LedgerIgnored),
}

impl std::fmt::Display for ReadNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadNote::TypeNotCreatedYet(record_type) => write!(
                f,
                "record type `{record_type}` does not exist in development yet (no record of it was ever saved); counted as no records"
            ),
            ReadNote::TypeNotDeployed(record_type) => write!(
                f,
                "record type `{record_type}` is not deployed to production yet; counted as no records (the plan lists it among the schema items to deploy)"
            ),
            ReadNote::NoCreatedIndex(types) => {
                let names: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
                write!(
                    f,
                    "{} read as one query chain each because `createdTimestamp` has no index; add QUERYABLE and SORTABLE indexes on `createdTimestamp` (`___createTime`) of each in CloudKit Console (Schema, Indexes) to read them as several chains at once",
                    names.join(", ")
                )
            }
            ReadNote::AssetLedgerIgnored(ignored) => write!(f, "{ignored}"),
        }
    }
}

/// What CloudKit holds for each type read, and what is worth saying about the read.
pub struct Current {
    pub records: Vec<(RecordType, Vec<Record>)>,
    pub notes: Vec<ReadNote>,
}

/// Reads every record of `types` from CloudKit, all types at once. In development a type
/// CloudKit does not know yet is read as empty, with a note; in production it is an error
/// (`UnknownRecordType`, whose hint says to deploy the schema).
pub async fn read_current(
    client: &Client,
    types: &[RecordType],
    progress: &dyn ReadProgress,
) -> Result<Current, CloudKitError> {
    read_current_with(client, types, progress, &[], &BTreeMap::new()).await
}

/// As [`read_current`]; a type of `undeployed` that production does not know is read as
/// no records, with a note (the plan's schema part lists it to deploy); a type with a hint
/// in `hints` starts its read from it (`Client::query_partitioned`).
pub async fn read_current_with(
    client: &Client,
    types: &[RecordType],
    progress: &dyn ReadProgress,
    undeployed: &[RecordType],
    hints: &BTreeMap<RecordType, ReadHint>,
) -> Result<Current, CloudKitError> {
    let (read, notes, _) = read_kept(client, types, progress, undeployed, hints, |_| Whole).await?;
    let records = read
        .into_iter()
        .map(|(record_type, records, _)| (record_type, records))
        .collect();
    Ok(Current { records, notes })
}

/// What [`read_kept`] read of each type: what `keep` made of each record, and the keeper.
type Kept<T, K> = Vec<(RecordType, Vec<T>, K)>;

/// The `createdTimestamp` of every record [`read_kept`] read of each type it read by
/// `createdTimestamp` (what read hints are learned from).
type Created = Vec<(RecordType, Vec<i64>)>;

/// What a read keeps of each record of one type, as its page is decoded.
trait Keeper: Send {
    type Kept: Send;
    fn keep(&mut self, record: Record) -> Self::Kept;
}

/// Keeps every record whole.
struct Whole;

impl Keeper for Whole {
    type Kept = Record;
    fn keep(&mut self, record: Record) -> Record {
        record
    }
}

impl Keeper for settle::Settler<'_> {
    type Kept = (Record, bool);
    fn keep(&mut self, record: Record) -> (Record, bool) {
        settle::Settler::keep(self, record)
    }
}

/// Reads every type of `types` at once, as [`read_current_with`] does, each record passed
/// through the keeper `keeper(type)` makes for its type as its page is decoded.
async fn read_kept<K: Keeper>(
    client: &Client,
    types: &[RecordType],
    progress: &dyn ReadProgress,
    undeployed: &[RecordType],
    hints: &BTreeMap<RecordType, ReadHint>,
    keeper: impl Fn(&RecordType) -> K,
) -> Result<(Kept<K::Kept, K>, Vec<ReadNote>, Created), CloudKitError> {
    let total = AtomicUsize::new(0);
    let reads = types.iter().map(|record_type| {
        let total = &total;
        let mut keep = keeper(record_type);
        async move {
            let mut created = Vec::new();
            let mut last = 0;
            let mut on_page = |so_far: usize| {
                let now = total.fetch_add(so_far - last, Ordering::Relaxed) + so_far - last;
                last = so_far;
                progress.records_read(now);
            };
            let read = client
                .query_partitioned_kept(
                    record_type,
                    client.partitions(),
                    hints.get(record_type),
                    &mut on_page,
                    &mut |record| {
                        created.extend(record.stamps.map(|stamps| stamps.created));
                        keep.keep(record)
                    },
                )
                .await;
            match read {
                // A type read as one chain for want of the index teaches no cuts.
                Ok(read) => Ok((
                    record_type.clone(),
                    read.records,
                    keep,
                    read.unindexed
                        .map(|_| ReadNote::NoCreatedIndex(vec![record_type.clone()])),
                    created,
                )),
                Err(CloudKitError::UnknownRecordType {
                    environment: Environment::Development,
                    ..
                }) => Ok((
                    record_type.clone(),
                    Vec::new(),
                    keep,
                    Some(ReadNote::TypeNotCreatedYet(record_type.clone())),
                    Vec::new(),
                )),
                Err(CloudKitError::UnknownRecordType {
                    environment: Environment::Production,
                    ..
                }) if undeployed.contains(record_type) => Ok((
                    record_type.clone(),
                    Vec::new(),
                    keep,
                    Some(ReadNote::TypeNotDeployed(record_type.clone())),
                    Vec::new(),
                )),
                Err(error) => Err(error),
            }
        }
    });
    let read = try_join_all(reads).await?;
    let mut kept = Vec::with_capacity(read.len());
    let mut notes = Vec::new();
    let mut unindexed = Vec::new();
    let mut stamps = Vec::with_capacity(read.len());
    for (record_type, records, keep, note, created) in read {
        match note {
            Some(ReadNote::NoCreatedIndex(types)) => unindexed.extend(types),
            other => {
                notes.extend(other);
                stamps.push((record_type.clone(), created));
            }
        }
        kept.push((record_type, records, keep));
    }
    // Said once for every type it concerns.
    if !unindexed.is_empty() {
        notes.push(ReadNote::NoCreatedIndex(unindexed));
    }
    Ok((kept, notes, stamps))
}

/// Compares each type's desired records with the current ones.
pub fn compare(
    config: &Config,
    local: &mut LocalData,
    current: Vec<(RecordType, Vec<Record>)>,
) -> Vec<TypeDiff> {
    current
        .into_iter()
        .map(|(record_type, records)| {
            let rules = rules_for(config, &record_type);
            let desired = local.take_records(&record_type);
            compare_one(config, &record_type, desired, records, &rules)
        })
        .collect()
}

/// One type's comparison, CloudKit's unmanaged assets left out first (`assets::drop_unmanaged`).
fn compare_one(
    config: &Config,
    record_type: &RecordType,
    desired: Vec<Record>,
    mut records: Vec<Record>,
    rules: &CompareRules,
) -> TypeDiff {
    // Only an asset field can be unmanaged: without one, no record needs looking at.
    let holds_assets = || {
        records
            .iter()
            .any(|r| r.fields.values().any(assets::is_asset))
    };
    if let Some(type_config) = config.types.get(record_type).filter(|_| holds_assets()) {
        let by_name: HashMap<&RecordName, &Record> =
            desired.iter().map(|r| (&r.record_name, r)).collect();
        for current in &mut records {
            let fields = by_name.get(&current.record_name).map(|r| &r.fields);
            assets::drop_unmanaged(&type_config.fields, fields, current);
        }
    }
    compare_type(record_type, desired, records, rules)
}

pub(crate) fn rules_for(config: &Config, record_type: &RecordType) -> CompareRules {
    config
        .types
        .get(record_type)
        .map(|t| t.compare_rules())
        .unwrap_or_default()
}

/// The types to work on: every configured type, or those named with `--type` (each must be
/// configured).
pub fn selected_types(config: &Config, only: &[RecordType]) -> Result<Vec<RecordType>, String> {
    if only.is_empty() {
        return Ok(config.types.keys().cloned().collect());
    }
    for record_type in only {
        if !config.types.contains_key(record_type) {
            let known: Vec<_> = config.types.keys().map(|t| t.as_str()).collect();
            return Err(format!(
                "record type `{record_type}` is not configured in `{}` (configured: {})",
                config.path.display(),
                known.join(", ")
            ));
        }
    }
    let mut types = only.to_vec();
    types.sort();
    types.dedup();
    Ok(types)
}

/// BLAKE3 digests of the config file and every data file, paths relative to the config's
/// directory with `/` separators.
pub fn input_digests(config: &Config) -> std::io::Result<Vec<InputDigest>> {
    input_files(config)
        .iter()
        .map(|file| Ok(digest(config, file, &std::fs::read(file)?)))
        .collect()
}

/// As [`input_digests`], a file that cannot be read left out (it differs from any digest).
pub fn input_digests_lenient(config: &Config) -> Vec<InputDigest> {
    input_files(config)
        .iter()
        .filter_map(|file| Some(digest(config, file, &std::fs::read(file).ok()?)))
        .collect()
}

/// The config file and every data file it names.
fn input_files(config: &Config) -> Vec<std::path::PathBuf> {
    let mut files = vec![config.path.clone()];
    for type_config in config.types.values() {
        files.extend(type_config.files.iter().cloned());
    }
    files
}

fn digest(config: &Config, file: &std::path::Path, bytes: &[u8]) -> InputDigest {
    InputDigest {
        path: relative(config.directory(), file),
        blake3: blake3::hash(bytes).to_hex().to_string(),
    }
}

fn relative(directory: &Path, file: &Path) -> String {
    let shown = file.strip_prefix(directory).unwrap_or(file);
    shown
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The comparison of every selected type, with the apply order of the configured types
/// and the notes of the read.
pub struct Survey {
    pub diffs: Vec<TypeDiff>,
    pub type_order: crate::config::TypeOrder,
    /// Fields whose local type differs from CloudKit's: no plan can converge while any is
    /// left (see `diff::type_conflicts`).
    pub type_conflicts: Vec<TypeConflict>,
    /// Local records whose name CloudKit holds under another type: no plan can converge
    /// while any is left (see `diff::NameClash`).
    pub name_clashes: Vec<NameClash>,
    pub notes: Vec<ReadNote>,
    /// The references that hold after an apply, from the local data and from what the
    /// read found in CloudKit (see `references`): what keeps an orphan from deletion.
    pub references: Vec<crate::plan::FoundReference>,
}

/// Reads CloudKit and compares it with `local`, for the selected types. Every record the
/// query calls new, updated or orphaned is then looked up by name (strongly consistent,
/// unlike queries, whose indexes lag writes and whose pages can skip or repeat records)
/// and compared again against what the lookup returned: ⌈differences / 200⌉ extra
/// requests, none when nothing differs.
pub async fn survey(
    config: &Config,
    local: LocalData,
    client: &Client,
    types: &[RecordType],
    progress: &dyn ReadProgress,
) -> Result<Survey, CloudKitError> {
    survey_with(
        config,
        local,
        client,
        types,
        progress,
        SurveyOptions {
            deletes: true,
            ..SurveyOptions::default()
        },
    )
    .await
}

/// Notes where each type read is worth cutting next time (`created`: its records'
/// `createdTimestamp`s), in the hints file at `path`. Not saving it costs only speed.
fn learn_hints(
    client: &Client,
    created: Created,
    hints: &mut read_hints::ReadHints,
    endpoint: &str,
    target: &crate::record::Target,
    path: &std::path::Path,
) {
    let partitions = client.partitions();
    if partitions <= 1 {
        return;
    }
    // Chains beside the other types' first pages, within the request budget.
    let chains = partitions
        .saturating_sub(created.len().saturating_sub(1))
        .max(2);
    let learned: Vec<(RecordType, ReadHint)> = created
        .into_iter()
        .filter_map(|(record_type, mut created)| {
            ReadHint::of(&mut created, chains, partitions).map(|hint| (record_type, hint))
        })
        .collect();
    hints.learn(endpoint, target, learned);
    if let Err(error) = hints.save(path) {
        tracing::debug!(path = %path.display(), %error, "read hints not saved");
    }
}

/// How a survey reads, beyond [`survey`]'s defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct SurveyOptions<'a> {
    /// As in [`read_current_with`].
    pub undeployed: &'a [RecordType],
    /// Trust nothing the asset ledger says: probe every asset of CloudKit's size
    /// (`plan --refresh-assets`; see `assets`).
    pub refresh_assets: bool,
    /// Whether the plan made from it may delete orphans; without, no reference can matter
    /// and none is gathered.
    pub deletes: bool,
}

/// As [`survey`], with `options`.
pub async fn survey_with(
    config: &Config,
    mut local: LocalData,
    client: &Client,
    types: &[RecordType],
    progress: &dyn ReadProgress,
    options: SurveyOptions<'_>,
) -> Result<Survey, CloudKitError> {
    let type_order = local.type_order(config);
    let hints_path = read_hints::ReadHints::path(config.directory());
    let mut hints = read_hints::ReadHints::load(&hints_path);
    let (endpoint, target) = (config.endpoint_text(), config.target());
    let hinted = hints.of(&endpoint, &target);
    let (read, mut notes, created) = {
        let local = &local;
        read_kept(
            client,
            types,
            progress,
            options.undeployed,
            &hinted,
            |record_type| settle::Settler::new(config, local, record_type),
        )
        .await?
    };
    learn_hints(client, created, &mut hints, &endpoint, &target, &hints_path);
    let mut type_conflicts = Vec::new();
    let mut records = Vec::with_capacity(read.len());
    let mut equal = Vec::with_capacity(read.len());
    for (record_type, kept, settler) in read {
        type_conflicts.extend(type_conflicts_with(
            &record_type,
            local.records(&record_type),
            settler.stored(),
            &rules_for(config, &record_type),
        ));
        let (kept, same): (Vec<Record>, Vec<bool>) = kept.into_iter().unzip();
        records.push((record_type, kept));
        equal.push(same);
    }
    let current = Current {
        records,
        notes: Vec::new(),
    };
    let references = match options.deletes {
        true => references::guarding_references(config, &local, &current.records),
        false => Vec::new(),
    };
    let trust = match options.refresh_assets {
        true => assets::Trust::Probe,
        false => assets::Trust::Ledger,
    };
    let ignored = assets::learn(config, &mut local, &current.records, client, trust).await?;
    notes.extend(ignored.map(ReadNote::AssetLedgerIgnored));
    let mut diffs = settle::compare_settled(config, &mut local, current.records, equal);
    let name_clashes = confirm::confirm_differences(client, config, &mut diffs).await?;
    Ok(Survey {
        diffs,
        type_order,
        type_conflicts,
        name_clashes,
        notes,
        references,
    })
}
