//! The key's environment: `CKPLAN_KEY_ID`, `CKPLAN_PRIVATE_KEY_FILE`, `CKPLAN_PRIVATE_KEY`
//! (the PEM text itself, as CI secrets hold it), `CKPLAN_KEY_PASSPHRASE` and `CKPLAN_TEAM_ID`, read as
//! [`Overrides`] of the config; and the warnings about how the key is kept.

use super::Printer;
use crate::config::{Config, Endpoint, Overrides, Secret};
use std::path::PathBuf;

/// The credential variables, empty values ignored; the secret ones never leave a [`Secret`].
/// `environment` is what `--environment` (or `CKPLAN_ENVIRONMENT`) chose, if anything.
pub fn environment_overrides(
    environment: Option<crate::record::Environment>,
    printer: &Printer,
) -> Overrides {
    let secret = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(Secret::new)
    };
    let overrides = Overrides {
        environment,
        key_id: std::env::var("CKPLAN_KEY_ID")
            .ok()
            .filter(|v| !v.is_empty()),
        team_id: super::non_empty_variable("CKPLAN_TEAM_ID"),
        private_key_file: std::env::var_os("CKPLAN_PRIVATE_KEY_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        private_key_pem: secret("CKPLAN_PRIVATE_KEY"),
        key_passphrase: secret("CKPLAN_KEY_PASSPHRASE"),
    };
    if overrides.private_key_pem.is_some() && overrides.private_key_file.is_some() {
        printer.warn(
            "CKPLAN_PRIVATE_KEY and CKPLAN_PRIVATE_KEY_FILE are both set; using CKPLAN_PRIVATE_KEY",
        );
    }
    overrides
}

/// The embedded emulator's key guards nothing; a real key file readable by others does (a
/// key from CKPLAN_PRIVATE_KEY has no file).
pub fn warn_about_key_file(config: &Config, printer: &Printer) {
    let embedded = matches!(config.endpoint, Endpoint::Embedded { .. });
    if let (Some(key_file), None, false) = (
        &config.auth.private_key_file,
        &config.auth.private_key_pem,
        embedded,
    ) {
        warn_if_readable_by_others("private key", key_file, printer);
    }
}

/// A management token file readable by others is warned about as a key file is (both
/// are secrets); unused when `CKPLAN_MANAGEMENT_TOKEN` is set, or against the embedded
/// emulator, whose token guards nothing.
pub fn warn_about_token_file(config: &Config, printer: &Printer) {
    let embedded = matches!(config.endpoint, Endpoint::Embedded { .. });
    let variable = super::non_empty_variable("CKPLAN_MANAGEMENT_TOKEN").is_some();
    if let (Some(token_file), false, false) =
        (&config.auth.management_token_file, variable, embedded)
    {
        warn_if_readable_by_others("management token", token_file, printer);
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(what: &str, path: &std::path::Path, printer: &Printer) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            printer.warn(format_args!(
                "{what} `{}` is readable by group or others; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_what: &str, _path: &std::path::Path, _printer: &Printer) {}
