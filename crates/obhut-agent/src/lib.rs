//! # obhut-agent
//!
//! The device agent of docs/vault.md: it enrols a device with a vault
//! (§3), then takes footage into custody (§4) — cutting each file at
//! keyframes, sealing every segment with `obhut-core` straight into its
//! upload, keeping a durable journal so that a cut connection, a killed
//! agent or a restarted vault resume without duplicate or missing
//! segments, and disposing of an original only after every segment has a
//! receipt that verifies under the vault key pinned at enrolment.
//!
//! Offline, [`seal_dir`] seals a file into a recording directory (the
//! device's role without a vault, `obhut seal`) and names that directory's
//! files.
//!
//! The binary (`obhut seal`, `obhut enrol`, `obhut ingest`, `obhut agent`)
//! is glue over this crate; the formats and cryptography are
//! `obhut-core`'s.
//!
//! Standards: HTTP/1.1 over TLS 1.2/1.3 (rustls) via `ureq`; Ed25519
//! request signatures and receipts (`obhut-core`, RFC 8032). Each segment
//! is sealed once, streaming, with randomness from the OS.

pub mod body;
pub mod client;
pub mod cut;
pub mod dock;
pub mod enrol;
pub mod error;
pub mod ingest;
pub mod journal;
pub mod journal_writer;
pub mod read_ahead;
pub mod seal_dir;
pub mod state;
pub mod watch;

pub use error::{Error, Result};
