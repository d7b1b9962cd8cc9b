//! Asset downloads (`docs/protocol.md`, "Assets"): a fetched asset carries a `downloadURL`
//! with a `${f}` placeholder for a file name, fetched by an unauthenticated `GET`. The URL
//! comes from CloudKit's reply, so it is untrusted: it is fetched only from where CloudKit
//! serves assets ([`allowed`]), never through a redirect, never with the request signature,
//! and only up to the `size` CloudKit stated for the asset, which must be within the asset
//! limit and must be exactly what arrives.

use super::{is_loopback, Client};
use crate::record::MAX_ASSET_BYTES;
use reqwest::Url;
use std::time::Duration;

/// Apple's host for CloudKit Web Services; its assets come from `*.icloud-content.com`
/// (`cvws.icloud-content.com` in captured replies).
const APPLE_API_HOST: &str = "api.apple-cloudkit.com";
const APPLE_ASSET_DOMAIN: &str = "icloud-content.com";

/// Why an asset was not downloaded.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloadURL is not a URL: {reason}")]
    Malformed { reason: String },
    #[error("downloadURL points at `{origin}`, not where cloudkit serves assets ({allowed}); not fetched")]
    Refused { origin: String, allowed: String },
    #[error("cloudkit states a size of {size} bytes, over the asset limit of {limit} bytes; not fetched")]
    TooLarge { size: u64, limit: u64 },
    #[error("the download answered http {status}")]
    Status { status: u16 },
    #[error("the download sent {received} bytes where cloudkit stated {size}")]
    SizeMismatch { size: u64, received: u64 },
    #[error("the download failed: {source}")]
    Transport {
        #[source]
        source: reqwest::Error,
    },
}

/// Fetches asset bytes for one client's endpoint. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AssetDownloader {
    http: reqwest::Client,
    endpoint: Url,
}

impl Client {
    /// A downloader for the assets this client's reads return.
    pub fn asset_downloader(&self) -> Result<AssetDownloader, super::CloudKitError> {
        let endpoint = self.inner.endpoint.clone();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("ckplan/", env!("CARGO_PKG_VERSION")))
            .timeout(self.inner.options.request_timeout)
            .connect_timeout(self.inner.options.connect_timeout)
            // A redirect could lead anywhere: the URL CloudKit gave is the only one fetched.
            .redirect(reqwest::redirect::Policy::none());
        if is_loopback(&endpoint) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|source| super::CloudKitError::HttpClient { source })?;
        Ok(AssetDownloader { http, endpoint })
    }
}

