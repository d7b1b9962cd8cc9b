//! What the commands that work on a config share: loading it with the credential
//! environment overrides, loading local data with every problem shown, connecting, and
//! reading progress on stderr.

use super::{output, Globals};
use crate::cloudkit::ClientOptions;
use crate::config::Config;
use crate::local::{self, LocalData};
use crate::record::RecordType;
use crate::sync::{self, Connection, ReadProgress};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Loads the config (`--config`, `CKPLAN_CONFIG`, `./ckplan.yaml`) and applies
/// `CKPLAN_KEY_ID` / `CKPLAN_PRIVATE_KEY_FILE`.
pub fn load_config(globals: &Globals) -> anyhow::Result<Config> {
    let path = globals.config_path();
    let mut config = Config::load(&path)?;
    let key_id = std::env::var("CKPLAN_KEY_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let key_file = std::env::var_os("CKPLAN_PRIVATE_KEY_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    config.auth.override_with(key_id, key_file);
    // The embedded emulator's key guards nothing; a real key readable by others does.
    if let (Some(key_file), false) = (&config.auth.private_key_file, is_embedded(&config)) {
        warn_if_key_is_readable_by_others(key_file);
    }
    Ok(config)
}

fn is_embedded(config: &Config) -> bool {
    matches!(config.endpoint, crate::config::Endpoint::Embedded { .. })
}

#[cfg(unix)]
fn warn_if_key_is_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            output::warn(format_args!(
                "private key `{}` is readable by group or others; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
}

#[cfg(not(unix))]
fn warn_if_key_is_readable_by_others(_path: &std::path::Path) {}

/// Loads every data file, prints every problem on stderr, and fails if any is an error.
pub fn load_local(config: &Config) -> anyhow::Result<LocalData> {
    let local = local::load_all(config);
    for problem in local.problems() {
        if problem.is_error() {
            eprintln!(
                "{} {problem}",
                console::style("error:").red().bold().for_stderr()
            );
        } else {
            output::warn(problem);
        }
    }
    let errors = local.error_count();
    if errors > 0 {
        bail!(
            "local data has {errors} error{}; nothing was sent (run `ckplan validate` for the full report)",
            if errors == 1 { "" } else { "s" }
        );
    }
    Ok(local)
}

/// The record types named with `--type` (each must be configured), or every configured type.
pub fn selected_types(config: &Config, types: &[String]) -> anyhow::Result<Vec<RecordType>> {
    let only: Vec<RecordType> = types.iter().map(|t| RecordType::new(t.as_str())).collect();
    sync::selected_types(config, &only).map_err(anyhow::Error::msg)
}

pub async fn connect(config: &Config) -> anyhow::Result<Connection> {
    sync::connect(config, ClientOptions::default())
        .await
        .with_context(|| format!("failed to connect to CloudKit for `{}`", config.target()))
}

/// A spinner counting records read, on stderr when it is a terminal.
pub struct ReadBar(Option<ProgressBar>);

impl ReadBar {
    pub fn new(quiet: bool) -> Self {
        if quiet || !output::stderr_is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} reading CloudKit: {pos} records ({elapsed})")
                .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(Some(bar))
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl ReadProgress for ReadBar {
    fn records_read(&self, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_position(total as u64);
        }
    }
}
