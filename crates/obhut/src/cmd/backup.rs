//! `obhut backup`: an online backup of the embedded vault. Glue over
//! `obhut_store::backup`, which holds the logic and says why its order is
//! safe.

use std::path::PathBuf;

use anyhow::Context;
use obhut_server::config::FileConfig;
use obhut_store::backup::{BackupError, backup_embedded};

use crate::util::Global;
use crate::util::hint::{HintExt, fail, with_next_step};
use crate::util::vault::{StoreArgs, load_config};

/// `obhut backup`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Back up the embedded vault's index and blobs while it runs",
    long_about = "Back up the vault's index and blobs into a new directory while the vault runs \
(docs/backup.md): the SQLite index as one consistent snapshot (VACUUM INTO), then every blob \
its rows name, each checked against its device-signed record's BLAKE3 as it is written. The \
directory is a complete data directory: restore it by stopping the vault and putting it in \
place of --data (or serving with --data pointing at it), then run `obhut check`.\n\n\
The keystore (--keys) is not in it: copy it apart, as files, after adding a device class or \
custody change. Never back up the epoch key holder (epoch_holder_dir, or the PKCS#11 token): \
destroying an expired epoch's key there is what makes the footage of that epoch in every \
backup unopenable.\n\n\
With the index on PostgreSQL (database_url) use pg_dump and copy the bucket instead \
(docs/backup.md).",
    after_help = "Example:\n  \
obhut backup --data /var/lib/obhut --out /backup/obhut-2026-12-07 && cp -a /etc/obhut/keys /backup/obhut-2026-12-07-keys"
)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The new directory to write the backup into (must not exist, or be empty)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Run `obhut backup`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let config = load_config(&a.store, FileConfig::default())?;
    if config.database_url.is_some() {
        return Err(fail(
            "the index is on PostgreSQL (database_url): obhut backup copies the embedded index",
            "back it up with pg_dump and copy the bucket (docs/backup.md)",
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let bar = crate::util::progress::Phases::new(g);
    let report = rt.block_on(async {
        let (index, blobs) = obhut_store::open_vault_shared(&config.data_dir, &config.blobs)
            .await
            .next_step("pass --data DIR of the vault (as given to obhut serve)")?;
        let r = backup_embedded(&index, &blobs, &a.out, &bar).await;
        index.close().await;
        r.map_err(|e| {
            let next = match &e {
                BackupError::TargetNotEmpty(_) => "pass --out a new directory",
                BackupError::BlobGone { .. } => "run obhut backup again into a new directory",
                BackupError::BadBlob { .. } => "run obhut check on the vault (stopped)",
                _ => "check --data and the space left where --out is",
            };
            with_next_step(e, next)
        })
    })?;
    bar.finish();
    g.note(format!(
        "backed up {} segments ({} bytes) and {} log entries into {}; copy --keys apart (never the epoch key holder), and check a restore with `obhut check --data {}`",
        report.segments,
        report.bytes,
        report.log_entries,
        a.out.display(),
        a.out.display()
    ));
    Ok(())
}
