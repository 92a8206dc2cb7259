//! The vault's audit log service (docs/log.md §Service): integrates
//! sequenced entries into the Merkle tree, signs checkpoints with the log
//! key, asks witnesses to cosign them, and prunes old entry bodies. Proofs
//! are answered in `proofs.rs`, the HTTP endpoints in `http.rs`.
//!
//! Sequencing happens in the store, inside each change's own transaction
//! ([`obhut_store::LogStore`]); this module is the integrator (one per
//! store: the holder of the lease, [`crate::sequencing`]). It
//! keeps the tree's right edge and the partial tiles in memory, reads the
//! leaf hashes of newly sequenced entries, and commits the grown tiles with
//! a checkpoint in one transaction — one fsync per batch, which is where
//! the throughput comes from (BENCHMARKS.md). That commit is a
//! compare-and-swap of the tree head: if another integrator wrote since
//! this memory was loaded, nothing is written, the head is reloaded and
//! integration goes on from it, so the tree never forks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use obhut_api::ErrorKind;
use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::ids::RecordingId;
use obhut_log::tiles::{TILE_HEIGHT, TILE_WIDTH};
use obhut_log::{Checkpoint, CompactRange, Hash, NoteSigner, SignedCheckpoint, VerifierKey};
use obhut_store::{IndexStore, LogStore, NewLogEntry, StoreError, StoredCheckpoint, TileRow};
use tokio::sync::{Mutex, Notify, watch};

use super::proofs::internal;
use super::witnessing;
use crate::error::{ApiError, ApiResult};
use crate::metrics::{LogMetrics, Store};

/// Most entries integrated under one checkpoint (bounds one transaction).
pub const MAX_BATCH: u32 = 65_536;

/// Most reloads of a moved tree head in one integration before it stops
/// and leaves the work to the other integrator, which keeps winning (the
/// next round tries again).
const MAX_RELOADS: u32 = 8;

/// The in-memory state of the integrator.
#[derive(Clone)]
struct Integrator {
    compact: CompactRange,
    /// The right-edge tile of each level that is not yet full.
    partial: BTreeMap<(u8, u64), Vec<u8>>,
}

/// The log service.
pub struct LogService {
    origin: String,
    signer: NoteSigner,
    state: Mutex<Option<Integrator>>,
    latest: watch::Sender<Option<Arc<StoredCheckpoint>>>,
    wake: Notify,
    witnesses: Vec<witnessing::Witness>,
    /// Writes refused because the tree head had moved (operators see
    /// two integrators at work; tests see a stale one refused).
    head_moved: AtomicU64,
    metrics: LogMetrics,
}

impl std::fmt::Debug for LogService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogService")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The default origin: stable as long as the log key is.
pub fn default_origin(log_key: &obhut_core::identity::SignKey) -> String {
    let pk = log_key.verify_key().to_bytes();
    format!("obhut/vault-{}", hex::encode(&pk[..8]))
}

impl LogService {
    /// A service for `origin`, signing with `log_key`. State loads on the
    /// first integration.
    pub fn new(
        origin: String,
        log_key: &obhut_core::identity::SignKey,
        witnesses: &[crate::config::WitnessConfig],
    ) -> ApiResult<Self> {
        let seed = log_key.seed();
        let signer = NoteSigner::from_seed(&origin, seed.expose())
            .map_err(|_| internal("the configured log_origin is not a valid key name"))?;
        Ok(LogService {
            origin,
            signer,
            state: Mutex::new(None),
            latest: watch::channel(None).0,
            wake: Notify::new(),
            head_moved: AtomicU64::new(0),
            witnesses: witnesses
                .iter()
                .cloned()
                .map(witnessing::Witness::new)
                .collect(),
            metrics: LogMetrics::default(),
        })
    }

    /// Count witness failures and time store calls into `metrics` (the
    /// vault's registry's handles) instead of unregistered ones.
    pub fn with_metrics(self, metrics: LogMetrics) -> Self {
        LogService { metrics, ..self }
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's verifier key (C2SP vkey), for clients to pin.
    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier_key()
    }

    /// How many of this integrator's writes were refused because another
    /// one had moved the tree head since it loaded it.
    pub fn head_moved(&self) -> u64 {
        self.head_moved.load(Ordering::Relaxed)
    }

