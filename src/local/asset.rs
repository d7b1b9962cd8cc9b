//! ASSET fields naming local files. A data file names a file relative to itself (`logo:
//! logos/team-7.png`); loading reads it once (`asset_file::read`: relative, inside the
//! project directory, a regular file, within CloudKit's size limit) and keeps its path
//! relative to the config's directory (`/` separators, symlinks resolved), the path as
//! written, size and SHA-256 as the field's value, never the bytes: `{"file":
//! "data/logos/team-7.png", "path": "logos/team-7.png", "size": 18234, "sha256": "…"}`. A
//! file it cannot take is an error naming the data file, the record and the field.

use super::asset_file::{AssetFileError, Project};
pub use super::ledger::{ledger_key, save_state_file, Learned, Ledger, LedgerIgnored};
use super::{LocalData, Problem};
use crate::record::{FieldValue, ScalarType, Value};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The member of a local asset value holding its path as written (relative to the data
/// file): before it is resolved, the only member; after, kept beside `file` for `show`.
pub const WRITTEN: &str = "path";

/// A local asset as planned: where its file is and what it held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAsset {
    /// Relative to the config's directory, `/` separators, symlinks resolved.
    pub file: String,
    /// The path as the data file wrote it, relative to the data file (`path`), which
    /// `show` prints; `None` in plans made before it was kept.
    pub written: Option<String>,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl LocalAsset {
    /// The local asset a field value describes (`{file, size, sha256}`), if it is one.
    pub fn of(json: &Json) -> Option<Self> {
        Some(Self {
            file: json.get("file")?.as_str()?.to_owned(),
            written: json.get(WRITTEN).and_then(Json::as_str).map(str::to_owned),
            size: json.get("size")?.as_u64()?,
            sha256: json.get("sha256")?.as_str()?.to_owned(),
        })
    }

    pub fn to_json(&self) -> Json {
        let mut json = json!({"file": self.file, "size": self.size, "sha256": self.sha256});
        if let Some(written) = &self.written {
            json[WRITTEN] = Json::String(written.clone());
        }
        json
    }

    /// Its bytes, read safely (`asset_file::read`) from the project directory `directory`,
    /// the config's: a plan's path is untrusted too, so apply checks it again.
    pub fn read(&self, project: &Project) -> Result<Vec<u8>, AssetFileError> {
        let directory = &project.directory;
        super::asset_file::read(project, directory, &self.file).map(|taken| taken.bytes)
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

/// Resolves every written asset path of `data` (files inside `project`), adding a problem
/// for each file it cannot take; such a record is dropped from the desired records, as any
/// record with an error is.
pub fn resolve_all(project: &Project, data: &mut LocalData) {
    for (record_type, loaded) in &mut data.types {
        let mut keep = Vec::with_capacity(loaded.records.len());
        for (record, origin) in loaded.records.iter_mut().zip(&loaded.origins) {
            let mut ok = true;
            for (field, value) in record.fields.iter_mut() {
                for (index, json) in assets_of_mut(value) {
                    let data_directory = origin.file.parent().unwrap_or(Path::new(""));
                    let resolved = written_path(json)
                        .and_then(|written| resolve(project, data_directory, written));
                    match resolved {
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

/// The path an asset value of local data names: its only member, `path`. Anything else is
/// refused: ckplan's resolved form (`file`, `sha256`) would name any file for apply to
/// upload; CloudKit's form (`fileChecksum`, `size`, …) names no file, and CloudKit saves
/// no asset without an upload's receipt; an unknown member is a typo.
fn written_path(json: &Json) -> Result<&str, String> {
    let members = json.as_object();
    let ours = members.is_some_and(|m| m.contains_key("file") || m.contains_key("sha256"));
    if ours {
        return Err("an asset value names its file as a path relative to the data file (a string); `file` and `sha256` are ckplan's own members".to_owned());
    }
    let Some(written) = members.and_then(|m| m.get(WRITTEN)).and_then(Json::as_str) else {
        return Err("an asset in local data must name a file (a path relative to the data file); a value as CloudKit returns it (`fileChecksum`, `size`, `downloadURL`) names none, and CloudKit saves no asset without uploading one".to_owned());
    };
    match members
        .into_iter()
        .flatten()
        .find(|(name, _)| *name != WRITTEN)
    {
        Some((name, _)) => Err(format!(
            "an asset value has one member, `path`; `{}` is not one",
            crate::render::escape(name)
        )),
        None => Ok(written),
    }
}

/// The file `written` names, relative to `data_directory`, as a [`LocalAsset`]: read
/// through [`super::asset_file::read`], so it must be a regular file inside `project`.
fn resolve(project: &Project, data_directory: &Path, written: &str) -> Result<LocalAsset, String> {
    let taken = super::asset_file::read(project, data_directory, written)
        .map_err(|error| error.to_string())?;
    Ok(LocalAsset {
        file: taken.file,
        written: Some(written.to_owned()),
        size: taken.bytes.len() as u64,
        sha256: sha256_hex(&taken.bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::MAX_ASSET_BYTES;

    #[test]
    fn a_missing_or_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project {
            directory: dir.path().to_owned(),
            private: Vec::new(),
            private_dirs: Vec::new(),
        };
        let error = resolve(&project, dir.path(), "nope.png").unwrap_err();
        assert!(
            error.starts_with("failed to read asset `nope.png`"),
            "{error}"
        );
        let big = dir.path().join("big.bin");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_ASSET_BYTES as u64 + 1).unwrap();
        let error = resolve(&project, dir.path(), "big.bin").unwrap_err();
        assert!(
            error.contains("over CloudKit's 15 MB asset size limit"),
            "{error}"
        );
        std::fs::write(dir.path().join("a.txt"), b"abc").unwrap();
        let asset = resolve(&project, dir.path(), "a.txt").unwrap();
        assert_eq!(asset.size, 3);
        assert_eq!(
            asset.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
