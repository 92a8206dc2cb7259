//! `obhut migrate`: a stopped embedded vault moved to PostgreSQL and/or an
//! S3 bucket. Glue over `obhut_store::migrate`, which holds the logic
//! (resuming, verification, refusals).

use std::path::{Path, PathBuf};

use anyhow::Context;
use obhut_server::config::FileConfig;
use obhut_store::blobs::AnyBlobStore;
use obhut_store::dir::DirBlobStore;
use obhut_store::migrate::{MigrateError, MigrateReport, Migration};
use obhut_store::postgres::PgIndex;
use obhut_store::s3::S3BlobStore;
use obhut_store::sqlite::SqliteIndex;

use crate::util::Global;
use crate::util::hint::{HintExt, fail, with_next_step};
use crate::util::vault::{StoreArgs, load_config, vault_error};

/// `obhut migrate`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Move a stopped embedded vault to PostgreSQL and/or an S3 bucket (resumable, verified)",
    long_about = "Copy a stopped vault's index from SQLite to PostgreSQL (--to) and/or its blobs \
from the data directory to an S3-compatible bucket (--blobs-to), every table and every blob \
(docs/backup.md §Migrating). The source vault must be stopped (migrate takes its data \
directory's lock).\n\n\
Resumable: run it again after an interruption and it continues where it stopped, copying \
nothing twice. Verified: every blob is read back from the destination and re-hashed against \
its device-signed record's BLAKE3, every table's rows are hashed on both sides, and the audit \
log's entries and tiles must fold to its latest checkpoint. A blob that fails is removed at \
the destination and named; the next run copies it again. Only after all of this does the \
destination index get the vault's instance id, so no vault starts on a half-copied database.\n\n\
Refuses a destination that holds anything but an earlier run of the same migration, and a \
source with a table this release does not know.\n\n\
Afterwards serve the vault with --database-url and --blob-url (OBHUT_DATABASE_URL, \
OBHUT_BLOB_URL) and the same --keys. S3 endpoint, region and credentials come from \
AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_ALLOW_HTTP=true \
for plain HTTP) or the [s3] table of --config.",
    after_help = "Examples:\n  \
obhut migrate --from sqlite:/var/lib/obhut --to postgres://obhut@db/obhut --blobs-to s3://vault/obhut\n  \
obhut migrate --from sqlite:/var/lib/obhut --to postgres://obhut@db/obhut\n  \
obhut migrate --from sqlite:/var/lib/obhut --blobs-to s3://vault/obhut"
)]
pub struct Args {
    /// The source: sqlite:DATA_DIR (or sqlite:DATA_DIR/obhut.sqlite)
    #[arg(long, value_name = "sqlite:PATH")]
    pub from: String,
    /// The destination index: postgres://USER@HOST:PORT/DB (an empty database)
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// The data directory whose blobs/ to copy [default: the --from data directory]
    #[arg(long, value_name = "DIR", requires = "blobs_to")]
    pub blobs_from: Option<PathBuf>,
    /// The destination blob store: s3://BUCKET/PREFIX (empty)
    #[arg(long, value_name = "URL")]
    pub blobs_to: Option<String>,
    /// Config file whose [s3] table sets the bucket's options [default: ./obhut.toml if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The data directory and index file `--from` names.
fn source(from: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let Some(path) = from.strip_prefix("sqlite:") else {
        return Err(fail(
            format!("--from {from:?} is not a sqlite: source"),
            "pass --from sqlite:DATA_DIR (the directory obhut serve --data was given)",
        ));
    };
    let path = Path::new(path);
    let (data, db) = if path.is_dir() {
        (path.to_owned(), path.join("obhut.sqlite"))
    } else {
        let parent = path.parent().unwrap_or(Path::new("."));
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        (parent.to_owned(), path.to_owned())
    };
    if !db.is_file() {
        return Err(fail(
            format!("{} holds no vault index", db.display()),
            "pass --from sqlite:DATA_DIR of the vault (as given to obhut serve --data)",
        ));
    }
    Ok((data, db))
}

/// Run `obhut migrate`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    if a.to.is_none() && a.blobs_to.is_none() {
        return Err(fail(
            "nothing to migrate to",
            "pass --to postgres://… for the index and/or --blobs-to s3://BUCKET/PREFIX for the blobs",
        ));
    }
    if let Some(to) = &a.to
        && !(to.starts_with("postgres://") || to.starts_with("postgresql://"))
    {
        return Err(fail(
            "--to is not a postgres:// URL",
            "pass --to postgres://USER@HOST:PORT/DB",
        ));
    }
    let (data, db) = source(&a.from)?;
    let blob_dir = a.blobs_from.clone().unwrap_or_else(|| data.clone());
    let store = StoreArgs {
        data: None,
        keys: None,
        config: a.config.clone(),
    };
    let options = load_config(&store, FileConfig::default())?.blobs.options;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Held until the end: no vault may write to the source meanwhile.
    let _lock = obhut_server::embedded::lock_data_dir(&data).map_err(vault_error)?;
    let _blob_lock = if blob_dir != data {
        Some(obhut_server::embedded::lock_data_dir(&blob_dir).map_err(vault_error)?)
    } else {
        None
    };
    let bar = crate::util::progress::Phases::new(g);
    let report = rt.block_on(async {
        let src = SqliteIndex::open(&db)
            .await
            .next_step("pass --from sqlite:DATA_DIR of a stopped vault")?;
        let src_blobs = DirBlobStore::open(&blob_dir).await?;
        let to_index = match &a.to {
            None => None,
            Some(url) => Some(
                PgIndex::connect(url)
                    .await
                    .next_step("check --to and that PostgreSQL runs")?,
            ),
        };
        let to_blobs = match &a.blobs_to {
            None => None,
            Some(url) => Some(AnyBlobStore::S3(
                S3BlobStore::open(url, options.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .next_step("pass --blobs-to s3://BUCKET/PREFIX")?,
            )),
        };
        let m = Migration {
            source: &src,
            source_blobs: &src_blobs,
            to_index: to_index.as_ref(),
            to_blobs: to_blobs.as_ref().map(|b| (b, b.location())),
        };
        let r = m.run(&bar).await;
        src.close().await;
        if let Some(i) = &to_index {
            i.close().await;
        }
        r.map_err(migrate_error)
    })?;
    bar.finish();
    g.note(summary(&report, a));
    Ok(())
}

