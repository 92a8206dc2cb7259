//! `obhut audit`: check the vault's audit log (docs/log.md) and read a
//! recording's chain of custody, as a data-protection officer, an
//! oversight body or anyone holding the log's public key.

use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::log::{EntriesResponse, EntryJson};
use obhut_core::audit::{Event, LogEntry};
use obhut_core::ids::RecordingId;
use obhut_core::request::AccessRequest;
use obhut_log::{CompactRange, Hash, leaf_hash};

use crate::util::hint::fail;
use crate::util::logclient::{LogArgs, LogClient};
use crate::util::reader::Reader;
use crate::util::{Global, keys, time};

/// `obhut audit`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Check the vault's audit log and read a recording's chain of custody",
    long_about = "Check the vault's audit log and read a recording's chain of custody.\n\n\
Every change at the vault (enrolment, segment received, request, approval, denial, release, \
admin action) is an entry in an append-only Merkle tree whose checkpoints the vault signs with \
its log key. This client keeps the last checkpoint it accepted (--state) and accepts a new one \
only with a consistency proof from it: a rewritten or dropped entry, a rollback, or a vault \
showing different logs to different people is reported, with both signed checkpoints as \
evidence. Checkpoints and proofs are public; entry bodies hold case data and need an auditor \
identity (obhut admin add-auditor).",
    after_help = "Examples:\n  \
obhut audit verify --vault http://127.0.0.1:8700 --log-key 'obhut/vault-3f2a…+1a2b3c4d+AX…'\n  \
obhut audit verify --vault URL --log-key VKEY --full --identity dpo.key\n  \
obhut audit log --vault URL --log-key VKEY --identity dpo.key --recording 0f1e…"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Subcommands of `obhut audit`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Accept the vault's latest checkpoint if it extends the last one seen;
    /// with --full, also rebuild the tree from every entry body.
    Verify {
        #[command(flatten)]
        log: LogArgs,
        /// Fetch every entry and recompute the root (needs --identity of an auditor)
        #[arg(long, requires = "identity")]
        full: bool,
        /// Your locked identity (an auditor's, for entry bodies)
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Print one recording's chain of custody, each entry proved included
    /// in the verified checkpoint.
    Log {
        #[command(flatten)]
        log: LogArgs,
        /// The recording (32 hex digits)
        #[arg(long, value_name = "ID")]
        recording: String,
        /// Your locked identity (an auditor's)
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
}

/// Run `obhut audit`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    match &a.command {
        AuditCommand::Verify {
            log,
            full,
            identity,
        } => {
            let c = log.client()?;
            let (prev, now) = c.update()?;
            match &prev {
                None => g.note(format!(
                    "first checkpoint accepted: {} entries (stored in {}; later runs must extend it)",
                    now.size,
                    c.state_path().display()
                )),
                Some(p) => g.note(format!(
                    "checkpoint of {} entries is consistent with the one seen before ({} entries)",
                    now.size, p.size
                )),
            }
            if *full {
                let id = identity.as_ref().context("--full needs --identity")?;
                let person = keys::person(g, id, "--identity")?;
                let reader = Reader::new(&log.vault, &person.sign);
                let pruned = rebuild(&reader, now.size, &now.root)?;
                g.note(format!(
                    "rebuilt the tree from {} entries ({pruned} pruned by retention, checked by their leaf hashes): the root matches",
                    now.size
                ));
            }
            println!("{} {}", now.size, now.root.to_base64());
        }
        AuditCommand::Log {
            log,
            recording,
            identity,
        } => {
            let rid = RecordingId::from_hex(recording).ok_or_else(|| {
                fail(
                    format!("{recording:?} is not a recording id"),
                    "pass the 32 hex digits shown by the vault's listing",
                )
            })?;
            let c = log.client()?;
            let person = keys::person(g, identity, "--identity")?;
            let reader = Reader::new(&log.vault, &person.sign);
            let lines = chain_of_custody(&c, &reader, rid)?;
            for l in &lines {
                println!("{l}");
            }
            g.note(format!(
                "{} entries about recording {rid}, each proved included in the latest checkpoint",
                lines.len()
            ));
        }
    }
    Ok(())
}

