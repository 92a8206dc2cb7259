//! The vault on the embedded store, as `obhut serve`, `obhut admin` and
//! `obhut demo` open it: where it keeps its data ([`StoreArgs`]), its merged
//! settings ([`load_config`]), and the next step after
//! `obhut_server::embedded` refused to open or serve ([`vault_error`]).

use std::path::PathBuf;

use obhut_server::config::{FileConfig, LoadError, ServerConfig};
use obhut_server::embedded::EmbeddedError;
use obhut_server::keystore::KeystoreError;

use super::hint::with_next_step;

/// Where the vault keeps its data (shared with `obhut admin`).
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Data directory: index (obhut.sqlite) and blobs [default: ./obhut-data]
    #[arg(long, value_name = "DIR", global = true)]
    pub data: Option<PathBuf>,
    /// Keystore directory, separate from the data (0700) [default: ./obhut-keys]
    #[arg(long, value_name = "DIR", global = true)]
    pub keys: Option<PathBuf>,
    /// Config file (TOML) [default: ./obhut.toml if it exists]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

/// Merge config file, environment and flags into a validated config.
pub fn load_config(store: &StoreArgs, flags: FileConfig) -> anyhow::Result<ServerConfig> {
    ServerConfig::load(
        store.config.as_deref(),
        |k| std::env::var(k).ok(),
        with_store(store, flags),
    )
    .map_err(load_error)
}

/// Merge config file, environment and flags, not yet validated.
pub fn merge_config(store: &StoreArgs, flags: FileConfig) -> anyhow::Result<FileConfig> {
    ServerConfig::merge(
        store.config.as_deref(),
        |k| std::env::var(k).ok(),
        with_store(store, flags),
    )
    .map_err(load_error)
}

fn with_store(store: &StoreArgs, flags: FileConfig) -> FileConfig {
    FileConfig {
        data: store.data.clone().or(flags.data),
        keys: store.keys.clone().or(flags.keys),
        ..flags
    }
}

fn load_error(e: LoadError) -> anyhow::Error {
    let next = match &e {
        LoadError::File(_) => "fix the file or pass another --config",
        LoadError::DefaultFile(_) => "fix ./obhut.toml or pass --config FILE",
        LoadError::Env(_) => "fix or unset the environment variable",
        _ => "fix the setting (flag, OBHUT_* variable or config file)",
    };
    with_next_step(e, next)
}

/// The next step after the embedded vault did not open or serve.
pub fn vault_error(e: EmbeddedError) -> anyhow::Error {
    let next = match &e {
        EmbeddedError::CreateDataDir { .. } | EmbeddedError::OpenLock { .. } => {
            "pass a writable --data DIR"
        }
        EmbeddedError::InUse { .. } => "stop the other server, or pass another --data DIR",
        // Their messages already name the problem and the fix.
        EmbeddedError::NotInitialised { .. }
        | EmbeddedError::KeystoreMissing { .. }
        | EmbeddedError::DataMissing { .. }
        | EmbeddedError::KeystoreUnbound { .. }
        | EmbeddedError::KeysDoNotSignLog { .. }
        | EmbeddedError::Keystore(
            KeystoreError::Foreign { .. } | KeystoreError::MissingKey { .. },
        ) => return e.into(),
        EmbeddedError::Keystore(_) => {
            "pass --keys DIR (a directory only the vault's user can read, not inside --data)"
        }
        EmbeddedError::Store(_) => "check --data; see the message above",
        EmbeddedError::Bind { .. } => "pass another --listen ADDR (port 0 picks a free one)",
        EmbeddedError::Tls(_) => {
            "pass --tls-cert and --tls-key (tls_cert, tls_key) the PEM certificate chain and its own private key"
        }
        EmbeddedError::AuditLog(_) => {
            "set log_origin in obhut.toml to a name such as vault.example.org/obhut"
        }
        _ => return e.into(),
    };
    with_next_step(e, next)
}
