//! `obhut serve`: run the vault (docs/vault.md) on the embedded store.
//!
//! Settings, highest precedence first: flags, `OBHUT_*` environment
//! variables (`OBHUT_DATA`, `OBHUT_KEYS`, `OBHUT_LISTEN`,
//! `OBHUT_MAX_SEGMENT_BYTES`, `OBHUT_TLS_CERT`, `OBHUT_TLS_KEY`,
//! `OBHUT_CA_CERT`), the config file (`--config FILE`, else
//! `./obhut.toml` if present), defaults (`./obhut-data`, `./obhut-keys`,
//! `127.0.0.1:8700`, plain HTTP).

use std::path::PathBuf;

use anyhow::Context;
use obhut_server::config::{FileConfig, ServerConfig};
use obhut_server::embedded::{CloseIndex, Start, Vault, shutdown_signal};

use crate::util::Global;
use crate::util::hint::{fail, with_next_step};
use crate::util::logging::init_logging;
use crate::util::vault::{StoreArgs, load_config, merge_config, vault_error};

/// `obhut serve`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Run the vault: device enrolment, segment ingest, reader API",
    long_about = "Run the vault (docs/vault.md): devices enrol and upload sealed segments; \
readers list recordings and fetch records and ciphertext. The vault never holds a key \
that opens footage.\n\nSettings, highest precedence first: flags, OBHUT_* environment \
variables, the config file (--config FILE, else ./obhut.toml if present), defaults. Every \
key of obhut.toml has a flag (below, with its key) and a variable: OBHUT_ and the key in \
upper case (OBHUT_DATA, OBHUT_LISTEN, OBHUT_TLS_CERT, OBHUT_NET_MAX_CONNECTIONS, ...); \
maps and lists are ;-separated (OBHUT_RETENTION=\"cctv=72 hours;evidence=until released\", \
OBHUT_WITNESSES=\"URL VKEY;URL VKEY\"). --print-config prints the result, secrets \
redacted. Logs are JSON lines on stderr (RUST_LOG filters).\n\nTLS: with \
--tls-cert and --tls-key (tls_cert, tls_key in obhut.toml) the API is served over TLS \
(rustls: TLS 1.3 and 1.2). `kill -HUP` reloads both files without dropping the listener: \
new connections get the new certificate, open ones keep theirs, and a reload that fails \
keeps the old certificate and logs why. Without them the vault speaks plain HTTP, which is \
meant for loopback (or a TLS proxy in front); on any other address it warns. The \
operations listener (ops_listen) stays plain HTTP. --ca-cert (ca_cert, OBHUT_CA_CERT) adds \
a CA the vault's own client trusts when it calls https:// witnesses.\n\nBlobs (docs/vault.md §6.2): in the data directory, or in an \
S3-compatible bucket with blob_url = \"s3://bucket/prefix\" (OBHUT_BLOB_URL); endpoint, region \
and credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY \
(AWS_ALLOW_HTTP=true for plain HTTP) or an [s3] table in obhut.toml.\n\nA new vault is made once, with --init: it creates the data \
directory and the keystore (vault.key, log.key) and binds them to each other. Without --init \
the vault serves only the vault its directories hold, and refuses to start if the keystore \
is missing, empty or another vault's.\n\nRetention (docs/vault.md §9): each retention class \
has an epoch length (epoch_period_secs in obhut.toml, default one day) and a retention \
([retention] in obhut.toml, e.g. cctv = \"72 hours\", evidence = \"until released\"; \
OBHUT_RETENTION=\"cctv=72 hours;evidence=until released\"; unlisted classes are kept until \
released). Footage is sealed to the epoch of its capture time, and the sweeper (at start and \
every sweep_interval_secs, default 300) destroys an epoch's key once its end plus the class's \
retention has passed, then deletes its ciphertext. So footage captured at time t is \
unrecoverable by t + retention + epoch length + one sweep interval: the epoch length bounds \
how late deletion can be, and the vault never deletes before t + retention. Footage under a \
legal hold (obhut admin hold, k custodians' approvals) is kept instead, re-wrapped to the \
hold's key, until the hold is released; the next sweep after the release deletes it. Epoch wrapping \
keys live in a key holder outside the keystore: a file holder (epoch_holder_dir, default \
KEYS.epoch-holder; keep it out of the keystore's backups) or a PKCS#11 token (pkcs11_module, \
pkcs11_token, PIN in OBHUT_PKCS11_PIN). --sweep-once runs one sweep on a stopped vault and \
exits.\n\nErasure (docs/vault.md §9.2, GDPR Art. 17): --erase APPROVAL... erases one recording \
(or a window of it) on a stopped vault with the approvals of k custodians of its group \
(`obhut custody approve-erasure`): its epochs are split and their keys destroyed, what was \
derived from it is deleted and the models built on it are listed as tainted, and it prints \
until when a copy (a backup) could still open the footage, and why."
)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8700]; port 0 picks a free port
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Largest segment blob accepted, in bytes [default: 4 GiB]
    #[arg(long, value_name = "BYTES")]
    pub max_segment_bytes: Option<u64>,
    /// Serve TLS with this PEM certificate chain (the vault's certificate first);
    /// with --tls-key; reloaded on SIGHUP
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Create the vault (new keys) if --data and --keys hold none; on an existing vault
    /// this only starts it, and it never replaces a vault's keys
    #[arg(long)]
    pub init: bool,
    /// Run one sweep (destroy the keys of expired epochs, delete their footage, log each
    /// destruction with its receipt) and exit; the vault must not be running
    #[arg(long, conflicts_with = "init")]
    pub sweep_once: bool,
    /// Print the settings the vault would run with (every key, defaults filled in, secrets
    /// redacted) as TOML, and exit
    #[arg(long, conflicts_with_all = ["init", "sweep_once", "erase"])]
    pub print_config: bool,
    /// Erase a recording with these custodians' approvals (`obhut custody
    /// approve-erasure`, at least k, all for one erasure), print what went and until when a
    /// copy could open it, and exit; the vault must not be running
    #[arg(long, value_name = "APPROVAL", num_args = 1.., conflicts_with_all = ["init", "sweep_once"])]
    pub erase: Vec<PathBuf>,
    #[command(flatten)]
    pub settings: super::serve_settings::Settings,
}

