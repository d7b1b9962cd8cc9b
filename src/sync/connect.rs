//! Turning a config into a signed client: the key, the endpoint, and for
//! `endpoint: embedded` an in-process emulator on an ephemeral 127.0.0.1 port that trusts
//! the configured key's public half, so even the quickstart speaks real HTTP with real
//! signatures.

use crate::cloudkit::auth::{KeyError, KeySource, RequestSigner};
use crate::cloudkit::{Client, ClientOptions, CloudKitError};
use crate::config::{Config, Endpoint, Secret};
use crate::emulator::{self, EmulatorConfig, RegisteredKey, RunningEmulator};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no server-to-server key ID: set `auth.key_id` in `{config}` or CKPLAN_KEY_ID")]
    NoKeyId { config: PathBuf },
    #[error(
        "no private key: set `auth.private_key_file` in `{config}`, CKPLAN_PRIVATE_KEY_FILE, or CKPLAN_PRIVATE_KEY (the PEM text)"
    )]
    NoKeyFile { config: PathBuf },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Client(#[from] CloudKitError),
    #[error("failed to start the embedded emulator (store `{}`)", dir.display())]
    Emulator {
        dir: PathBuf,
        #[source]
        source: anyhow::Error,
    },
}

/// A client, and the embedded emulator it talks to when there is one (kept alive as long
/// as the connection). Dropping it closes it: the embedded emulator is shut down even when
/// a caller returns early on an error.
pub struct Connection {
    pub client: Client,
    pub emulator: Option<RunningEmulator>,
}

impl Connection {
    /// Stops the embedded emulator, if any, after its last write reached the disk.
    pub async fn close(mut self) {
        if let Some(emulator) = self.emulator.take() {
            emulator.shutdown().await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let Some(emulator) = self.emulator.take() else {
            return;
        };
        // Shutting down waits for the server task and writes the final snapshot; on a
        // multi-threaded runtime this thread may block for it. Elsewhere the shutdown runs
        // as a task of its own (the data is safe either way: every write was logged and
        // synced before it was answered).
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(emulator.shutdown()));
            }
            Ok(handle) => drop(handle.spawn(emulator.shutdown())),
            Err(_) => drop(emulator),
        }
    }
}

/// Loads the private key named by the config (the CLI has applied env overrides).
pub fn signer(config: &Config) -> Result<RequestSigner, ConnectError> {
    let key_id = config
        .auth
        .key_id
        .clone()
        .ok_or_else(|| ConnectError::NoKeyId {
            config: config.path.clone(),
        })?;
    let passphrase = config.auth.key_passphrase.as_ref().map(Secret::expose);
    // The PEM text from CKPLAN_PRIVATE_KEY wins over any key file.
    if let Some(pem) = &config.auth.private_key_pem {
        let source = KeySource::Variable("CKPLAN_PRIVATE_KEY");
        return Ok(RequestSigner::from_pem_text(
            key_id,
            pem.expose(),
            source,
            passphrase,
        )?);
    }
    let key_file = config
        .auth
        .private_key_file
        .clone()
        .ok_or_else(|| ConnectError::NoKeyFile {
            config: config.path.clone(),
        })?;
    Ok(RequestSigner::from_pem_file(key_id, &key_file, passphrase)?)
}

pub async fn connect(config: &Config, options: ClientOptions) -> Result<Connection, ConnectError> {
    connect_with_token(config, options, None).await
}

/// As [`connect`]; an embedded emulator also accepts `management_token` on its schema API
/// (`endpoint: embedded` serves the schema beside the records, as an emulator does).
pub async fn connect_with_token(
    config: &Config,
    options: ClientOptions,
    management_token: Option<crate::cloudkit::token::ManagementToken>,
) -> Result<Connection, ConnectError> {
    let signer = signer(config)?;
    let (endpoint, emulator) = match &config.endpoint {
        Endpoint::Url(url) => (url.clone(), None),
        Endpoint::Embedded { dir } => {
            let mut emulator_config = EmulatorConfig {
                data_dir: Some(dir.clone()),
                keys: vec![RegisteredKey {
                    key_id: Some(signer.key_id().to_owned()),
                    key: signer.verifying_key(),
                }],
                management_token,
                ..EmulatorConfig::default()
            };
            // The run's seed (`CKPLAN_RANDOMNESS_SEED`) seeds the embedded server too.
            if let Some(seed) = options.seed {
                emulator_config.faults.seed = seed;
            }
            let running = emulator::start(emulator_config).await.map_err(|source| {
                ConnectError::Emulator {
                    dir: dir.clone(),
                    source,
                }
            })?;
            (running.url(), Some(running))
        }
    };
    let client = Client::new(&endpoint, config.target(), signer, options)?;
    Ok(Connection { client, emulator })
}
