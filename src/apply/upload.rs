//! Asset files of a plan, before its records are written (issue 21). Every local asset the
//! pending changes send is checked against the SHA-256 the plan recorded before anything
//! is sent (a file edited since the plan is refused: apply writes what was reviewed), then
//! uploaded, and the change's value becomes the `{fileChecksum, size, receipt}` that
//! records/modify saves. Every slot (record, field, list element) gets its own upload,
//! since a receipt saves one field of one record. Each upload is journaled beside the plan's journal
//! (`PLAN.journal.uploads.json`), so a resumed apply reuses an upload younger than an
//! upload URL's 15 minutes instead of sending the file again; what CloudKit answered is
//! also kept in `.ckplan/assets.json`, so the next plan knows those bytes are in CloudKit.

use super::resolve::wanted_fields;
use crate::cloudkit::client::{AssetToken, UploadedAsset};
use crate::cloudkit::{Client, CloudKitError};
use crate::local::asset::{assets_of, sha256_hex, Ledger, LocalAsset};
use crate::local::asset_file::{AssetFileError, Project};
use crate::plan::{Change, Plan};
use crate::record::{FieldValue, ScalarType, Value};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How long a journaled upload is reused by a resumed apply: an upload URL's validity (Apple,
/// "Uploading Assets": 15 minutes), the only lifetime CloudKit states near receipts.
const REUSE_MILLIS: i64 = 15 * 60 * 1000;

/// Where asset files are and what ckplan keeps of their uploads.
#[derive(Clone, Debug)]
pub struct AssetFiles {
    /// The config's directory (plan paths are relative to it), less ckplan's own files.
    pub project: Project,
    /// The ledger's key of the target (`local::asset::ledger_key`).
    pub ledger_key: String,
    /// Per record type, the directories of its data files (the config's `files`), which
    /// an asset's `path` is relative to: apply checks that the plan's `file` is that path.
    pub data_directories: BTreeMap<String, Vec<PathBuf>>,
}

impl AssetFiles {
    /// Where `config`'s asset files are, and its target's ledger key.
    pub fn of(config: &crate::config::Config) -> Self {
        let data_directories = (config.types.iter())
            .map(|(record_type, spec)| {
                let directories = (spec.files.iter())
                    .map(|file| file.parent().unwrap_or(Path::new("")).to_owned())
                    .collect();
                (record_type.as_str().to_owned(), directories)
            })
            .collect();
        Self {
            project: Project::of(config),
            ledger_key: crate::local::asset::ledger_key(&config.endpoint_text(), &config.target()),
            data_directories,
        }
    }

    /// Whether the plan's `file` is where `written` (the path `show` prints) leads from a
    /// data file of `record_type`: a plan whose two disagree was altered after it was made.
    fn agrees(&self, record_type: &str, asset: &LocalAsset) -> bool {
        let Some(written) = &asset.written else {
            // A plan made before `path` was kept: `show` prints `file` itself.
            return true;
        };
        let root = &self.project.directory;
        let Ok(file) = root.join(&asset.file).canonicalize() else {
            return false;
        };
        (self.data_directories.get(record_type).into_iter().flatten()).any(|directory| {
            root.join(directory)
                .join(written)
                .canonicalize()
                .is_ok_and(|found| found == file)
        })
    }
}

/// Files uploaded by this run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uploaded {
    pub files: usize,
    pub bytes: u64,
    /// Journaled uploads reused instead of sent again.
    pub reused: usize,
}

impl std::fmt::Display for Uploaded {
    /// `Assets: 2 files uploaded (27000 bytes), 1 reused from an earlier run.`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (files, bytes) = (self.files, self.bytes);
        let plural = |n: u64, word: &str| match n {
            1 => format!("1 {word}"),
            n => format!("{n} {word}s"),
        };
        write!(
            f,
            "Assets: {} uploaded ({})",
            plural(files as u64, "file"),
            plural(bytes, "byte")
        )?;
        match self.reused {
            0 => f.write_str("."),
            reused => write!(f, ", {reused} reused from an earlier run."),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the plan's asset of record `{record_name}` (field `{field}`) is shown as `{written}` but names the file `{file}`, which that path does not lead to from a data file of its type; the plan was altered or the config changed since it was made; nothing was sent (make a new plan)")]
    Mismatch {
        written: String,
        file: String,
        record_name: String,
        field: String,
    },
    #[error("asset `{file}` of record `{record_name}` (field `{field}`) changed since the plan was made; nothing was sent (make a new plan)")]
    Changed {
        file: String,
        record_name: String,
        field: String,
    },
    #[error(
        "cannot take asset `{file}` of record `{record_name}` (field `{field}`); nothing was sent"
    )]
    Read {
        file: String,
        record_name: String,
        field: String,
        #[source]
        source: Box<AssetFileError>,
    },
    #[error("asset `{file}` of record `{record_name}` (field `{field}`) changed while apply was uploading it; the changed bytes were not uploaded and no record was written (make a new plan)")]
    ChangedDuringUpload {
        file: String,
        record_name: String,
        field: String,
    },
    #[error("failed to upload asset `{file}`; no record was written")]
    Upload {
        file: String,
        #[source]
        source: CloudKitError,
    },
    #[error("failed to write the upload journal `{}`", path.display())]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One journaled upload, under its slot's key ([`Wanted::slot`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Journaled {
    #[serde(flatten)]
    asset: UploadedAsset,
    /// The SHA-256 of the bytes uploaded: reused only for the same bytes.
    sha256: String,
    /// Milliseconds since 1970 when it was uploaded.
    at: i64,
}