fn summary(r: &MigrateReport, a: &Args) -> String {
    let mut s = format!(
        "{} vault {}:",
        if r.resumed {
            "resumed and finished migrating"
        } else {
            "migrated"
        },
        r.instance_id
    );
    if a.to.is_some() {
        s.push_str(&format!(
            " {} rows ({} copied by this run), {} log entries;",
            r.rows, r.rows_copied, r.log_entries
        ));
    }
    if a.blobs_to.is_some() {
        s.push_str(&format!(
            " {} blobs, {} bytes ({} blobs copied by this run), each re-hashed at the destination;",
            r.blobs, r.bytes, r.blobs_copied
        ));
    }
    s.push_str(" serve it with");
    if let Some(to) = &a.to {
        s.push_str(&format!(" --database-url {}", redact(to)));
    }
    if let Some(b) = &a.blobs_to {
        s.push_str(&format!(" --blob-url {b}"));
    }
    s.push_str(" and the same --keys");
    s
}

/// A URL without its password, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            match user.split_once(':') {
                Some((name, _)) => format!("{}{name}:…{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn migrate_error(e: MigrateError) -> anyhow::Error {
    let next = match &e {
        MigrateError::NoSourceVault => "pass --from sqlite:DATA_DIR of a vault that has run",
        MigrateError::UnknownTable(_) | MigrateError::MissingTable { .. } => {
            "run the migrate of the obhut release that made the source's schema"
        }
        MigrateError::Schema(_) => "migrate with the same obhut release that runs the vault",
        MigrateError::NotEmpty { .. } | MigrateError::OtherVault { .. } => {
            "pass an empty database (createdb) and an empty bucket or prefix"
        }
        MigrateError::SourceBlob { .. } => {
            "run `obhut check --data DATA_DIR` on the source and restore the named blob from backup"
        }
        MigrateError::Verify(_) => {
            "run obhut migrate again: it copies what was removed and verifies again"
        }
        _ => "run obhut migrate again; it resumes where it stopped",
    };
    with_next_step(e, next)
}
