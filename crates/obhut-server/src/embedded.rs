//! The vault on the embedded store (SQLite index, blob directory), opened
//! the one way `obhut serve` and `obhut demo` start it: the locked data
//! directory, the keystore, the stores with their startup check, the
//! [`App`] and the bound listener ([`Vault`]), and the signal that stops it
//! ([`shutdown_signal`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use obhut_store::StoreError;

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::keystore::{Keystore, KeystoreError};
use crate::{App, SystemClock};

/// The embedded vault: SQLite index and directory blobs.
pub type EmbeddedApp = App<obhut_store::sqlite::SqliteIndex, obhut_store::dir::DirBlobStore>;

/// Why the embedded vault did not open or stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// The data directory could not be created.
    #[error("creating {}", path.display())]
    CreateDataDir {
        /// The data directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The lock file `DATA/lock` could not be opened.
    #[error("opening {}", path.display())]
    OpenLock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process (a second server) holds the data directory's lock.
    #[error("{} is in use by another obhut serve", dir.display())]
    InUse {
        /// The data directory.
        dir: PathBuf,
    },
    /// Taking the lock failed for another reason than contention.
    #[error("locking {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The keystore did not open.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The embedded stores did not open, or their startup check refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("listening on {addr}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bound listener did not say its address.
    #[error("reading the bound address")]
    LocalAddr(#[source] std::io::Error),
    /// The audit log did not start (an invalid `log_origin`).
    #[error("starting the audit log")]
    AuditLog(#[source] ApiError),
    /// Serving failed.
    #[error("serving")]
    Serve(#[source] std::io::Error),
}

/// Hold an exclusive lock on `DATA/lock` for the server's lifetime: two
/// servers on one data directory would break the write order.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, EmbeddedError> {
    std::fs::create_dir_all(dir).map_err(|source| EmbeddedError::CreateDataDir {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| EmbeddedError::OpenLock {
            path: path.clone(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(EmbeddedError::InUse {
            dir: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(EmbeddedError::Lock { path, source }),
    }
}

/// A vault opened on its stores and bound to its address, not yet serving.
/// `obhut serve` and `obhut demo` start the vault through this one path.
pub struct Vault {
    app: Arc<EmbeddedApp>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    ops: Option<(tokio::net::TcpListener, SocketAddr)>,
    _lock: std::fs::File,
}

impl Vault {
    /// Lock the data directory, open the keystore and the embedded stores
    /// (logging what the startup check found), and bind `config.listen`.
    pub async fn open(config: ServerConfig) -> Result<Vault, EmbeddedError> {
        let lock = lock_data_dir(&config.data_dir)?;
        let keystore = Keystore::open(&config.keys_dir)?;
        let (index, blobs, report) = obhut_store::open_embedded(&config.data_dir).await?;
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
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| EmbeddedError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(EmbeddedError::LocalAddr)?;
        let ops = match config.ops_listen {
            None => None,
            Some(ops_addr) => {
                let l = tokio::net::TcpListener::bind(ops_addr)
                    .await
                    .map_err(|source| EmbeddedError::Bind {
                        addr: ops_addr,
                        source,
                    })?;
                let a = l.local_addr().map_err(EmbeddedError::LocalAddr)?;
                Some((l, a))
            }
        };
        let app = Arc::new(
            App::new(index, blobs, keystore, config, Arc::new(SystemClock))
                .map_err(EmbeddedError::AuditLog)?,
        );
        Ok(Vault {
            app,
            listener,
            addr,
            ops,
            _lock: lock,
        })
    }

    /// The address it is bound to (the real port if `listen` asked for 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The operations listener's address (`/metrics`, health), if
    /// `ops_listen` is set.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(|(_, a)| *a)
    }

    /// The shared state: the index an admin change works on, the keystore.
    pub fn app(&self) -> &Arc<EmbeddedApp> {
        &self.app
    }

    /// Serve until `shutdown` resolves, then close the index cleanly. The
    /// data directory stays locked until this returns.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), EmbeddedError> {
        let Vault {
            app,
            listener,
            addr,
            ops,
            _lock,
        } = self;
        tracing::info!(%addr, "vault listening");
        let ops = ops.map(|(l, ops_addr)| {
            tracing::info!(%ops_addr, "operations listening (metrics, health)");
            l
        });
        crate::serve(app.clone(), listener, ops, shutdown)
            .await
            .map_err(EmbeddedError::Serve)?;
        app.index.close().await;
        tracing::info!("vault stopped");
        Ok(())
    }
}

/// Threads of tokio's blocking pool (default 512). The vault's blocking
/// work is file I/O, and a few dozen concurrent fsyncs gain all there is to
/// gain: with 1,000 uploads arriving at once the default pool grew to 220
/// threads; with 64 the server ran 71 threads at the same throughput and
/// RSS. History: BENCHMARKS.md, "Tuning decisions".
pub const MAX_BLOCKING_THREADS: usize = 64;

/// The multi-threaded runtime the vault runs on, its blocking pool capped
/// at [`MAX_BLOCKING_THREADS`].
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
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
