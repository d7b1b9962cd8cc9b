//! How a plan knows whether a local asset file is what CloudKit holds (issue 21).
//! CloudKit's `fileChecksum` is not a hash a client can compute, only the same for the same
//! bytes, so equality is learned: from `.ckplan/assets.json` (`local::asset::Ledger`, what
//! earlier uploads answered), and where that knows nothing and CloudKit holds an asset of
//! the file's very size, from a probe: the file is uploaded without saving any record, and
//! the checksum the upload answers is compared and kept in the ledger. A file whose size
//! differs from CloudKit's asset, or a field with no asset in CloudKit, needs no probe: it
//! differs. So a fresh checkout plans exactly, and a plan right after an apply uploads
//! nothing (apply writes the ledger). The ledger is trusted as it stands (a local cache,
//! never committed; a malformed one is ignored whole), unless the plan is asked to probe
//! everything instead ([`Trust::Probe`]).

use crate::cloudkit::client::AssetToken;
use crate::cloudkit::{Client, CloudKitError};
use crate::config::Config;
use crate::local::asset::{
    assets_of, assets_of_mut, ledger_key, sha256_hex, Ledger, LedgerIgnored, LocalAsset,
};
use crate::local::LocalData;
use crate::record::{FieldValue, Record, RecordType};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// How far a plan trusts the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// A file whose SHA-256 and size the ledger knows has the checksum it says.
    Ledger,
    /// Nothing the ledger says is used: every local asset of the size CloudKit holds is
    /// probed (`plan --refresh-assets`), and what the probes answer replaces the ledger's
    /// entries for those bytes.
    Probe,
}

/// Gives every local asset of `local` whose checksum is known or probed a `fileChecksum`
/// member, so that comparison sees it equal to CloudKit's asset of those bytes. Returns why
/// the ledger on disk was ignored, if it was.
pub async fn learn(
    config: &Config,
    local: &mut LocalData,
    current: &[(RecordType, Vec<Record>)],
    client: &Client,
    trust: Trust,
) -> Result<Option<LedgerIgnored>, CloudKitError> {
    let path = Ledger::path(config.directory());
    let key = ledger_key(&config.endpoint_text(), &config.target());
    let (mut stored, ignored) = Ledger::load(&path);
    // What this plan goes by: the stored ledger, or only what it probes now.
    let mut ledger = match trust {
        Trust::Ledger => stored.clone(),
        Trust::Probe => Ledger::default(),
    };
    // Probes wanted, one per distinct file content: the token names a record and field.
    let mut probes: BTreeMap<String, (AssetToken, LocalAsset)> = BTreeMap::new();
    for (record_type, records) in current {
        let desired = local.records(record_type);
        // Only a type whose local data holds an asset can need a probe.
        if !desired.iter().any(|r| r.fields.values().any(is_asset)) {
            continue;
        }
        let cloud: HashMap<&str, &Record> = records
            .iter()
            .map(|r| (r.record_name.as_str(), r))
            .collect();
        for record in desired {
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
        let project = &crate::local::asset_file::Project::of(config);
        let uploads = futures::stream::iter(probes.iter().zip(urls))
            .map(|((_, asset), url)| async move {
                // A file that cannot be taken now stays unknown: planned as a change, and
                // apply's checks name it.
                let Ok(bytes) = asset.read(project) else {
                    return Ok(None);
                };
                // What is learned is keyed by the bytes probed, not by what loading saw.
                let probed = LocalAsset {
                    size: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                    ..asset.clone()
                };
                let uploaded = client.upload_asset_bytes(&url, &bytes).await?;
                Ok(Some((probed, uploaded)))
            })
            .buffered(client.parallelism())
            .collect::<Vec<_>>()
            .await;
        for uploaded in uploads {
            if let Some((probed, uploaded)) = uploaded? {
                ledger.learn(&key, &probed, &uploaded.file_checksum);
                stored.learn(&key, &probed, &uploaded.file_checksum);
            }
        }
        // Only a cache: a ledger that cannot be written costs a probe next time.
        if let Err(error) = stored.save(&path) {
            tracing::warn!("cannot write `{}`: {error}", path.display());
        }
    }
    annotate(local, &ledger, &key);
    Ok(ignored)
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

/// Issue 21: an asset CloudKit holds in a field that the type's `fields:` does not declare
/// and the local record does not set is the app's own (a photo a user attached, say):
/// taken out of `current` before comparing, so it is never planned for removal, as if the
/// type listed it in `ignore_fields`. Other fields absent locally stay differences (README,
/// comparison rules); to have ckplan remove such an asset, declare the field.
pub fn drop_unmanaged(
    declared: &BTreeMap<String, crate::config::FieldSpec>,
    desired: Option<&crate::record::Fields>,
    current: &mut Record,
) {
    current.fields.retain(|name, value| {
        !is_asset(value)
            || declared.contains_key(name.as_str())
            || desired.is_some_and(|fields| fields.contains_key(name))
    });
}

/// Whether `value` is an `ASSETID` or an `ASSETID_LIST` (empty or not).
pub fn is_asset(value: &FieldValue) -> bool {
    matches!(
        value,
        FieldValue::Scalar(crate::record::Value::Asset(_))
            | FieldValue::List(crate::record::ScalarType::AssetId, _)
    )
}
