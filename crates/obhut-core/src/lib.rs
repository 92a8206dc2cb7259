//! # obhut-core
//!
//! The pure core of Obhut: the sealed-segment format, the threshold custody
//! scheme and the proofs that tie them together, as specified in
//! `docs/format.md` (format version 1, suite `0x0001`).
//!
//! This crate performs no I/O of its own and has no async code: streaming
//! functions take a caller's [`std::io::Read`] / [`std::io::Write`], and all
//! randomness comes from a caller-supplied [`rand_core::CryptoRng`] (in
//! production [`rng::os_rng`], which fails closed).
//!
//! Standards used, each through a vetted crate:
//! - AES-256-GCM (NIST SP 800-38D) in the STREAM construction — `aes-gcm`;
//! - BLAKE3 for ciphertext hashes — `blake3`;
//! - SHA-256 / HKDF-SHA256 (RFC 5869) for structure digests and key
//!   derivation — `sha2`, `hkdf`;
//! - ristretto255 (RFC 9496) for the threshold KEM and DLEQ proofs —
//!   `curve25519-dalek`;
//! - Ed25519 (RFC 8032, `verify_strict`) for signatures — `ed25519-dalek`;
//! - HPKE (RFC 9180) with X-Wing (ML-KEM-768 + X25519) for every wrap to a
//!   person or a retention epoch — `hpke`;
//! - Argon2id (RFC 9106) for passphrase-locked key files — `argon2`.

pub mod error;
pub mod ids;
pub mod labels;
pub mod rng;
pub mod secret;
pub mod wire;

pub use error::{Error, Result};
pub mod access;
pub mod artifact;
pub mod audit;
pub mod blob_tree;
pub mod chain;
pub mod combine;
pub mod consent;
pub mod decision;
pub mod deletion;
pub mod device;
pub mod dir_names;
pub mod disclosure;
pub mod epoch;
pub mod erasure;
pub mod group;
pub mod hold;
pub mod hpke_wrap;
pub mod identity;
pub mod kem;
pub mod locked;
pub mod log_pin;
pub mod meta_patch;
pub mod name;
pub mod partial;
pub mod point;
pub mod pq_custody;
pub mod reclassify;
pub mod record;
pub mod request;
pub mod reshare;
pub mod rewrap;
pub mod segment;
pub mod stream;
pub mod vault;
