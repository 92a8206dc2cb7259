//! `obhut serve`: run the vault (docs/vault.md) on the embedded store.
//!
//! Settings, highest precedence first: flags, `OBHUT_*` environment
//! variables (`OBHUT_DATA`, `OBHUT_KEYS`, `OBHUT_LISTEN`,
//! `OBHUT_MAX_SEGMENT_BYTES`), the config file (`--config FILE`, else
//! `./obhut.toml` if present), defaults (`./obhut-data`, `./obhut-keys`,
//! `127.0.0.1:8700`).

use anyhow::Context;
use obhut_server::config::{FileConfig, ServerConfig};

use crate::util::Global;
use crate::util::logging::init_logging;
use crate::util::vault::{StoreArgs, Vault, load_config, shutdown_signal};

/// `obhut serve`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Run the vault: device enrolment, segment ingest, reader API",
    long_about = "Run the vault (docs/vault.md): devices enrol and upload sealed segments; \
readers list recordings and fetch records and ciphertext. The vault never holds a key \
that opens footage.\n\nSettings, highest precedence first: flags, OBHUT_* environment \
variables (OBHUT_DATA, OBHUT_KEYS, OBHUT_LISTEN, OBHUT_MAX_SEGMENT_BYTES), the config \
file (--config FILE, else ./obhut.toml if present), defaults. Logs are JSON lines on \
stderr (RUST_LOG filters)."
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
}

/// Threads of tokio's blocking pool (default 512). The vault's blocking
/// work is file I/O, and a few dozen concurrent fsyncs gain all there is to
/// gain: with 1,000 uploads arriving at once the default pool grew to 220
/// threads; with 64 the server ran 71 threads at the same throughput and
/// RSS. History: BENCHMARKS.md, "Tuning decisions".
const MAX_BLOCKING_THREADS: usize = 64;

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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(config))
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let vault = Vault::open(config).await?;
    println!("obhut vault listening on http://{}", vault.addr());
    vault.run(shutdown_signal()).await
}
