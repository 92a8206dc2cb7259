//! C2SP signed-note (<https://c2sp.org/signed-note>, v1.0.0): notes, their
//! signature lines, verifier keys (vkeys) and Ed25519 note signing.
//!
//! Parsing is strict: anything the spec forbids is refused, and so is
//! anything we would not produce ourselves where the spec leaves room
//! (non-canonical base64, upper-case key IDs, more than
//! [`MAX_SIGNATURES`] signatures, notes over [`MAX_NOTE_SIZE`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::sigtype;
pub use crate::sigtype::{ALG_COSIGNATURE_V1, ALG_ED25519};

/// Most signatures a note may carry. signed-note §Format: "Verifiers SHOULD
/// apply a maximum limit to the number of signatures in a note ... but MUST
/// accept at least up to 16 signatures."
pub const MAX_SIGNATURES: usize = 100;

/// Largest note we parse, in bytes (16 post-quantum signatures fit).
pub const MAX_NOTE_SIZE: usize = 256 * 1024;

/// Why a note, a signature line or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note breaks the signed-note format; `reason` says where.
    #[error("malformed signed note: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has {count} signatures, more than the {max} accepted")]
    TooManySignatures {
        /// Signature lines found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A key name that signed-note forbids.
    #[error("invalid key name {name:?}: must be non-empty, without spaces or '+'")]
    InvalidKeyName {
        /// The name.
        name: String,
    },
    /// A verifier key string that is not `name+id+base64(type||key)`.
    #[error("malformed verifier key: {reason}")]
    MalformedVerifierKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// A verifier key of a signature type we do not implement.
    #[error("unsupported signature type 0x{alg:02x}")]
    UnsupportedAlgorithm {
        /// The type byte.
        alg: u8,
    },
    /// A signature from a known key (name and ID match) that does not
    /// verify: the whole note is rejected (signed-note §Signatures).
    #[error("invalid signature by known key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// No signature from any key the caller trusts: "If no signature from a
    /// known key verifies successfully, clients MUST reject the note."
    #[error("note has no signature from a trusted key")]
    NoTrustedSignature,
}

fn malformed(reason: &'static str) -> NoteError {
    NoteError::Malformed { reason }
}

/// signed-note §Format: "Key names MUST be non-empty and MUST NOT contain
/// any Unicode spaces or plus (U+002B) characters." Control characters are
/// refused too (they cannot appear in a note).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// signed-note §Signatures: "`key ID = SHA-256(key name || 0x0A || signature
/// type || public key)[:4]`", big-endian.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// One signature line: `— <key name> base64(32-bit key ID || signature)`.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    sig: Vec<u8>,
}

impl fmt::Debug for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSignature({}+{:08x})", self.name, self.key_id)
    }
}

impl NoteSignature {
    /// A signature by key `name`/`key_id`; `sig` is the algorithm's output
    /// (for cosignatures, the `timestamped_signature`).
    pub fn new(name: &str, key_id: u32, sig: Vec<u8>) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName { name: name.into() });
        }
        if sig.is_empty() {
            return Err(malformed("empty signature"));
        }
        Ok(NoteSignature {
            name: name.into(),
            key_id,
            sig,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.sig
    }

    /// Parses one line without its newline. signed-note §Format: "em dash
    /// (U+2014), space (U+0020), key name, space, base64-encoded signature";
    /// "Signatures are the base64 encoding of 4+n bytes."
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line.strip_prefix("\u{2014} ").ok_or(malformed(
            "signature line does not start with an em dash and a space",
        ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(malformed("signature line has no space after the key name"))?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| malformed("signature is not canonical base64"))?;
        if raw.len() < 5 {
            return Err(malformed("signature shorter than a key ID and one byte"));
        }
        let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        NoteSignature::new(name, key_id, raw[4..].to_vec())
    }

    /// The line, with its final newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.sig.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.sig);
        format!("\u{2014} {} {}\n", self.name, STANDARD.encode(raw))
    }
}

/// A note: text and at least one signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    sigs: Vec<NoteSignature>,
}

/// signed-note §Format: "Signed notes MUST be valid UTF-8 and MUST NOT
/// contain any ASCII control characters (those below U+0020) other than
/// newline."
fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.chars().any(|c| c < '\u{20}' && c != '\n') {
        return Err(malformed("control character other than newline"));
    }
    Ok(())
}

/// Checks a note text: non-empty, valid characters, ends in a newline.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(malformed("note too large"));
    }
    check_chars(text)?;
    // "A signed note consists of a text ending in newline (U+000A)".
    if !text.ends_with('\n') || text == "\n" {
        return Err(malformed("text is empty or does not end in a newline"));
    }
    Ok(())
}

