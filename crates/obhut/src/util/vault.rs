//! The vault on the embedded store, as `obhut serve`, `obhut admin` and
//! `obhut demo` open it: where it keeps its data ([`StoreArgs`]), its merged
//! settings ([`load_config`]), the locked data directory and bound listener
//! ([`Vault`]), and the signal that stops it ([`shutdown_signal`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use obhut_server::config::{FileConfig, ServerConfig};
use obhut_server::keystore::Keystore;
use obhut_server::{App, SystemClock};

use super::hint::{HintExt, fail};

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
    let file = match &store.config {
        Some(p) => FileConfig::from_file(p).next_step("fix the file or pass another --config")?,
        None if Path::new("obhut.toml").exists() => FileConfig::from_file(Path::new("obhut.toml"))
            .next_step("fix ./obhut.toml or pass --config FILE")?,
        None => FileConfig::default(),
    };
    let env = FileConfig::from_env(|k| std::env::var(k).ok())
        .next_step("fix or unset the environment variable")?;
    let flags = FileConfig {
        data: store.data.clone().or(flags.data),
        keys: store.keys.clone().or(flags.keys),
        ..flags
    };
    ServerConfig::from_layers(file.overridden_by(env).overridden_by(flags))
        .next_step("fix the setting (flag, OBHUT_* variable or config file)")
}

/// Hold an exclusive lock on `DATA/lock` for the server's lifetime: two
/// servers on one data directory would break the write order.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).hint(
        format!("creating {}", dir.display()),
        "pass a writable --data DIR",
    )?;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .hint(
            format!("opening {}", path.display()),
            "pass a writable --data DIR",
        )?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(fail(
            format!("{} is in use by another obhut serve", dir.display()),
            "stop the other server, or pass another --data DIR",
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("locking {}", path.display())))
        }
    }
}

/// The embedded vault: SQLite index and directory blobs.
pub type EmbeddedApp = App<obhut_store::sqlite::SqliteIndex, obhut_store::dir::DirBlobStore>;

/// A vault opened on its stores and bound to its address, not yet serving.
/// `obhut serve` and `obhut demo` start the vault through this one path.
pub struct Vault {
    app: Arc<EmbeddedApp>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    _lock: std::fs::File,
}

impl Vault {
    /// Lock the data directory, open the keystore and the embedded stores
    /// (reporting what the startup check found), and bind `config.listen`.
    pub async fn open(config: ServerConfig) -> anyhow::Result<Vault> {
        let lock = lock_data_dir(&config.data_dir)?;
        let keystore = Keystore::open(&config.keys_dir).next_step(
            "pass --keys DIR (a directory only the vault's user can read, not inside --data)",
        )?;
        let (index, blobs, report) = obhut_store::open_embedded(&config.data_dir)
            .await
            .next_step("check --data; see the message above")?;
        if report.temporary_removed > 0 {
            tracing::info!(
                count = report.temporary_removed,
                "removed unfinished uploads from tmp/"
            );
        }
        if !report.orphan_blobs.is_empty() {
            tracing::warn!(
                count = report.orphan_blobs.len(),
                "blobs without index rows (crash between rename and commit); re-adopted when the device re-uploads"
            );
        }
        if !report.missing_blobs.is_empty() {
            tracing::error!(
                count = report.missing_blobs.len(),
                "index rows whose blob is missing: data loss; restore blobs/ from backup"
            );
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await.hint(
            format!("listening on {}", config.listen),
            "pass another --listen ADDR (port 0 picks a free one)",
        )?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let app = Arc::new(
            App::new(index, blobs, keystore, config, Arc::new(SystemClock))
                .map_err(|e| anyhow::anyhow!("{e}"))
                .hint(
                    "starting the audit log",
                    "set log_origin in obhut.toml to a name such as vault.example.org/obhut",
                )?,
        );
        Ok(Vault {
            app,
            listener,
            addr,
            _lock: lock,
        })
    }

    /// The address it is bound to (the real port if `listen` asked for 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state: the index an admin command works on, the keystore.
    pub fn app(&self) -> &Arc<EmbeddedApp> {
        &self.app
    }

    /// Serve until `shutdown` resolves, then close the index cleanly. The
    /// data directory stays locked until this returns.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Vault {
            app,
            listener,
            addr,
            _lock,
        } = self;
        tracing::info!(%addr, "vault listening");
        obhut_server::serve(app.clone(), listener, shutdown)
            .await
            .context("serving")?;
        app.index.close().await;
        tracing::info!("vault stopped");
        Ok(())
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
