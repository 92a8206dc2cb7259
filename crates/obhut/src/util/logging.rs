//! The vault's and the witness's logs: JSON lines on stderr.

use super::Global;

/// JSON log lines on stderr (RUST_LOG filters; `-v` means debug).
pub fn init_logging(g: &Global) {
    use tracing_subscriber::EnvFilter;
    let default = if g.verbose > 0 { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .try_init();
}
