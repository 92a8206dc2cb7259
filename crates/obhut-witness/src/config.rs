//! The logs a witness follows, from a TOML file:
//!
//! ```toml
//! [[log]]
//! origin = "obhut.example/vault-3f2a9c"
//! vkey = "obhut.example/vault-3f2a9c+1a2b3c4d+AQ..."
//!
//! [[log]]
//! origin = "other.example/vault-77aa01"
//! # During a key rotation: either key's signature is accepted.
//! vkey = ["other.example/vault-77aa01+...", "other.example/vault-77aa01+..."]
//! ```
//!
//! tlog-witness: "The witness MUST verify the checkpoint signature against
//! the public key(s) it trusts for the checkpoint origin". Log keys are
//! signed-note Ed25519 keys (type 0x01); a cosignature key (0x04) in their
//! place is refused, as is an unknown field (a typo would otherwise silently
//! drop a key).

use std::path::{Path, PathBuf};

use obhut_log::VerifierKey;
use obhut_log::note::ALG_ED25519;
use obhut_log::witness::WitnessedLog;
use serde::Deserialize;

/// Why a witness config was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error (in the message rather than `source()`, so a chain
        /// printed in full names it once).
        error: std::io::Error,
    },
    /// Not TOML of this schema.
    #[error("{message}")]
    Parse {
        /// Parser message (with line and column).
        message: String,
    },
    /// No `[[log]]` entry.
    #[error("no [[log]] entries: the witness would follow no log")]
    NoLogs,
    /// An origin that cannot be a checkpoint's first line.
    #[error("[[log]] origin {origin:?}: {reason}")]
    BadOrigin {
        /// The origin.
        origin: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same origin twice.
    #[error("[[log]] origin {origin:?} appears twice; list all its keys in one entry")]
    DuplicateOrigin {
        /// The origin.
        origin: String,
    },
    /// A vkey that does not parse, or is not a log (type 0x01) key.
    #[error("[[log]] origin {origin:?}: vkey {vkey:?}: {reason}")]
    BadVkey {
        /// The origin.
        origin: String,
        /// The vkey as written.
        vkey: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    log: Vec<RawLog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    origin: String,
    vkey: OneOrMany,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The validated list of followed logs.
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// One entry per origin, each with at least one log key.
    pub logs: Vec<WitnessedLog>,
}

impl WitnessConfig {
    /// Reads and validates a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::from_toml(&text)
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            message: e.to_string(),
        })?;
        if raw.log.is_empty() {
            return Err(ConfigError::NoLogs);
        }
        let mut logs: Vec<WitnessedLog> = Vec::with_capacity(raw.log.len());
        for l in raw.log {
            let origin = l.origin;
            // tlog-checkpoint: "The origin MUST be non-empty"; a note text
            // line holds no control characters, and no newline.
            if origin.is_empty() || origin.chars().any(char::is_control) {
                return Err(ConfigError::BadOrigin {
                    origin,
                    reason: "must be one non-empty line without control characters",
                });
            }
            if logs.iter().any(|w| w.origin == origin) {
                return Err(ConfigError::DuplicateOrigin { origin });
            }
            let vkeys = match l.vkey {
                OneOrMany::One(v) => vec![v],
                OneOrMany::Many(v) => v,
            };
            if vkeys.is_empty() {
                return Err(ConfigError::BadVkey {
                    origin,
                    vkey: String::new(),
                    reason: "no vkey given".into(),
                });
            }
            let mut keys = Vec::with_capacity(vkeys.len());
            for v in vkeys {
                let bad = |reason: String| ConfigError::BadVkey {
                    origin: origin.clone(),
                    vkey: v.clone(),
                    reason,
                };
                let key = VerifierKey::parse(&v).map_err(|e| bad(e.to_string()))?;
                if key.alg() != ALG_ED25519 {
                    return Err(bad(format!(
                        "signature type 0x{:02x} is not a log key (0x01, Ed25519)",
                        key.alg()
                    )));
                }
                keys.push(key);
            }
            logs.push(WitnessedLog { origin, keys });
        }
        Ok(WitnessConfig { logs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obhut_log::{CosignatureSigner, NoteSigner};

    fn vkey(name: &str, seed: u8) -> String {
        NoteSigner::from_seed(name, &[seed; 32])
            .unwrap()
            .verifier_key()
            .to_string()
    }

    #[test]
    fn parses_one_and_many_keys() {
        let a = vkey("a.example/log", 1);
        let (b1, b2) = (vkey("b.example/log", 2), vkey("b.example/log", 3));
        let c = WitnessConfig::from_toml(&format!(
            "[[log]]\norigin = \"a.example/log\"\nvkey = \"{a}\"\n\n\
             [[log]]\norigin = \"b.example/log\"\nvkey = [\"{b1}\", \"{b2}\"]\n"
        ))
        .unwrap();
        assert_eq!(c.logs.len(), 2);
        assert_eq!(c.logs[0].keys.len(), 1);
        assert_eq!(c.logs[1].keys.len(), 2);
        assert_eq!(c.logs[1].keys[1].to_string(), b2);
    }

    #[test]
    fn refuses_what_would_silently_weaken_the_witness() {
        let a = vkey("a.example/log", 1);
        let cosig = CosignatureSigner::from_seed("w.example/w", &[4; 32])
            .unwrap()
            .verifier_key()
            .to_string();
        let cases = [
            ("", "no logs"),
            (
                &format!("[[log]]\norigin = \"a\"\nvkey = \"{a}\"\nvkeys = []\n"),
                "unknown field",
            ),
            (
                &format!(
                    "[[log]]\norigin = \"a\"\nvkey = \"{a}\"\n[[log]]\norigin = \"a\"\nvkey = \"{a}\"\n"
                ),
                "duplicate",
            ),
            ("[[log]]\norigin = \"a\"\nvkey = \"nope\"\n", "bad vkey"),
            (
                &format!("[[log]]\norigin = \"a\"\nvkey = \"{cosig}\"\n"),
                "cosignature key as log key",
            ),
            ("[[log]]\norigin = \"a\"\nvkey = []\n", "no keys"),
            (
                &format!("[[log]]\norigin = \"\"\nvkey = \"{a}\"\n"),
                "empty origin",
            ),
            (
                &format!("[[log]]\norigin = \"a\\nb\"\nvkey = \"{a}\"\n"),
                "newline in origin",
            ),
        ];
        for (text, what) in cases {
            assert!(WitnessConfig::from_toml(text).is_err(), "accepted: {what}");
        }
    }
}
