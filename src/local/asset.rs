//! ASSET fields naming local files. A data file names a file relative to itself (`logo:
//! logos/team-7.png`); loading reads it once and keeps its path (relative to the config's
//! directory, with `/` separators), size and SHA-256 as the field's value, never the bytes:
//! `{"file": "data/logos/team-7.png", "size": 18234, "sha256": "…"}`. A file that is
//! missing, unreadable, a directory or over CloudKit's asset size limit is an error naming
//! the record and the field.

use super::{LocalData, Problem};
use crate::record::{FieldValue, ScalarType, Value, MAX_ASSET_BYTES};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// The member of a local asset value holding its path as written, before it is resolved.
pub const WRITTEN: &str = "path";

/// A local asset as planned: where its file is and what it held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAsset {
    /// Relative to the config's directory, `/` separators.
    pub file: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl LocalAsset {
    /// The local asset a field value describes (`{file, size, sha256}`), if it is one.
    pub fn of(json: &Json) -> Option<Self> {
        Some(Self {
            file: json.get("file")?.as_str()?.to_owned(),
            size: json.get("size")?.as_u64()?,
            sha256: json.get("sha256")?.as_str()?.to_owned(),
        })
    }

    pub fn to_json(&self) -> Json {
        json!({"file": self.file, "size": self.size, "sha256": self.sha256})
    }

    /// Its file, from the directory the config is in.
    pub fn path(&self, directory: &Path) -> PathBuf {
        directory.join(&self.file)
    }
}

