//! # obhut-client
//!
//! The people's side of a vault, over HTTP: the requester, the custodian
//! and the auditor of docs/access.md and docs/log.md. Every call is signed
//! as a person (docs/vault.md §2); every event a client causes is proved
//! in the audit log, in a checkpoint consistent with every one it saw,
//! before it goes on; scopes are resolved from the device-signed records,
//! never from a list the vault hands over.
//!
//! - [`reader`]: signed calls, the reader API, ciphertext;
//! - [`log`]: the client's log state ([`log::LogClient`]);
//! - [`access`]: the access calls and [`access::confirm_logged`];
//! - [`scope`]: a request's scope from verified records;
//! - [`approve`]: pending requests, approving (with a confirmation
//!   callback), denying;
//! - [`open`]: the release, the keys, the scope opened;
//! - [`assemble`]: the one scope assembler (`obhut open` writes through
//!   it);
//! - [`audit`]: chains of custody and full audits;
//! - [`recording_dir`]: a recording directory as `obhut seal` writes it,
//!   offline: its names and checking it ([`verify`]); nothing opens one,
//!   as key parts are released only against a logged request;
//! - [`custody`]: the custody group's dealer ceremony and signatures.
//!
//! Errors are [`Error`]: what went wrong, with the data (the vault's
//! status and error kind, the segment, the log entry); a front end adds
//! the next step. This crate is what the `obhut` binary, a desktop app, a
//! test harness or a benchmark links against. It does no terminal I/O.

pub mod access;
pub mod approve;
pub mod assemble;
pub mod audit;
pub mod bundle;
pub mod bundle_names;
pub mod bundle_verify;
pub mod clip;
#[cfg(feature = "c2pa")]
pub mod credentials;
pub mod custody;
pub mod error;
pub mod export;
pub mod export_report;
pub mod lineage;
pub mod log;
pub mod names;
pub mod open;
mod output;
pub mod passphrase;
pub mod provenance;
pub mod reader;
pub mod recording_dir;
pub mod scope;
pub mod show;
mod stream_cmp;
pub mod time;
pub mod verify;
pub mod zip;

pub use error::{Error, Result};
