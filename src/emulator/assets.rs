//! Asset uploads, as CloudKit Web Services does them (Apple, "Uploading Assets";
//! `docs/protocol.md`, "Assets"): `assets/upload` (signed) answers one upload URL per token
//! on this server, valid 15 minutes; an unauthenticated `POST` of the raw bytes to it stores
//! them and answers `{singleFile: {fileChecksum, size, receipt}}`; records/modify saves an
//! asset field only with a valid receipt, keeping `{fileChecksum, size}`; reads add a
//! `downloadURL` with a `${f}` placeholder, served by an unauthenticated `GET`.
//!
//! `fileChecksum` is `0x01` + 20 bytes, base64, like CloudKit's 21-byte checksums: the same
//! for the same bytes, but keyed by a secret of this emulator (kept in `--data DIR`), so that
//! no client can compute it from the bytes and must learn it from an upload, as with
//! CloudKit. A receipt is self-checking (the checksum, the size, a nonce and a keyed tag
//! over them and the upload token's binding), so it stays valid across restarts of a
//! persisted emulator while the bytes are kept.
//!
//! Stricter than anything known of CloudKit (which asks for an upload URL per recordType,
//! fieldName and optional recordName, and reuses an asset for another record only through
//! `assets/rereference`): a receipt is accepted only in the container, environment and
//! database its token was asked in, in a field of the token's `fieldName` on a record of
//! its `recordType` (and `recordName`, when the token named one), with the uploaded `size`
//! and `fileChecksum` when the value states them, and for one record field only: once a
//! record saves it, it is used (remembered in memory, not across a restart). A receipt in
//! a write that fails per record (a CONFLICT, say) is not used up.

use super::store::RequestError;
use crate::cloudkit::wire::{RecordResult, ServerErrorCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::path::PathBuf;

/// The largest asset: 15 MB, read as 15,000,000 bytes, from "Uploading Assets" ("maximum
/// file size is 15 MB"); "Data Size Limits" says 50 MB. The stricter of the two.
pub const MAX_ASSET_BYTES: usize = crate::record::MAX_ASSET_BYTES;

/// How long an upload URL is valid: "15 minutes" (Apple, "Uploading Assets").
pub const UPLOAD_URL_MILLIS: i64 = 15 * 60 * 1000;

/// Where upload and download URLs live on the emulator's own address.
pub const PREFIX: &str = "/_assets/";

/// Upload and download counters (`GET /_emulator/stats`, `assets`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetStats {
    /// Files received at an upload URL.
    pub uploads: u64,
    /// Their bytes, together.
    pub bytes: u64,
    /// Files served at a download URL.
    pub downloads: u64,
}

/// Where an upload's receipt may be saved: what its token named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// `container/environment/database`.
    pub scope: String,
    pub record_type: String,
    pub field_name: String,
    /// Bound only when the token named it.
    pub record_name: Option<String>,
}

impl Slot {
    pub fn scope_key(scope: &super::store::Scope) -> String {
        format!(
            "{}/{}/{:?}",
            scope.container,
            scope.environment.as_str(),
            scope.database
        )
    }

    fn describe(&self) -> String {
        let named = match &self.record_name {
            Some(name) => format!(" `{name}`"),
            None => String::new(),
        };
        format!(
            "field '{}' of {} record{named} in {}",
            self.field_name, self.record_type, self.scope
        )
    }
}

/// A receipt's nonce: what marks it used.
type Nonce = [u8; 8];

/// The stored bytes, the open upload URLs and the checksum key.
pub struct AssetBook {
    key: [u8; 32],
    blobs: HashMap<[u8; 20], Vec<u8>>,
    /// Upload token → when its URL expires (emulator milliseconds) and what it names.
    pending: HashMap<String, (i64, Slot)>,
    /// Receipts saved by a record (their nonces).
    used: std::collections::HashSet<Nonce>,
    /// Draws receipt nonces (seeded in memory; random with `--data`).
    nonces: u64,
    dir: Option<PathBuf>,
    /// `key` is the one kept in `dir` (written at the first upload: a data directory that
    /// never saw one holds no `assets/`).
    key_kept: bool,
    pub stats: AssetStats,
}

