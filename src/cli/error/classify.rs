//! How each core error type becomes a [`CommandError`]: its [`ErrorKind`] and its hints,
//! decided once per type; and how an `anyhow::Error` is classified by the core errors in
//! its chain.

use super::{CommandError, ErrorKind};
use crate::apply::journal::JournalError;
use crate::apply::{ApplyError, SessionError};
use crate::cloudkit::auth::{KeyError, KeyProblem};
use crate::cloudkit::CloudKitError;
use crate::config::ConfigError;
use crate::ops::import::ImportError;
use crate::plan::file::PlanFileError;
use crate::sync::ConnectError;

/// How a core error type is classified: its kind and its hints.
trait Classify: std::error::Error {
    fn kind(&self) -> ErrorKind;
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Classify for CloudKitError {
    fn kind(&self) -> ErrorKind {
        match self {
            CloudKitError::Endpoint { .. } => ErrorKind::Config,
            CloudKitError::HttpClient { .. }
            | CloudKitError::Encode { .. }
            | CloudKitError::TooManyOperations { .. } => ErrorKind::Internal,
            _ => ErrorKind::Service,
        }
    }
    fn hints(&self) -> Vec<String> {
        self.hint().map(|h| h.to_string()).into_iter().collect()
    }
}

impl Classify for ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Config
    }
    fn hints(&self) -> Vec<String> {
        match self {
            ConfigError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                vec!["pass --config FILE, or start from examples/sportstime/ckplan.yaml".to_owned()]
            }
            _ => Vec::new(),
        }
    }
}

impl Classify for KeyError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Config
    }
    fn hints(&self) -> Vec<String> {
        let new_key = "or make a new P-256 key pair with `ckplan keygen -o FILE` (or `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`) and register its public half in CloudKit Console";
        match self {
            KeyError::Private { problem, .. } => match problem {
                KeyProblem::EncryptedSec1 => vec![
                    "convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -in KEY.pem -out key.p8.pem` and set CKPLAN_KEY_PASSPHRASE, or decrypt it with `openssl ec -in KEY.pem -out key.pem` and keep that file private".to_owned(),
                ],
                KeyProblem::NeedsPassphrase | KeyProblem::Decrypt => {
                    vec!["set CKPLAN_KEY_PASSPHRASE to the passphrase the key was encrypted with".to_owned()]
                }
                _ => vec![format!(
                    "use the P-256 key whose public half is registered in CloudKit Console, {new_key}"
                )],
            },
            _ => Vec::new(),
        }
    }
}

impl Classify for ConnectError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConnectError::Client(error) => Classify::kind(error),
            ConnectError::Key(error) => Classify::kind(error),
            ConnectError::NoKeyId { .. } | ConnectError::NoKeyFile { .. } => ErrorKind::Config,
            ConnectError::Emulator { .. } => ErrorKind::Internal,
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            ConnectError::Client(error) => Classify::hints(error),
            ConnectError::Key(error) => Classify::hints(error),
            _ => Vec::new(),
        }
    }
}

impl Classify for PlanFileError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }
    fn hints(&self) -> Vec<String> {
        vec!["make a new plan with `ckplan plan`".to_owned()]
    }
}

impl Classify for JournalError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

impl Classify for ApplyError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApplyError::Journal(error) => Classify::kind(error),
            ApplyError::Lookup(error) => Classify::kind(error),
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            ApplyError::Journal(error) => Classify::hints(error),
            ApplyError::Lookup(error) => Classify::hints(error),
        }
    }
}

impl Classify for SessionError {
    fn kind(&self) -> ErrorKind {
        match self {
            SessionError::Locked { .. } | SessionError::Unwritable { .. } => ErrorKind::User,
            SessionError::Lock { .. } => ErrorKind::Internal,
            SessionError::Journal(error) => Classify::kind(error),
            SessionError::Apply(error) => Classify::kind(error),
            SessionError::Assets(crate::apply::upload::UploadError::Upload { source, .. }) => {
                Classify::kind(source)
            }
            SessionError::Assets(_) => ErrorKind::User,
            SessionError::MoveAside { .. } | SessionError::WriteReceipt { .. } => {
                ErrorKind::Internal
            }
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            SessionError::Locked { .. } => vec![
                "wait for that apply to finish; if its process is gone, the lock went with it"
                    .to_owned(),
            ],
            SessionError::Lock { .. } => vec![
                "the lock and the journal live beside the plan: make its directory writable, or copy the plan into a writable directory and apply the copy"
                    .to_owned(),
            ],
            SessionError::Unwritable { what: "receipt", .. } => vec![
                "create the directory first, or choose a writable path with `--receipt FILE`"
                    .to_owned(),
            ],
            SessionError::Unwritable { .. } => vec![
                "the journal lives beside the plan: copy the plan into a writable directory and apply the copy"
                    .to_owned(),
            ],
            SessionError::WriteReceipt { plan, .. } => vec![format!(
                "run `{}` with a writable FILE: it sends nothing already done and writes the receipt from the journal",
                crate::render::shell_command(&[
                    "apply",
                    &plan.display().to_string(),
                    "--receipt",
                    "FILE"
                ])
            )],
            SessionError::Journal(error) => Classify::hints(error),
            SessionError::Apply(error) => Classify::hints(error),
            SessionError::Assets(crate::apply::upload::UploadError::Upload { source, .. }) => {
                Classify::hints(source)
            }
            _ => Vec::new(),
        }
    }
}

impl Classify for ImportError {
    fn kind(&self) -> ErrorKind {
        Classify::kind(&self.source)
    }
    fn hints(&self) -> Vec<String> {
        Classify::hints(&self.source)
    }
}

macro_rules! from_core_errors {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for CommandError {
            fn from(error: $error) -> Self {
                let (kind, hints) = (Classify::kind(&error), Classify::hints(&error));
                Self { kind, error: error.into(), hints }
            }
        })*

        /// The kind of the first classified error in `error`'s chain, and the hints of all.
        fn classify_chain(error: &anyhow::Error) -> (Option<ErrorKind>, Vec<String>) {
            let mut kind = None;
            let mut hints: Vec<String> = Vec::new();
            for cause in error.chain() {
                if let Some(command) = cause.downcast_ref::<CommandError>() {
                    kind.get_or_insert(command.kind);
                    hints.extend(command.hints.iter().cloned());
                }
                $(if let Some(core) = cause.downcast_ref::<$error>() {
                    kind.get_or_insert(Classify::kind(core));
                    hints.extend(Classify::hints(core));
                })*
            }
            hints.dedup();
            (kind, hints)
        }
    };
}

from_core_errors!(
    CloudKitError,
    ConfigError,
    KeyError,
    ConnectError,
    PlanFileError,
    JournalError,
    ApplyError,
    SessionError,
    ImportError,
);

impl From<anyhow::Error> for CommandError {
    /// Errors raised in command code with `anyhow` are user errors unless a core error in
    /// their chain says otherwise.
    fn from(error: anyhow::Error) -> Self {
        let (kind, hints) = classify_chain(&error);
        Self {
            kind: kind.unwrap_or(ErrorKind::User),
            error,
            hints,
        }
    }
}

impl From<std::io::Error> for CommandError {
    fn from(error: std::io::Error) -> Self {
        Self::new(ErrorKind::Internal, error)
    }
}
