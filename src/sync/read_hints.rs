//! Where each type was worth cutting at its last read (`ReadHint`), kept in
//! `.ckplan/read-hints.json` beside the config, per target (endpoint and
//! container/environment/database/zone) and record type, so the next read of the same types
//! starts all its chains at once (`Client::query_partitioned`). A local cache like the asset
//! ledger (never committed: `.ckplan/.gitignore`), but it only ever moves where a read cuts:
//! a missing, stale, edited or unreadable file makes a read slower, never different, so it
//! is read without a word when it is not exactly this shape, and not writing it is no error.

use crate::cloudkit::client::ReadHint;
use crate::local::asset::{ledger_key, save_state_file};
use crate::record::{RecordType, Target};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most bytes of a hints file read (a few hundred types of 64 cuts fit many times).
const MAX_HINTS_BYTES: usize = 4 << 20;

/// Target → record type → hint.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadHints {
    pub targets: BTreeMap<String, BTreeMap<String, ReadHint>>,
}

impl ReadHints {
    /// `.ckplan/read-hints.json` in the config's directory.
    pub fn path(directory: &Path) -> PathBuf {
        directory.join(".ckplan").join("read-hints.json")
    }

    /// The hints at `path`; none when there is no such file or it is not exactly hints.
    pub fn load(path: &Path) -> Self {
        let bytes = std::fs::metadata(path)
            .ok()
            .filter(|metadata| metadata.is_file() && metadata.len() <= MAX_HINTS_BYTES as u64)
            .and_then(|_| std::fs::read(path).ok());
        bytes
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// The hints of `target`'s types (those of `endpoint`).
    pub fn of(&self, endpoint: &str, target: &Target) -> BTreeMap<RecordType, ReadHint> {
        self.targets
            .get(&ledger_key(endpoint, target))
            .into_iter()
            .flatten()
            .map(|(name, hint)| (RecordType::new(name), hint.clone()))
            .collect()
    }

    /// Replaces the hints of the types in `learned` for `target`; the others stay.
    pub fn learn(
        &mut self,
        endpoint: &str,
        target: &Target,
        learned: impl IntoIterator<Item = (RecordType, ReadHint)>,
    ) {
        let types = self
            .targets
            .entry(ledger_key(endpoint, target))
            .or_default();
        for (record_type, hint) in learned {
            types.insert(record_type.0, hint);
        }
    }

    /// Writes it atomically, with `.ckplan/.gitignore` when there is none; refused when
    /// something other than a regular file is at `path` (`save_state_file`).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        save_state_file(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            container: "iCloud.example".to_owned(),
            environment: crate::record::Environment::Development,
            database: crate::record::Database::Public,
            zone: "_defaultZone".to_owned(),
        }
    }

    #[test]
    fn hints_round_trip_per_target_and_anything_else_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = ReadHints::path(dir.path());
        assert_eq!(ReadHints::load(&path), ReadHints::default());
        let mut hints = ReadHints::default();
        let hint = ReadHint {
            cuts: vec![10, 20],
            newest: 30,
            parallelism: 16,
        };
        hints.learn(
            "http://a",
            &target(),
            [(RecordType::new("Game"), hint.clone())],
        );
        hints.save(&path).unwrap();
        assert!(dir.path().join(".ckplan/.gitignore").is_file());
        let loaded = ReadHints::load(&path);
        assert_eq!(
            loaded
                .of("http://a", &target())
                .get(&RecordType::new("Game")),
            Some(&hint)
        );
        assert!(loaded.of("http://b", &target()).is_empty());
        for text in [
            "",
            "[]",
            "{\"targets\":{\"x\":{\"Game\":{\"cuts\":[],\"newest\":1,\"more\":2}}}}",
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(ReadHints::load(&path), ReadHints::default(), "{text}");
        }
    }
}