#[derive(Deserialize)]
struct UploadRequest {
    tokens: Vec<TokenRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    record_name: Option<String>,
    record_type: String,
    field_name: String,
}

impl AssetBook {
    /// A book kept in `dir/assets` (bytes and key), or in memory with a key from `seed`.
    pub fn open(dir: Option<PathBuf>, seed: u64) -> std::io::Result<Self> {
        let mut book = Self {
            key: blake3::derive_key("ckplan emulator asset checksum", &seed.to_le_bytes()),
            blobs: HashMap::new(),
            pending: HashMap::new(),
            used: Default::default(),
            nonces: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            dir: dir.map(|d| d.join("assets")),
            key_kept: false,
            stats: AssetStats::default(),
        };
        let Some(dir) = book.dir.clone().filter(|dir| dir.is_dir()) else {
            return Ok(book);
        };
        if let Ok(bytes) = std::fs::read(dir.join("key")) {
            if bytes.len() == 32 {
                book.key.copy_from_slice(&bytes);
                book.key_kept = true;
            }
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".blob").and_then(id_from_hex) {
                book.blobs.insert(id, std::fs::read(entry.path())?);
            }
        }
        Ok(book)
    }

    /// `assets/upload` in `scope` (`Slot::scope_key`): one URL per token, on `base`
    /// (`http://127.0.0.1:PORT`).
    pub fn request_urls(
        &mut self,
        body: &[u8],
        scope: &str,
        base: &str,
        now: i64,
        mut uuid: impl FnMut() -> String,
    ) -> Result<Json, RequestError> {
        let request: UploadRequest = super::protocol::parse_body(body)?;
        if request.tokens.len() > super::store::MAX_OPERATIONS {
            return Err(RequestError::bad_request(format!(
                "BadRequestException: too many tokens: {} (at most {})",
                request.tokens.len(),
                super::store::MAX_OPERATIONS
            )));
        }
        self.pending.retain(|_, (expires, _)| *expires > now);
        let tokens: Vec<Json> = request
            .tokens
            .into_iter()
            .map(|token| {
                let id = uuid();
                let slot = Slot {
                    scope: scope.to_owned(),
                    record_type: token.record_type,
                    field_name: token.field_name.clone(),
                    record_name: token.record_name.clone(),
                };
                self.pending
                    .insert(id.clone(), (now + UPLOAD_URL_MILLIS, slot));
                json!({
                    "recordName": token.record_name.unwrap_or_else(&mut uuid),
                    "fieldName": token.field_name,
                    "url": format!("{base}{PREFIX}upload/{id}"),
                })
            })
            .collect();
        Ok(json!({ "tokens": tokens }))
    }

    /// The `POST` of bytes to an upload URL.
    pub fn receive(&mut self, token: &str, bytes: &[u8], now: i64) -> Result<Json, RequestError> {
        let slot = match self.pending.remove(token) {
            Some((expires, slot)) if expires > now => slot,
            _ => {
                return Err(RequestError::new(
                    ServerErrorCode::NotFound,
                    "upload URL unknown or expired",
                ))
            }
        };
        if bytes.len() > MAX_ASSET_BYTES {
            return Err(RequestError::bad_request(format!(
                "asset of {} bytes is over the limit of {MAX_ASSET_BYTES} bytes",
                bytes.len()
            )));
        }
        let internal =
            |e: std::io::Error| RequestError::new(ServerErrorCode::InternalError, e.to_string());
        if let (Some(dir), false) = (&self.dir, self.key_kept) {
            std::fs::create_dir_all(dir).map_err(internal)?;
            self.key = rand::random();
            crate::durable::write_atomically(&dir.join("key"), &self.key).map_err(internal)?;
            self.key_kept = true;
        }
        let id = self.id_of(bytes);
        if !self.blobs.contains_key(&id) {
            if let Some(dir) = &self.dir {
                let path = dir.join(format!("{}.blob", hex(&id)));
                crate::durable::write_atomically(&path, bytes).map_err(internal)?;
            }
            self.blobs.insert(id, bytes.to_vec());
        }
        self.stats.uploads += 1;
        self.stats.bytes += bytes.len() as u64;
        let size = bytes.len() as u64;
        let nonce = match self.dir {
            Some(_) => rand::random(),
            None => {
                self.nonces = self.nonces.wrapping_add(0x9e37_79b9_7f4a_7c15);
                self.nonces.to_le_bytes()
            }
        };
        Ok(json!({"singleFile": {
            "fileChecksum": checksum_text(&id),
            "size": size,
            "receipt": self.receipt(&id, size, &nonce, &slot),
        }}))
    }

    /// The bytes behind a download URL's id (hex of the checksum's 20 bytes).
    pub fn download(&mut self, id_hex: &str) -> Option<Vec<u8>> {
        let bytes = self.blobs.get(&id_from_hex(id_hex)?)?.clone();
        self.stats.downloads += 1;
        Some(bytes)
    }

    /// The stored form of an asset saved by records/modify in `slot` (the write's record
    /// name always given): `{fileChecksum, size}`, with the receipt's nonce, when `value`
    /// carries an unused receipt this emulator issued for that slot, for bytes it still
    /// holds, of the `size` and `fileChecksum` the value states; otherwise why not.
    pub fn accept(&self, value: &Json, slot: &Slot) -> Result<(Json, Nonce), String> {
        let Some(receipt) = value.get("receipt").and_then(Json::as_str) else {
            return Err("missing asset receipt".to_owned());
        };
        let raw = URL_SAFE_NO_PAD.decode(receipt).unwrap_or_default();
        if raw.len() != RECEIPT_BYTES {
            return Err("invalid asset receipt".to_owned());
        }
        let id: [u8; 20] = raw[..20].try_into().map_err(|_| "invalid asset receipt")?;
        let size = u64::from_le_bytes(
            raw[20..28]
                .try_into()
                .map_err(|_| "invalid asset receipt")?,
        );
        let nonce: Nonce = raw[28..36]
            .try_into()
            .map_err(|_| "invalid asset receipt")?;
        let bound = Slot {
            record_name: (raw[36] == 1).then(|| slot.record_name.clone()).flatten(),
            ..slot.clone()
        };
        if raw[36] > 1 || self.tag(&id, size, &nonce, &bound) != raw[37..] {
            return Err(format!(
                "asset receipt was not issued for {} (an upload token names the container, environment, database, recordType, fieldName and recordName its receipt may be saved in)",
                bound.describe()
            ));
        }
        if !self.blobs.contains_key(&id) {
            return Err("asset receipt names bytes this server no longer holds".to_owned());
        }
        if let Some(stated) = value.get("size").filter(|s| s.as_u64() != Some(size)) {
            return Err(format!(
                "asset size {stated} does not match the uploaded {size} bytes"
            ));
        }
        let checksum = checksum_text(&id);
        if let Some(stated) = value
            .get("fileChecksum")
            .filter(|c| c.as_str() != Some(checksum.as_str()))
        {
            return Err(format!(
                "asset fileChecksum {stated} does not match the uploaded asset's"
            ));
        }
        if self.used.contains(&nonce) {
            return Err("asset receipt was already saved in a record field; upload the file again for another field, record or list element".to_owned());
        }
        Ok((json!({"fileChecksum": checksum, "size": size}), nonce))
    }

    /// Marks receipts used by a saved record.
    fn take(&mut self, nonce: Nonce) {
        self.used.insert(nonce);
    }

    /// Gives back receipts whose write was not saved.
    pub fn release(&mut self, nonces: &[Nonce]) {
        for nonce in nonces {
            self.used.remove(nonce);
        }
    }

    fn id_of(&self, bytes: &[u8]) -> [u8; 20] {
        let hash = blake3::keyed_hash(&self.key, bytes);
        let mut id = [0; 20];
        id.copy_from_slice(&hash.as_bytes()[..20]);
        id
    }

    fn tag(&self, id: &[u8; 20], size: u64, nonce: &Nonce, slot: &Slot) -> Vec<u8> {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(b"receipt 2");
        hasher.update(id);
        hasher.update(&size.to_le_bytes());
        hasher.update(nonce);
        for part in [&slot.scope, &slot.record_type, &slot.field_name] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        match &slot.record_name {
            Some(name) => {
                hasher.update(&[1]);
                hasher.update(&(name.len() as u64).to_le_bytes());
                hasher.update(name.as_bytes());
            }
            None => {
                hasher.update(&[0]);
            }
        }
        hasher.finalize().as_bytes()[..16].to_vec()
    }

    /// checksum id (20) | size (8) | nonce (8) | record name bound (1) | tag (16).
    fn receipt(&self, id: &[u8; 20], size: u64, nonce: &Nonce, slot: &Slot) -> String {
        let mut raw = id.to_vec();
        raw.extend_from_slice(&size.to_le_bytes());
        raw.extend_from_slice(nonce);
        raw.push(u8::from(slot.record_name.is_some()));
        raw.extend(self.tag(id, size, nonce, slot));
        URL_SAFE_NO_PAD.encode(raw)
    }
}

