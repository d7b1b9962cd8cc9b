//! Server-to-server request signing (`docs/protocol.md`, "Signing"), shared by the client (signing)
//! and the emulator (verification).
//!
//! Message: `<date>:<base64(sha256(body))>:<subpath>`, date `YYYY-MM-DDTHH:MM:SSZ`,
//! signature ECDSA P-256 over SHA-256 of the message, ASN.1 DER, standard base64.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

pub const HEADER_KEY_ID: &str = "X-Apple-CloudKit-Request-KeyID";
pub const HEADER_DATE: &str = "X-Apple-CloudKit-Request-ISO8601Date";
pub const HEADER_SIGNATURE: &str = "X-Apple-CloudKit-Request-SignatureV1";

const DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// `YYYY-MM-DDTHH:MM:SSZ`, UTC, no fractional seconds.
pub fn format_date(at: DateTime<Utc>) -> String {
    at.format(DATE_FORMAT).to_string()
}

/// Parses a date in exactly the signed format; anything else (offsets, fractions) is `None`.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != 20 {
        return None;
    }
    NaiveDateTime::parse_from_str(text, DATE_FORMAT)
        .ok()
        .map(|naive| naive.and_utc())
}

/// Standard base64 of the SHA-256 of the raw body bytes.
pub fn body_hash(body: &[u8]) -> String {
    BASE64.encode(Sha256::digest(body))
}

/// The exact string that is signed.
pub fn signed_message(date: &str, body: &[u8], subpath: &str) -> String {
    format!("{date}:{}:{subpath}", body_hash(body))
}

/// Where a private key was read from, for messages: a file, or an environment variable
/// holding the PEM text itself (`CKPLAN_PRIVATE_KEY`, for CI secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Variable(&'static str),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "key file `{}`", path.display()),
            KeySource::Variable(name) => write!(f, "the key in {name}"),
        }
    }
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("failed to read key file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text was read but is no usable P-256 private key; `problem` says what it is.
    #[error("{key} {problem}")]
    Private { key: KeySource, problem: KeyProblem },
    #[error("key file `{path}` is not a P-256 public key in SPKI (`PUBLIC KEY`) PEM: {reason}")]
    NotP256Public { path: PathBuf, reason: String },
}

/// What a private key's text is when it is not a key ckplan can sign with. Never holds key
/// material: only PEM labels, curve and algorithm names, and the decoder's reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("holds no private key PEM block (`EC PRIVATE KEY`, `PRIVATE KEY` or `ENCRYPTED PRIVATE KEY`){}", found_labels(found))]
    NoKey { found: Vec<String> },
    #[error("holds an encrypted SEC1 key (`EC PRIVATE KEY` with `Proc-Type: 4,ENCRYPTED`), a form ckplan cannot decrypt")]
    EncryptedSec1,
    #[error("holds an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`) and CKPLAN_KEY_PASSPHRASE is not set")]
    NeedsPassphrase,
    #[error("holds an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`) that CKPLAN_KEY_PASSPHRASE does not decrypt (a wrong passphrase, or a cipher other than PBES2 with AES-CBC)")]
    Decrypt,
    #[error(
        "holds a key on curve {curve}, but CloudKit server-to-server keys are P-256 (prime256v1)"
    )]
    OtherCurve { curve: String },
    #[error(
        "holds {algorithm} key, but CloudKit server-to-server keys are ECDSA P-256 (prime256v1)"
    )]
    NotEc { algorithm: String },
    #[error("holds a malformed {form} key: {reason}")]
    Malformed { form: &'static str, reason: String },
}