/// Run `obhut serve`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let flags = a
        .settings
        .layer(FileConfig {
            listen: a.listen.clone(),
            max_segment_bytes: a.max_segment_bytes,
            tls_cert: a.tls_cert.clone(),
            tls_key: a.tls_key.clone(),
            ca_cert: g.ca_cert.clone(),
            ..FileConfig::default()
        })
        .map_err(|e| fail(e, "pass --epoch-period CLASS=SECONDS"))?;
    if a.print_config {
        let merged = merge_config(&a.store, flags)?;
        let pin_set = std::env::var_os("OBHUT_PKCS11_PIN").is_some();
        let text = obhut_server::config_print::print(merged, pin_set).map_err(|e| {
            with_next_step(e, "fix the setting (flag, OBHUT_* variable or config file)")
        })?;
        print!("{text}");
        return Ok(());
    }
    let config = load_config(&a.store, flags)?;
    // The config file's ca_cert too (the flag and OBHUT_CA_CERT were
    // taken at start): the witness client trusts it.
    if let Some(ca) = &config.ca_cert {
        crate::util::trust_ca_file(ca)?;
    }
    init_logging(g);
    let rt = obhut_server::embedded::runtime().context("starting the async runtime")?;
    let start = if a.init { Start::Init } else { Start::Existing };
    if a.sweep_once {
        return rt.block_on(sweep_once(config));
    }
    if !a.erase.is_empty() {
        return rt.block_on(super::erase::run(config, &a.erase));
    }
    rt.block_on(serve(config, start))
}

async fn sweep_once(mut config: ServerConfig) -> anyhow::Result<()> {
    // Its own port: the sweep serves nothing.
    config.listen = ([127, 0, 0, 1], 0).into();
    config.ops_listen = None;
    let r = match config.database_url.clone() {
        None => Vault::open(config, Start::Existing)
            .await
            .map_err(vault_error)?
            .sweep_once()
            .await
            .map_err(vault_error)?,
        Some(url) => Vault::open_postgres(config, url.expose(), Start::Existing)
            .await
            .map_err(vault_error)?
            .sweep_once()
            .await
            .map_err(vault_error)?,
    };
    println!(
        "swept {} expired epochs: {} keys destroyed, {} segments removed from the index, {} blobs deleted, {} held segments re-wrapped to their legal holds' keys and kept",
        r.epochs, r.keys_destroyed, r.segments, r.blobs, r.held
    );
    Ok(())
}

/// Serve on the index `database_url` names: PostgreSQL, or the embedded
/// SQLite index when unset.
async fn serve(config: ServerConfig, start: Start) -> anyhow::Result<()> {
    match config.database_url.clone() {
        None => serve_on(Vault::open(config, start).await.map_err(vault_error)?).await,
        Some(url) => {
            serve_on(
                Vault::open_postgres(config, url.expose(), start)
                    .await
                    .map_err(vault_error)?,
            )
            .await
        }
    }
}

async fn serve_on<I: CloseIndex>(vault: Vault<I>) -> anyhow::Result<()> {
    let scheme = if vault.is_tls() { "https" } else { "http" };
    println!("obhut vault listening on {scheme}://{}", vault.addr());
    if let Some(ops) = vault.ops_addr() {
        println!("operations (metrics, health) on http://{ops}");
    }
    vault.run(shutdown_signal()).await.map_err(vault_error)
}
