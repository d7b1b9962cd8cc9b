//! The credentials a configuration names and what overrides them: the server-to-server key
//! (per environment, from `auth:`), the secrets the environment gives (key text,
//! passphrase), and the environment chosen on the command line.

use crate::record::Environment;
use std::path::PathBuf;

/// What wins over the file when a configuration is resolved: the values of
/// `CKPLAN_KEY_ID`, `CKPLAN_PRIVATE_KEY_FILE`, `CKPLAN_PRIVATE_KEY` and
/// `CKPLAN_KEY_PASSPHRASE`, which only the command line reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--environment` / `CKPLAN_ENVIRONMENT`: wins over `environment:` in the file.
    pub environment: Option<Environment>,
    pub key_id: Option<String>,
    /// `CKPLAN_TEAM_ID`.
    pub team_id: Option<String>,
    /// As given (relative to the working directory, not the config file).
    pub private_key_file: Option<PathBuf>,
    /// The PEM text itself (a CI secret); wins over any key file.
    pub private_key_pem: Option<Secret>,
    /// Decrypts an encrypted PKCS#8 key.
    pub key_passphrase: Option<Secret>,
}

/// The server-to-server key; `Config::resolve` applies the overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    pub key_id: Option<String>,
    pub private_key_file: Option<PathBuf>,
    /// `CKPLAN_PRIVATE_KEY`: the PEM text, used instead of `private_key_file` when set.
    pub private_key_pem: Option<Secret>,
    /// `CKPLAN_KEY_PASSPHRASE`.
    pub key_passphrase: Option<Secret>,
    /// Resolved against the config file's directory. The token itself is never part of
    /// the configuration.
    pub management_token_file: Option<PathBuf>,
    /// The file's keys: `auth:` itself and, per environment, `auth.development` and
    /// `auth.production`; [`Config::set_environment`] puts the one in force in `key_id` and
    /// `private_key_file`.
    pub keys: EnvironmentKeys,
}

/// One key ID and key file, either possibly unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Key {
    pub key_id: Option<String>,
    pub private_key_file: Option<PathBuf>,
}

/// The keys a config file names: the default and one per environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvironmentKeys {
    pub default: Key,
    pub development: Option<Key>,
    pub production: Option<Key>,
}

impl EnvironmentKeys {
    /// The key for `environment`: its own block's members, the default's for the rest.
    pub fn for_environment(&self, environment: Environment) -> Key {
        let own = match environment {
            Environment::Development => self.development.as_ref(),
            Environment::Production => self.production.as_ref(),
        };
        Key {
            key_id: own
                .and_then(|k| k.key_id.clone())
                .or_else(|| self.default.key_id.clone()),
            private_key_file: own
                .and_then(|k| k.private_key_file.clone())
                .or_else(|| self.default.private_key_file.clone()),
        }
    }
}

/// Text that must never be shown (a private key, a passphrase): `Debug` says only that it is
/// there, and there is no `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text, for the one place that uses it (loading the key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Auth {
    /// Replaces the values that are given (environment variables win over the file).
    pub fn override_with(&mut self, key_id: Option<String>, private_key_file: Option<PathBuf>) {
        if let Some(key_id) = key_id {
            self.key_id = Some(key_id);
        }
        if let Some(file) = private_key_file {
            self.private_key_file = Some(file);
        }
    }

    /// Applies every override the environment gives: key ID, key file, key text (which
    /// wins over any file) and passphrase.
    pub fn apply(&mut self, overrides: &Overrides) {
        self.override_with(overrides.key_id.clone(), overrides.private_key_file.clone());
        if let Some(pem) = &overrides.private_key_pem {
            self.private_key_pem = Some(pem.clone());
        }
        self.key_passphrase = overrides.key_passphrase.clone();
    }
}
