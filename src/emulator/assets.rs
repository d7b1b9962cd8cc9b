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
//! CloudKit. A receipt is self-checking (the checksum, the size and a keyed tag), so it
//! stays valid across restarts of a persisted emulator while the bytes are kept.

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

/// The stored bytes, the open upload URLs and the checksum key.
pub struct AssetBook {
    key: [u8; 32],
    blobs: HashMap<[u8; 20], Vec<u8>>,
    /// Upload token → when its URL expires (emulator milliseconds).
    pending: HashMap<String, i64>,
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

    /// `assets/upload`: one URL per token, on `base` (`http://127.0.0.1:PORT`).
    pub fn request_urls(
        &mut self,
        body: &[u8],
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
        self.pending.retain(|_, expires| *expires > now);
        let tokens: Vec<Json> = request
            .tokens
            .into_iter()
            .map(|token| {
                let _ = token.record_type;
                let id = uuid();
                self.pending.insert(id.clone(), now + UPLOAD_URL_MILLIS);
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
        match self.pending.remove(token) {
            Some(expires) if expires > now => {}
            _ => {
                return Err(RequestError::new(
                    ServerErrorCode::NotFound,
                    "upload URL unknown or expired",
                ))
            }
        }
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
        Ok(json!({"singleFile": {
            "fileChecksum": checksum_text(&id),
            "size": size,
            "receipt": self.receipt(&id, size),
        }}))
    }

    /// The bytes behind a download URL's id (hex of the checksum's 20 bytes).
    pub fn download(&mut self, id_hex: &str) -> Option<Vec<u8>> {
        let bytes = self.blobs.get(&id_from_hex(id_hex)?)?.clone();
        self.stats.downloads += 1;
        Some(bytes)
    }

    /// The stored form of an asset saved by records/modify: `{fileChecksum, size}`, when
    /// `value` carries a receipt this emulator issued for bytes it still holds.
    pub fn accept(&self, value: &Json) -> Option<Json> {
        let receipt = value.get("receipt")?.as_str()?;
        let raw = URL_SAFE_NO_PAD.decode(receipt).ok()?;
        let (body, tag) = raw.split_at_checked(28)?;
        let id: [u8; 20] = body[..20].try_into().ok()?;
        let size = u64::from_le_bytes(body[20..28].try_into().ok()?);
        let valid = self.tag(&id, size) == tag && self.blobs.contains_key(&id);
        valid.then(|| json!({"fileChecksum": checksum_text(&id), "size": size}))
    }

    fn id_of(&self, bytes: &[u8]) -> [u8; 20] {
        let hash = blake3::keyed_hash(&self.key, bytes);
        let mut id = [0; 20];
        id.copy_from_slice(&hash.as_bytes()[..20]);
        id
    }

    fn tag(&self, id: &[u8; 20], size: u64) -> Vec<u8> {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(b"receipt");
        hasher.update(id);
        hasher.update(&size.to_le_bytes());
        hasher.finalize().as_bytes()[..16].to_vec()
    }

    fn receipt(&self, id: &[u8; 20], size: u64) -> String {
        let mut raw = id.to_vec();
        raw.extend_from_slice(&size.to_le_bytes());
        raw.extend(self.tag(id, size));
        URL_SAFE_NO_PAD.encode(raw)
    }
}

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

/// Asset fields of a records/modify request, turned into their stored form; a field whose
/// value holds no valid receipt refuses the request (CloudKit: the receipt "is required
/// when saving" an asset).
pub fn accept_fields(
    book: &AssetBook,
    batch: &mut super::domain::WriteBatch,
) -> Result<(), RequestError> {
    use super::domain::FieldInput;
    for write in &mut batch.writes {
        for (name, input) in &mut write.fields {
            let FieldInput::Set { value, declared } = input else {
                continue;
            };
            let is_asset = match declared.as_deref() {
                Some(t) => t.starts_with("ASSETID"),
                None => value.get("receipt").is_some() || value.get("fileChecksum").is_some(),
            };
            if !is_asset {
                continue;
            }
            let refuse = || {
                RequestError::bad_request(format!(
                    "missing or invalid asset receipt in field '{name}' of record '{}'",
                    write.record_name.as_deref().unwrap_or("")
                ))
            };
            let accepted = match &*value {
                Json::Array(items) => Json::Array(
                    items
                        .iter()
                        .map(|item| book.accept(item).ok_or_else(refuse))
                        .collect::<Result<_, _>>()?,
                ),
                one => book.accept(one).ok_or_else(refuse)?,
            };
            *value = accepted;
        }
    }
    Ok(())
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

    #[test]
    fn checksums_are_the_same_for_the_same_bytes_and_keyed() {
        let mut book = AssetBook::open(None, 1).unwrap();
        let mut other = AssetBook::open(None, 2).unwrap();
        let urls = |book: &mut AssetBook| {
            let reply = book
                .request_urls(
                    br#"{"tokens":[{"recordType":"T","fieldName":"f"},{"recordType":"T","fieldName":"f"}]}"#,
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
        // The receipt saves; a forged one does not.
        let stored = book.accept(&first["singleFile"]).unwrap();
        assert_eq!(stored, json!({"fileChecksum": checksum, "size": 4}));
        assert!(book
            .accept(&json!({"fileChecksum": checksum, "size": 4}))
            .is_none());
        assert!(other.accept(&first["singleFile"]).is_none());
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
        book.request_urls(body, "http://h", 0, || "t".to_owned())
            .unwrap();
        let first = book.receive("t", b"kept", 1).unwrap();
        let mut again = AssetBook::open(Some(dir.path().to_owned()), 0).unwrap();
        assert!(again.accept(&first["singleFile"]).is_some());
        again
            .request_urls(body, "http://h", 0, || "u".to_owned())
            .unwrap();
        let second = again.receive("u", b"kept", 1).unwrap();
        assert_eq!(first["singleFile"], second["singleFile"]);
        let mut other = AssetBook::open(Some(tempfile::tempdir().unwrap().keep()), 0).unwrap();
        other
            .request_urls(body, "http://h", 0, || "v".to_owned())
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
