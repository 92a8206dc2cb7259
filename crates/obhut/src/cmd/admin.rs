//! `obhut admin`: enrolment tokens, revocation, device list, readers,
//! requesters, auditors.
//!
//! These commands open the vault's SQLite index directly (WAL mode lets
//! them run while `obhut serve` does; the server sees each change on its
//! next request). They never touch blobs or `tmp/`. Every change is
//! sequenced into the audit log in its own transaction, attributed to the
//! operator role (the console has no person key; whoever can write the
//! database is the operator, and the log makes their changes visible).

use std::path::PathBuf;

use anyhow::Context;
use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_core::group::PinnedGroup;
use obhut_core::identity::PublicIdentity;
use obhut_core::ids::GroupId;
use obhut_core::vault::{body_sha256, descriptor_fingerprint};
use obhut_server::config::FileConfig;
use obhut_store::{GroupRow, IndexStore, NewLogEntry, TokenRow};

use crate::util::hint::{HintExt, fail};
use crate::util::vault::{StoreArgs, load_config};
use crate::util::{Global, files, load};

/// Validity of an enrolment token.
const TOKEN_VALID_MS: i64 = 24 * 3_600_000;

/// `obhut admin`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Administer the vault: enrolment tokens, revocation, devices, readers, requesters, auditors"
)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Subcommands of `obhut admin`.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create a one-time enrolment token (valid 24 h) bound to a custody
    /// group and a retention class; prints `obhut-enrol-<hex>`.
    EnrolToken {
        /// The pinned group descriptor (group.obgd, signed by ≥ k custodians)
        #[arg(long, value_name = "DESC")]
        group: PathBuf,
        /// Retention class of the device's footage (e.g. bodycam-30d)
        #[arg(long, value_name = "C")]
        retention_class: String,
    },
    /// Revoke a device (hex key); takes effect on its next request.
    Revoke {
        /// Device key, 64 hex digits (see `obhut admin devices`)
        device: String,
    },
    /// List enrolled devices.
    Devices,
    /// Allow a person to read a group's recordings (records and ciphertext).
    AddReader {
        /// The person's public identity file (from `obhut keygen person`)
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
        /// Group id (32 hex digits, from `obhut custody show`)
        #[arg(long, value_name = "ID")]
        group: String,
    },
    /// Allow a person to ask for access to a group's footage (post signed
    /// access requests, docs/access.md); k custodians still decide.
    AddRequester {
        /// The person's public identity file (from `obhut keygen person`)
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
        /// Group id (32 hex digits, from `obhut custody show`)
        #[arg(long, value_name = "ID")]
        group: String,
    },
    /// Allow a person to read audit entry bodies (which hold case data):
    /// a data-protection officer or an oversight body. Checkpoints, tiles
    /// and proofs are public and need no role.
    AddAuditor {
        /// The person's public identity file (from `obhut keygen person`)
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
}

fn now_ms() -> i64 {
    obhut_server::Clock::now_ms(&obhut_server::SystemClock)
}

/// The audit entry of an operator's change, stamped now.
fn operator_entry(now: i64, event: Event) -> anyhow::Result<NewLogEntry> {
    Ok(NewLogEntry::new(&LogEntry {
        time_ms: now,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event,
    })?)
}

/// Run `obhut admin`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let config = load_config(&a.store, FileConfig::default())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let (index, _blobs) = obhut_store::open_embedded_shared(&config.data_dir)
            .await
            .next_step("pass --data DIR of the vault (as given to obhut serve)")?;
        let r = run_on(g, &a.command, &index).await;
        index.close().await;
        r
    })
}

async fn run_on(
    g: &Global,
    cmd: &AdminCommand,
    index: &obhut_store::sqlite::SqliteIndex,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::EnrolToken {
            group,
            retention_class,
        } => {
            check_retention_class(retention_class)?;
            let pinned = load::pinned_group(group, "--group")?;
            let token = create_enrol_token(index, &pinned, retention_class).await?;
            g.note(format!(
                "one-time token for group {} (fingerprint {}), class {retention_class}, valid 24 h:",
                pinned.group_id(),
                descriptor_fingerprint(&pinned)
            ));
            println!("{token}");
        }
        AdminCommand::Revoke { device } => {
            let mut key = [0u8; 32];
            hex::decode_to_slice(device, &mut key).map_err(|_| {
                fail(
                    format!("{device:?} is not a device key"),
                    "pass the 64 hex digits shown by `obhut admin devices`",
                )
            })?;
            let now = now_ms();
            let entry = operator_entry(now, Event::DeviceRevoked { device_key: key })?;
            if !index.revoke_device(key, now, &entry).await? {
                return Err(fail(
                    format!("no enrolled device {device}"),
                    "list devices with `obhut admin devices`",
                ));
            }
            g.note(format!("device {device} revoked"));
        }
        AdminCommand::Devices => {
            println!("device\tgroup\tretention_class\tenrolled_ms\trevoked_ms");
            for d in index.devices().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    hex::encode(d.device_key),
                    d.group_id,
                    d.retention_class,
                    d.enrolled_ms,
                    d.revoked_ms
                        .map_or_else(|| "-".to_owned(), |r| r.to_string())
                );
            }
        }
        AdminCommand::AddReader { identity, group } => {
            let id = person_file(identity)?;
            let gid = group_id(group)?;
            add_reader(index, &id, gid).await?;
            g.note(format!("{} may read group {gid}", id.name));
        }
        AdminCommand::AddRequester { identity, group } => {
            let id = person_file(identity)?;
            let gid = group_id(group)?;
            add_requester(index, &id, gid).await?;
            g.note(format!("{} may ask for access to group {gid}", id.name));
        }
        AdminCommand::AddAuditor { identity } => {
            let id = person_file(identity)?;
            add_auditor(index, &id).await?;
            g.note(format!("{} may read audit entries", id.name));
        }
    }
    Ok(())
}