/// One recording's chain of custody: every entry about it, each proved
/// included in a checkpoint consistent with this client's state, one
/// description per entry (the demo calls this too).
pub fn chain_of_custody(
    c: &LogClient,
    reader: &Reader<'_>,
    rid: RecordingId,
) -> anyhow::Result<Vec<String>> {
    let (_, now) = c.update()?;
    let page = fetch(reader, &format!("/v1/log/recordings/{rid}"))?;
    let mut lines = Vec::new();
    for e in page.entries.iter().filter(|e| e.index < now.size) {
        let body = checked_body(e)?;
        let proof = c.proof("inclusion", e.index, now.size)?;
        now.verify_leaf_inclusion(&leaf_of(e)?, e.index, &proof)
            .map_err(|err| {
                fail(
                    format!("entry #{} is not in the verified log: {err}", e.index),
                    "the vault is misbehaving; keep this output and report it",
                )
            })?;
        lines.push(describe(e, body.as_deref())?);
    }
    Ok(lines)
}

fn fetch(reader: &Reader<'_>, path: &str) -> anyhow::Result<EntriesResponse> {
    let (status, body) = reader.get_any(path)?;
    if status != 200 {
        return Err(fail(
            format!(
                "GET {path}: the vault answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
            "entry bodies need an auditor identity (obhut admin add-auditor --identity YOU.pub)",
        ));
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not the documented JSON"))
}

fn leaf_of(e: &EntryJson) -> anyhow::Result<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(&e.leaf_hash, &mut h).map_err(|_| {
        fail(
            format!("entry #{}: leaf hash is not 64 hex digits", e.index),
            "the vault is misbehaving; report it",
        )
    })?;
    Ok(Hash(h))
}

/// The entry's body if kept, checked against its leaf hash.
fn checked_body(e: &EntryJson) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(b64) = &e.body else { return Ok(None) };
    let body = B64.decode(b64).map_err(|_| {
        fail(
            format!("entry #{}: body is not base64", e.index),
            "the vault is misbehaving; report it",
        )
    })?;
    if leaf_hash(&body) != leaf_of(e)? {
        return Err(fail(
            format!(
                "entry #{} was rewritten: its body does not hash to its leaf",
                e.index
            ),
            "keep this output; the stored entry differs from the one the log committed to",
        ));
    }
    Ok(Some(body))
}

/// Full audit: every entry in order, bodies checked, root recomputed.
/// Returns how many bodies were pruned.
fn rebuild(reader: &Reader<'_>, size: u64, root: &Hash) -> anyhow::Result<u64> {
    let mut tree = CompactRange::new();
    let mut pruned = 0;
    while tree.size() < size {
        let page = fetch(
            reader,
            &format!("/v1/log/entries?from={}&count=1000", tree.size()),
        )?;
        let mut progressed = false;
        for e in page.entries.iter().take_while(|e| e.index < size) {
            if e.index != tree.size() {
                return Err(fail(
                    format!(
                        "entry #{} is missing (the vault skipped from #{} to #{})",
                        tree.size(),
                        tree.size(),
                        e.index
                    ),
                    "an entry was dropped from the vault's store; keep this output and report it",
                ));
            }
            match checked_body(e)? {
                Some(b) => {
                    LogEntry::from_bytes(&b).map_err(|err| {
                        fail(
                            format!("entry #{} does not decode: {err}", e.index),
                            "the vault is misbehaving; report it",
                        )
                    })?;
                }
                None => pruned += 1,
            }
            tree.append(leaf_of(e)?);
            progressed = true;
        }
        if !progressed {
            return Err(fail(
                format!(
                    "the vault served {} entries; its checkpoint says {size}",
                    tree.size()
                ),
                "entries were dropped from the vault's store; keep this output and report it",
            ));
        }
    }
    if tree.root() != *root {
        return Err(fail(
            format!(
                "the entries hash to root {}, the signed checkpoint says {}: an entry was rewritten or dropped",
                tree.root().to_base64(),
                root.to_base64()
            ),
            "keep this output; the stored entries differ from what the log key signed",
        ));
    }
    Ok(pruned)
}

/// One line of a chain of custody.
fn describe(e: &EntryJson, body: Option<&[u8]>) -> anyhow::Result<String> {
    let when = time::show(e.time_ms);
    let Some(body) = body else {
        return Ok(format!(
            "#{} {when} {} (body pruned by retention)",
            e.index, e.kind
        ));
    };
    let entry = LogEntry::from_bytes(body).map_err(|err| {
        fail(
            format!("entry #{} does not decode: {err}", e.index),
            "the vault is misbehaving; report it",
        )
    })?;
    let mut line = format!("#{} {when} {entry}", e.index);
    if let Event::AccessRequested { request } = &entry.event
        && let Ok(r) = AccessRequest::from_bytes(request)
    {
        let c = r.content();
        line.push_str(&format!(
            "\n    purpose {:?}; justification {:?}; legal basis {:?}; case {:?}; recipients {:?}",
            c.purpose, c.justification, c.legal_basis, c.case_ref, c.recipients
        ));
    }
    Ok(line)
}