/// A receipt's length in bytes (see [`AssetBook::receipt`]).
const RECEIPT_BYTES: usize = 20 + 8 + 8 + 1 + 16;

/// `0x01` + the 20 bytes, standard base64 (28 characters).
fn checksum_text(id: &[u8; 20]) -> String {
    let mut raw = vec![1u8];
    raw.extend_from_slice(id);
    STANDARD.encode(raw)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn id_from_hex(text: &str) -> Option<[u8; 20]> {
    if text.len() != 40 || !text.is_ascii() {
        return None;
    }
    let mut id = [0; 20];
    for (index, slot) in id.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(id)
}

/// Asset fields of a records/modify request in `scope`, turned into their stored form,
/// their receipts marked used (per write; give back those of writes that fail with
/// [`AssetBook::release`]); a field whose value holds no receipt valid for it refuses the
/// request (CloudKit: the receipt "is required when saving" an asset).
pub fn accept_fields(
    book: &mut AssetBook,
    scope: &super::store::Scope,
    batch: &mut super::domain::WriteBatch,
) -> Result<Vec<Vec<Nonce>>, RequestError> {
    use super::domain::FieldInput;
    let scope = Slot::scope_key(scope);
    let mut taken: Vec<Vec<Nonce>> = Vec::new();
    let mut result = Ok(());
    for write in &mut batch.writes {
        let mut nonces = Vec::new();
        let record_name = write.record_name.clone().unwrap_or_default();
        for (name, input) in &mut write.fields {
            let FieldInput::Set { value, declared } = input else {
                continue;
            };
            let is_asset = match declared.as_deref() {
                Some(t) => t.starts_with("ASSETID"),
                None => value.get("receipt").is_some() || value.get("fileChecksum").is_some(),
            };
            if !is_asset || result.is_err() {
                continue;
            }
            let slot = Slot {
                scope: scope.clone(),
                record_type: write.record_type.clone().unwrap_or_default(),
                field_name: name.clone(),
                record_name: Some(record_name.clone()),
            };
            let mut accept = |item: &Json| match book.accept(item, &slot) {
                Ok((stored, nonce)) => {
                    book.take(nonce);
                    nonces.push(nonce);
                    Ok(stored)
                }
                Err(reason) => Err(RequestError::bad_request(format!(
                    "invalid asset in field '{name}' of record '{record_name}': {reason}"
                ))),
            };
            let accepted = match &*value {
                Json::Array(items) => items
                    .iter()
                    .map(&mut accept)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Json::Array),
                one => accept(one),
            };
            match accepted {
                Ok(accepted) => *value = accepted,
                Err(error) => result = Err(error),
            }
        }
        taken.push(nonces);
    }
    if let Err(error) = result {
        book.release(&taken.concat());
        return Err(error);
    }
    Ok(taken)
}

