//! `obhut request`: the requester's role. Sign an access request for a
//! recording (or a time range of it) to a custody group and submit it to
//! the vault, which logs it before any custodian sees it.

use std::path::PathBuf;

use obhut_client::access::{AccessClient, submit};
use obhut_client::reader::Reader;
use obhut_core::ids::RecordingId;
use obhut_core::request::{self, RequestContent, Scope};
use obhut_core::rng::os_rng;

use crate::util::files::{self, Mode};
use crate::util::hint::{HintExt, fail};
use crate::util::logclient::LogArgs;
use crate::util::request::describe;
use crate::util::{Global, keys, load, time};

/// Ask the custodians for access to a recording (the requester's role).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Sign an access request and submit it to --vault: which recording (and which
media time range of it) you ask to open, why, under which legal basis, for
which case, and who will see it. The vault logs it, and this checks that it
is logged, before any custodian sees it; custodians read it in full before
approving (`obhut approve`). Their partials and the vault's release are
encrypted to the key in your --identity, and to nothing else. Prints the
request hash, which `obhut open` takes.

--recording takes a recording id (32 hex digits, printed by `obhut ingest`).
Without --from-ms/--to-ms the whole recording is asked for. Media times are
half-open: [--from-ms, --to-ms).

Without --vault nothing is asked: the signed request is only written to
--out and shown, a dry run (run again with --vault to ask). No command takes
that file to release keys: key parts are released for logged requests only.

Example:
  obhut request --identity req.key --group custody/group.obgd --recording 5d1e… \\
      --from-ms 4000 --to-ms 8000 --purpose \"complaint review\" \\
      --justification \"complaint 17 concerns this stop\" --legal-basis \"Art. 6(1)(e) GDPR\" \\
      --case CASE-2026-17 --recipient \"review board\" --expires-in 7d --out req.obar \\
      --vault http://127.0.0.1:8700 --log-key 'obhut/vault-…+…+…'")]
pub struct Args {
    /// Your locked identity (from `obhut keygen person`); signs the request.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The custody group descriptor (must be pinned).
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// The recording: its id (32 hex digits).
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "device",
        conflicts_with = "device"
    )]
    recording: Option<String>,
    /// Instead of a recording: every recording of this device (64 hex
    /// digits) captured in [--from, --to) UTC.
    #[arg(long, value_name = "KEY", requires_all = ["from", "to"])]
    device: Option<String>,
    /// With --device: start of the capture time range (UTC, e.g. 2026-12-01T10:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant)]
    from: Option<i64>,
    /// With --device: end of the capture time range (exclusive).
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant)]
    to: Option<i64>,
    /// Start of the media time range, ms from the recording's start.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    from_ms: u64,
    /// End of the media time range (exclusive); default: the end of the recording.
    #[arg(long, value_name = "MS")]
    to_ms: Option<u64>,
    /// Also ask for the recording's metadata: its sidecar, and the
    /// descriptive metadata blanked out of an MP4 (titles, GPS and
    /// subtitle tracks).
    #[arg(long)]
    include_metadata: bool,
    /// Purpose of the access (at most 256 bytes).
    #[arg(long, value_name = "TEXT")]
    purpose: String,
    /// Why this footage is needed (at most 4096 bytes).
    #[arg(long, value_name = "TEXT")]
    justification: String,
    /// Legal basis (at most 512 bytes).
    #[arg(long, value_name = "TEXT")]
    legal_basis: String,
    /// Case reference (at most 256 bytes).
    #[arg(long = "case", value_name = "REF")]
    case_ref: String,
    /// Who will see the footage; repeat for each (at most 64).
    #[arg(long = "recipient", value_name = "NAME")]
    recipients: Vec<String>,
    /// How long the request stays valid: e.g. 12h, 7d, 2w.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = time::parse_duration)]
    expires_in: i64,
    /// Where to write the signed request (your copy of what you signed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Submit the request to this vault and check that it is logged
    /// (without it, the request is only written and shown).
    #[arg(long, value_name = "URL")]
    vault: Option<String>,
    /// The vault's audit-log key (C2SP vkey, pinned out of band); with --vault.
    #[arg(long, value_name = "VKEY", requires = "vault")]
    log_key: Option<String>,
    /// The custodians' log pin of --group (`obhut custody pin-log`) instead
    /// of --log-key: that log only, with its witnesses' cosignatures.
    #[arg(long, value_name = "FILE", requires = "vault")]
    log_pin: Option<PathBuf>,
    /// Last log checkpoint this client accepted (default under ~/.local/state/obhut/logs/).
    #[arg(long, value_name = "FILE")]
    log_state: Option<PathBuf>,
}

fn recording_id(arg: &str) -> anyhow::Result<RecordingId> {
    RecordingId::from_hex(arg).ok_or_else(|| {
        fail(
            format!("--recording {arg}: not a recording id (32 hex digits)"),
            "pass the recording id `obhut ingest` printed",
        )
    })
}