fn found_labels(found: &[String]) -> String {
    match found.is_empty() {
        true => String::new(),
        false => format!(
            "; it holds {}",
            found
                .iter()
                .map(|label| format!("`{label}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A server-to-server key: its ID and private half. `Debug` shows only the key ID.
///
/// Requests are signed with `ring`'s P-256 (already built for rustls), about ten times
/// faster than the pure-Rust `p256` signer, which stays for parsing keys and for the rare
/// key `ring` would not take; every request carries a signature, so at 200 records per
/// request its cost is a share of the CPU per record.
#[derive(Clone)]
pub struct RequestSigner {
    key_id: String,
    key: SigningKey,
    fast: Option<std::sync::Arc<ring::signature::EcdsaKeyPair>>,
    random: ring::rand::SystemRandom,
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The headers of one signed request.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedHeaders {
    pub key_id: String,
    pub date: String,
    pub signature: String,
}

impl RequestSigner {
    pub fn new(key_id: impl Into<String>, key: SigningKey) -> Self {
        let random = ring::rand::SystemRandom::new();
        let public = key.verifying_key().to_encoded_point(false);
        let fast = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.to_bytes(),
            public.as_bytes(),
            &random,
        )
        .ok()
        .map(std::sync::Arc::new);
        Self {
            key_id: key_id.into(),
            key,
            fast,
            random,
        }
    }

    /// Loads a P-256 PEM private key from `path` (see [`parse_private_pem_with`]).
    pub fn from_pem_file(
        key_id: impl Into<String>,
        path: &Path,
        passphrase: Option<&str>,
    ) -> Result<Self, KeyError> {
        let pem = super::secret_file::read_secret_file(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem_text(key_id, &pem, KeySource::File(path.to_owned()), passphrase)
    }

    /// Loads a P-256 PEM private key from `pem`, read from `source`.
    pub fn from_pem_text(
        key_id: impl Into<String>,
        pem: &str,
        source: KeySource,
        passphrase: Option<&str>,
    ) -> Result<Self, KeyError> {
        let key = parse_private_pem_with(pem, passphrase).map_err(|problem| KeyError::Private {
            key: source,
            problem,
        })?;
        Ok(Self::new(key_id, key))
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }

    /// Signs a request made at `at`.
    pub fn sign(&self, at: DateTime<Utc>, body: &[u8], subpath: &str) -> SignedHeaders {
        let date = format_date(at);
        let message = signed_message(&date, body, subpath);
        let fast = self
            .fast
            .as_ref()
            .and_then(|pair| pair.sign(&self.random, message.as_bytes()).ok());
        let signature = match fast {
            Some(der) => BASE64.encode(der.as_ref()),
            None => {
                let signature: Signature = self.key.sign(message.as_bytes());
                BASE64.encode(signature.to_der().as_bytes())
            }
        };
        SignedHeaders {
            key_id: self.key_id.clone(),
            date,
            signature,
        }
    }
}

/// Parses an unencrypted P-256 private key from PEM ([`parse_private_pem_with`] without a
/// passphrase).
pub fn parse_private_pem(pem: &str) -> Result<SigningKey, KeyProblem> {
    parse_private_pem_with(pem, None)
}

/// `id-ecPublicKey`, the algorithm of every EC key in PKCS#8.
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// `prime256v1` (P-256, secp256r1).
const P256: &str = "1.2.840.10045.3.1.7";

/// The usual name of a curve or key algorithm OID, else the OID.
fn oid_name(oid: &str) -> String {
    let name = match oid {
        P256 => "P-256 (prime256v1)",
        "1.3.132.0.34" => "P-384 (secp384r1)",
        "1.3.132.0.35" => "P-521 (secp521r1)",
        "1.3.132.0.10" => "secp256k1",
        "1.2.840.113549.1.1.1" => "an RSA",
        "1.3.101.112" => "an Ed25519",
        "1.3.101.113" => "an Ed448",
        "1.2.840.10040.4.1" => "a DSA",
        _ => return format!("OID {oid}"),
    };
    name.to_owned()
}

/// The `-----BEGIN label-----` … `-----END label-----` blocks of a PEM text: each one's label
/// and whole text, headers included. A block without its END line (a key cut short) is
/// kept with its label and an empty text.
fn pem_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            blocks.extend(open.take().map(|(label, _)| (label, String::new())));
            open = Some((label.to_owned(), format!("{line}\n")));
            continue;
        }
        let Some((label, block)) = open.as_mut() else {
            continue;
        };
        block.push_str(line);
        block.push('\n');
        if line
            .strip_prefix("-----END ")
            .and_then(|r| r.strip_suffix("-----"))
            == Some(label)
        {
            blocks.extend(open.take());
        }
    }
    blocks.extend(open.map(|(label, _)| (label, String::new())));
    blocks
}

/// Parses a P-256 private key from PEM as OpenSSL, `ckplan keygen` and CloudKit's
/// documentation write it: SEC1 (`EC PRIVATE KEY`, with or without the `EC PARAMETERS` block
/// `openssl ecparam -genkey` puts before it), PKCS#8 (`PRIVATE KEY`), or encrypted PKCS#8
/// (`ENCRYPTED PRIVATE KEY`, decrypted with `passphrase`). Anything else is named: an
/// encrypted SEC1 key, another curve, another algorithm, a file with no private key.
pub fn parse_private_pem_with(
    pem: &str,
    passphrase: Option<&str>,
) -> Result<SigningKey, KeyProblem> {
    // A key saved by an editor may start with a byte-order mark.
    let pem = pem.strip_prefix('\u{feff}').unwrap_or(pem);
    // A secret store that keeps one line may hold the PEM with its line ends as `\n`.
    let blocks = match pem.trim().contains('\n') {
        true => pem_blocks(pem),
        false => pem_blocks(&pem.replace("\\n", "\n")),
    };
    let key = ["EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"]
        .iter()
        .find_map(|wanted| blocks.iter().find(|(label, _)| label == wanted));
    let Some((label, block)) = key else {
        if let Some((label, _)) = blocks.iter().find(|(l, _)| l.ends_with("PRIVATE KEY")) {
            return Err(KeyProblem::NotEc {
                algorithm: format!("an `{label}`"),
            });
        }
        return Err(KeyProblem::NoKey {
            found: blocks.into_iter().map(|(label, _)| label).collect(),
        });
    };
    if block.is_empty() {
        return Err(KeyProblem::Malformed {
            form: "PEM",
            reason: format!("the `{label}` block has no `-----END {label}-----` line (cut short?)"),
        });
    }
    if label == "EC PRIVATE KEY" && block.contains("Proc-Type:") {
        return Err(KeyProblem::EncryptedSec1);
    }
    let malformed = |form: &'static str| {
        move |error: &dyn fmt::Display| KeyProblem::Malformed {
            form,
            reason: error.to_string(),
        }
    };
    let (_, der) =
        pkcs8::der::pem::decode_vec(block.as_bytes()).map_err(|e| malformed("PEM")(&e))?;
    match label.as_str() {
        "EC PRIVATE KEY" => sec1_key(&der),
        "PRIVATE KEY" => pkcs8_key(&der),
        _ => {
            let Some(passphrase) = passphrase else {
                return Err(KeyProblem::NeedsPassphrase);
            };
            let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
                .map_err(|e| malformed("encrypted PKCS#8")(&e))?;
            let decrypted = encrypted
                .decrypt(passphrase.as_bytes())
                .map_err(|_| KeyProblem::Decrypt)?;
            pkcs8_key(decrypted.as_bytes())
        }
    }
}

/// A SEC1 `ECPrivateKey` on P-256 (a key without its curve is read as P-256).
fn sec1_key(der: &[u8]) -> Result<SigningKey, KeyProblem> {
    use sec1::der::Decode;
    let malformed = |reason: String| KeyProblem::Malformed {
        form: "SEC1",
        reason,
    };
    let parsed = sec1::EcPrivateKey::from_der(der).map_err(|e| malformed(e.to_string()))?;
    if let Some(curve) = parsed.parameters.and_then(|p| p.named_curve()) {
        if curve.to_string() != P256 {
            return Err(KeyProblem::OtherCurve {
                curve: oid_name(&curve.to_string()),
            });
        }
    }
    let secret = p256::SecretKey::from_sec1_der(der).map_err(|e| malformed(e.to_string()))?;
    Ok(SigningKey::from(secret))
}

/// A PKCS#8 `PrivateKeyInfo` holding an EC key on P-256.
fn pkcs8_key(der: &[u8]) -> Result<SigningKey, KeyProblem> {
    let malformed = |reason: String| KeyProblem::Malformed {
        form: "PKCS#8",
        reason,
    };
    let info = pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| malformed(e.to_string()))?;
    let algorithm = info.algorithm.oid.to_string();
    if algorithm != EC_PUBLIC_KEY {
        return Err(KeyProblem::NotEc {
            algorithm: oid_name(&algorithm),
        });
    }
    if let Ok(curve) = info.algorithm.parameters_oid() {
        if curve.to_string() != P256 {
            return Err(KeyProblem::OtherCurve {
                curve: oid_name(&curve.to_string()),
            });
        }
    }
    SigningKey::from_pkcs8_der(der).map_err(|e| malformed(e.to_string()))
}

/// Parses a public key from SPKI PEM (`PUBLIC KEY`), as the CloudKit console takes it.
pub fn parse_public_pem(pem: &str) -> Result<VerifyingKey, String> {
    let pem = pem.strip_prefix('\u{feff}').unwrap_or(pem);
    VerifyingKey::from_public_key_pem(pem).map_err(|e| e.to_string())
}

pub fn load_public_pem(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = super::secret_file::read_secret_file(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_public_pem(&pem).map_err(|reason| KeyError::NotP256Public {
        path: path.to_owned(),
        reason,
    })
}

pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("a P-256 public key always encodes")
}

/// A new random key as PKCS#8 PEM (private) and SPKI PEM (public).
pub fn generate_key_pair() -> (String, String) {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a P-256 key always encodes")
        .to_string();
    (private, public_key_pem(key.verifying_key()))
}

/// Why a signature was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("signature is not base64")]
    NotBase64,
    #[error("signature is not an ASN.1 DER ECDSA signature")]
    NotDer,
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies a base64 DER signature over the signed message. Raw 64-byte `r||s` is refused:
/// every observed CloudKit client sends DER.
pub fn verify(
    key: &VerifyingKey,
    date: &str,
    body: &[u8],
    subpath: &str,
    signature_base64: &str,
) -> Result<(), VerifyError> {
    let der = BASE64
        .decode(signature_base64.trim())
        .map_err(|_| VerifyError::NotBase64)?;
    Signature::from_der(&der).map_err(|_| VerifyError::NotDer)?;
    match verifies(key, signed_message(date, body, subpath).as_bytes(), &der) {
        true => Ok(()),
        false => Err(VerifyError::Mismatch),
    }
}

/// Whether `der` (an ASN.1 DER ECDSA signature) is `key`'s over SHA-256 of `message`,
/// checked with `ring` (several times faster than `p256`, and the emulator checks every
/// request).
pub fn verifies(key: &VerifyingKey, message: &[u8], der: &[u8]) -> bool {
    let public = key.to_encoded_point(false);
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        public.as_bytes(),
    )
    .verify(message, der)
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_signatures_verify_with_p256_and_p256_signatures_with_ring() {
        use p256::ecdsa::signature::Verifier;
        let (private_pem, _) = generate_key_pair();
        let key = parse_private_pem(&private_pem).unwrap();
        let signer = RequestSigner::new("id", key.clone());
        assert!(
            signer.fast.is_some(),
            "ring takes every P-256 key p256 parses"
        );
        let at = Utc.with_ymd_and_hms(2026, 12, 8, 3, 0, 0).unwrap();
        let headers = signer.sign(at, b"{}", "/database/1/x");
        let der = BASE64.decode(&headers.signature).unwrap();
        let message = signed_message(&headers.date, b"{}", "/database/1/x");
        let signature = Signature::from_der(&der).unwrap();
        assert!(key
            .verifying_key()
            .verify(message.as_bytes(), &signature)
            .is_ok());
        let theirs: Signature = key.sign(message.as_bytes());
        assert!(verifies(
            key.verifying_key(),
            message.as_bytes(),
            theirs.to_der().as_bytes()
        ));
        assert!(!verifies(
            key.verifying_key(),
            b"other",
            theirs.to_der().as_bytes()
        ));
    }

    #[test]
    fn issue_12_keys_saved_with_a_bom_parse() {
        let (private_pem, public_pem) = generate_key_pair();
        assert!(parse_private_pem(&format!("\u{feff}{private_pem}")).is_ok());
        assert!(parse_public_pem(&format!("\u{feff}{public_pem}")).is_ok());
    }
    use chrono::TimeZone;

    /// A throwaway key generated for these tests only; it is registered nowhere.
    const TEST_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIHxw8NWp84xL9b0MuG1a+wNTGgKPnoS3XT6tzLC4R0ZsoAoGCCqGSM49
AwEHoUQDQgAE/36NBqHn61lwp4aeNGLUqBPxoH5TAgx2naa9P2RHag+L3IatITss
Th5SlLyC6RDNG73+L+j1TEBLUFY3q8CI2w==
-----END EC PRIVATE KEY-----
";

    fn fixed_date() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2016, 1, 25, 22, 15, 43).unwrap()
    }

    #[test]
    fn signed_message_is_exact() {
        let subpath =
            "/database/1/iCloud.com.example.gkumar.MyApp/development/public/records/query";
        let body = br#"{"query":{"recordType":"Artist"}}"#;
        // Written out by hand: date, base64 SHA-256 of the body (computed outside this
        // crate), subpath, joined by `:` (`docs/protocol.md`, "Signing").
        assert_eq!(
            signed_message("2016-01-25T22:15:43Z", body, subpath),
            "2016-01-25T22:15:43Z:zIUdxV6LBJq7FjcfhFsYehzW80lMmthbCNCRo9sFIeU=:\
             /database/1/iCloud.com.example.gkumar.MyApp/development/public/records/query"
        );
        // SHA-256 of the empty body, as GET requests sign it.
        assert_eq!(
            body_hash(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(format_date(fixed_date()), "2016-01-25T22:15:43Z");
    }

    #[test]
    fn dates_parse_only_in_the_signed_format() {
        assert_eq!(parse_date("2016-01-25T22:15:43Z"), Some(fixed_date()));
        assert_eq!(parse_date("2016-01-25T22:15:43.000Z"), None);
        assert_eq!(parse_date("2016-01-25T22:15:43+00:00"), None);
        assert_eq!(parse_date("2016-01-25 22:15:43Z"), None);
    }

    #[test]
    fn sec1_and_pkcs8_keys_sign_verifiably() {
        let sec1 = parse_private_pem(TEST_SEC1).unwrap();
        let pkcs8 = sec1.to_pkcs8_pem(LineEnding::LF).unwrap();
        let from_pkcs8 = parse_private_pem(&pkcs8).unwrap();
        assert_eq!(sec1.verifying_key(), from_pkcs8.verifying_key());

        let signer = RequestSigner::new("key-1", from_pkcs8);
        let headers = signer.sign(
            fixed_date(),
            b"{}",
            "/database/1/c/development/public/records/query",
        );
        assert!(
            headers.signature.starts_with("ME"),
            "DER starts with 0x30: {}",
            headers.signature
        );
        let key = signer.verifying_key();
        verify(
            &key,
            &headers.date,
            b"{}",
            "/database/1/c/development/public/records/query",
            &headers.signature,
        )
        .unwrap();
        assert_eq!(
            verify(
                &key,
                &headers.date,
                b"{ }",
                "/database/1/c/development/public/records/query",
                &headers.signature
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn raw_r_s_signatures_are_refused() {
        let key = parse_private_pem(TEST_SEC1).unwrap();
        let message = signed_message("2016-01-25T22:15:43Z", b"", "/p");
        let signature: Signature = key.sign(message.as_bytes());
        let raw = BASE64.encode(signature.to_bytes());
        assert_eq!(
            verify(key.verifying_key(), "2016-01-25T22:15:43Z", b"", "/p", &raw),
            Err(VerifyError::NotDer)
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let signer = RequestSigner::new("key-1", parse_private_pem(TEST_SEC1).unwrap());
        let shown = format!("{signer:?}");
        let alternate = format!("{signer:#?}");
        assert!(shown.contains("key-1"));
        // What the signer holds is the secret scalar: it must not appear in any usual
        // rendering of bytes (hex, base64, a byte list).
        let scalar: Vec<u8> = parse_private_pem(TEST_SEC1).unwrap().to_bytes().to_vec();
        let hex: String = scalar.iter().map(|b| format!("{b:02x}")).collect();
        let renderings = [
            hex.clone(),
            hex.to_uppercase(),
            BASE64.encode(&scalar),
            format!("{scalar:?}"),
            format!("{:?}", &scalar[..8])
                .trim_end_matches(']')
                .to_owned(),
        ];
        for text in [&shown, &alternate] {
            for rendering in &renderings {
                assert!(
                    !text.contains(rendering.as_str()),
                    "{text} shows {rendering}"
                );
            }
            assert!(
                !text.contains(&hex[..16]),
                "{text} shows part of the scalar"
            );
        }
    }

    #[test]
    fn other_curves_and_garbage_are_refused() {
        assert!(parse_private_pem("hello").is_err());
        // A secp384r1 key (generated for this test).
        let p384 = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAWzT0bfb5ZNA9DDZMd
i6NDadG9LyCEedbD6d2YRj5b40fkZrSlJQjfF/Xt6Kcxb7ehZANiAASINoWldPSK
fBj467NJzTSbKSxfPwDreqExZALPd/13jZrUIRfDUOzlwsGh00DvwmUpZKJdH8/5
N912Q1oV+hGfU9UCy0f717aQ4S1J3/Me87b3QT3FTl7Ah8JanisqK8U=
-----END PRIVATE KEY-----
";
        assert_eq!(
            parse_private_pem(p384).unwrap_err(),
            KeyProblem::OtherCurve {
                curve: "P-384 (secp384r1)".to_owned()
            }
        );
        assert!(matches!(
            parse_private_pem("hello").unwrap_err(),
            KeyProblem::NoKey { found } if found.is_empty()
        ));
        let (_, public) = generate_key_pair();
        assert_eq!(
            parse_private_pem(&public).unwrap_err(),
            KeyProblem::NoKey {
                found: vec!["PUBLIC KEY".to_owned()]
            }
        );
    }

    #[test]
    fn issue_17_keys_in_the_forms_openssl_writes_parse() {
        // `openssl ecparam -name prime256v1 -genkey` without `-noout`: parameters first.
        let with_parameters = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{TEST_SEC1}"
        );
        let expected = parse_private_pem(TEST_SEC1).unwrap();
        let parsed = parse_private_pem(&with_parameters).unwrap();
        assert_eq!(parsed.verifying_key(), expected.verifying_key());
        // CRLF line ends, and one line with `\n` written out (a single-line secret store).
        let crlf = with_parameters.replace('\n', "\r\n");
        assert!(parse_private_pem(&crlf).is_ok());
        let one_line = TEST_SEC1.trim_end().replace('\n', "\\n");
        assert!(parse_private_pem(&one_line).is_ok());
    }

    #[test]
    fn issue_19_an_encrypted_pkcs8_key_needs_its_passphrase() {
        let key = parse_private_pem(TEST_SEC1).unwrap();
        let document = key.to_pkcs8_der().unwrap();
        let info = pkcs8::PrivateKeyInfo::try_from(document.as_bytes()).unwrap();
        // What `openssl pkcs8 -topk8` writes: PBES2, PBKDF2-HMAC-SHA256 (2048 rounds),
        // AES-256-CBC.
        let parameters =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7; 16])
                .unwrap();
        let encrypted = info
            .encrypt_with_params(parameters, b"correct horse")
            .unwrap()
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .unwrap();
        assert_eq!(
            parse_private_pem(&encrypted).unwrap_err(),
            KeyProblem::NeedsPassphrase
        );
        assert_eq!(
            parse_private_pem_with(&encrypted, Some("wrong")).unwrap_err(),
            KeyProblem::Decrypt
        );
        let decrypted = parse_private_pem_with(&encrypted, Some("correct horse")).unwrap();
        assert_eq!(decrypted.verifying_key(), key.verifying_key());
    }

    #[test]
    fn issue_17_an_encrypted_sec1_key_is_named() {
        let encrypted = TEST_SEC1.replace(
            "-----BEGIN EC PRIVATE KEY-----\n",
            "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,4608EF360861217D619BD54CE0C190F4\n\n",
        );
        assert_eq!(
            parse_private_pem(&encrypted).unwrap_err(),
            KeyProblem::EncryptedSec1
        );
        let message = KeyError::Private {
            key: KeySource::Variable("CKPLAN_PRIVATE_KEY"),
            problem: KeyProblem::EncryptedSec1,
        }
        .to_string();
        assert!(
            message.starts_with("the key in CKPLAN_PRIVATE_KEY holds an encrypted SEC1 key"),
            "{message}"
        );
    }

    /// Fails when `openssl` is missing (CI installs it), unless `CKPLAN_TEST_WITHOUT_OPENSSL=1`
    /// says on purpose that this machine has none.
    #[test]
    fn openssl_verifies_our_signature() {
        let output = match std::process::Command::new("openssl")
            .arg("version")
            .output()
        {
            Ok(output) => output,
            Err(error) if std::env::var_os("CKPLAN_TEST_WITHOUT_OPENSSL").is_some() => {
                eprintln!("not run: openssl not found ({error}), CKPLAN_TEST_WITHOUT_OPENSSL set");
                return;
            }
            Err(error) => panic!(
                "openssl is needed to check signatures independently ({error}); install it \
                 or set CKPLAN_TEST_WITHOUT_OPENSSL=1"
            ),
        };
        assert!(output.status.success());
        let dir = tempfile::tempdir().unwrap();
        let signer = RequestSigner::new("k", parse_private_pem(TEST_SEC1).unwrap());
        let body = br#"{"records":[]}"#;
        let subpath = "/database/1/iCloud.x/development/public/records/lookup";
        let headers = signer.sign(fixed_date(), body, subpath);
        let message = signed_message(&headers.date, body, subpath);
        std::fs::write(dir.path().join("msg"), &message).unwrap();
        std::fs::write(
            dir.path().join("sig"),
            BASE64.decode(&headers.signature).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pub.pem"),
            public_key_pem(&signer.verifying_key()),
        )
        .unwrap();
        let status = std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig",
                "msg",
            ])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
}
