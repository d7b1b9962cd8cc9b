//! What ckplan learned of its uploads (issue 21), kept in `.ckplan/assets.json` beside the
//! config: per target (endpoint and container/environment/database/zone), SHA-256 → the
//! `size` and `fileChecksum` CloudKit answered for those bytes. A plan trusts it: a local
//! file whose SHA-256 and size the ledger knows, with the checksum CloudKit holds, plans as
//! unchanged without any upload. So it is a local cache, never committed (ckplan writes
//! `.ckplan/.gitignore` beside it): a stale or edited entry would make a changed file plan
//! as unchanged. A ledger that is not exactly this shape is ignored as a whole, with a
//! warning, never trusted in part; `plan --refresh-assets` trusts none of it and probes.

use super::asset::LocalAsset;
use crate::record::MAX_ASSET_BYTES;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `.ckplan/.gitignore` says: everything under `.ckplan/` is this machine's.
const GITIGNORE: &str = "# ckplan's local state (asset ledger, read hints, smart-sync plans, the embedded emulator's store):\n# never committed.\n*\n";

/// The ledger: target → SHA-256 → what CloudKit answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    pub targets: BTreeMap<String, BTreeMap<String, Learned>>,
}

/// What CloudKit answered for one file's bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Learned {
    pub size: u64,
    pub file_checksum: String,
}

/// Why a ledger on disk was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ignoring the asset ledger `{}`: {reason}; assets are compared without it (probed where CloudKit holds one of the same size)", path.display())]
pub struct LedgerIgnored {
    pub path: PathBuf,
    pub reason: String,
}

/// Writes `bytes` to `path`, a file of ckplan's own under `.ckplan/`, atomically and with
/// `.ckplan/.gitignore` when there is none; refuses when something other than a regular
/// file is there (a FIFO would block the write, a device or a link would send it elsewhere).
pub fn save_state_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    prepare_state_dir(path)?;
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.file_type().is_file() => Err(std::io::Error::other(format!(
            "`{}` is not a regular file",
            path.display()
        ))),
        _ => crate::durable::write_atomically(path, bytes),
    }
}

/// Makes the directory of `path` (a file under `.ckplan/`) with `.ckplan/.gitignore` when
/// it has none.
fn prepare_state_dir(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
        let ignore = parent.join(".gitignore");
        if !ignore.exists() {
            crate::durable::write_atomically(&ignore, GITIGNORE.as_bytes())?;
        }
    }
    Ok(())
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

    /// The ledger at `path`: empty when there is none; empty too, with why, when it cannot
    /// be read or is not exactly a ledger (see the module's documentation).
    pub fn load(path: &Path) -> (Self, Option<LedgerIgnored>) {
        let ignored = |reason: String| {
            let path = path.to_owned();
            (Self::default(), Some(LedgerIgnored { path, reason }))
        };
        let bytes = match std::fs::metadata(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return (Self::default(), None)
            }
            Err(error) => return ignored(error.to_string()),
            Ok(metadata) if !metadata.is_file() => return ignored("not a file".to_owned()),
            Ok(_) => match std::fs::File::open(path)
                .and_then(|file| super::asset_file::read_bounded(file, MAX_LEDGER_BYTES))
            {
                Ok(bytes) if bytes.len() > MAX_LEDGER_BYTES => {
                    return ignored(format!("over {MAX_LEDGER_BYTES} bytes"))
                }
                Ok(bytes) => bytes,
                Err(error) => return ignored(error.to_string()),
            },
        };
        let ledger: Self = match serde_json::from_slice(&bytes) {
            Ok(ledger) => ledger,
            Err(error) => return ignored(format!("not a ledger ({error})")),
        };
        match ledger.check() {
            Ok(()) => (ledger, None),
            Err(reason) => ignored(reason),
        }
    }

    /// Every entry's shape: a SHA-256 in lowercase hex, a size within CloudKit's limit, a
    /// base64 `fileChecksum` of at most 256 characters.
    fn check(&self) -> Result<(), String> {
        for known in self.targets.values() {
            for (sha256, learned) in known {
                let hex = sha256.len() == 64
                    && sha256
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if !hex {
                    let shown = crate::render::escape(sha256);
                    return Err(format!("`{shown}` is not a SHA-256 in lowercase hex"));
                }
                if learned.size > MAX_ASSET_BYTES as u64 {
                    return Err(format!("the size of `{sha256}` is over the asset limit"));
                }
                let checksum = &learned.file_checksum;
                let base64 = !checksum.is_empty()
                    && checksum.len() <= 256
                    && base64::engine::general_purpose::STANDARD
                        .decode(checksum)
                        .is_ok();
                if !base64 {
                    return Err(format!("the fileChecksum of `{sha256}` is not base64"));
                }
            }
        }
        Ok(())
    }

    /// Writes it atomically, with `.ckplan/.gitignore` when there is none.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        save_state_file(path, &text)
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

/// The largest ledger read: 64 MB, some 300,000 entries.
const MAX_LEDGER_BYTES: usize = 64_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn the_ledger_knows_bytes_by_digest_and_size_per_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = Ledger::path(dir.path());
        assert_eq!(Ledger::load(&path).0, Ledger::default());
        assert!(
            Ledger::load(&path).1.is_none(),
            "a missing ledger is warned about"
        );
        let asset = LocalAsset {
            file: "a.png".into(),
            written: None,
            size: 3,
            sha256: SHA.into(),
        };
        let mut ledger = Ledger::default();
        assert!(ledger.learn("t", &asset, "AQ=="));
        assert!(!ledger.learn("t", &asset, "AQ=="));
        ledger.save(&path).unwrap();
        assert!(dir.path().join(".ckplan/.gitignore").is_file());
        let (ledger, ignored) = Ledger::load(&path);
        assert!(ignored.is_none());
        assert_eq!(ledger.checksum("t", &asset), Some("AQ=="));
        assert_eq!(ledger.checksum("other", &asset), None);
        let resized = LocalAsset { size: 4, ..asset };
        assert_eq!(ledger.checksum("t", &resized), None);
    }

    #[test]
    fn a_malformed_ledger_is_ignored_whole_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("assets.json");
        let good = r#"{"size": 3, "fileChecksum": "AQ=="}"#;
        let cases = [
            ("{not json".to_owned(), "not a ledger"),
            (r#"{"targets": {}, "extra": 1}"#.to_owned(), "unknown field"),
            (
                format!(r#"{{"targets": {{"t": {{"{SHA}": {good}, "ABC": {good}}}}}}}"#),
                "`ABC` is not a SHA-256",
            ),
            (
                format!(
                    r#"{{"targets": {{"t": {{"{SHA}": {{"size": 3, "fileChecksum": "not base64!"}}}}}}}}"#
                ),
                "is not base64",
            ),
            (
                format!(
                    r#"{{"targets": {{"t": {{"{SHA}": {{"size": 99000000, "fileChecksum": "AQ=="}}}}}}}}"#
                ),
                "over the asset limit",
            ),
        ];
        for (text, reason) in cases {
            std::fs::write(&path, &text).unwrap();
            let (ledger, ignored) = Ledger::load(&path);
            assert_eq!(ledger, Ledger::default(), "{text}");
            let ignored = ignored.expect(&text).to_string();
            assert!(ignored.contains(reason), "{text}: {ignored}");
        }
    }
}
