//! Reading a reply body with a bound. A reply is untrusted input: read whole without one,
//! a server (or anything on the path) could make ckplan hold gigabytes. The body is read
//! chunk by chunk and reading stops as soon as it passes the limit (a `Content-Length`
//! over it is refused before any byte).

/// Why a bounded body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is longer than `limit` bytes.
    TooLarge { limit: usize },
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// The body of `response`, at most `limit` bytes.
pub async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let stated = response.content_length().unwrap_or(0);
    if stated > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(usize::try_from(stated).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `bytes` as "10 MiB" or "64 KiB" (whole units) for messages.
pub fn shown_size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}