/// The asset values of a field: one for `ASSET`, each element's (with its index) for
/// `ASSET_LIST`; none for any other field.
pub fn assets_of(value: &FieldValue) -> Vec<(Option<usize>, &Json)> {
    match value {
        FieldValue::Scalar(Value::Asset(json)) => vec![(None, &**json)],
        FieldValue::List(ScalarType::AssetId, items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item {
                Value::Asset(json) => Some((Some(index), &**json)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// As [`assets_of`], to change them.
pub fn assets_of_mut(value: &mut FieldValue) -> Vec<(Option<usize>, &mut Json)> {
    match value {
        FieldValue::Scalar(Value::Asset(json)) => vec![(None, &mut **json)],
        FieldValue::List(ScalarType::AssetId, items) => items
            .iter_mut()
            .enumerate()
            .filter_map(|(index, item)| match item {
                Value::Asset(json) => Some((Some(index), &mut **json)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Resolves every written asset path of `data` (read from files under `directory`, the
/// config's), adding a problem for each file it cannot take; such a record is dropped
/// from the desired records, as any record with an error is.
pub fn resolve_all(directory: &Path, data: &mut LocalData) {
    for (record_type, loaded) in &mut data.types {
        let mut keep = Vec::with_capacity(loaded.records.len());
        for (record, origin) in loaded.records.iter_mut().zip(&loaded.origins) {
            let mut ok = true;
            for (field, value) in record.fields.iter_mut() {
                for (index, json) in assets_of_mut(value) {
                    let Some(written) = json.get(WRITTEN).and_then(Json::as_str) else {
                        continue;
                    };
                    let data_directory = origin.file.parent().unwrap_or(Path::new(""));
                    match resolve(directory, data_directory, written) {
                        Ok(asset) => *json = asset.to_json(),
                        Err(message) => {
                            ok = false;
                            let message = match index {
                                Some(index) => format!("element {index}: {message}"),
                                None => message,
                            };
                            loaded.problems.push(
                                Problem::error(&*origin.file, record_type, message)
                                    .at(Some(origin.place))
                                    .record(Some(&record.record_name))
                                    .field(field),
                            );
                        }
                    }
                }
            }
            keep.push(ok);
        }
        let mut index = 0;
        loaded.records.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        let mut index = 0;
        loaded.origins.retain(|_| {
            index += 1;
            keep[index - 1]
        });
    }
}

/// The file `written` names, relative to `data_directory`, as a [`LocalAsset`].
fn resolve(directory: &Path, data_directory: &Path, written: &str) -> Result<LocalAsset, String> {
    let path = data_directory.join(written);
    let shown = crate::render::escape(written);
    if path.is_dir() {
        return Err(format!("asset `{shown}` is a directory, not a file"));
    }
    let size = std::fs::metadata(&path)
        .map_err(|error| format!("failed to read asset `{shown}`: {error}"))?
        .len();
    if size > MAX_ASSET_BYTES as u64 {
        return Err(format!(
            "asset `{shown}` is {size} bytes, over CloudKit's 15 MB asset size limit ({MAX_ASSET_BYTES} bytes)"
        ));
    }
    let bytes =
        std::fs::read(&path).map_err(|error| format!("failed to read asset `{shown}`: {error}"))?;
    Ok(LocalAsset {
        file: relative(directory, &path),
        size: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
    })
}

/// `path` relative to `directory`, `/` separators, `.` and `..` folded where they can be.
fn relative(directory: &Path, path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let shown = path.strip_prefix(directory).unwrap_or(path);
    for component in shown.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if parts.last().is_some_and(|p| p != "..") => {
                parts.pop();
            }
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

/// What ckplan learned of its uploads, kept with the project in `.ckplan/assets.json`:
/// per target (endpoint and container/environment/database/zone), SHA-256 → the `size`
/// and `fileChecksum` CloudKit answered for those bytes. Only a cache: a lost or corrupt
/// file is read as empty, and a plan then probes (uploads without saving) to stay exact.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    pub targets: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Learned>>,
}

/// What CloudKit answered for one file's bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Learned {
    pub size: u64,
    pub file_checksum: String,
}

/// The ledger's key of a target: the endpoint, then container/environment/database/zone.
pub fn ledger_key(endpoint: &str, target: &crate::record::Target) -> String {
    format!("{endpoint} {target}")
}

impl Ledger {
    /// `.ckplan/assets.json` in the config's directory.
    pub fn path(directory: &Path) -> PathBuf {
        directory.join(".ckplan").join("assets.json")
    }

    /// The ledger at `path`; empty when it is missing or unreadable (see above).
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        crate::durable::write_atomically(path, &text)
    }

    /// The checksum learned for `asset`'s bytes at `target`, when its size agrees.
    pub fn checksum(&self, target: &str, asset: &LocalAsset) -> Option<&str> {
        let learned = self.targets.get(target)?.get(&asset.sha256)?;
        (learned.size == asset.size).then_some(learned.file_checksum.as_str())
    }

    /// Notes what an upload of `asset`'s bytes answered; whether that is new.
    pub fn learn(&mut self, target: &str, asset: &LocalAsset, file_checksum: &str) -> bool {
        let learned = Learned {
            size: asset.size,
            file_checksum: file_checksum.to_owned(),
        };
        let known = self.targets.entry(target.to_owned()).or_default();
        known.insert(asset.sha256.clone(), learned.clone()) != Some(learned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_knows_bytes_by_digest_and_size_per_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = Ledger::path(dir.path());
        assert_eq!(Ledger::load(&path), Ledger::default());
        let asset = LocalAsset {
            file: "a.png".into(),
            size: 3,
            sha256: "ab".into(),
        };
        let mut ledger = Ledger::default();
        assert!(ledger.learn("t", &asset, "AQ=="));
        assert!(!ledger.learn("t", &asset, "AQ=="));
        ledger.save(&path).unwrap();
        let ledger = Ledger::load(&path);
        assert_eq!(ledger.checksum("t", &asset), Some("AQ=="));
        assert_eq!(ledger.checksum("other", &asset), None);
        let resized = LocalAsset { size: 4, ..asset };
        assert_eq!(ledger.checksum("t", &resized), None);
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(Ledger::load(&path), Ledger::default());
    }

    #[test]
    fn paths_are_relative_to_the_config_directory() {
        let directory = Path::new("/p");
        assert_eq!(
            relative(directory, Path::new("/p/data/./logos/a.png")),
            "data/logos/a.png"
        );
        assert_eq!(
            relative(directory, Path::new("/p/data/../logos/a.png")),
            "logos/a.png"
        );
    }

    #[test]
    fn a_missing_or_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = resolve(dir.path(), dir.path(), "nope.png").unwrap_err();
        assert!(
            error.starts_with("failed to read asset `nope.png`"),
            "{error}"
        );
        let big = dir.path().join("big.bin");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_ASSET_BYTES as u64 + 1).unwrap();
        let error = resolve(dir.path(), dir.path(), "big.bin").unwrap_err();
        assert!(
            error.contains("over CloudKit's 15 MB asset size limit"),
            "{error}"
        );
        std::fs::write(dir.path().join("a.txt"), b"abc").unwrap();
        let asset = resolve(dir.path(), dir.path(), "a.txt").unwrap();
        assert_eq!(asset.size, 3);
        assert_eq!(
            asset.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