/// The receipts of [`accept_fields`] to give back: those of every write that did not save
/// (all of them when the request failed, `outcomes` `None`). A receipt is used up only by
/// a write that saved.
pub fn unsaved(
    taken: Vec<Vec<Nonce>>,
    outcomes: Option<&[super::domain::WriteOutcome]>,
) -> Vec<Nonce> {
    let Some(outcomes) = outcomes else {
        return taken.concat();
    };
    taken
        .into_iter()
        .zip(outcomes)
        .filter(|(_, outcome)| !matches!(outcome, super::domain::WriteOutcome::Saved { .. }))
        .flat_map(|(nonces, _)| nonces)
        .collect()
}

/// Adds a `downloadURL` (`{base}/_assets/download/{id}/${f}`) to every asset in `records`.
pub fn add_download_urls(records: &mut [RecordResult], base: &str) {
    for record in records {
        let RecordResult::Record(record) = record else {
            continue;
        };
        for field in record
            .fields
            .iter_mut()
            .flat_map(|f| f.values_mut())
            .flatten()
        {
            if !field
                .field_type
                .as_deref()
                .is_some_and(|t| t.starts_with("ASSETID"))
            {
                continue;
            }
            match &mut field.value {
                Json::Array(items) => items.iter_mut().for_each(|item| with_url(item, base)),
                one => with_url(one, base),
            }
        }
    }
}