impl Note {
    /// A note with `text` and no signatures yet (add some before encoding).
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Note {
            text: text.into(),
            sigs: Vec::new(),
        })
    }

    /// Parses a signed note. signed-note §Format: "the text is separated
    /// from the signatures by the last empty line in the note."
    pub fn parse(msg: &[u8]) -> Result<Self, NoteError> {
        if msg.len() > MAX_NOTE_SIZE {
            return Err(malformed("note too large"));
        }
        let msg = std::str::from_utf8(msg).map_err(|_| malformed("not UTF-8"))?;
        check_chars(msg)?;
        let (text, sigs) = msg
            .rsplit_once("\n\n")
            .ok_or(malformed("no blank line before the signatures"))?;
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(malformed("signature block does not end in a newline"))?;
        if sigs.is_empty() {
            return Err(malformed("no signature lines"));
        }
        let count = sigs.split('\n').count();
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count,
                max: MAX_SIGNATURES,
            });
        }
        let sigs = sigs
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        let mut note = Note::new(&format!("{text}\n"))?;
        note.sigs = sigs;
        Ok(note)
    }

    /// The note text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.sigs
    }

    /// Appends a signature line. A line already present from the same key
    /// (name and ID) is replaced, so re-signing does not duplicate.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        self.sigs
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.sigs.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: self.sigs.len() + 1,
                max: MAX_SIGNATURES,
            });
        }
        self.sigs.push(sig);
        Ok(())
    }

    /// The encoded note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.sigs {
            out.push_str(&s.to_line());
        }
        out.into_bytes()
    }

    /// Verifies the note against trusted keys, per signed-note §Signatures:
    /// "Verifiers MUST ignore signatures from unknown keys ... If the key
    /// name and ID match a known key, verifiers MUST verify the signature.
    /// If a signature from a known key fails to verify, clients SHOULD
    /// reject the whole note. If no signature from a known key verifies
    /// successfully, clients MUST reject the note."
    ///
    /// Returns one [`Verified`] per trusted key that signed (a key that
    /// signed twice counts once; both signatures must verify).
    pub fn verify(&self, trusted: &[VerifierKey]) -> Result<Vec<Verified>, NoteError> {
        let mut out: Vec<Verified> = Vec::new();
        for sig in &self.sigs {
            let Some(key) = trusted
                .iter()
                .find(|k| k.name == sig.name && k.key_id == sig.key_id)
            else {
                continue;
            };
            let timestamp = key.verify_raw(&self.text, &sig.sig).ok_or_else(|| {
                NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                }
            })?;
            if !out
                .iter()
                .any(|v| v.name == key.name && v.key_id == key.key_id)
            {
                out.push(Verified {
                    name: key.name.clone(),
                    key_id: key.key_id,
                    alg: key.alg,
                    timestamp,
                });
            }
        }
        if out.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(out)
    }
}

/// A signature that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// Signature type.
    pub alg: u8,
    /// For cosignatures: the POSIX time the witness signed at.
    pub timestamp: Option<u64>,
}

/// A public key a client trusts, with its name: the signed-note "vkey"
/// `<name>+<key ID as 8 hex digits>+<base64(type || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    alg: u8,
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.alg);
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        VerifierKey::parse(s)
    }
}

impl VerifierKey {
    /// A key of type `alg` ([`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`]),
    /// with the recommended key ID.
    pub fn new(name: &str, alg: u8, key: VerifyingKey) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName { name: name.into() });
        }
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::UnsupportedAlgorithm { alg });
        }
        Ok(VerifierKey {
            name: name.into(),
            key_id: key_id(name, alg, key.as_bytes()),
            alg,
            key,
        })
    }

    /// Parses a vkey. The ID must be 8 lower-case hex digits and equal the
    /// recommended key ID; the key must be a valid Ed25519 point.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let bad = |reason| NoteError::MalformedVerifierKey { reason };
        let (name, rest) = s.split_once('+').ok_or(bad("no '+' after the name"))?;
        let (id_hex, b64) = rest.split_once('+').ok_or(bad("no '+' after the key ID"))?;
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("key ID is not 8 lower-case hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("key ID is not hex"))?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| bad("key is not canonical base64"))?;
        let (&alg, key) = raw.split_first().ok_or(bad("empty key"))?;
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(NoteError::UnsupportedAlgorithm { alg });
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("Ed25519 key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 point"))?;
        let vk = VerifierKey::new(name, alg, key)?;
        if vk.key_id != id {
            return Err(bad("key ID does not match the key"));
        }
        Ok(vk)
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signature type byte.
    pub fn alg(&self) -> u8 {
        self.alg
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies `sig` over note `text`. `Some(None)` for a valid plain
    /// signature, `Some(Some(t))` for a valid cosignature made at time `t`,
    /// `None` if invalid ([`sigtype`] holds each type's check).
    pub(crate) fn verify_raw(&self, text: &str, sig: &[u8]) -> Option<Option<u64>> {
        sigtype::verify(self.alg, &self.key, text, sig)
    }
}

/// An Ed25519 (type 0x01) note signer: the log's checkpoint key. Has no
/// `Debug` of the secret; the key is zeroized on drop by `ed25519-dalek`.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NoteSigner({}+{:08x}, secret redacted)",
            self.name, self.key_id
        )
    }
}

impl NoteSigner {
    /// A signer named `name` over the RFC 8032 secret `seed`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        Self::from_signing_key(name, SigningKey::from_bytes(seed))
    }

    /// A signer named `name` with an existing key.
    pub fn from_signing_key(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName { name: name.into() });
        }
        Ok(NoteSigner {
            name: name.into(),
            key_id: key_id(name, ALG_ED25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier key (vkey).
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::new(&self.name, ALG_ED25519, self.key.verifying_key())
            .expect("name was validated at construction")
    }

    /// signed-note §Ed25519 signatures: "Ed25519 signatures are generated
    /// according to RFC 8032 over the note text."
    pub fn sign_text(&self, text: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            sig: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }

    /// Signs `note`, adding (or replacing) this key's line.
    pub fn sign(&self, note: &mut Note) -> Result<(), NoteError> {
        let s = self.sign_text(note.text());
        note.add_signature(s)
    }
}