    /// Ask the integrator to run soon (after a local append).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Wait for a wake-up (the background task).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// A receiver of the latest checkpoint this process integrated.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<StoredCheckpoint>>> {
        self.latest.subscribe()
    }

    async fn load<I: LogStore>(&self, index: &I) -> ApiResult<Integrator> {
        let Some(cp) = index.log_checkpoint().await? else {
            return Ok(Integrator {
                compact: CompactRange::new(),
                partial: BTreeMap::new(),
            });
        };
        let edge: Vec<Hash> = cp
            .edge
            .chunks_exact(32)
            .map(|c| Hash(c.try_into().unwrap_or([0; 32])))
            .collect();
        let compact = CompactRange::from_edge(cp.size, edge)
            .filter(|_| cp.edge.len() % 32 == 0)
            .ok_or_else(|| internal("the stored tree edge does not match its checkpoint size"))?;
        let signed = SignedCheckpoint::open(&cp.note, &self.signer.verifier_key())
            .map_err(|_| internal("the stored checkpoint is not signed by this vault's log key"))?;
        if signed.checkpoint.root != compact.root() || signed.checkpoint.size != cp.size {
            return Err(internal(
                "the stored tree edge does not hash to the stored checkpoint",
            ));
        }
        let mut partial = BTreeMap::new();
        for level in 0..8u8 {
            let shift = u32::from(TILE_HEIGHT) * u32::from(level);
            let hashes = cp.size >> shift;
            if hashes == 0 {
                break;
            }
            if hashes % TILE_WIDTH != 0 {
                let n = hashes / TILE_WIDTH;
                let mut t = index
                    .log_tile(level, n)
                    .await?
                    .ok_or_else(|| internal("a right-edge tile is missing"))?;
                t.truncate(((hashes % TILE_WIDTH) * 32) as usize);
                partial.insert((level, n), t);
            }
        }
        self.latest.send_replace(Some(Arc::new(cp)));
        Ok(Integrator { compact, partial })
    }

    /// Integrate every sequenced entry (in batches of at most
    /// [`MAX_BATCH`]); returns the new size, or `None` if there was
    /// nothing new.
    pub async fn integrate<I: LogStore>(&self, index: &I, now_ms: i64) -> ApiResult<Option<u64>> {
        let mut guard = self.state.lock().await;
        if guard.is_none() {
            *guard = Some(self.load(index).await?);
        }
        let mut grown = None;
        let mut reloads = 0;
        loop {
            let st = guard.as_mut().ok_or_else(|| internal("state"))?;
            let from = st.compact.size();
            let leaves = self
                .metrics
                .timed(
                    Store::Index,
                    "log_leaf_hashes",
                    index.log_leaf_hashes(from, MAX_BATCH),
                )
                .await?;
            if leaves.is_empty() {
                return Ok(grown);
            }
            let mut next = st.clone();
            let mut dirty: BTreeMap<(u8, u64), ()> = BTreeMap::new();
            let mut bad = false;
            for leaf in leaves {
                next.compact.append_visit(Hash(leaf), |level, idx, h| {
                    if level % TILE_HEIGHT != 0 {
                        return;
                    }
                    let key = (level / TILE_HEIGHT, idx / TILE_WIDTH);
                    let t = next.partial.entry(key).or_default();
                    if t.len() as u64 != (idx % TILE_WIDTH) * 32 {
                        bad = true;
                    }
                    t.extend_from_slice(&h.0);
                    dirty.insert(key, ());
                });
            }
            if bad {
                return Err(internal("tile positions disagree with the tree size"));
            }
            let tiles: Vec<TileRow> = dirty
                .keys()
                .filter_map(|k| {
                    next.partial.get(k).map(|h| TileRow {
                        level: k.0,
                        index: k.1,
                        hashes: h.clone(),
                    })
                })
                .collect();
            next.partial
                .retain(|_, h| h.len() < (TILE_WIDTH as usize) * 32);
            let size = next.compact.size();
            let note = Checkpoint::new(&self.origin, size, next.compact.root())
                .and_then(|c| c.sign(&self.signer))
                .map_err(|_| internal("signing a checkpoint"))?;
            let cp = StoredCheckpoint {
                size,
                time_ms: now_ms,
                note: note.to_bytes(),
                edge: next.compact.edge().iter().flat_map(|h| h.0).collect(),
            };
            let integrated = self
                .metrics
                .timed(
                    Store::Index,
                    "log_integrate",
                    index.log_integrate(from, &tiles, &cp),
                )
                .await;
            match integrated {
                Ok(()) => *st = next,
                Err(StoreError::HeadMoved { expected, latest }) => {
                    // Another integrator wrote since this memory was
                    // loaded (two servers, a lease lost and retaken):
                    // nothing of this batch was written. Go on from the
                    // head as stored; its leaves are the same.
                    reloads += 1;
                    self.head_moved.fetch_add(1, Ordering::Relaxed);
                    self.metrics.head_moved.inc();
                    tracing::info!(expected, latest, "the log's tree head moved; reloading it");
                    *guard = Some(self.load(index).await?);
                    if reloads > MAX_RELOADS {
                        // Another integrator keeps winning: it is doing
                        // the work, and the reload above serves what it
                        // wrote. Not an error of this server's; a caller
                        // that needs an entry covered checks `latest`.
                        tracing::info!(reloads, "another integrator keeps moving the tree head");
                        return Ok(grown);
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            // With witnesses, a checkpoint is served once they were asked
            // ([`LogService::cosign_latest`]), so clients requiring
            // cosignatures are not shown one that cannot have them yet.
            if self.witnesses.is_empty() {
                self.latest.send_replace(Some(Arc::new(cp)));
            }
            grown = Some(size);
        }
    }

    /// Ask the witnesses to cosign the latest checkpoint, store the
    /// cosigned note and serve it. Without witnesses, nothing to do.
    pub async fn cosign_latest<I: LogStore>(&self, index: &I) -> ApiResult<()> {
        if self.witnesses.is_empty() {
            return Ok(());
        }
        let Some(mut cp) = index.log_checkpoint().await? else {
            return Ok(());
        };
        let note = witnessing::cosign(index, &self.witnesses, &cp, &self.metrics).await?;
        if note != cp.note {
            index.log_cosigned(cp.size, &note).await?;
            cp.note = note;
        }
        self.latest.send_replace(Some(Arc::new(cp)));
        Ok(())
    }

    /// Serve the store's latest checkpoint if it is not the one served
    /// (larger, or cosigned since): on a server that is not the
    /// integrator, another process signs them.
    pub async fn refresh<I: LogStore>(&self, index: &I) -> ApiResult<()> {
        let Some(cp) = index.log_checkpoint().await? else {
            return Ok(());
        };
        let newer = self
            .latest
            .borrow()
            .as_ref()
            .is_none_or(|c| c.size < cp.size || (c.size == cp.size && c.note != cp.note));
        if newer {
            self.latest.send_replace(Some(Arc::new(cp)));
        }
        Ok(())
    }

    /// A signed checkpoint covering entry `entry`: the latest one if it
    /// does, else after integrating what is sequenced now; `NotFound` if
    /// the entry is not sequenced.
    pub async fn checkpoint_covering<I: LogStore>(
        &self,
        index: &I,
        entry: u64,
        now_ms: i64,
    ) -> ApiResult<Arc<StoredCheckpoint>> {
        let covering = || self.latest.borrow().clone().filter(|cp| cp.size > entry);
        if let Some(cp) = covering() {
            return Ok(cp);
        }
        // Another server may have integrated it (a shared store). With
        // witnesses, only what they were asked to cosign is served.
        if self.witnesses.is_empty() {
            self.refresh(index).await?;
            if let Some(cp) = covering() {
                return Ok(cp);
            }
        }
        self.integrate(index, now_ms).await?;
        match self.latest.borrow().clone() {
            Some(cp) if cp.size > entry => Ok(cp),
            _ => Err(ApiError::new(
                ErrorKind::NotFound,
                format!("log entry {entry} is not sequenced"),
            )),
        }
    }
}

/// Builds the audit entry of an event, stamped with `now_ms`.
pub fn entry(
    now_ms: i64,
    role: Role,
    key: [u8; 32],
    recording: Option<RecordingId>,
    event: Event,
) -> ApiResult<NewLogEntry> {
    NewLogEntry::new(&LogEntry {
        time_ms: now_ms,
        actor: Actor { role, key },
        recording,
        event,
    })
    .map_err(|e| ApiError::new(ErrorKind::BadRequest, format!("audit entry: {e}")))
}

/// One pass of log retention: prune bodies older than `retention_ms`,
/// logging a `log-pruned` entry with the count in the same transaction.
pub async fn prune<I: IndexStore>(
    index: &I,
    log: &LogService,
    vault_key: [u8; 32],
    retention_ms: i64,
    now_ms: i64,
) -> ApiResult<u64> {
    let integrated = log.subscribe().borrow().as_ref().map_or(0, |c| c.size);
    let n = index
        .log_prune(
            now_ms.saturating_sub(retention_ms),
            integrated,
            now_ms,
            |count| {
                (count > 0)
                    .then(|| {
                        entry(
                            now_ms,
                            Role::Vault,
                            vault_key,
                            None,
                            Event::LogPruned {
                                before_index: integrated,
                                count,
                            },
                        )
                        .ok()
                    })
                    .flatten()
            },
        )
        .await?;
    if n > 0 {
        tracing::info!(pruned = n, "audit entry bodies pruned (retention)");
        log.wake();
    }
    Ok(n)
}