/// `--identity FILE`: a person's public identity.
fn person_file(path: &std::path::Path) -> anyhow::Result<PublicIdentity> {
    files::parse(
        path,
        "--identity",
        "a public identity (from `obhut keygen person`)",
        PublicIdentity::from_bytes,
    )
}

/// `--group ID`: a group id in hex.
fn group_id(group: &str) -> anyhow::Result<GroupId> {
    GroupId::from_hex(group).ok_or_else(|| {
        fail(
            format!("{group:?} is not a group id"),
            "pass the 32 hex digits shown by `obhut custody show`",
        )
    })
}

/// Refuse a retention class the vault cannot name (1 to 64 bytes).
fn check_retention_class(class: &str) -> anyhow::Result<()> {
    if class.is_empty() || class.len() > obhut_core::epoch::MAX_CLASS_LEN {
        return Err(fail(
            "a retention class has 1 to 64 bytes",
            "pass --retention-class NAME, e.g. bodycam-30d",
        ));
    }
    Ok(())
}

/// `obhut admin enrol-token`: record the pinned group at the vault and a
/// one-time enrolment token bound to it and `retention_class`, valid 24 h.
/// The vault keeps only the token's SHA-256; the token itself is returned
/// (`obhut-enrol-<hex>`) and shown once.
pub async fn create_enrol_token(
    index: &impl IndexStore,
    pinned: &PinnedGroup,
    retention_class: &str,
) -> anyhow::Result<String> {
    check_retention_class(retention_class)?;
    let now = now_ms();
    let fingerprint = descriptor_fingerprint(pinned);
    index
        .put_group(
            &GroupRow {
                group_id: pinned.group_id(),
                descriptor: pinned.to_bytes(),
                fingerprint: fingerprint.0,
                added_ms: now,
            },
            &operator_entry(
                now,
                Event::GroupAdded {
                    group_id: pinned.group_id(),
                    fingerprint,
                },
            )?,
        )
        .await?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("OS randomness: {e}"))?;
    let token = format!("obhut-enrol-{}", hex::encode(secret));
    index
        .create_token(&TokenRow {
            token_hash: body_sha256(token.as_bytes()),
            group_id: pinned.group_id(),
            retention_class: retention_class.to_owned(),
            created_ms: now,
            expires_ms: now + TOKEN_VALID_MS,
        })
        .await?;
    Ok(token)
}

/// Refuse a role for a group the vault does not know.
async fn require_group(index: &impl IndexStore, gid: GroupId) -> anyhow::Result<()> {
    if index.group(gid).await?.is_none() {
        return Err(fail(
            format!("the vault knows no group {gid}"),
            "create an enrolment token for the group first (obhut admin enrol-token)",
        ));
    }
    Ok(())
}

/// `obhut admin add-reader`: let `person` read the recordings of group
/// `gid` (records and ciphertext, never keys). The vault must know the group.
pub async fn add_reader(
    index: &impl IndexStore,
    person: &PublicIdentity,
    gid: GroupId,
) -> anyhow::Result<()> {
    require_group(index, gid).await?;
    let now = now_ms();
    let key = person.sign_key.to_bytes();
    let entry = operator_entry(
        now,
        Event::ReaderAdded {
            person_key: key,
            group_id: gid,
        },
    )?;
    index.add_reader(key, gid, now, &entry).await?;
    Ok(())
}

/// `obhut admin add-requester`: let `person` post access requests for
/// the footage of group `gid` (docs/access.md §1). The vault must know the
/// group. Logged as a `requester-added` entry naming the person and the
/// group.
pub async fn add_requester(
    index: &impl IndexStore,
    person: &PublicIdentity,
    gid: GroupId,
) -> anyhow::Result<()> {
    require_group(index, gid).await?;
    let now = now_ms();
    let key = person.sign_key.to_bytes();
    let entry = operator_entry(
        now,
        Event::RequesterAdded {
            person_key: key,
            name: person.name.clone(),
            group_id: gid,
        },
    )?;
    index.add_requester(key, gid, now, &entry).await?;
    Ok(())
}

/// `obhut admin add-auditor`: let `person` read audit entry bodies.
pub async fn add_auditor(index: &impl IndexStore, person: &PublicIdentity) -> anyhow::Result<()> {
    let now = now_ms();
    let key = person.sign_key.to_bytes();
    let entry = operator_entry(
        now,
        Event::AuditorAdded {
            person_key: key,
            name: person.name.clone(),
        },
    )?;
    index.add_auditor(key, now, &entry).await?;
    Ok(())
}
