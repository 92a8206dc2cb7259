//! `obhut serve`: run the vault (docs/vault.md) on the embedded store.
//!
//! Settings, highest precedence first: flags, `OBHUT_*` environment
//! variables (`OBHUT_DATA`, `OBHUT_KEYS`, `OBHUT_LISTEN`,
//! `OBHUT_MAX_SEGMENT_BYTES`), the config file (`--config FILE`, else
//! `./obhut.toml` if present), defaults (`./obhut-data`, `./obhut-keys`,
//! `127.0.0.1:8700`).

use anyhow::Context;
use obhut_server::config::{FileConfig, ServerConfig};
use obhut_server::embedded::{Start, Vault, shutdown_signal};

use crate::util::Global;
use crate::util::logging::init_logging;
use crate::util::vault::{StoreArgs, load_config, vault_error};

/// `obhut serve`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Run the vault: device enrolment, segment ingest, reader API",
    long_about = "Run the vault (docs/vault.md): devices enrol and upload sealed segments; \
readers list recordings and fetch records and ciphertext. The vault never holds a key \
that opens footage.\n\nSettings, highest precedence first: flags, OBHUT_* environment \
variables (OBHUT_DATA, OBHUT_KEYS, OBHUT_LISTEN, OBHUT_MAX_SEGMENT_BYTES), the config \
file (--config FILE, else ./obhut.toml if present), defaults. Logs are JSON lines on \
stderr (RUST_LOG filters).\n\nA new vault is made once, with --init: it creates the data \
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
exits."
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
    /// Create the vault (new keys) if --data and --keys hold none; on an existing vault
    /// this only starts it, and it never replaces a vault's keys
    #[arg(long)]
    pub init: bool,
    /// Run one sweep (destroy the keys of expired epochs, delete their footage, log each
    /// destruction with its receipt) and exit; the vault must not be running
    #[arg(long, conflicts_with = "init")]
    pub sweep_once: bool,
}

/// Run `obhut serve`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let config = load_config(
        &a.store,
        FileConfig {
            listen: a.listen.clone(),
            max_segment_bytes: a.max_segment_bytes,
            ..FileConfig::default()
        },
    )?;
    init_logging(g);
    let rt = obhut_server::embedded::runtime().context("starting the async runtime")?;
    let start = if a.init { Start::Init } else { Start::Existing };
    if a.sweep_once {
        return rt.block_on(sweep_once(config));
    }
    rt.block_on(serve(config, start))
}

async fn sweep_once(mut config: ServerConfig) -> anyhow::Result<()> {
    // Its own port: the sweep serves nothing.
    config.listen = ([127, 0, 0, 1], 0).into();
    config.ops_listen = None;
    let vault = Vault::open(config, Start::Existing)
        .await
        .map_err(vault_error)?;
    let r = vault.sweep_once().await.map_err(vault_error)?;
    println!(
        "swept {} expired epochs: {} keys destroyed, {} segments removed from the index, {} blobs deleted, {} held segments re-wrapped to their legal holds' keys and kept",
        r.epochs, r.keys_destroyed, r.segments, r.blobs, r.held
    );
    Ok(())
}

async fn serve(config: ServerConfig, start: Start) -> anyhow::Result<()> {
    let vault = Vault::open(config, start).await.map_err(vault_error)?;
    println!("obhut vault listening on http://{}", vault.addr());
    if let Some(ops) = vault.ops_addr() {
        println!("operations (metrics, health) on http://{ops}");
    }
    vault.run(shutdown_signal()).await.map_err(vault_error)
}
