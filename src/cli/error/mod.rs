//! The one error type of the command line: [`CommandError`] pairs an error with its
//! [`ErrorKind`] (which decides the exit status, once) and the `hint:` lines to print after
//! it. Each core error type converts through one `From`, which reads its kind and its hints
//! (hints are data on the core types, such as
//! [`crate::cloudkit::CloudKitError::hint`]; see `classify`); an `anyhow::Error`
//! built from core errors with context is classified by the first core error in its chain.

mod classify;

use super::ExitStatus;

/// What kind of failure ended a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input, a refused plan, an answer that stopped the command.
    User,
    /// The configuration, a key file, or credentials.
    Config,
    /// CloudKit refused a request or could not be reached.
    Service,
    /// Local I/O or a state ckplan should not reach.
    Internal,
    /// The reader of stdout went away (`| head`): not a failure worth a message.
    BrokenPipe,
}

impl ErrorKind {
    /// The exit status for this kind: 1 for every failure; 0 for a closed stdout, which
    /// only means the reader had seen enough (as `ripgrep` does).
    pub fn exit_status(self) -> ExitStatus {
        match self {
            ErrorKind::BrokenPipe => ExitStatus::Success,
            ErrorKind::User | ErrorKind::Config | ErrorKind::Service | ErrorKind::Internal => {
                ExitStatus::Error
            }
        }
    }
}

/// A command's failure: kind, error (with its causes) and hints.
#[derive(Debug)]
pub struct CommandError {
    kind: ErrorKind,
    error: anyhow::Error,
    hints: Vec<String>,
}

/// What every command returns.
pub type CommandResult = Result<ExitStatus, CommandError>;

impl CommandError {
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Self {
        Self {
            kind,
            error: error.into(),
            hints: Vec::new(),
        }
    }

