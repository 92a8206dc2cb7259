//! `obhut`: one binary, a subcommand per role (vault, device, custodian,
//! requester, auditor, witness), over the library crates.
//!
//! The binary is glue: every subcommand is a module under [`cmd`] with its
//! own clap `Args` and a `run` function; the cryptography and formats live in
//! `obhut-core` (docs/format.md). Errors are printed with the next step a
//! person can take (which flag, which file).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod util;

use util::Global;

const ABOUT: &str = "End-to-end encrypted custody for camera footage";

const LONG_ABOUT: &str = "\
End-to-end encrypted custody for camera footage.

A device seals footage into segments nobody can open alone: each segment key
needs a part only k of n custodians can recover together (threshold
decryption) and a part only the vault's retention-epoch key can unwrap.
This tool runs every role from a shell. Opening footage always goes through
a vault's audit log: the request and k approvals are logged before any key
part is released, and there is no offline path around it.

  the whole path, zero setup      obhut demo
  person, device, epoch keys      obhut keygen person|device|epoch
  rename your person/device key   obhut name set --key KEY --name NAME
  custody group (k of n)          obhut custody init, custody sign, custody show
  requester: ask for access       obhut request --vault URL
  custodian: review requests      obhut pending, obhut approve, obhut deny
  requester: open the footage     obhut open
  device: seal to files, offline  obhut seal
  anyone: check a recording       obhut verify
  device: enrol with a vault      obhut enrol
  device: upload footage          obhut ingest, obhut agent --watch DIR
  vault: run the server           obhut serve, obhut admin
  vault: check its stored data    obhut check
  DPO: witness the audit log      obhut witness init, serve, show
  auditor: check the log          obhut audit verify, obhut audit log
  DPO: what was derived from what obhut lineage ID [--format dot]

Passphrases for key files are read from --passphrase-file FILE, else the
environment variable OBHUT_PASSPHRASE (with a warning: other processes can
read it), else asked for on the terminal (without echo). They are never
printed or logged. A new key file needs a strong passphrase (10^14
guesses or more by the zxcvbn estimate; e.g. five random words).

Run `obhut <command> --help` for each step; README.md has a complete
walk-through (\"Quick start (offline)\", then \"With a vault\").";

/// Command line of `obhut`.
#[derive(Debug, Parser)]
#[command(
    name = "obhut",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    propagate_version = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(cmd::demo::Args),
    Keygen(cmd::keygen::Args),
    Name(cmd::name::Args),
    Custody(cmd::custody::Args),
    Seal(cmd::seal::Args),
    Request(cmd::request::Args),
    Verify(cmd::verify::Args),
    Enrol(cmd::enrol::Args),
    Ingest(cmd::ingest::Args),
    Agent(cmd::agent::WatchArgs),
    // Boxed: its settings make it many times larger than the others.
    Serve(Box<cmd::serve::Args>),
    Admin(cmd::admin::Args),
    Check(cmd::check::Args),
    Migrate(cmd::migrate::Args),
    Backup(cmd::backup::Args),
    Witness(cmd::witness::Args),
    Audit(cmd::audit::Args),
    Pending(cmd::pending::Args),
    Approve(cmd::approve::Args),
    Deny(cmd::deny::Args),
    Open(cmd::open::Args),
    Lineage(cmd::lineage::Args),
    Export(cmd::export::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors to
            // stderr with status 2 (clap's conventions).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let g = &cli.global;
    if let Err(e) = g.trust_ca() {
        util::hint::report(&e, g.verbose > 0);
        return ExitCode::FAILURE;
    }
    let result = match &cli.command {
        Command::Demo(a) => cmd::demo::run(g, a),
        Command::Keygen(a) => cmd::keygen::run(g, a),
        Command::Name(a) => cmd::name::run(g, a),
        Command::Custody(a) => cmd::custody::run(g, a),
        Command::Seal(a) => cmd::seal::run(g, a),
        Command::Request(a) => cmd::request::run(g, a),
        Command::Verify(a) => cmd::verify::run(g, a),
        Command::Enrol(a) => cmd::enrol::run(g, a),
        Command::Ingest(a) => cmd::ingest::run(g, a),
        Command::Agent(a) => cmd::agent::run(g, a),
        Command::Serve(a) => cmd::serve::run(g, a),
        Command::Admin(a) => cmd::admin::run(g, a),
        Command::Check(a) => cmd::check::run(g, a),
        Command::Migrate(a) => cmd::migrate::run(g, a),
        Command::Backup(a) => cmd::backup::run(g, a),
        Command::Witness(a) => cmd::witness::run(g, a),
        Command::Audit(a) => cmd::audit::run(g, a),
        Command::Pending(a) => cmd::pending::run(g, a),
        Command::Approve(a) => cmd::approve::run(g, a),
        Command::Deny(a) => cmd::deny::run(g, a),
        Command::Open(a) => cmd::open::run(g, a),
        Command::Lineage(a) => cmd::lineage::run(g, a),
        Command::Export(a) => cmd::export::run(g, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            util::hint::report(&e, g.verbose > 0);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
