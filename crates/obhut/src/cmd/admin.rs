//! `obhut admin`: enrolment tokens, revocation, device list, readers,
//! requesters, auditors. Glue over `obhut_server::admin`, which opens no
//! server: these commands work on the vault's SQLite index beside it.

use std::path::PathBuf;

use anyhow::Context;
use obhut_core::identity::PublicIdentity;
use obhut_core::ids::GroupId;
use obhut_core::name::NameClaim;
use obhut_core::reclassify::ReclassifyApproval;
use obhut_core::vault::descriptor_fingerprint;
use obhut_server::SystemClock;
use obhut_server::admin::{self, AdminError};
use obhut_server::config::FileConfig;
use obhut_store::IndexStore;

use crate::util::hint::{HintExt, admin_error, fail};
use crate::util::vault::{StoreArgs, load_config};
use crate::util::{Global, files, load, stored_names, time};

/// `obhut admin`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Administer the vault: enrolment tokens, revocation, devices, readers, requesters, auditors, legal holds"
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
    /// Move a device to another retention class: only with signed approvals
    /// of k custodians of its group (`obhut custody approve-reclassify`);
    /// logged with the approvals.
    Reclassify {
        /// Device key, 64 hex digits (see `obhut admin devices`)
        #[arg(long, value_name = "HEX")]
        device: String,
        /// The new retention class
        #[arg(long, value_name = "C")]
        class: String,
        /// A custodian's approval file; repeat for each (at least k)
        #[arg(long = "approval", value_name = "FILE")]
        approvals: Vec<PathBuf>,
    },
    /// Legal holds: place or release one (k custodians' approvals), list
    /// them.
    #[command(subcommand)]
    Hold(super::hold::HoldCommand),
    /// Allow a person to read audit entry bodies (which hold case data):
    /// a data-protection officer or an oversight body. Checkpoints, tiles
    /// and proofs are public and need no role.
    AddAuditor {
        /// The person's public identity file (from `obhut keygen person`)
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
    /// Serve a person's or device's display name: the signed claim `obhut
    /// keygen` wrote beside the key (KEY.name); logged whole. Clients show
    /// a name only if its own key signed it.
    SetName {
        /// The name claim file (KEY.name)
        claim: PathBuf,
    },
}

/// Run `obhut admin`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let config = load_config(&a.store, FileConfig::default())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        // The index the vault runs on: PostgreSQL when `database_url` says
        // so (obhut.toml, OBHUT_DATABASE_URL), else the data directory's.
        if let Some(url) = &config.database_url {
            let index = obhut_store::postgres::PgIndex::connect(url.expose())
                .await
                .next_step("check database_url (OBHUT_DATABASE_URL) and that PostgreSQL runs")?;
            if index.instance_id().await?.is_none() {
                anyhow::bail!(
                    "the PostgreSQL database holds no vault yet: start `obhut serve --init` on it first"
                );
            }
            let r = run_on(g, &a.command, &index).await;
            index.close().await;
            return r;
        }
        let (index, _blobs) = obhut_store::open_vault_shared(&config.data_dir, &config.blobs)
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
    index: &impl obhut_store::IndexStore,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::EnrolToken {
            group,
            retention_class,
        } => {
            admin::check_retention_class(retention_class).map_err(admin_error)?;
            let pinned = load::pinned_group(group, "--group")?;
            let token = admin::create_enrol_token(index, &SystemClock, &pinned, retention_class)
                .await
                .map_err(admin_error)?;
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
            admin::revoke_device(index, &SystemClock, key)
                .await
                .map_err(|e| match e {
                    // As typed, not as re-encoded.
                    AdminError::UnknownDevice(_) => fail(
                        format!("no enrolled device {device}"),
                        "list devices with `obhut admin devices`",
                    ),
                    e => admin_error(e),
                })?;
            g.note(format!("device {device} revoked"));
        }
        AdminCommand::Devices => {
            // Tab-separated for scripts, times as people read them.
            println!("device\tname\tgroup\tretention_class\tenrolled\trevoked");
            let devices = index.devices().await?;
            let keys: Vec<[u8; 32]> = devices.iter().map(|d| d.device_key).collect();
            let names = stored_names::read(index, &keys).await?;
            for d in devices {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    hex::encode(d.device_key),
                    stored_names::column(&names, &d.device_key),
                    d.group_id,
                    d.retention_class,
                    time::show(d.enrolled_ms),
                    d.revoked_ms.map_or_else(|| "-".to_owned(), time::show)
                );
            }
        }
        AdminCommand::AddReader { identity, group } => {
            let id = person_file(identity)?;
            let gid = group_id(group)?;
            admin::add_reader(index, &SystemClock, &id, gid)
                .await
                .map_err(admin_error)?;
            g.note(format!("{} may read group {gid}", id.name));
        }
        AdminCommand::AddRequester { identity, group } => {
            let id = person_file(identity)?;
            let gid = group_id(group)?;
            admin::add_requester(index, &SystemClock, &id, gid)
                .await
                .map_err(admin_error)?;
            g.note(format!("{} may ask for access to group {gid}", id.name));
        }
        AdminCommand::Reclassify {
            device,
            class,
            approvals,
        } => {
            let mut key = [0u8; 32];
            hex::decode_to_slice(device, &mut key).map_err(|_| {
                fail(
                    format!("{device:?} is not a device key"),
                    "pass the 64 hex digits shown by `obhut admin devices`",
                )
            })?;
            let mut parsed = Vec::with_capacity(approvals.len());
            for path in approvals {
                parsed.push(files::parse(
                    path,
                    "--approval",
                    "a reclassification approval (from `obhut custody approve-reclassify`)",
                    ReclassifyApproval::from_bytes,
                )?);
            }
            admin::reclassify_device(index, &SystemClock, key, class, &parsed)
                .await
                .map_err(admin_error)?;
            g.note(format!(
                "device {device} is now of class {class} ({} custodian approvals logged)",
                parsed.len()
            ));
        }
        AdminCommand::Hold(cmd) => super::hold::admin(g, cmd, index).await?,
        AdminCommand::AddAuditor { identity } => {
            let id = person_file(identity)?;
            admin::add_auditor(index, &SystemClock, &id)
                .await
                .map_err(admin_error)?;
            g.note(format!("{} may read audit entries", id.name));
        }
        AdminCommand::SetName { claim } => {
            let parsed = files::parse(
                claim,
                "CLAIM",
                "a display-name claim (KEY.name, from `obhut keygen`)",
                NameClaim::from_bytes,
            )?;
            let stored = admin::set_name(index, &SystemClock, &parsed.to_bytes())
                .await
                .map_err(admin_error)?;
            let who = format!(
                "{} {}",
                parsed.kind().word(),
                hex::encode(parsed.subject().to_bytes())
            );
            if stored {
                g.note(format!("{who} is now shown as {:?}", parsed.name()));
            } else {
                g.note(format!(
                    "{who} keeps its name: the vault has a claim signed at the same time or later"
                ));
            }
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