/// One asset value a pending change sends.
struct Wanted {
    change: usize,
    field: String,
    /// The element of an `ASSET_LIST` field; `None` for an `ASSET` field.
    element: Option<usize>,
    asset: LocalAsset,
}

impl Wanted {
    /// Whether `bytes` are the ones the plan recorded (size and SHA-256).
    fn holds(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.asset.size && sha256_hex(bytes) == self.asset.sha256
    }

    /// The slot the upload is for, as the journal's key: `[type, record, field, element]`.
    /// CloudKit asks for an upload per record type, field and record name, and a receipt
    /// saves one field of one record: every slot gets its own upload, even of the same
    /// bytes (`assets/rereference` is not used).
    fn slot(&self, plan: &Plan) -> String {
        let change = &plan.changes[self.change];
        let slot = (
            change.record_type.as_str(),
            change.record_name.as_str(),
            &self.field,
            self.element,
        );
        serde_json::to_string(&slot).unwrap_or_default()
    }

    fn names(&self, plan: &Plan) -> (String, String, String) {
        let record_name = plan.changes[self.change].record_name.as_str().to_owned();
        (self.asset.file.clone(), record_name, self.field.clone())
    }
}

/// The local assets that the changes `pending` says are not done send.
fn wanted(plan: &Plan, pending: &dyn Fn(&Change) -> bool) -> Vec<Wanted> {
    let mut found = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        // Every value a change sends is one of its `after`: one without an asset there
        // sends none, whether it is done or not (most changes of most plans).
        let holds_an_asset = change.after.iter().flatten().any(|(_, v)| is_an_asset(v));
        if !holds_an_asset || !pending(change) {
            continue;
        }
        for (field, value) in wanted_fields(change) {
            for (element, json) in value.map(assets_of).unwrap_or_default() {
                if let Some(asset) = LocalAsset::of(json) {
                    found.push(Wanted {
                        change: index,
                        field: field.to_owned(),
                        element,
                        asset,
                    });
                }
            }
        }
    }
    found
}

/// Whether `value` is an asset or a list of assets (perhaps empty).
fn is_an_asset(value: &FieldValue) -> bool {
    matches!(
        value,
        FieldValue::Scalar(Value::Asset(_)) | FieldValue::List(ScalarType::AssetId, _)
    )
}

/// Forgets the uploads an earlier run journaled at `journal` (those not made at
/// `now_millis`, this run's), after CloudKit refused a receipt: the next `prepare` uploads
/// those bytes again.
pub fn forget_earlier(journal: &Path, now_millis: i64) -> Result<(), UploadError> {
    let mut journaled: BTreeMap<String, Journaled> = std::fs::read(journal)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    journaled.retain(|_, entry| entry.at == now_millis);
    let text = serde_json::to_vec_pretty(&journaled).map_err(std::io::Error::other);
    text.and_then(|text| crate::durable::write_atomically(journal, &text))
        .map_err(|source| UploadError::Journal {
            path: journal.to_owned(),
            source,
        })
}

/// Whether `error` is CloudKit refusing a records/modify for an asset receipt (the bytes it
/// names are gone, or it expired): a reused upload is then uploaded again, once.
pub fn rejects_receipt(error: &CloudKitError) -> bool {
    matches!(error, CloudKitError::Service { status: 400, reason: Some(reason), .. }
        if reason.to_ascii_lowercase().contains("receipt"))
}

/// Checks every asset file the pending changes send against the plan's SHA-256 and size.
fn check(plan: &Plan, wanted: &[Wanted], files: &AssetFiles) -> Result<(), UploadError> {
    let project = &files.project;
    for item in wanted {
        let change = &plan.changes[item.change];
        if !files.agrees(change.record_type.as_str(), &item.asset) {
            let escape = |text: &str| crate::render::escape(text).into_owned();
            return Err(UploadError::Mismatch {
                written: escape(item.asset.written.as_deref().unwrap_or_default()),
                file: escape(&item.asset.file),
                record_name: escape(change.record_name.as_str()),
                field: escape(&item.field),
            });
        }
        let bytes = item.asset.read(project).map_err(|source| {
            let (file, record_name, field) = item.names(plan);
            UploadError::Read {
                file,
                record_name,
                field,
                source: Box::new(source),
            }
        })?;
        if !item.holds(&bytes) {
            let (file, record_name, field) = item.names(plan);
            return Err(UploadError::Changed {
                file,
                record_name,
                field,
            });
        }
    }
    Ok(())
}

