//! Asset files of a plan, before its records are written (issue 21). Every local asset the
//! pending changes send is checked against the SHA-256 the plan recorded before anything
//! is sent (a file edited since the plan is refused: apply writes what was reviewed), then
//! uploaded, and the change's value becomes the `{fileChecksum, size, receipt}` that
//! records/modify saves. Each upload is journaled beside the plan's journal
//! (`PLAN.journal.uploads.json`), so a resumed apply reuses an upload younger than an
//! upload URL's 15 minutes instead of sending the file again; what CloudKit answered is
//! also kept in `.ckplan/assets.json`, so the next plan knows those bytes are in CloudKit.

use super::resolve::wanted_fields;
use crate::cloudkit::client::{AssetToken, UploadedAsset};
use crate::cloudkit::{Client, CloudKitError};
use crate::local::asset::{assets_of, sha256_hex, Ledger, LocalAsset};
use crate::plan::{Change, Plan};
use crate::record::{FieldValue, Value};
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
    /// The config's directory: plan paths are relative to it.
    pub directory: PathBuf,
    /// The ledger's key of the target (`local::asset::ledger_key`).
    pub ledger_key: String,
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
    #[error("asset `{file}` of record `{record_name}` (field `{field}`) changed since the plan was made; nothing was sent (make a new plan)")]
    Changed {
        file: String,
        record_name: String,
        field: String,
    },
    #[error("failed to read asset `{file}` of record `{record_name}` (field `{field}`); nothing was sent")]
    Read {
        file: String,
        record_name: String,
        field: String,
        #[source]
        source: std::io::Error,
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

/// One journaled upload.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Journaled {
    #[serde(flatten)]
    asset: UploadedAsset,
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

/// The local assets that the changes `pending` says are not done send.
fn wanted(plan: &Plan, pending: &dyn Fn(&Change) -> bool) -> Vec<Wanted> {
    let mut found = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        if !pending(change) {
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

/// Checks every asset file the pending changes send against the plan's SHA-256 and size.
fn check(plan: &Plan, wanted: &[Wanted], directory: &Path) -> Result<(), UploadError> {
    for item in wanted {
        let change = &plan.changes[item.change];
        let names = || {
            (
                item.asset.file.clone(),
                change.record_name.as_str().to_owned(),
                item.field.clone(),
            )
        };
        let bytes = std::fs::read(item.asset.path(directory)).map_err(|source| {
            let (file, record_name, field) = names();
            UploadError::Read {
                file,
                record_name,
                field,
                source,
            }
        })?;
        if bytes.len() as u64 != item.asset.size || sha256_hex(&bytes) != item.asset.sha256 {
            let (file, record_name, field) = names();
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
    check(plan, &wanted, &files.directory)?;
    let mut journaled: BTreeMap<String, Journaled> = std::fs::read(journal)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    journaled.retain(|_, entry| now_millis - entry.at < REUSE_MILLIS);
    let mut report = Uploaded::default();
    // One upload per distinct content not journaled.
    let mut to_send: BTreeMap<&str, &Wanted> = BTreeMap::new();
    for item in &wanted {
        if journaled.contains_key(&item.asset.sha256) {
            report.reused += 1;
        } else {
            to_send.entry(item.asset.sha256.as_str()).or_insert(item);
        }
    }
    let to_send: Vec<&Wanted> = to_send.into_values().collect();
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
        let directory = &files.directory;
        let results = futures::stream::iter(to_send.iter().zip(urls))
            .map(|(item, url)| async move {
                let bytes = std::fs::read(item.asset.path(directory)).map_err(|source| {
                    let (file, field) = (item.asset.file.clone(), item.field.clone());
                    let record_name = plan.changes[item.change].record_name.as_str().to_owned();
                    UploadError::Read {
                        file,
                        record_name,
                        field,
                        source,
                    }
                })?;
                client
                    .upload_asset_bytes(&url, &bytes)
                    .await
                    .map_err(failed(item))
            })
            .buffered(client.parallelism())
            .collect::<Vec<_>>()
            .await;
        let mut ledger = Ledger::load(&Ledger::path(&files.directory));
        let mut first_error = None;
        for (item, result) in to_send.iter().zip(results) {
            match result {
                Ok(asset) => {
                    report.files += 1;
                    report.bytes += item.asset.size;
                    ledger.learn(&files.ledger_key, &item.asset, &asset.file_checksum);
                    let entry = Journaled {
                        asset,
                        at: now_millis,
                    };
                    journaled.insert(item.asset.sha256.clone(), entry);
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
        let ledger_path = Ledger::path(&files.directory);
        if let Err(error) = ledger.save(&ledger_path) {
            tracing::warn!("cannot write `{}`: {error}", ledger_path.display());
        }
        if let Some(error) = first_error {
            return Err(error);
        }
    }
    let mut uploaded = plan.clone();
    for item in &wanted {
        let entry = &journaled[&item.asset.sha256];
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
