//! # obhut-witness
//!
//! A C2SP tlog-witness (<https://c2sp.org/tlog-witness>) cosigner for
//! Obhut's audit log (docs/log.md, "Witness protocol"), run by someone other
//! than the vault's operator — a data-protection officer, an outside
//! auditor — so that a vault cannot show two clients two different logs
//! without the witness noticing and refusing to cosign.
//!
//! The decision on each request is `obhut_log::witness::add_checkpoint`
//! (pure); this crate adds what needs I/O:
//!
//! - [`key`]: the witness's Ed25519 cosigning key and name, on disk;
//! - [`config`]: the logs it follows (origin and log vkeys), from TOML;
//! - [`state`]: the latest cosigned checkpoint per origin, durable;
//! - [`Witness`]: check, cosign and persist as one atomic step;
//! - [`http`]: `POST /add-checkpoint` and `GET /healthz` (axum).
//!
//! The witness directory:
//!
//! ```text
//! DIR/                 0700
//!   witness.key        0600  the Ed25519 seed, 32 raw bytes
//!   witness.name       the cosigner name, e.g. dpo.example/witness
//!   lock               held exclusively by the one serving process
//!   state/
//!     <hex SHA-256(origin)>   the latest cosigned checkpoint, verbatim
//! ```
//!
//! Invariants:
//!
//! 1. For each origin, every checkpoint the witness ever cosigned is
//!    consistent with (a prefix of, or equal to) the one in its state file.
//! 2. A cosignature leaves the witness only after the checkpoint it covers
//!    is durable in the state file.
//! 3. A state file is either the old or the new checkpoint, never a mix:
//!    tmp → fsync → rename → fsync(dir), see [`state`].
//!
//! (1) holds because the size check and the store happen under one mutex
//! (the spec's rollback race) and one process holds the directory's lock;
//! (2) because the handler answers only after [`state::WitnessState::store`]
//! returned.

pub mod config;
pub mod http;
pub mod key;
pub mod state;
mod witness;

pub use config::{ConfigError, WitnessConfig};
pub use http::{MAX_BODY_BYTES, ServeError, Server, router, serve};
pub use key::KeyError;
pub use state::{Latest, StateError, WitnessState};
pub use witness::{AddError, Clock, SystemClock, Witness, request_body};
