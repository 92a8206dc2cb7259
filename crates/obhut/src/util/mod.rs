//! Helpers shared by the subcommands: global flags, passphrases, files,
//! key files, times, recordings on disk, progress bars, error hints (also
//! for the client's errors), the log flags, request helpers, the embedded
//! vault, logging, and the device agent's state and errors.

use std::path::PathBuf;

pub mod agent;
pub mod entry;
pub mod files;
pub mod hint;
pub mod keyfiles;
pub mod keys;
pub mod load;
pub mod logclient;
pub mod logging;
pub mod open;
pub mod passphrase;
pub mod progress;
pub mod recording;
pub mod request;
pub mod stored_names;
pub use obhut_client::time;
pub mod vault;

/// Flags accepted by every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// More detail on stderr (per-segment lines, error causes). Repeat for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,

    /// Print only results (ids, fingerprints) and errors; no notes or progress bars.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    pub quiet: bool,

    /// Read the key file's passphrase from FILE (first line; a trailing
    /// newline is ignored) instead of OBHUT_PASSPHRASE or a prompt.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub passphrase_file: Option<PathBuf>,

    /// Overwrite output files that already exist (by default they are refused).
    #[arg(long, global = true, help_heading = "Global options")]
    pub force: bool,

    /// Trust the CA certificates in FILE (PEM) for https:// vaults and
    /// witnesses, besides the system store and Mozilla's roots; else
    /// OBHUT_CA_CERT.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub ca_cert: Option<PathBuf>,
}

impl Global {
    /// The operator's CA file: `--ca-cert`, else `OBHUT_CA_CERT`.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.ca_cert
            .clone()
            .or_else(|| std::env::var_os("OBHUT_CA_CERT").map(PathBuf::from))
    }

    /// Make every HTTP client of this process trust [`Global::ca_cert`].
    pub fn trust_ca(&self) -> anyhow::Result<()> {
        if let Some(path) = self.ca_cert() {
            trust_ca_file(&path)?;
        }
        Ok(())
    }
    /// Print a note to stderr unless `--quiet`.
    pub fn note(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
    /// Print a detail line to stderr with `-v`.
    pub fn detail(&self, msg: impl std::fmt::Display) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{msg}");
        }
    }
}

pub use obhut_client::show::printable;

/// Trust the CA certificates in `path` (every HTTP client of the process).
pub fn trust_ca_file(path: &std::path::Path) -> anyhow::Result<()> {
    obhut_http::trust_ca_file(path).map_err(|e| {
        hint::with_next_step(
            e,
            "pass --ca-cert (or OBHUT_CA_CERT) the PEM file of the CA that signed the vault's certificate",
        )
    })?;
    Ok(())
}
