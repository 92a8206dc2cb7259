//! The vault's audit log (docs/log.md): [`service`] integrates sequenced
//! entries into the tree and signs checkpoints (one integrator per store,
//! see [`crate::sequencing`]); [`proofs`] answers inclusion and
//! consistency proofs from stored tiles; [`witnessing`] asks witnesses to
//! cosign; [`http`] serves `/v1/log/*`.

pub mod http;
pub mod proofs;
pub mod service;
pub mod witnessing;

pub use proofs::{prove_consistency, prove_inclusion};
pub use service::{LogService, MAX_BATCH, default_origin, entry, prune};