/// Checks and uploads the asset files of the changes `pending` says are not done; returns
/// the plan with their values replaced by what records/modify saves (`None`: nothing to
/// upload, apply the plan as it is).
pub async fn prepare(
    plan: &Plan,
    pending: &dyn Fn(&Change) -> bool,
    client: &Client,
    files: &AssetFiles,
    journal: &Path,
    now_millis: i64,
) -> Result<(Option<Plan>, Uploaded), UploadError> {
    let wanted = wanted(plan, pending);
    if wanted.is_empty() {
        return Ok((None, Uploaded::default()));
    }
    check(plan, &wanted, files)?;
    let mut journaled: BTreeMap<String, Journaled> = std::fs::read(journal)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    journaled.retain(|_, entry| now_millis - entry.at < REUSE_MILLIS);
    let mut report = Uploaded::default();
    // One upload per slot, unless an earlier run's upload for it, of these bytes, is
    // journaled (and so was never saved: a saved record is not pending).
    let mut to_send: Vec<&Wanted> = Vec::new();
    for item in &wanted {
        let reusable = journaled
            .get(&item.slot(plan))
            .is_some_and(|entry| entry.sha256 == item.asset.sha256);
        match reusable {
            true => report.reused += 1,
            false => to_send.push(item),
        }
    }
    if !to_send.is_empty() {
        let tokens: Vec<AssetToken> = to_send
            .iter()
            .map(|item| {
                let change = &plan.changes[item.change];
                AssetToken {
                    record_name: Some(change.record_name.as_str().to_owned()),
                    record_type: change.record_type.as_str().to_owned(),
                    field_name: item.field.clone(),
                }
            })
            .collect();
        let failed = |item: &Wanted| {
            let file = item.asset.file.clone();
            move |source| UploadError::Upload { file, source }
        };
        let urls = client
            .asset_upload_urls(&tokens)
            .await
            .map_err(failed(to_send[0]))?;
        let project = &files.project;
        let results = futures::stream::iter(to_send.iter().zip(urls))
            .map(|(item, url)| async move {
                // Read once, checked, and exactly these bytes uploaded: a file changed
                // after `check` is refused here, never uploaded under the plan's digest.
                let bytes = item.asset.read(project).map_err(|source| {
                    let (file, record_name, field) = item.names(plan);
                    UploadError::Read {
                        file,
                        record_name,
                        field,
                        source: Box::new(source),
                    }
                })?;
                if !item.holds(&bytes) {
                    let (file, record_name, field) = item.names(plan);
                    return Err(UploadError::ChangedDuringUpload {
                        file,
                        record_name,
                        field,
                    });
                }
                let uploaded = client
                    .upload_asset_bytes(&url, &bytes)
                    .await
                    .map_err(failed(item))?;
                Ok((sha256_hex(&bytes), bytes.len() as u64, uploaded))
            })
            .buffered(client.parallelism())
            .collect::<Vec<_>>()
            .await;
        // A malformed ledger (the plan warned of it) is replaced by what was learned here.
        let mut ledger = Ledger::load(&Ledger::path(&files.project.directory)).0;
        let mut first_error = None;
        for (item, result) in to_send.iter().zip(results) {
            match result {
                Ok((sha256, size, asset)) => {
                    report.files += 1;
                    report.bytes += size;
                    // What the uploaded bytes are (checked equal to the plan's above).
                    let sent = LocalAsset {
                        sha256,
                        size,
                        ..item.asset.clone()
                    };
                    ledger.learn(&files.ledger_key, &sent, &asset.file_checksum);
                    let entry = Journaled {
                        asset,
                        sha256: sent.sha256.clone(),
                        at: now_millis,
                    };
                    journaled.insert(item.slot(plan), entry);
                }
                Err(error) => first_error = first_error.or(Some(error)),
            }
        }
        // What was uploaded is journaled even when another upload failed.
        let text = serde_json::to_vec_pretty(&journaled).map_err(std::io::Error::other);
        text.and_then(|text| crate::durable::write_atomically(journal, &text))
            .map_err(|source| UploadError::Journal {
                path: journal.to_owned(),
                source,
            })?;
        // Only a cache (see `sync::assets`): a failed write costs a probe in the next plan.
        let ledger_path = Ledger::path(&files.project.directory);
        if let Err(error) = ledger.save(&ledger_path) {
            tracing::warn!("cannot write `{}`: {error}", ledger_path.display());
        }
        if let Some(error) = first_error {
            return Err(error);
        }
    }
    let mut uploaded = plan.clone();
    for item in &wanted {
        let Some(entry) = journaled.get(&item.slot(plan)) else {
            continue;
        };
        let value = serde_json::json!({
            "fileChecksum": entry.asset.file_checksum,
            "size": entry.asset.size,
            "receipt": entry.asset.receipt,
        });
        let Some(after) = uploaded.changes[item.change].after.as_mut() else {
            continue;
        };
        match (item.element, after.get_mut(&item.field)) {
            (Some(element), Some(FieldValue::List(_, items))) if element < items.len() => {
                items[element] = Value::Asset(Box::new(value));
            }
            _ => {
                after.insert(
                    item.field.clone(),
                    FieldValue::Scalar(Value::Asset(Box::new(value))),
                );
            }
        }
    }
    Ok((Some(uploaded), report))
}
