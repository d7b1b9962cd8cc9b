//! The asset files of `ckplan export` (issue 21): each ASSET value CloudKit holds becomes
//! the file `data/assets/<Type>/<recordName>/<field>` (an ASSET_LIST's elements
//! `…/<field>/0`, `…/1`, …), which the exported record names
//! (`assets/<Type>/<recordName>/<field>`, relative to its data file), downloaded from the
//! asset's `downloadURL` (`cloudkit::client::AssetDownloader` decides which URLs may be
//! fetched and checks the size). Record and field names come from a database other apps
//! write, so each becomes one safe path component ([`component`]): never `..`, `/` or a
//! control character, never hidden, never over 120 bytes, and names that differ only in
//! case (which a case-insensitive file system would merge) get a suffix from their digest.
//! What a download learned (SHA-256 → size and `fileChecksum`) goes into the exported
//! directory's `.ckplan/assets.json`, so the plan right after uploads nothing.

use super::export::ExportError;
use crate::cloudkit::client::{AssetDownloader, DownloadError};
use crate::local::asset::{assets_of, sha256_hex, Ledger, LocalAsset};
use crate::record::{Record, RecordType};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory, under the export directory, that holds the asset files.
pub const ASSETS_DIR: &str = "data/assets";

/// One asset CloudKit holds and the file export writes it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetFile {
    pub record_name: String,
    pub field: String,
    /// Relative to the export directory (`data/assets/Team/team-7/logo`).
    pub file: String,
    /// As the data file names it, relative to itself (`assets/Team/team-7/logo`).
    pub written: String,
    pub download_url: String,
    pub size: u64,
    pub file_checksum: String,
}

/// The asset files of one type's records, ordered by record, field and list element.
pub fn asset_files(
    record_type: &RecordType,
    records: &[Record],
) -> Result<Vec<AssetFile>, Box<ExportError>> {
    // Each asset with its path components (type, record, field) and list element.
    let mut found: Vec<([String; 3], Option<usize>, AssetFile)> = Vec::new();
    for record in records {
        for (field, value) in &record.fields {
            for (element, json) in assets_of(value) {
                let incomplete = |missing| {
                    Box::new(ExportError::AssetIncomplete {
                        record_type: record_type.to_string(),
                        record_name: record.record_name.to_string(),
                        field: field.to_string(),
                        missing,
                    })
                };
                let text = |name| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
                let asset = AssetFile {
                    record_name: record.record_name.to_string(),
                    field: field.to_string(),
                    file: String::new(),
                    written: String::new(),
                    download_url: text("downloadURL").ok_or_else(|| incomplete("`downloadURL`"))?,
                    size: json
                        .get("size")
                        .and_then(|v| v.as_u64())
                        .ok_or_else(|| incomplete("`size`"))?,
                    file_checksum: text("fileChecksum")
                        .ok_or_else(|| incomplete("`fileChecksum`"))?,
                };
                let parts = [
                    component(record_type.as_str()),
                    component(record.record_name.as_str()),
                    component(field),
                ];
                found.push((parts, element, asset));
            }
        }
    }
    // Paths that a case-insensitive file system would take for one each get a suffix (the
    // elements of one list share their field's path: counted once).
    let mut folded: BTreeMap<String, usize> = BTreeMap::new();
    for (parts, element, _) in &found {
        if element.is_none_or(|index| index == 0) {
            *folded.entry(parts.join("/").to_lowercase()).or_default() += 1;
        }
    }
    Ok(found
        .into_iter()
        .map(|(mut parts, element, mut asset)| {
            if folded[&parts.join("/").to_lowercase()] > 1 {
                let name = format!("{}\0{}", asset.record_name, asset.field);
                parts[2] = format!("{}~{}", parts[2], &sha256_hex(name.as_bytes())[..8]);
            }
            asset.written = match element {
                Some(index) => format!("assets/{}/{index}", parts.join("/")),
                None => format!("assets/{}", parts.join("/")),
            };
            asset.file = format!("data/{}", asset.written);
            asset
        })
        .collect())
}