fn with_url(asset: &mut Json, base: &str) {
    let Some(checksum) = asset.get("fileChecksum").and_then(Json::as_str) else {
        return;
    };
    let Some(id) = STANDARD.decode(checksum).ok().filter(|raw| raw.len() == 21) else {
        return;
    };
    let url = format!("{base}{PREFIX}download/{}/${{f}}", hex(&id[1..]));
    if let Some(map) = asset.as_object_mut() {
        map.insert("downloadURL".into(), Json::String(url));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field `f` of a `T` record `r` in the scope the tests ask tokens in.
    fn slot() -> Slot {
        Slot {
            scope: "c/development/Public".to_owned(),
            record_type: "T".to_owned(),
            field_name: "f".to_owned(),
            record_name: Some("r".to_owned()),
        }
    }

    #[test]
    fn a_receipt_is_bound_to_its_slot_size_and_one_use() {
        let mut book = AssetBook::open(None, 1).unwrap();
        let body = br#"{"tokens":[{"recordType":"T","fieldName":"f","recordName":"r"}]}"#;
        let scope = "c/development/Public";
        book.request_urls(body, scope, "http://h", 0, || "t".to_owned())
            .unwrap();
        let uploaded = book.receive("t", b"bytes", 1).unwrap()["singleFile"].clone();
        let refused =
            |book: &AssetBook, value: &Json, slot: &Slot| book.accept(value, slot).unwrap_err();
        for other in [
            Slot {
                scope: "c/production/Public".to_owned(),
                ..slot()
            },
            Slot {
                scope: "d/development/Public".to_owned(),
                ..slot()
            },
            Slot {
                record_type: "U".to_owned(),
                ..slot()
            },
            Slot {
                field_name: "g".to_owned(),
                ..slot()
            },
            Slot {
                record_name: Some("s".to_owned()),
                ..slot()
            },
        ] {
            let reason = refused(&book, &uploaded, &other);
            assert!(
                reason.starts_with("asset receipt was not issued for"),
                "{reason}"
            );
        }
        let mut resized = uploaded.clone();
        resized["size"] = json!(6);
        assert!(refused(&book, &resized, &slot()).contains("does not match the uploaded 5 bytes"));
        let (_, nonce) = book.accept(&uploaded, &slot()).unwrap();
        book.take(nonce);
        assert!(refused(&book, &uploaded, &slot()).contains("already saved"));
        book.release(&[nonce]);
        assert!(book.accept(&uploaded, &slot()).is_ok());
    }

    #[test]
    fn checksums_are_the_same_for_the_same_bytes_and_keyed() {
        let mut book = AssetBook::open(None, 1).unwrap();
        let mut other = AssetBook::open(None, 2).unwrap();
        let urls = |book: &mut AssetBook| {
            let reply = book
                .request_urls(
                    br#"{"tokens":[{"recordType":"T","fieldName":"f"},{"recordType":"T","fieldName":"f"}]}"#,
                    "c/development/Public",
                    "http://h",
                    0,
                    || "u".repeat(8) + &rand::random::<u32>().to_string(),
                )
                .unwrap();
            reply["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    t["url"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        };
        let tokens = urls(&mut book);
        let first = book.receive(&tokens[0], b"logo", 1).unwrap();
        let second = book.receive(&tokens[1], b"logo", 1).unwrap();
        let checksum = &first["singleFile"]["fileChecksum"];
        assert_eq!(checksum, &second["singleFile"]["fileChecksum"]);
        assert_eq!(STANDARD.decode(checksum.as_str().unwrap()).unwrap()[0], 1);
        let theirs = urls(&mut other);
        let elsewhere = other.receive(&theirs[0], b"logo", 1).unwrap();
        assert_ne!(checksum, &elsewhere["singleFile"]["fileChecksum"]);
        // A used or unknown URL takes nothing.
        assert!(book.receive(&tokens[0], b"logo", 1).is_err());
        // The receipt saves in its slot; a forged one, or one of another book, does not.
        let (stored, _) = book.accept(&first["singleFile"], &slot()).unwrap();
        assert_eq!(stored, json!({"fileChecksum": checksum, "size": 4}));
        assert!(book
            .accept(&json!({"fileChecksum": checksum, "size": 4}), &slot())
            .is_err());
        assert!(other.accept(&first["singleFile"], &slot()).is_err());
    }

    #[test]
    fn a_persisted_book_keeps_its_key_bytes_and_receipts_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = AssetBook::open(Some(dir.path().to_owned()), 0).unwrap();
        assert!(
            !dir.path().join("assets").exists(),
            "created before an upload"
        );
        let body = br#"{"tokens":[{"recordType":"T","fieldName":"f"}]}"#;
        book.request_urls(body, "c/development/Public", "http://h", 0, || {
            "t".to_owned()
        })
        .unwrap();
        let first = book.receive("t", b"kept", 1).unwrap();
        let mut again = AssetBook::open(Some(dir.path().to_owned()), 0).unwrap();
        assert!(again.accept(&first["singleFile"], &slot()).is_ok());
        again
            .request_urls(body, "c/development/Public", "http://h", 0, || {
                "u".to_owned()
            })
            .unwrap();
        let second = again.receive("u", b"kept", 1).unwrap();
        for member in ["fileChecksum", "size"] {
            assert_eq!(first["singleFile"][member], second["singleFile"][member]);
        }
        assert_ne!(
            first["singleFile"]["receipt"],
            second["singleFile"]["receipt"]
        );
        let mut other = AssetBook::open(Some(tempfile::tempdir().unwrap().keep()), 0).unwrap();
        other
            .request_urls(body, "c/development/Public", "http://h", 0, || {
                "v".to_owned()
            })
            .unwrap();
        let elsewhere = other.receive("v", b"kept", 1).unwrap();
        assert_ne!(
            first["singleFile"]["fileChecksum"], elsewhere["singleFile"]["fileChecksum"],
            "two data directories share a key"
        );
    }

    #[test]
    fn upload_urls_expire_after_15_minutes() {
        let mut book = AssetBook::open(None, 1).unwrap();
        let reply = book
            .request_urls(
                br#"{"tokens":[{"recordType":"T","fieldName":"f"}]}"#,
                "c/development/Public",
                "http://h",
                0,
                || "t".to_owned(),
            )
            .unwrap();
        assert!(reply["tokens"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/_assets/upload/t"));
        assert!(book.receive("t", b"x", UPLOAD_URL_MILLIS).is_err());
    }
}
