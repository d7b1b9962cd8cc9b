//! The CloudKit management token: the credential of the Database API v1 (schema export,
//! validate, import), sent as `X-Apple-CloudKit-Management-Token`. A secret: its `Debug`
//! and `Display` never show it, and only [`ManagementToken::expose`] hands it out, to the
//! one header that carries it.

use std::fmt;

/// A management token, checked to be a non-empty header value of visible ASCII.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagementToken(String);

/// Why a token was refused before any request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the management token is empty")]
    Empty,
    #[error("the management token holds a character that cannot be sent in a header")]
    NotHeaderSafe,
}

impl ManagementToken {
    /// `text` without surrounding whitespace (a token file ends with a line break).
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        if !text.chars().all(|c| c.is_ascii_graphic()) {
            return Err(TokenError::NotHeaderSafe);
        }
        Ok(Self(text.to_owned()))
    }

    /// The token itself, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `offered` is this token, comparing every byte whatever the first
    /// difference (no early exit to time).
    pub fn matches(&self, offered: &str) -> bool {
        let (ours, theirs) = (self.0.as_bytes(), offered.as_bytes());
        let mut difference = ours.len() ^ theirs.len();
        for (index, byte) in ours.iter().enumerate() {
            difference |= usize::from(byte ^ theirs.get(index).copied().unwrap_or(0));
        }
        difference == 0
    }
}

impl fmt::Debug for ManagementToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ManagementToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_20_debug_never_shows_the_token() {
        let token = ManagementToken::new(" s3cr3t-token\n").unwrap();
        assert_eq!(token.expose(), "s3cr3t-token");
        assert_eq!(format!("{token:?}"), "ManagementToken(<redacted>)");
        assert!(token.matches("s3cr3t-token"));
        assert!(!token.matches("s3cr3t-toke"));
        assert!(!token.matches("s3cr3t-token2"));
        assert_eq!(ManagementToken::new("  "), Err(TokenError::Empty));
        assert_eq!(
            ManagementToken::new("a\u{7f}b"),
            Err(TokenError::NotHeaderSafe)
        );
    }
}
