//! The vault on the embedded store (SQLite index, blob directory, or the
//! blobs in an S3 bucket when `blob_url` is set), opened
//! the one way `obhut serve` and `obhut demo` start it: the locked data
//! directory, the keystore, the stores with their startup check, the
//! [`App`] and the bound listener ([`Vault`]), and the signal that stops it
//! ([`shutdown_signal`]). With a `database_url` the index is PostgreSQL
//! instead ([`Vault::open_postgres`], [`open_postgres_stores`]); the blobs
//! stay in the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use obhut_store::blobs::AnyBlobStore;
use obhut_store::dir::DirBlobStore;
use obhut_store::postgres::PgIndex;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{BlobConfig, BlobStore, Consistency, IndexStore, StoreError};

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::keystore::{Keystore, KeystoreError, Probe};
use crate::{App, SystemClock};

/// The vault `obhut serve` runs: SQLite index, blobs in the data
/// directory or an S3 bucket (`blob_url`).
pub type EmbeddedApp = App<obhut_store::sqlite::SqliteIndex, AnyBlobStore>;

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
    /// Neither directory holds a vault and `--init` was not given.
    #[error(
        "no vault in {} and {}: a vault's keys are made once, explicitly. Run `obhut serve --init` to create a new vault there; to serve an existing one, pass its --data and --keys",
        data.display(),
        keys.display()
    )]
    NotInitialised {
        /// The data directory.
        data: PathBuf,
        /// The keystore.
        keys: PathBuf,
    },
    /// The data directory holds a vault but its keystore is gone.
    #[error(
        "the keystore {} {state}, but {} holds the vault with instance id {instance}: without its keys the vault cannot sign receipts its devices accept nor checkpoints that extend its log. Restore {} from the keystore backup, or pass the right --keys; --init does not replace the keys of an existing vault",
        keys.display(),
        data.display(),
        keys.display()
    )]
    KeystoreMissing {
        /// The keystore.
        keys: PathBuf,
        /// "does not exist" or "is empty".
        state: &'static str,
        /// The data directory.
        data: PathBuf,
        /// Its instance id.
        instance: String,
    },
    /// The keystore is bound to a vault whose data directory is not here.
    #[error(
        "{} holds no vault index, but the keystore {} belongs to the vault with instance id {instance}: pass that vault's --data (or restore it from backup); to create a new vault, use an empty --keys directory with --init",
        data.display(),
        keys.display()
    )]
    DataMissing {
        /// The data directory.
        data: PathBuf,
        /// The keystore.
        keys: PathBuf,
        /// The keystore's instance id.
        instance: String,
    },
    /// The keystore holds keys but names no data directory.
    #[error(
        "the keystore {} holds keys but no instance file, so nothing shows they are the keys of {}. If they are (a keystore written before instance ids, or an interrupted --init), run `obhut serve --init` once to bind them; it checks them against the audit log. Otherwise pass this vault's --keys",
        keys.display(),
        data.display()
    )]
    KeystoreUnbound {
        /// The keystore.
        keys: PathBuf,
        /// The data directory.
        data: PathBuf,
    },
    /// `--init` found keys that do not sign the stored audit log.
    #[error(
        "the keystore {}'s log.key did not sign the latest checkpoint in {}: these are another vault's keys. Pass this vault's --keys",
        keys.display(),
        data.display()
    )]
    KeysDoNotSignLog {
        /// The keystore.
        keys: PathBuf,
        /// The data directory.
        data: PathBuf,
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
    /// The TLS certificate or key did not load.
    #[error(transparent)]
    Tls(crate::net::tls::TlsError),
    /// The bound listener did not say its address.
    #[error("reading the bound address")]
    LocalAddr(#[source] std::io::Error),
    /// The audit log did not start (an invalid `log_origin`).
    #[error("starting the audit log")]
    AuditLog(#[source] ApiError),
    /// Serving failed.
    #[error("serving")]
    Serve(#[source] std::io::Error),
    /// A sweep failed (the vault's log says where); the next one resumes.
    #[error("the sweep failed: {0}; run it again (each step resumes where it stopped)")]
    Sweep(String),
}

/// Hold an exclusive lock on `DATA/lock` for the server's lifetime: two
/// servers on one data directory would break the write order, and
/// `obhut check` must not read a store that a vault is writing.
pub fn lock_data_dir(dir: &Path) -> Result<std::fs::File, EmbeddedError> {
    use std::os::unix::fs::OpenOptionsExt;
    // 0700: the index holds case numbers and justifications.
    obhut_store::create_private_dir(dir).map_err(|e| match e {
        StoreError::Io { source, .. } => EmbeddedError::CreateDataDir {
            path: dir.to_owned(),
            source,
        },
        other => EmbeddedError::Store(other),
    })?;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
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

/// Whether opening may create a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// Serve the vault the directories hold; refuse if they hold none
    /// (`obhut serve`).
    Existing,
    /// As [`Start::Existing`], except that a new data directory beside an
    /// absent or empty keystore becomes a new vault with new keys, and an
    /// unbound keystore whose log key signed the stored log is bound
    /// (`obhut serve --init`, `obhut demo`).
    Init,
}

/// An index the vault can close when it stops.
pub trait CloseIndex: IndexStore {
    /// Close its connections (SQLite: checkpoint the WAL).
    fn close_index(&self) -> impl std::future::Future<Output = ()> + Send;
}

impl CloseIndex for SqliteIndex {
    async fn close_index(&self) {
        self.close().await;
    }
}

impl CloseIndex for PgIndex {
    async fn close_index(&self) {
        self.close().await;
    }
}

/// The stores and keystore of one vault, checked to belong together.
pub struct Opened<I = SqliteIndex, B = DirBlobStore> {
    /// The index.
    pub index: I,
    /// The blobs.
    pub blobs: B,
    /// What the stores' startup check found.
    pub report: Consistency,
    /// The keystore, bound to the stores' instance id.
    pub keystore: Keystore,
}

/// Refuse, before anything is created, a start that would make a vault
/// without `--init`, or a new one beside another vault's keys.
fn check_before_create(data: &Path, keys: &Path, start: Start) -> Result<Probe, EmbeddedError> {
    check_before_create_if(data.join("obhut.sqlite").exists(), data, keys, start)
}

/// [`check_before_create`], told whether the index holds a vault.
fn check_before_create_if(
    exists: bool,
    data: &Path,
    keys: &Path,
    start: Start,
) -> Result<Probe, EmbeddedError> {
    let probe = Keystore::probe(keys)?;
    if exists {
        return Ok(probe);
    }
    match (&probe, start) {
        (p, Start::Init) if p.is_empty() => Ok(probe),
        (Probe::Bound(id), _) => Err(EmbeddedError::DataMissing {
            data: data.to_owned(),
            keys: keys.to_owned(),
            instance: id.clone(),
        }),
        (Probe::Unbound, Start::Init) => Err(EmbeddedError::KeystoreUnbound {
            keys: keys.to_owned(),
            data: data.to_owned(),
        }),
        _ => Err(EmbeddedError::NotInitialised {
            data: data.to_owned(),
            keys: keys.to_owned(),
        }),
    }
}

/// Open the embedded stores of `data` and the keystore `keys`, checking
/// that the keystore belongs to the data directory (the instance id in
/// `KEYS/instance` is the stores', docs/vault.md §6); with [`Start::Init`]
/// make or bind the keys where [`Start`] says. The caller holds the data
/// directory's lock.
pub async fn open_stores(data: &Path, keys: &Path, start: Start) -> Result<Opened, EmbeddedError> {
    let probe = check_before_create(data, keys, start)?;
    let (index, blobs, report) = obhut_store::open_embedded(data).await?;
    bind_keystore(index, blobs, report, probe, data, keys, start).await
}

/// [`open_stores`] with the blobs where `blobs` says (the data directory,
/// or an S3 bucket).
pub async fn open_stores_with(
    data: &Path,
    keys: &Path,
    blobs: &BlobConfig,
    start: Start,
) -> Result<Opened<SqliteIndex, AnyBlobStore>, EmbeddedError> {
    let probe = check_before_create(data, keys, start)?;
    let (index, blobs, report) = obhut_store::open_vault(data, blobs).await?;
    bind_keystore(index, blobs, report, probe, data, keys, start).await
}

/// [`open_stores`] with the index on PostgreSQL at `url` (migrated on
/// connect) and the blobs where `blobs` says (the data directory or an S3
/// bucket). The database holds a vault once its
/// instance id is set; the startup check then compares it with the blob
/// directory's, as for the embedded index.
pub async fn open_postgres_stores(
    url: &str,
    data: &Path,
    keys: &Path,
    blobs: &BlobConfig,
    start: Start,
) -> Result<Opened<PgIndex, AnyBlobStore>, EmbeddedError> {
    let index = PgIndex::connect(url).await?;
    let exists = index.instance_id().await?.is_some();
    let probe = check_before_create_if(exists, data, keys, start)?;
    obhut_store::create_private_dir(data)?;
    let blobs = blobs.open(data).await?;
    let at = PathBuf::from(blobs.location());
    let report =
        obhut_store::check_consistency(&index, &blobs, Path::new("the PostgreSQL index"), &at)
            .await?;
    bind_keystore(index, blobs, report, probe, data, keys, start).await
}

/// The keystore of the opened stores: made, bound or checked as `start`
/// and `probe` say (see [`open_stores`]).
async fn bind_keystore<I: IndexStore, B: BlobStore>(
    index: I,
    blobs: B,
    report: Consistency,
    probe: Probe,
    data: &Path,
    keys: &Path,
    start: Start,
) -> Result<Opened<I, B>, EmbeddedError> {
    let instance = index.instance_id().await?.ok_or(StoreError::NotFound(
        "the index's instance id after its startup check",
    ))?;
    let keystore = match probe {
        Probe::Bound(_) => Keystore::open(keys, &instance)?,
        // Nothing was ever logged, so no device holds a receipt and no
        // auditor a checkpoint: a new vault, or an --init cut short after
        // the stores were made.
        p if p.is_empty() && start == Start::Init && index.log_sequenced().await? == 0 => {
            tracing::info!(keys = %keys.display(), instance, "created the vault's keys");
            Keystore::create(keys, &instance)?
        }
        p if p.is_empty() => {
            return Err(EmbeddedError::KeystoreMissing {
                keys: keys.to_owned(),
                state: if p == Probe::Absent {
                    "does not exist"
                } else {
                    "is empty"
                },
                data: data.to_owned(),
                instance,
            });
        }
        _ if start == Start::Init => {
            let ks = Keystore::load_unbound(keys)?;
            if let Some(c) = index.log_checkpoint().await?
                && !signs(&c.note, ks.log_key())
            {
                return Err(EmbeddedError::KeysDoNotSignLog {
                    keys: keys.to_owned(),
                    data: data.to_owned(),
                });
            }
            tracing::info!(keys = %keys.display(), instance, "bound the keystore to the data directory");
            ks.bind(&instance)?
        }
        _ => {
            return Err(EmbeddedError::KeystoreUnbound {
                keys: keys.to_owned(),
                data: data.to_owned(),
            });
        }
    };
    Ok(Opened {
        index,
        blobs,
        report,
        keystore,
    })
}

/// Whether `log_key` signed the checkpoint `note` (under the note's own
/// origin, which the configuration may have changed since).
fn signs(note: &[u8], log_key: &obhut_core::identity::SignKey) -> bool {
    let Ok(parsed) = obhut_log::Note::parse(note) else {
        return false;
    };
    let Some(origin) = parsed.text().lines().next() else {
        return false;
    };
    let seed = log_key.seed();
    let Ok(signer) = obhut_log::NoteSigner::from_seed(origin, seed.expose()) else {
        return false;
    };
    parsed
        .verify(&[signer.verifier_key()])
        .is_ok_and(|v| !v.is_empty())
}

/// A vault opened on its stores and bound to its address, not yet serving.
/// `obhut serve` and `obhut demo` start the vault through this one path;
/// `I` is the index: SQLite ([`Vault::open`]) or PostgreSQL
/// ([`Vault::open_postgres`]).
pub struct Vault<I = SqliteIndex> {
    app: Arc<App<I, AnyBlobStore>>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    ops: Option<(tokio::net::TcpListener, SocketAddr)>,
    tls: Option<Arc<crate::net::tls::Certs>>,
    _lock: std::fs::File,
}

impl Vault {
    /// Lock the data directory, open the embedded stores and the keystore
    /// that belongs to them ([`open_stores`]; logging what the startup
    /// check found), and bind `config.listen`.
    pub async fn open(config: ServerConfig, start: Start) -> Result<Vault, EmbeddedError> {
        // Before the lock, which creates the data directory.
        check_before_create(&config.data_dir, &config.keys_dir, start)?;
        let lock = lock_data_dir(&config.data_dir)?;
        let opened =
            open_stores_with(&config.data_dir, &config.keys_dir, &config.blobs, start).await?;
        Vault::serve_opened(config, lock, opened).await
    }
}

impl Vault<PgIndex> {
    /// [`Vault::open`] with the index on PostgreSQL at `url`
    /// ([`open_postgres_stores`]).
    pub async fn open_postgres(
        config: ServerConfig,
        url: &str,
        start: Start,
    ) -> Result<Vault<PgIndex>, EmbeddedError> {
        let lock = lock_data_dir(&config.data_dir)?;
        let opened = open_postgres_stores(
            url,
            &config.data_dir,
            &config.keys_dir,
            &config.blobs,
            start,
        )
        .await?;
        Vault::serve_opened(config, lock, opened).await
    }
}

impl<I: CloseIndex> Vault<I> {
    /// The part of opening after the stores: holder, listeners, [`App`].
    async fn serve_opened(
        config: ServerConfig,
        lock: std::fs::File,
        opened: Opened<I, AnyBlobStore>,
    ) -> Result<Vault<I>, EmbeddedError> {
        let Opened {
            index,
            blobs,
            report,
            keystore,
        } = opened;
        let mut keystore = keystore;
        if let Some(holder) = crate::keystore::configured_holder(&config)
            .map_err(crate::keystore::KeystoreError::from)?
        {
            keystore.set_holder(holder);
        }
        if report.temporary_removed > 0 {
            tracing::info!(
                count = report.temporary_removed,
                "removed unfinished uploads from the blob store's tmp/"
            );
        }
        warn_disagreements(&report);
        // Before binding: a bad certificate stops the start, and nothing
        // has listened yet.
        let tls = match &config.tls {
            None => None,
            Some(files) => {
                Some(crate::net::tls::Certs::open(files.clone()).map_err(EmbeddedError::Tls)?)
            }
        };
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
        // Before the vault says it listens, so that what it logs at start
        // precedes anything a client or the admin CLI does.
        crate::startup(&app).await;
        Ok(Vault {
            app,
            listener,
            addr,
            ops,
            tls,
            _lock: lock,
        })
    }

    /// The address it is bound to (the real port if `listen` asked for 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the API listener serves TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The operations listener's address (`/metrics`, health), if
    /// `ops_listen` is set.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(|(_, a)| *a)
    }

    /// The shared state: the index an admin change works on, the keystore.
    pub fn app(&self) -> &Arc<App<I, AnyBlobStore>> {
        &self.app
    }

    /// Run one sweep ([`App::sweep_once`]) without serving, then close the
    /// index: `obhut serve --sweep-once`.
    pub async fn sweep_once(self) -> Result<crate::sweep::SweepReport, EmbeddedError> {
        let report = self.app.sweep_once().await;
        self.app.index.close_index().await;
        report.map_err(|e| EmbeddedError::Sweep(e.to_string()))
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
            tls,
            _lock,
        } = self;
        if tls.is_some() {
            tracing::info!(%addr, "vault listening (TLS; SIGHUP reloads the certificate)");
        } else if addr.ip().is_loopback() {
            tracing::info!(%addr, "vault listening");
        } else {
            // Requests are signed, so a man in the middle cannot forge
            // them, but he reads ids, times and sizes, and a reader's
            // ciphertext: say so where the operator looks.
            tracing::warn!(
                %addr,
                "vault listening on plain HTTP on a non-loopback address; set tls_cert and tls_key (or put a TLS proxy in front)"
            );
        }
        let ops = ops.map(|(l, ops_addr)| {
            tracing::info!(%ops_addr, "operations listening (metrics, health)");
            l
        });
        crate::serve_with_tls(app.clone(), listener, ops, tls, shutdown)
            .await
            .map_err(EmbeddedError::Serve)?;
        app.index.close_index().await;
        tracing::info!("vault stopped");
        Ok(())
    }
}

/// Lines the startup check logs per kind of disagreement; `obhut check`
/// lists them all.
const WARN_LINES: usize = 100;

/// Log what the startup check found, a line per disagreement (the first
/// [`WARN_LINES`] of each kind), naming the segment.
fn warn_disagreements(report: &Consistency) {
    for key in report.orphan_blobs.iter().take(WARN_LINES) {
        tracing::warn!(
            recording = %key.recording,
            segment = key.index,
            "blob without an index row (crash between rename and commit); re-adopted when the device re-uploads"
        );
    }
    for key in report.missing_blobs.iter().take(WARN_LINES) {
        tracing::error!(
            recording = %key.recording,
            segment = key.index,
            "index row whose blob is missing: data loss; restore blobs/ from backup"
        );
    }
    for (key, expected, got) in report.wrong_length.iter().take(WARN_LINES) {
        tracing::error!(
            recording = %key.recording,
            segment = key.index,
            expected,
            got,
            "stored blob's length is not its record's: restore it from backup; `obhut check` checks every blob's hash"
        );
    }
    let n = report.orphan_blobs.len() + report.missing_blobs.len() + report.wrong_length.len();
    if n > 0 {
        tracing::warn!(
            count = n,
            "the index and the blobs disagree; run `obhut check` with the vault stopped for the full list"
        );
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