/// `name` as one path component that means only itself: ASCII letters, digits, `-` and
/// `_` kept, `.` kept except first, every other byte as `%XX` (so `/`, `\`, `%`, `~`,
/// control characters and a leading `.` never appear as themselves); over 120 bytes, the
/// first 100 and `~` with 16 hex digits of its SHA-256. Distinct names stay distinct.
pub fn component(name: &str) -> String {
    if name.is_empty() {
        return "~empty".to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for (index, byte) in name.bytes().enumerate() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_')
            || (byte == b'.' && index > 0);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if out.len() > 120 {
        out.truncate(100);
        out.push('~');
        out.push_str(&sha256_hex(name.as_bytes())[..16]);
    }
    out
}

/// Why an asset was not exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportAssetError {
    #[error("record `{record_name}`, field `{field}`: cannot download the asset: {source}; no data file or config was written")]
    Download {
        record_name: String,
        field: String,
        source: DownloadError,
    },
    #[error("failed to write `{}`: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Files and bytes downloaded, and what each taught about CloudKit's checksums.
#[derive(Debug, Default)]
pub struct Downloaded {
    pub files: usize,
    pub bytes: u64,
    pub learned: Vec<(LocalAsset, String)>,
}

/// Downloads every asset of `files` into `directory`, `parallelism` at once.
pub async fn download_all(
    downloader: &AssetDownloader,
    directory: &Path,
    files: &[&AssetFile],
    parallelism: usize,
) -> Result<Downloaded, ExportAssetError> {
    let results = futures::stream::iter(files)
        .map(|asset| async move {
            let url_name = url_file_name(&asset.field);
            let bytes = downloader
                .download(&asset.download_url, &url_name, asset.size)
                .await
                .map_err(|source| ExportAssetError::Download {
                    record_name: asset.record_name.clone(),
                    field: asset.field.clone(),
                    source,
                })?;
            let path = directory.join(&asset.file);
            let write = |source| ExportAssetError::Write {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write)?;
            }
            crate::durable::write_atomically(&path, &bytes).map_err(write)?;
            let local = LocalAsset {
                file: asset.file.clone(),
                written: None,
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            };
            Ok((local, asset.file_checksum.clone()))
        })
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut downloaded = Downloaded::default();
    for result in results {
        let (local, checksum) = result?;
        downloaded.files += 1;
        downloaded.bytes += local.size;
        downloaded.learned.push((local, checksum));
    }
    Ok(downloaded)
}

/// Keeps what the downloads learned in `ledger_path` under `ledger_key`, as an upload's
/// answer would be kept.
pub fn remember(
    ledger_path: &Path,
    ledger_key: &str,
    downloaded: &Downloaded,
) -> std::io::Result<()> {
    let mut ledger = Ledger::load(ledger_path).0;
    for (asset, checksum) in &downloaded.learned {
        ledger.learn(ledger_key, asset, checksum);
    }
    ledger.save(ledger_path)
}

/// The file name put in place of the URL's `${f}`: the field's name when it is a plain
/// identifier, `asset` otherwise (CloudKit uses it only to name the download).
fn url_file_name(field: &str) -> String {
    if !field.is_empty()
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        field.to_owned()
    } else {
        "asset".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FieldValue, Value};
    use serde_json::json;

    #[test]
    fn hostile_names_become_one_plain_component_each() {
        for (name, expected) in [
            ("team-7", "team-7"),
            ("..", "%2E."),
            (".", "%2E"),
            (".hidden", "%2Ehidden"),
            ("../../etc/passwd", "%2E.%2F..%2Fetc%2Fpasswd"),
            ("/abs", "%2Fabs"),
            ("a\u{1b}[31mred", "a%1B%5B31mred"),
            ("C:\\x", "C%3A%5Cx"),
            ("100%~", "100%25%7E"),
            ("zürich", "z%C3%BCrich"),
            ("", "~empty"),
        ] {
            assert_eq!(component(name), expected, "{name:?}");
            let path = Path::new(expected);
            assert_eq!(path.components().count(), 1, "{expected}");
            assert!(matches!(
                path.components().next(),
                Some(std::path::Component::Normal(_))
            ));
        }
        let long = component(&"x".repeat(300));
        assert_eq!(long.len(), 117);
        assert_ne!(long, component(&"x".repeat(301)));
    }

    #[test]
    fn names_equal_but_for_case_get_distinct_files() {
        let asset = |name: &str| {
            Record::new("Team", name).with_field(
                "logo",
                FieldValue::Scalar(Value::Asset(Box::new(json!({
                    "fileChecksum": "AQ", "size": 1, "downloadURL": "http://127.0.0.1:1/x/${f}"
                })))),
            )
        };
        let records = [asset("Team-A"), asset("team-a"), asset("team-b")];
        let files = asset_files(&RecordType::new("Team"), &records).unwrap();
        let written: Vec<&str> = files.iter().map(|f| f.written.as_str()).collect();
        assert_eq!(written[2], "assets/Team/team-b/logo");
        assert!(
            written[0].starts_with("assets/Team/Team-A/logo~"),
            "{written:?}"
        );
        assert!(
            written[1].starts_with("assets/Team/team-a/logo~"),
            "{written:?}"
        );
        assert_ne!(written[0].to_lowercase(), written[1].to_lowercase());
        assert_eq!(files[0].file, format!("data/{}", written[0]));
    }

    #[test]
    fn an_asset_without_a_download_url_is_named() {
        let record = Record::new("Team", "team-1").with_field(
            "logo",
            FieldValue::Scalar(Value::Asset(Box::new(
                json!({"fileChecksum": "AQ", "size": 1}),
            ))),
        );
        let error = asset_files(&RecordType::new("Team"), &[record]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record type `Team`, record `team-1`, field `logo`: the asset has no `downloadURL`, so it cannot be downloaded; nothing was written"
        );
    }
}
