//! # obhut-log
//!
//! The pure part of Obhut's tamper-evident audit log (docs/threat-model.md
//! P3; `docs/log.md`): used by the vault's log service and by every
//! client — custodians, requesters, auditors, `obhut audit verify` and
//! witnesses. No I/O, no async: node hashes and tiles come in through
//! caller-supplied closures ([`NodeSource`], [`tiles::TileSource`],
//! [`tile_proofs`]), time comes in as an argument.
//!
//! Standards implemented, each cited where it is implemented:
//! - RFC 6962 / RFC 9162 §2.1 Merkle tree hashing, inclusion and
//!   consistency proofs (generation §2.1.3.1, §2.1.4.1; verification
//!   §2.1.3.2, §2.1.4.2) — [`hash`], [`node`], [`tree`], [`verify`],
//!   [`compact`];
//! - C2SP signed-note v1.0.0 (Ed25519, type 0x01; vkeys) — [`note`], with
//!   each signature type's message and check in [`sigtype`];
//! - C2SP tlog-checkpoint v1.0.0 — [`checkpoint`];
//! - C2SP tlog-cosignature, `cosignature/v1` (type 0x04) — [`cosignature`];
//! - C2SP tlog-tiles paths, tile layout and entry bundles — [`tiles`];
//!   proofs read from tiles — [`tile_proofs`];
//! - C2SP tlog-witness `add-checkpoint` decisions — [`witness`];
//! - client state and witness policy (property 3) — [`client`].
//!
//! Cryptography through vetted crates only: SHA-256 from `sha2`, Ed25519
//! from `ed25519-dalek` (`verify_strict`).

pub mod checkpoint;
pub mod client;
pub mod compact;
pub mod cosignature;
pub mod hash;
pub mod node;
pub mod note;
pub mod sigtype;
pub mod tile_proofs;
pub mod tiles;
pub mod tree;
pub mod verify;
pub mod witness;

pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use client::{ClientError, TrustedLog, TrustedState, WitnessPolicy, check_consistent};
pub use compact::CompactRange;
pub use cosignature::CosignatureSigner;
pub use hash::{Hash, leaf_hash, node_hash};
pub use node::NodeSource;
pub use note::{Note, NoteError, NoteSignature, NoteSigner, VerifierKey};
pub use tree::{MemoryTree, ProveError, consistency_proof, inclusion_proof};
pub use verify::{ProofError, root_from_inclusion, verify_consistency, verify_inclusion};