/// Run `obhut request`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    if a.vault.is_some() && a.log_key.is_none() && a.log_pin.is_none() {
        return Err(fail(
            "--vault needs the log to check the request against",
            "pass --log-key VKEY (from your organisation) or --log-pin FILE (the custodians' pin)",
        ));
    }
    files::check_new(&a.out, "--out", g.force)?;
    let group = load::pinned_group(&a.group, "--group")?;
    let scope = scope(a)?;
    let created = time::now_ms();
    let expires = created.checked_add(a.expires_in).ok_or_else(|| {
        fail(
            "--expires-in is too far in the future",
            "give a shorter --expires-in",
        )
    })?;
    let mut request_id = [0u8; 16];
    request_id.copy_from_slice(&obhut_core::rng::random_32(&mut os_rng())[..16]);
    let content = RequestContent {
        request_id,
        group_id: group.group_id(),
        generation: group.generation(),
        scope: vec![scope],
        purpose: a.purpose.clone(),
        justification: a.justification.clone(),
        legal_basis: a.legal_basis.clone(),
        case_ref: a.case_ref.clone(),
        recipients: a.recipients.clone(),
        created_utc_ms: created,
        expires_utc_ms: expires,
    };
    let me = keys::person(g, &a.identity, "--identity")?;
    let req = content.sign(&me).hint(
        "cannot make the request",
        format!(
            "--purpose ≤ {} bytes, --justification ≤ {}, --legal-basis ≤ {}, --case ≤ {}, at most {} --recipient of ≤ {} bytes",
            request::MAX_PURPOSE_LEN,
            request::MAX_JUSTIFICATION_LEN,
            request::MAX_LEGAL_BASIS_LEN,
            request::MAX_CASE_REF_LEN,
            request::MAX_RECIPIENTS,
            request::MAX_RECIPIENT_LEN
        ),
    )?;
    files::write(&a.out, &req.to_bytes(), "--out", g.force, Mode::Public)?;
    if !g.quiet {
        eprint!("{}", describe(&req));
    }
    if let Some(vault) = &a.vault {
        let log = LogArgs {
            vault: vault.clone(),
            log_key: a.log_key.clone(),
            log_pin: a.log_pin.clone(),
            state: a.log_state.clone(),
            witnesses: Vec::new(),
            witnesses_required: None,
        }
        .client_for(&group)?;
        let client = AccessClient::new(Reader::new(vault, log.vault_identity(), &me.sign));
        let logged = submit(&client, &log, &req)?;
        g.note(format!(
            "submitted to {vault}: logged as entry #{} (inclusion verified); custodians see it with `obhut pending`. Request hash:",
            logged.log_index
        ));
    } else {
        g.note(format!(
            "wrote {}; nothing was asked: only a request submitted with --vault (and logged there) can be approved. Request hash:",
            a.out.display()
        ));
    }
    println!("{}", hex::encode(req.request_hash()));
    Ok(())
}

/// The scope from the flags: one recording's media time range, or one
/// device's capture time range.
fn scope(a: &Args) -> anyhow::Result<Scope> {
    if let (Some(device), Some(from), Some(to)) = (&a.device, a.from, a.to) {
        let mut key = [0u8; 32];
        hex::decode_to_slice(device, &mut key).map_err(|_| {
            fail(
                format!("--device {device:?} is not a device key"),
                "pass the 64 hex digits shown by `obhut admin devices`",
            )
        })?;
        let device_key =
            obhut_core::identity::VerifyKey::from_bytes(&key, "device key", "--device").map_err(
                |e| {
                    fail(
                        format!("--device {device}: {e}"),
                        "pass the 64 hex digits shown by `obhut admin devices`",
                    )
                },
            )?;
        if to <= from {
            return Err(fail(
                "--to is not after --from",
                "capture times are half-open [--from, --to); give a non-empty range",
            ));
        }
        return Ok(Scope::Device {
            device_key,
            utc_start_ms: from,
            utc_end_ms: to,
            include_metadata: a.include_metadata,
        });
    }
    let recording = a.recording.as_deref().ok_or_else(|| {
        fail(
            "no scope",
            "pass --recording ID, or --device KEY --from TIME --to TIME",
        )
    })?;
    let recording_id = recording_id(recording)?;
    let to_ms = a.to_ms.unwrap_or(u64::MAX);
    if to_ms <= a.from_ms {
        return Err(fail(
            format!("--to-ms {to_ms} is not after --from-ms {}", a.from_ms),
            "media times are half-open [--from-ms, --to-ms); give a non-empty range",
        ));
    }
    Ok(Scope::Recording {
        recording_id,
        media_start_ms: a.from_ms,
        media_end_ms: to_ms,
        include_metadata: a.include_metadata,
    })
}
