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
is missing, empty or another vault's."
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
    rt.block_on(serve(config, start))
}

async fn serve(config: ServerConfig, start: Start) -> anyhow::Result<()> {
    let vault = Vault::open(config, start).await.map_err(vault_error)?;
    println!("obhut vault listening on http://{}", vault.addr());
    if let Some(ops) = vault.ops_addr() {
        println!("operations (metrics, health) on http://{ops}");
    }
    vault.run(shutdown_signal()).await.map_err(vault_error)
}
