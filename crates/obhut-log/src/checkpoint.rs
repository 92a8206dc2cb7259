//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>, v1.0.0): the
//! note text of a signed tree head.
//!
//! Obhut's origin convention (docs/log.md): `<vault host>/vault-<vault id>`,
//! e.g. `obhut.example/vault-3f2a9c`, and the log's note key name equals the
//! origin ("The log's key name in its signature line SHOULD match the origin
//! line").

use crate::hash::Hash;
use crate::note::{Note, NoteError, NoteSigner, VerifierKey, is_valid_key_name};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note text breaks tlog-checkpoint; `reason` says where.
    #[error("malformed checkpoint: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The note itself is malformed or its signatures failed.
    #[error(transparent)]
    Note(#[from] NoteError),
}

fn malformed(reason: &'static str) -> CheckpointError {
    CheckpointError::Malformed { reason }
}

/// A checkpoint body: origin, tree size, root hash, extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// "The first line is the origin, a unique identifier for the log
    /// identity which issued the checkpoint."
    pub origin: String,
    /// "The second line is the tree size".
    pub size: u64,
    /// "The third line is the root hash".
    pub root: Hash,
    /// "Any following lines are extension lines, opaque and OPTIONAL ...
    /// MUST be non-empty." Obhut's log writes none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint of one of our logs, without extension lines. The origin
    /// must be a valid note key name (we sign with key name = origin).
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if !is_valid_key_name(origin) {
            return Err(malformed("origin is not a valid key name"));
        }
        Ok(Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The note text: "a sequence of at least three non-empty lines,
    /// separated by newlines (U+000A)", with the final newline a note text
    /// needs.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note text as a checkpoint (tlog-checkpoint §Note text).
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        crate::note::check_text(text)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().ok_or(malformed("no origin line"))?;
        // 1. "The origin MUST be non-empty".
        if origin.is_empty() {
            return Err(malformed("empty origin"));
        }
        // 2. "the ASCII decimal representation of the number of leaves in the
        //    tree, with no leading zeroes (unless the tree is empty, in which
        //    case the tree size is `0`)."
        let size_line = lines.next().ok_or(malformed("no tree size line"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(malformed(
                "tree size is not a decimal without leading zeroes",
            ));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|_| malformed("tree size does not fit in 64 bits"))?;
        // 3. "the base64 encoding of the root of the RFC 6962 Merkle hash tree
        //    at the specified tree size."
        let root_line = lines.next().ok_or(malformed("no root hash line"))?;
        let root = Hash::from_base64(root_line)
            .ok_or(malformed("root hash is not canonical base64 of 32 bytes"))?;
        // 4. "Extension lines, if any, MUST be non-empty."
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(malformed("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint with the log key, returning the signed note.
    pub fn sign(&self, log_key: &NoteSigner) -> Result<Note, CheckpointError> {
        let mut note = Note::new(&self.to_text())?;
        log_key.sign(&mut note)?;
        Ok(note)
    }
}

/// A checkpoint whose log signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The note as received, every signature line kept (witness
    /// cosignatures, and evidence if the log later misbehaves).
    pub note: Note,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint and verifies the log's signature. Other
    /// signatures (witnesses, rotated keys) are ignored here, as signed-note
    /// requires; a signature line that claims `log_key`'s name and ID but
    /// does not verify rejects the note.
    pub fn open(msg: &[u8], log_key: &VerifierKey) -> Result<Self, CheckpointError> {
        let note = Note::parse(msg)?;
        note.verify(std::slice::from_ref(log_key))?;
        let checkpoint = Checkpoint::parse_text(note.text())?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The encoded note.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }
}