    /// A user error with a plain message.
    pub fn user(message: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::User, anyhow::anyhow!("{message}"))
    }

    /// A failed write to stdout: [`ErrorKind::BrokenPipe`] when the reader went away.
    pub fn stdout(error: std::io::Error) -> Self {
        let kind = match error.kind() {
            std::io::ErrorKind::BrokenPipe => ErrorKind::BrokenPipe,
            _ => ErrorKind::Internal,
        };
        Self::new(
            kind,
            anyhow::Error::new(error).context("failed to write to stdout"),
        )
    }

    /// Adds a `hint:` line.
    pub fn with_hint(mut self, hint: impl std::fmt::Display) -> Self {
        let hint = hint.to_string();
        if !self.hints.contains(&hint) {
            self.hints.push(hint);
        }
        self
    }

    /// Makes every command a hint suggests (`` `ckplan …` ``) carry `--config CONFIG`, so
    /// that it runs against the configuration the failed command used.
    pub fn with_config_in_hints(mut self, config: &std::path::Path) -> Self {
        let option = format!(
            "`ckplan --config {} ",
            crate::render::shell_word(&config.display().to_string())
        );
        for hint in &mut self.hints {
            if !hint.contains("`ckplan --config ") {
                *hint = hint.replace("`ckplan ", &option);
            }
        }
        self
    }

    /// Wraps the error in `context`, keeping kind and hints.
    pub fn context(self, context: impl std::fmt::Display + Send + Sync + 'static) -> Self {
        Self {
            error: self.error.context(context),
            ..self
        }
    }

    /// Puts `prefix: ` before the message, as one line (the causes are folded into it).
    pub fn prefixed(self, prefix: impl std::fmt::Display) -> Self {
        Self {
            error: anyhow::anyhow!("{prefix}: {}", self.error),
            ..self
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn error(&self) -> &anyhow::Error {
        &self.error
    }

    pub fn hints(&self) -> &[String] {
        &self.hints
    }

    pub fn exit_status(&self) -> ExitStatus {
        self.kind.exit_status()
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// So that a command error passing through `anyhow` code keeps its kind and hints: the
/// chain walk of `From<anyhow::Error>` finds it again.
impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<crate::ops::make_plan::PlanError> for CommandError {
    /// Classified by its causes, which stay in the chain; a failed read is CloudKit's own
    /// error.
    fn from(error: crate::ops::make_plan::PlanError) -> Self {
        match error {
            crate::ops::make_plan::PlanError::Read(error) => anyhow::Error::new(error).into(),
            crate::ops::make_plan::PlanError::Schema(error) => {
                super::schema_steps::plan_error(error)
            }
            other => anyhow::Error::new(other).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::error::reply_error;
    use crate::plan::file::PlanFileError;

    #[test]
    fn a_refused_signature_keeps_its_hint_through_context() {
        let refused = reply_error(
            crate::cloudkit::wire::Endpoint::Modify,
            401,
            br#"{"serverErrorCode":"AUTHENTICATION_FAILED"}"#,
        );
        let wrapped = anyhow::Error::new(refused).context("apply stopped");
        let error = CommandError::from(wrapped);
        assert_eq!(error.kind(), ErrorKind::Service);
        let hints = error.hints();
        assert_eq!(hints.len(), 1, "{hints:?}");
        assert!(hints[0].starts_with("check `auth.key_id`"), "{hints:?}");
        assert_eq!(error.exit_status(), ExitStatus::Error);
    }

    #[test]
    fn a_failed_read_for_a_plan_is_cloudkits_error_with_its_kind_and_hint() {
        use crate::ops::make_plan::PlanError;
        let refused = || {
            reply_error(
                crate::cloudkit::wire::Endpoint::Query,
                401,
                br#"{"serverErrorCode":"AUTHENTICATION_FAILED"}"#,
            )
        };
        let error = CommandError::from(PlanError::Read(refused()));
        assert_eq!(error.kind(), ErrorKind::Service);
        assert_eq!(error.error().to_string(), refused().to_string());
        assert!(error.hints()[0].starts_with("check `auth.key_id`"));
        let references = CommandError::from(PlanError::References(refused()));
        assert_eq!(references.kind(), ErrorKind::Service);
        assert_eq!(references.hints(), error.hints());
        // Connecting: its own message first, the connection's kind and hint from the chain.
        let failed = crate::ops::ConnectFailed {
            target: crate::record::Target {
                container: "iCloud.x".into(),
                environment: crate::record::Environment::Development,
                database: crate::record::Database::Public,
                zone: "_defaultZone".into(),
            },
            source: crate::sync::ConnectError::Client(refused()),
        };
        let connect = CommandError::from(PlanError::Connect(Box::new(failed)));
        assert_eq!(connect.kind(), ErrorKind::Service);
        assert_eq!(connect.hints(), error.hints());
        assert!(connect
            .error()
            .to_string()
            .starts_with("failed to connect to CloudKit for `iCloud.x"));
        let local = CommandError::from(PlanError::LocalData { errors: 2 });
        assert_eq!(local.kind(), ErrorKind::User);
        assert_eq!(
            local.error().to_string(),
            "local data has 2 errors; nothing was sent (run `ckplan validate` for the full report)"
        );
    }

    #[test]
    fn a_closed_stdout_is_quiet_and_not_a_failure() {
        let error = CommandError::stdout(std::io::ErrorKind::BrokenPipe.into());
        assert_eq!(error.kind(), ErrorKind::BrokenPipe);
        assert_eq!(error.exit_status(), ExitStatus::Success);
        let other = CommandError::stdout(std::io::ErrorKind::Other.into());
        assert_eq!(other.exit_status(), ExitStatus::Error);
        // Through `anyhow` code and back, it stays a closed pipe.
        let through = anyhow::Error::new(error).context("listing");
        assert_eq!(CommandError::from(through).kind(), ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_refused_plan_file_hints_at_a_new_plan() {
        let error = CommandError::from(PlanFileError::ChecksumMissing);
        assert_eq!(error.kind(), ErrorKind::User);
        assert_eq!(error.hints(), ["make a new plan with `ckplan plan`"]);
    }
}
