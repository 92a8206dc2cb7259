//! The vault as a client of C2SP tlog-witness: after each checkpoint it
//! asks every configured witness to cosign, proving consistency with what
//! that witness cosigned before, and serves the checkpoint with the
//! cosignatures it got. Clients that require N cosignatures
//! (`obhut audit verify --witness`) then accept only a log that N
//! independent parties saw grow append-only, which is what catches a vault
//! showing different logs to different people (docs/log.md §How forks are
//! caught).

use std::time::Duration;

use obhut_log::witness::AddCheckpoint;
use obhut_log::{Note, NoteSignature};
use obhut_store::{LogStore, StoredCheckpoint};

use super::proofs::prove_consistency;
use crate::config::WitnessConfig;
use crate::error::ApiResult;
use crate::metrics::LogMetrics;

/// Largest witness answer read.
const MAX_ANSWER: u64 = 64 * 1024;

/// One witness and the size it last cosigned (as far as the vault knows).
#[derive(Debug)]
pub struct Witness {
    config: WitnessConfig,
    cosigned: tokio::sync::Mutex<u64>,
}

impl Witness {
    /// A witness not yet contacted.
    pub fn new(config: WitnessConfig) -> Self {
        Witness {
            config,
            cosigned: tokio::sync::Mutex::new(0),
        }
    }
}

enum Answer {
    Cosigned(Vec<NoteSignature>),
    /// 409: the witness's latest size.
    Conflict(u64),
    Refused(String),
}

fn post(url: &str, body: Vec<u8>) -> Answer {
    let agent = ureq::Agent::new_with_config(
        obhut_http::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    );
    let resp = match agent.post(url).content_type("text/plain").send(&body[..]) {
        Ok(r) => r,
        Err(e) => return Answer::Refused(format!("unreachable: {e}")),
    };
    let status = resp.status().as_u16();
    let text = match resp
        .into_body()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
    {
        Ok(t) => t,
        Err(e) => return Answer::Refused(format!("reading the answer: {e}")),
    };
    match status {
        200 => {
            let sigs: Result<Vec<_>, _> = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(NoteSignature::parse_line)
                .collect();
            match sigs {
                Ok(s) => Answer::Cosigned(s),
                Err(e) => Answer::Refused(format!("answer is not signature lines: {e}")),
            }
        }
        409 => match text.trim().parse() {
            Ok(n) => Answer::Conflict(n),
            Err(_) => Answer::Refused("409 without a size".into()),
        },
        s => Answer::Refused(format!("status {s}: {}", text.trim())),
    }
}

/// Ask `w` to cosign `cp`; returns its verified cosignature lines.
async fn ask<I: LogStore>(
    index: &I,
    w: &Witness,
    cp: &StoredCheckpoint,
    note: &Note,
) -> ApiResult<Vec<NoteSignature>> {
    let mut old = w.cosigned.lock().await;
    // At most one retry: a 409 tells us the witness's real size.
    for _ in 0..2 {
        if *old > cp.size {
            tracing::warn!(witness = %w.config.url, witness_size = *old, size = cp.size,
                "the witness has cosigned a larger tree than this vault's: a fork or a restored backup");
            return Ok(Vec::new());
        }
        let proof = if *old == 0 || *old == cp.size {
            Vec::new()
        } else {
            prove_consistency(index, *old, cp.size).await?
        };
        let body = AddCheckpoint {
            old_size: *old,
            proof,
            checkpoint: cp.note.clone(),
        }
        .to_bytes();
        let url = format!("{}/add-checkpoint", w.config.url);
        let answer = tokio::task::spawn_blocking(move || post(&url, body))
            .await
            .unwrap_or_else(|e| Answer::Refused(format!("task failed: {e}")));
        match answer {
            Answer::Cosigned(sigs) => {
                let mut mine = Vec::new();
                for s in sigs {
                    let mut n = note.clone();
                    if n.add_signature(s.clone()).is_ok()
                        && n.verify(std::slice::from_ref(&w.config.vkey)).is_ok()
                    {
                        mine.push(s);
                    }
                }
                if mine.is_empty() {
                    tracing::warn!(witness = %w.config.url, "the witness answered 200 without a cosignature that verifies under its configured key");
                } else {
                    *old = cp.size;
                }
                return Ok(mine);
            }
            Answer::Conflict(n) => {
                tracing::info!(witness = %w.config.url, witness_size = n, "witness is at another size; retrying from it");
                *old = n;
            }
            Answer::Refused(why) => {
                tracing::warn!(witness = %w.config.url, size = cp.size, why, "witness did not cosign");
                return Ok(Vec::new());
            }
        }
    }
    Ok(Vec::new())
}

/// Ask every witness to cosign `cp`; returns the note with every
/// cosignature obtained (or `cp`'s note unchanged).
///
/// A witness that answers without a cosignature that verifies, or not at
/// all, counts in `obhut_witness_failures_total` (`metrics`).
pub async fn cosign<I: LogStore>(
    index: &I,
    witnesses: &[Witness],
    cp: &StoredCheckpoint,
    metrics: &LogMetrics,
) -> ApiResult<Vec<u8>> {
    let Ok(mut note) = Note::parse(&cp.note) else {
        return Ok(cp.note.clone());
    };
    let base = note.clone();
    for w in witnesses {
        let sigs = match ask(index, w, cp, &base).await {
            Ok(sigs) => sigs,
            Err(e) => {
                metrics.witness_failed(&w.config.url);
                return Err(e);
            }
        };
        if sigs.is_empty() {
            metrics.witness_failed(&w.config.url);
        }
        for s in sigs {
            if note.add_signature(s).is_err() {
                tracing::warn!("too many signatures on one checkpoint; ignoring the rest");
            }
        }
    }
    Ok(note.to_bytes())
}
