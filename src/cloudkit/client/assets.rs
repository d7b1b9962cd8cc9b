//! Asset uploads (Apple, CloudKit Web Services Reference, "Uploading Assets";
//! `docs/protocol.md`, "Assets"): `assets/upload` with at most 200 tokens answers one upload
//! URL per token (valid about 15 minutes); a `POST` of the raw bytes to that URL, without
//! the request signature, answers `{singleFile: {fileChecksum, size, receipt, …}}`, whose
//! `{fileChecksum, size, receipt}` records/modify then saves. An upload has no effect until
//! a record saves it, so both steps are retried like reads.

use super::{millis, Client, MAX_RECORDS_PER_REQUEST};
use crate::cloudkit::error::{reply_error, CloudKitError};
use crate::cloudkit::wire::Endpoint;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tracing::debug;

/// One file to upload for a field of a record type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetToken {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_name: Option<String>,
    pub record_type: String,
    pub field_name: String,
}

#[derive(Serialize)]
struct UploadRequest<'a> {
    tokens: &'a [AssetToken],
}

#[derive(Deserialize)]
struct UploadReply {
    tokens: Vec<UploadUrl>,
}

#[derive(Deserialize)]
struct UploadUrl {
    url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BytesReply {
    single_file: UploadedAsset,
}

/// What an upload answered: the field value records/modify saves (`receipt` included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadedAsset {
    pub file_checksum: String,
    pub size: u64,
    pub receipt: String,
}

impl Client {
    /// One upload URL per token, in token order, asked in requests of at most 200 tokens.
    pub async fn asset_upload_urls(
        &self,
        tokens: &[AssetToken],
    ) -> Result<Vec<String>, CloudKitError> {
        let mut urls = Vec::with_capacity(tokens.len());
        for chunk in tokens.chunks(MAX_RECORDS_PER_REQUEST) {
            let reply: UploadReply = self
                .post(Endpoint::AssetsUpload, &UploadRequest { tokens: chunk })
                .await?;
            if reply.tokens.len() != chunk.len() {
                return Err(CloudKitError::Undecodable {
                    operation: Endpoint::AssetsUpload,
                    status: 200,
                    path: "tokens".to_owned(),
                    message: format!(
                        "{} upload URLs for {} tokens",
                        reply.tokens.len(),
                        chunk.len()
                    ),
                });
            }
            urls.extend(reply.tokens.into_iter().map(|token| token.url));
        }
        Ok(urls)
    }

    /// `POST`s `bytes` to an upload URL (unsigned), retried while the retry budget lasts:
    /// bytes nobody saves are harmless, so a lost reply is simply sent again.
    pub async fn upload_asset_bytes(
        &self,
        url: &str,
        bytes: &[u8],
    ) -> Result<UploadedAsset, CloudKitError> {
        let operation = Endpoint::AssetsUpload;
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self.upload_once(url, bytes).await {
                Ok(asset) => return Ok(asset),
                Err(error) => error,
            };
            let transient = error.is_retryable() || error.may_have_been_applied();
            let Some(wait) = transient
                .then(|| self.retry_wait(attempts, started, &error))
                .flatten()
            else {
                return Err(error);
            };
            debug!(operation = operation.path(), attempt = attempts, wait_ms = millis(wait), error = %error, "asset upload will be retried");
            tokio::time::sleep(wait).await;
        }
    }

    async fn upload_once(&self, url: &str, bytes: &[u8]) -> Result<UploadedAsset, CloudKitError> {
        let operation = Endpoint::AssetsUpload;
        let _permit = self.inner.in_flight.acquire().await.ok();
        {
            let mut counts = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner());
            *counts.entry("assets/upload/bytes".to_owned()).or_insert(0) += 1;
        }
        let response = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|source| CloudKitError::transport(operation, source))?;
        let status = response.status().as_u16();
        let reply = response
            .bytes()
            .await
            .map_err(|source| CloudKitError::MaybeSent { operation, source })?;
        if !(200..300).contains(&status) {
            return Err(reply_error(operation, status, &reply));
        }
        let reply: BytesReply = super::decode(operation, status, &reply)?;
        Ok(reply.single_file)
    }
}
