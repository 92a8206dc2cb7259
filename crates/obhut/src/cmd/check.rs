//! `obhut check`: the operator's full check of a stopped vault's data
//! directory. Glue over `obhut_store::check_store`, which holds the logic.

use anyhow::Context;
use obhut_server::config::{DatabaseUrl, FileConfig};
use obhut_store::blobs::AnyBlobStore;
use obhut_store::postgres::PgIndex;
use obhut_store::{BlobStore, CheckReport, IndexStore, check_store};

use crate::util::Global;
use crate::util::hint::{HintExt, fail};
use crate::util::vault::{StoreArgs, load_config, vault_error};

/// `obhut check`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Check a stopped vault's data: index against blobs, every blob's BLAKE3, the audit log",
    long_about = "Check a vault's data directory (docs/vault.md §6.1), with the vault stopped \
(the check takes the data directory's lock, as `obhut serve` does). The index is the data \
directory's SQLite, or PostgreSQL with --database-url (database_url, OBHUT_DATABASE_URL); the \
blobs are in the data directory, or in an S3 bucket with --blob-url (blob_url, OBHUT_BLOB_URL), \
selected as `obhut serve` selects them:\n\n\
  - every index row has its blob, as long as its device-signed record says, with the \
record's BLAKE3 ciphertext hash (every byte of every blob is read);\n\
  - every blob has an index row;\n\
  - the stored audit log (entries and hash tiles) hashes to its latest checkpoint.\n\n\
Prints one line per disagreement naming the recording and the segment, then a summary; \
exits non-zero if anything disagrees. Files left in tmp/ by an interrupted upload are \
listed (with the blobs in S3, `blob_url`: staged objects and the markers of multipart uploads \
never completed under the bucket's tmp/); --repair removes them (aborting those uploads), and only them: a blob or row that disagrees is never \
changed (restore it from backup; a device re-uploads what it holds no receipt for)."
)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The index on PostgreSQL (postgres://USER@HOST:PORT/DB), as the vault is served
    /// [key database_url; OBHUT_DATABASE_URL]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The blobs in an S3-compatible bucket (s3://BUCKET/PREFIX), as the vault is served
    /// [key blob_url; OBHUT_BLOB_URL]
    #[arg(long, value_name = "URL")]
    pub blob_url: Option<String>,
    /// Remove the files an interrupted upload left in tmp/ (nothing else)
    #[arg(long)]
    pub repair: bool,
    /// Print the findings as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

/// The full check of `index` and `blobs`, and what interrupted uploads
/// left (removed with `repair`).
async fn check_on(
    index: &impl IndexStore,
    blobs: AnyBlobStore,
    repair: bool,
) -> anyhow::Result<(CheckReport, Vec<String>, Option<usize>)> {
    // The vault is stopped: what an upload left is a leftover now.
    let blobs = blobs.without_grace();
    let report = check_store(index, &blobs).await?;
    let leftovers = blobs.temporary_files().await?;
    let removed = if repair && !leftovers.is_empty() {
        Some(blobs.clean_temporary().await?)
    } else {
        None
    };
    Ok((report, leftovers, removed))
}

/// Run `obhut check`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let flags = FileConfig {
        database_url: a.database_url.clone().map(DatabaseUrl),
        blob_url: a.blob_url.clone(),
        ..FileConfig::default()
    };
    let config = load_config(&a.store, flags)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (report, leftovers, removed) = rt.block_on(async {
        // The index the vault runs on, selected as `obhut serve` selects
        // it: PostgreSQL when `database_url` says so, else the data
        // directory's SQLite.
        if let Some(url) = &config.database_url {
            // Held until the check ends: no vault may write meanwhile.
            let _lock =
                obhut_server::embedded::lock_data_dir(&config.data_dir).map_err(vault_error)?;
            let index = PgIndex::connect(url.expose())
                .await
                .next_step("check --database-url (OBHUT_DATABASE_URL) and that PostgreSQL runs")?;
            let blobs = config.blobs.open(&config.data_dir).await?;
            let a_id = index.instance_id().await?;
            let b_id = blobs.instance_id().await?;
            if a_id.is_none() || a_id != b_id {
                index.close().await;
                return Err(fail(
                    format!(
                        "the PostgreSQL index (instance {}) and the blobs at {} (instance {}) are not one vault's",
                        a_id.as_deref().unwrap_or("none"),
                        blobs.location(),
                        b_id.as_deref().unwrap_or("none")
                    ),
                    "pass the --database-url and --blob-url the vault is served with",
                ));
            }
            let r = check_on(&index, blobs, a.repair).await;
            index.close().await;
            return r;
        }
        let (index, blobs) = obhut_store::open_vault_shared(&config.data_dir, &config.blobs)
            .await
            .next_step("pass --data DIR of the vault (as given to obhut serve)")?;
        let _lock = obhut_server::embedded::lock_data_dir(&config.data_dir).map_err(vault_error)?;
        let r = check_on(&index, blobs, a.repair).await;
        index.close().await;
        r
    })?;
    if a.json {
        print_json(&report, &leftovers, removed.is_some());
    } else {
        for f in &report.findings {
            println!("{f}");
        }
        for p in &leftovers {
            let verb = if removed.is_some() {
                "removed"
            } else {
                "left by an interrupted upload (--repair removes it)"
            };
            println!("tmp file {p}: {verb}");
        }
        g.note(summary(&report, leftovers.len()));
    }
    if report.findings.is_empty() {
        Ok(())
    } else {
        Err(fail(
            format!(
                "{} disagreement{} in {}",
                report.findings.len(),
                if report.findings.len() == 1 { "" } else { "s" },
                config.data_dir.display()
            ),
            "restore the named blobs from backup (blobs/<recording>/<segment>.seg); a device re-uploads a segment it holds no receipt for",
        ))
    }
}

fn summary(r: &CheckReport, tmp: usize) -> String {
    format!(
        "checked {} segments ({} bytes hashed) and {} log entries: {} disagreement{}, {tmp} tmp file{}",
        r.segments,
        r.bytes_hashed,
        r.log_entries,
        r.findings.len(),
        if r.findings.len() == 1 { "" } else { "s" },
        if tmp == 1 { "" } else { "s" },
    )
}

fn print_json(r: &CheckReport, tmp: &[String], removed: bool) {
    let findings: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "kind": f.kind(),
                "recording": f.key().map(|k| k.recording.to_string()),
                "segment": f.key().map(|k| k.index),
                "message": f.to_string(),
            })
        })
        .collect();
    let out = serde_json::json!({
        "segments": r.segments,
        "bytes_hashed": r.bytes_hashed,
        "log_entries": r.log_entries,
        "findings": findings,
        "tmp_files": tmp,
        "tmp_removed": removed,
    });
    println!("{out}");
}
