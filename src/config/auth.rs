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
    /// Whether `key_id` and `private_key_file` came from `CKPLAN_KEY_ID` and
    /// `CKPLAN_PRIVATE_KEY_FILE` rather than the file.
    pub from_variables: KeyVariables,
}

/// Which key settings environment variables gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyVariables {
    pub key_id: bool,
    pub private_key_file: bool,
}

/// Where the key in force was set, as the names a person fixes: `auth.production.key_id`,
/// `CKPLAN_KEY_ID`, `CKPLAN_PRIVATE_KEY`, … (for advice after CloudKit refused the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySettings {
    pub key_id: String,
    pub key: String,
    /// Production signs with `auth:`'s own key because no `auth.production` names one.
    pub production_uses_default: bool,
}

impl KeySettings {
    /// `text` (advice written for the default names `auth.key_id` and
    /// `auth.private_key_file`) naming the settings actually in force.
    pub fn name_in(&self, text: &str) -> String {
        let text = text
            .replace("`auth.key_id`", &format!("`{}`", self.key_id))
            .replace("`auth.private_key_file`", &format!("`{}`", self.key));
        match self.production_uses_default && text.contains(&self.key_id) {
            true => format!(
                "{text}; no `auth.production` key is set, so production is signed with `auth:`'s own key, and CloudKit keys are per environment"
            ),
            false => text,
        }
    }
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
        self.from_variables.key_id |= overrides.key_id.is_some();
        self.from_variables.private_key_file |= overrides.private_key_file.is_some();
        if let Some(pem) = &overrides.private_key_pem {
            self.private_key_pem = Some(pem.clone());
        }
        self.key_passphrase = overrides.key_passphrase.clone();
    }
}

impl Auth {
    /// Where the key ID and the key used for `environment` were set.
    pub fn settings(&self, environment: Environment) -> KeySettings {
        let block = match environment {
            Environment::Development => self.keys.development.as_ref(),
            Environment::Production => self.keys.production.as_ref(),
        };
        let in_block = |has: fn(&Key) -> bool, member: &str| match block.is_some_and(has) {
            true => format!("auth.{}.{member}", environment.as_str()),
            false => format!("auth.{member}"),
        };
        let key_id = match self.from_variables.key_id {
            true => "CKPLAN_KEY_ID".to_owned(),
            false => in_block(|k| k.key_id.is_some(), "key_id"),
        };
        let key = if self.private_key_pem.is_some() {
            "CKPLAN_PRIVATE_KEY".to_owned()
        } else if self.from_variables.private_key_file {
            "CKPLAN_PRIVATE_KEY_FILE".to_owned()
        } else {
            in_block(|k| k.private_key_file.is_some(), "private_key_file")
        };
        let production_uses_default = environment == Environment::Production
            && key_id == "auth.key_id"
            && self.keys.production.is_none();
        KeySettings {
            key_id,
            key,
            production_uses_default,
        }
    }
}

impl super::Config {
    /// What names the team in force, for messages: `CKPLAN_TEAM_ID` or the file's
    /// `team_id:`.
    pub fn team_setting(&self) -> &'static str {
        match self.team_from_variable {
            true => "`CKPLAN_TEAM_ID`",
            false => "the configuration's `team_id:`",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(production: Option<Key>) -> Auth {
        Auth {
            keys: EnvironmentKeys {
                default: Key {
                    key_id: Some("dev".into()),
                    private_key_file: Some("dev.pem".into()),
                },
                development: None,
                production,
            },
            ..Auth::default()
        }
    }

    #[test]
    fn issue_19_key_settings_name_what_signed() {
        let hint = "check `auth.key_id` and `auth.private_key_file`, that the key is registered";
        let block = Some(Key {
            key_id: Some("prod".into()),
            private_key_file: Some("prod.pem".into()),
        });
        let production = auth(block.clone()).settings(Environment::Production);
        assert_eq!(
            production.name_in(hint),
            "check `auth.production.key_id` and `auth.production.private_key_file`, that the key is registered"
        );
        let development = auth(block).settings(Environment::Development);
        assert_eq!(development.name_in(hint), hint);
        let fallback = auth(None).settings(Environment::Production);
        assert!(fallback
            .name_in(hint)
            .ends_with("no `auth.production` key is set, so production is signed with `auth:`'s own key, and CloudKit keys are per environment"));
        let mut from_ci = auth(None);
        from_ci.apply(&Overrides {
            key_id: Some("ci".into()),
            private_key_pem: Some(Secret::new("pem")),
            ..Overrides::default()
        });
        assert_eq!(
            from_ci.settings(Environment::Production).name_in(hint),
            "check `CKPLAN_KEY_ID` and `CKPLAN_PRIVATE_KEY`, that the key is registered"
        );
    }
}