impl AssetDownloader {
    /// The bytes at `download_url` (its `${f}` replaced by `file_name`), which CloudKit
    /// stated are `size` bytes long. Transport failures and 5xx are tried up to three times.
    pub async fn download(
        &self,
        download_url: &str,
        file_name: &str,
        size: u64,
    ) -> Result<Vec<u8>, DownloadError> {
        let url = checked_url(&self.endpoint, download_url, file_name, size)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch(url.clone(), size).await {
                Err(DownloadError::Transport { .. })
                | Err(DownloadError::Status { status: 500.. })
                    if attempt < 3 =>
                {
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn fetch(&self, url: Url, size: u64) -> Result<Vec<u8>, DownloadError> {
        let transport = |source| DownloadError::Transport { source };
        let mut response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(DownloadError::Status { status });
        }
        if let Some(length) = response.content_length().filter(|length| *length > size) {
            return Err(DownloadError::SizeMismatch {
                size,
                received: length,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > size {
                // Stop reading: more than stated is never kept.
                return Err(DownloadError::SizeMismatch {
                    size,
                    received: bytes.len() as u64,
                });
            }
        }
        if bytes.len() as u64 != size {
            return Err(DownloadError::SizeMismatch {
                size,
                received: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }
}

/// `download_url` with `${f}` replaced, if it may be fetched: the stated size within the
/// asset limit; no credentials in it; and its origin either the endpoint's own (scheme,
/// host and port: the emulator, or any endpoint serving its own assets) or, for Apple's
/// endpoint, `https` on a host under `icloud-content.com`.
fn checked_url(
    endpoint: &Url,
    download_url: &str,
    file_name: &str,
    size: u64,
) -> Result<Url, DownloadError> {
    let limit = MAX_ASSET_BYTES as u64;
    if size > limit {
        return Err(DownloadError::TooLarge { size, limit });
    }
    let url = Url::parse(&download_url.replace("${f}", file_name)).map_err(|error| {
        DownloadError::Malformed {
            reason: error.to_string(),
        }
    })?;
    let origin = url.origin().ascii_serialization();
    let apple = endpoint.host_str() == Some(APPLE_API_HOST);
    let allowed = if apple {
        format!("https://*.{APPLE_ASSET_DOMAIN}")
    } else {
        endpoint.origin().ascii_serialization()
    };
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let same_origin = url.origin() == endpoint.origin();
    let apple_assets = apple
        && url.scheme() == "https"
        && url.port().is_none()
        && host.ends_with(&format!(".{APPLE_ASSET_DOMAIN}"));
    let credentials = !url.username().is_empty() || url.password().is_some();
    if credentials || !(same_origin || apple_assets) {
        return Err(DownloadError::Refused { origin, allowed });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(endpoint: &str, url: &str) -> Result<Url, DownloadError> {
        checked_url(&Url::parse(endpoint).unwrap(), url, "logo", 10)
    }

    #[test]
    fn only_the_endpoints_origin_or_apples_asset_hosts_are_fetched() {
        let emulator = "http://127.0.0.1:8080/";
        let url = check(emulator, "http://127.0.0.1:8080/_assets/download/ab/${f}").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/_assets/download/ab/logo"
        );
        for refused in [
            "http://127.0.0.1:8081/_assets/download/ab/${f}",
            "https://127.0.0.1:8080/x",
            "http://localhost:8080/x",
            "http://user:pw@127.0.0.1:8080/x",
            "file:///etc/passwd",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let error = check(emulator, refused).unwrap_err();
            assert!(
                matches!(error, DownloadError::Refused { .. }),
                "{refused}: {error}"
            );
        }
        let apple = "https://api.apple-cloudkit.com/";
        assert!(check(apple, "https://cvws.icloud-content.com/B/abc/${f}?o=1").is_ok());
        for refused in [
            "http://cvws.icloud-content.com/B/abc",
            "https://cvws.icloud-content.com:8443/B/abc",
            "https://icloud-content.com.evil.example/B/abc",
            "https://evil-icloud-content.com/B/abc",
            "https://127.0.0.1/x",
        ] {
            let error = check(apple, refused).unwrap_err();
            assert!(
                matches!(error, DownloadError::Refused { .. }),
                "{refused}: {error}"
            );
        }
        assert!(matches!(
            check(emulator, "not a url"),
            Err(DownloadError::Malformed { .. })
        ));
    }

    /// A server on 127.0.0.1 that answers every connection with `reply`.
    async fn serve(reply: &'static [u8]) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
            }
        });
        Url::parse(&format!("http://{address}/")).unwrap()
    }

    fn downloader(endpoint: Url) -> AssetDownloader {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        AssetDownloader { http, endpoint }
    }

    #[tokio::test]
    async fn only_the_stated_size_is_taken_and_no_redirect_is_followed() {
        let exact = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nbytes").await;
        let url = format!("{exact}a/${{f}}");
        let bytes = downloader(exact.clone())
            .download(&url, "f", 5)
            .await
            .unwrap();
        assert_eq!(bytes, b"bytes");
        let error = downloader(exact.clone())
            .download(&url, "f", 4)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                DownloadError::SizeMismatch {
                    size: 4,
                    received: 5
                }
            ),
            "{error}"
        );
        let error = downloader(exact).download(&url, "f", 6).await.unwrap_err();
        assert!(
            matches!(
                error,
                DownloadError::SizeMismatch {
                    size: 6,
                    received: 5
                }
            ),
            "{error}"
        );
        // Without a length, the body is cut as soon as it passes the stated size.
        let endless = serve(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n0123456789").await;
        let url = format!("{endless}a");
        let error = downloader(endless)
            .download(&url, "f", 3)
            .await
            .unwrap_err();
        assert!(
            matches!(error, DownloadError::SizeMismatch { size: 3, .. }),
            "{error}"
        );
        let redirect =
            serve(b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n").await;
        let url = format!("{redirect}a");
        let error = downloader(redirect)
            .download(&url, "f", 3)
            .await
            .unwrap_err();
        assert!(
            matches!(error, DownloadError::Status { status: 302 }),
            "{error}"
        );
    }

    #[test]
    fn a_stated_size_over_the_limit_is_not_fetched() {
        let endpoint = Url::parse("http://127.0.0.1:8080/").unwrap();
        let size = MAX_ASSET_BYTES as u64 + 1;
        let error = checked_url(&endpoint, "http://127.0.0.1:8080/x", "f", size).unwrap_err();
        assert!(matches!(error, DownloadError::TooLarge { .. }), "{error}");
    }
}
