//! How a plan knows whether a local asset file is what CloudKit holds (issue 21).
//! CloudKit's `fileChecksum` is not a hash a client can compute, only the same for the same
//! bytes, so equality is learned: from `.ckplan/assets.json` (`local::asset::Ledger`, what
//! earlier uploads answered), and where that knows nothing and CloudKit holds an asset of
//! the file's very size, from a probe: the file is uploaded without saving any record, and
//! the checksum the upload answers is compared and kept in the ledger. A file whose size
//! differs from CloudKit's asset, or a field with no asset in CloudKit, needs no probe: it
//! differs. So a fresh checkout plans exactly, and a plan right after an apply uploads
//! nothing (apply writes the ledger).

use crate::cloudkit::client::AssetToken;
use crate::cloudkit::{Client, CloudKitError};
use crate::config::Config;
use crate::local::asset::{assets_of, assets_of_mut, ledger_key, Ledger, LocalAsset};
use crate::local::LocalData;
use crate::record::{FieldValue, Record, RecordType};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// Gives every local asset of `local` whose checksum is known or probed a `fileChecksum`
/// member, so that comparison sees it equal to CloudKit's asset of those bytes.
pub async fn learn(
    config: &Config,
    local: &mut LocalData,
    current: &[(RecordType, Vec<Record>)],
    client: &Client,
) -> Result<(), CloudKitError> {
    let path = Ledger::path(config.directory());
    let key = ledger_key(&config.endpoint_text(), &config.target());
    let mut ledger = Ledger::load(&path);
    // Probes wanted, one per distinct file content: the token names a record and field.
    let mut probes: BTreeMap<String, (AssetToken, LocalAsset)> = BTreeMap::new();
    for (record_type, records) in current {
        let cloud: HashMap<&str, &Record> = records
            .iter()
            .map(|r| (r.record_name.as_str(), r))
            .collect();
        for record in local.records(record_type) {
            for (field, index, asset) in local_assets(record) {
                if ledger.checksum(&key, &asset).is_some() {
                    continue;
                }
                let cloud_size = cloud
                    .get(record.record_name.as_str())
                    .and_then(|r| r.fields.get(field))
                    .and_then(|value| asset_size(value, index));
                if cloud_size == Some(asset.size) {
                    let token = AssetToken {
                        record_name: Some(record.record_name.as_str().to_owned()),
                        record_type: record_type.as_str().to_owned(),
                        field_name: field.to_owned(),
                    };
                    probes.entry(asset.sha256.clone()).or_insert((token, asset));
                }
            }
        }
    }
    if !probes.is_empty() {
        let probes: Vec<_> = probes.into_values().collect();
        let tokens: Vec<AssetToken> = probes.iter().map(|(t, _)| t.clone()).collect();
        let urls = client.asset_upload_urls(&tokens).await?;
        let directory = config.directory();
        let uploads = futures::stream::iter(probes.iter().zip(urls))
            .map(|((_, asset), url)| async move {
                // A file that cannot be read now stays unknown: planned as a change, and
                // apply's digest check names it.
                let Ok(bytes) = std::fs::read(asset.path(directory)) else {
                    return Ok(None);
                };
                client.upload_asset_bytes(&url, &bytes).await.map(Some)
            })
            .buffered(client.parallelism())
            .collect::<Vec<_>>()
            .await;
        for ((_, asset), uploaded) in probes.iter().zip(uploads) {
            if let Some(uploaded) = uploaded? {
                ledger.learn(&key, asset, &uploaded.file_checksum);
            }
        }
        // Only a cache: a ledger that cannot be written costs a probe next time.
        if let Err(error) = ledger.save(&path) {
            tracing::warn!("cannot write `{}`: {error}", path.display());
        }
    }
    annotate(local, &ledger, &key);
    Ok(())
}

/// The local assets of `record`, by field and list index (`None`: an `ASSET` field).
fn local_assets(record: &Record) -> impl Iterator<Item = (&str, Option<usize>, LocalAsset)> {
    record.fields.iter().flat_map(|(field, value)| {
        assets_of(value)
            .into_iter()
            .filter_map(|(index, json)| LocalAsset::of(json).map(|a| (field.as_str(), index, a)))
    })
}

/// The `size` of a CloudKit asset value (the element at `index` of a list of them).
fn asset_size(value: &FieldValue, index: Option<usize>) -> Option<u64> {
    assets_of(value)
        .into_iter()
        .find(|(at, _)| *at == index)?
        .1
        .get("size")?
        .as_u64()
}

/// Adds the learned `fileChecksum` to every local asset the ledger knows.
fn annotate(local: &mut LocalData, ledger: &Ledger, key: &str) {
    for loaded in local.types.values_mut() {
        for record in &mut loaded.records {
            for value in record.fields.values_mut() {
                for (_, json) in assets_of_mut(value) {
                    let Some(asset) = LocalAsset::of(json) else {
                        continue;
                    };
                    if let Some(checksum) = ledger.checksum(key, &asset) {
                        json["fileChecksum"] = serde_json::Value::String(checksum.to_owned());
                    }
                }
            }
        }
    }
}
