//! # obhut-api
//!
//! The vault's HTTP API as types: the JSON bodies, queries and answers of
//! docs/vault.md (device, reader and audit-log endpoints) and
//! docs/access.md §3 (the access workflow), and the error kinds of the
//! JSON error body. The vault serves these types and every client — the
//! device agent, the `obhut` CLI, the benchmarks — reads them, so a field
//! renamed here is renamed on both sides of the wire at once.
//!
//! Serde only: no I/O, no HTTP client or server, no crate of ours. Binary
//! structures travel as standard base64 of their docs/format.md encodings
//! and keys, ids and hashes as lowercase hex, so the fields are `String`s;
//! decoding them into core types is the caller's business.
//!
//! - [`error`]: [`ErrorKind`] with its wire strings, and [`ErrorBody`];
//! - [`ingest`]: enrolment, epochs, recording heads, receipts (devices);
//! - [`read`]: recordings and their records (readers);
//! - [`access`]: the access workflow (requesters, custodians);
//! - [`derived`]: derived artifacts, lineage, consent;
//! - [`log`]: the audit log's key, proofs and entries (auditors);
//! - [`names`]: signed display names of people and devices.

pub mod access;
pub mod derived;
pub mod error;
pub mod ingest;
pub mod log;
pub mod names;
pub mod read;

pub use error::{ErrorBody, ErrorKind, UnknownKind};
