//! `obhut witness`: create, run and inspect a C2SP tlog-witness for the
//! vault's audit log (docs/log.md, "Witness protocol"). Glue over the
//! `obhut-witness` crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use obhut_witness::{
    ConfigError, KeyError, ServeError, Server, StateError, SystemClock, Witness, WitnessConfig,
    WitnessState, key,
};

use crate::util::hint::{HintExt, fail, with_hint, with_next_step};
use crate::util::{Global, printable};

/// Run a witness that cosigns the vault's audit-log checkpoints.
#[derive(Debug, clap::Args)]
#[command(
    about = "Witness the vault's audit log: cosign only checkpoints that extend what was cosigned before",
    long_about = "\
Run a transparency-log witness for a vault's audit log (C2SP tlog-witness).

Every access to footage is an entry in the vault's append-only log, and the
vault signs checkpoints (size and root hash) of it. A vault that wanted to
hide an access could show one custodian a log with the entry and another a
log without it, or rewrite the log later. A witness stops that: it keeps,
per log, the latest checkpoint it cosigned, and cosigns a new one only with
a proof that it extends that one. Custodians and requesters accept a
checkpoint only with enough witness cosignatures, so two histories would
need the witnesses to sign both.

Who runs it: someone the vault's operator does not control, such as the
data-protection officer, an oversight body or an outside auditor, on their
own machine. It holds no footage and no key that opens any; it needs only
the log's public key (vkey) and its own cosigning key.

Example:
  obhut witness init --dir /var/lib/obhut-witness --name dpo.polizei.example/witness
      (prints the witness vkey: give it to the vault operator and to
       every custodian, who pin it)
  # witness.toml, with the log's origin and vkey from the vault operator:
  #   [[log]]
  #   origin = \"obhut.example/vault-3f2a9c\"
  #   vkey = \"obhut.example/vault-3f2a9c+1a2b3c4d+AQ...\"
  obhut witness serve --dir /var/lib/obhut-witness --config witness.toml \\
      --listen 0.0.0.0:8701
  obhut witness show --dir /var/lib/obhut-witness

The directory holds witness.key (the Ed25519 seed, 0600; back it up, and
never run two witnesses from copies of one directory), witness.name, and
state/, one file per log with the latest cosigned checkpoint."
)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    Init(InitArgs),
    Serve(ServeArgs),
    Show(ShowArgs),
}

/// Create the witness key and print its vkey.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Create a witness directory with a new Ed25519 cosigning key (DIR/witness.key,
mode 0600) and its name, and print the witness vkey. Clients pin the vkey, so
the key is never replaced: init refuses a directory that has one.

The name identifies the witness in signature lines; use a URL-like name
under a domain you control, without a scheme.

Example:
  obhut witness init --dir /var/lib/obhut-witness --name dpo.polizei.example/witness")]
struct InitArgs {
    /// Witness directory (created 0700 if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Cosigner name, e.g. dpo.example/witness (no spaces, no '+').
    #[arg(long, value_name = "NAME")]
    name: String,
}

/// Serve POST /add-checkpoint until SIGINT or SIGTERM.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Serve the C2SP tlog-witness API until SIGINT or SIGTERM:

  POST /add-checkpoint   body: old <size>, consistency proof lines, empty
                         line, signed checkpoint; 200 with the cosignature,
                         409 (body: our latest size) if the old size is not
                         ours, 422 if the proof fails, 403 if the log's
                         signature does not verify, 404 for an unknown log
  GET  /healthz          200, or 503 after a failed write of the state

A new checkpoint is on disk (fsync'd) before its cosignature is sent, and
checking the old size and storing the new checkpoint is one atomic step.
Only one process may serve a directory (DIR/lock).

--config lists the logs followed, one [[log]] table each:

  [[log]]
  origin = \"obhut.example/vault-3f2a9c\"
  vkey = \"obhut.example/vault-3f2a9c+1a2b3c4d+AQ...\"   # or a list of vkeys

It speaks plain HTTP. Cosignatures are signed, so clients lose nothing by
that; put a TLS proxy in front to hide who talks to the witness. Logs are
JSON lines on stderr (RUST_LOG filters).

Example:
  obhut witness serve --dir /var/lib/obhut-witness --config witness.toml --listen 0.0.0.0:8701")]
struct ServeArgs {
    /// Witness directory (from `obhut witness init`).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The logs to follow (TOML, [[log]] origin and vkey).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8701")]
    listen: String,
}

/// Print the witness vkey and the latest cosigned size per log.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Print the witness name and vkey, then one line per log it has cosigned:
origin, size and root hash of the latest cosigned checkpoint. Safe while the
witness serves.

Example:
  obhut witness show --dir /var/lib/obhut-witness")]
struct ShowArgs {
    /// Witness directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

/// Run `obhut witness`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    match &a.action {
        Action::Init(a) => init(g, a),
        Action::Serve(a) => serve(g, a),
        Action::Show(a) => show(a),
    }
}

fn key_hint(e: KeyError, dir: &Path) -> anyhow::Error {
    let next = match &e {
        KeyError::Missing { .. } => format!(
            "create a key first: obhut witness init --dir {} --name NAME",
            dir.display()
        ),
        KeyError::Exists { .. } => {
            "a witness key is never replaced (clients pin it); use another --dir, or `obhut witness show` to print its vkey".to_owned()
        }
        KeyError::Permissions { path, .. } => format!("chmod 600 {}", path.display()),
        KeyError::InvalidName { .. } => {
            "pass --name like dpo.example/witness (no spaces, no '+')".to_owned()
        }
        _ => format!("check --dir {}", dir.display()),
    };
    with_hint(e, "witness key", next)
}

fn init(g: &Global, a: &InitArgs) -> anyhow::Result<()> {
    let signer = key::init(&a.dir, &a.name).map_err(|e| key_hint(e, &a.dir))?;
    g.note(format!(
        "witness key created in {}; its vkey (give it to the vault operator and every custodian):",
        a.dir.display()
    ));
    println!("{}", signer.verifier_key());
    g.note(format!(
        "next: write a config with the logs to follow and run obhut witness serve --dir {} --config FILE",
        a.dir.display()
    ));
    Ok(())
}

fn serve(g: &Global, a: &ServeArgs) -> anyhow::Result<()> {
    let config = WitnessConfig::from_file(&a.config).map_err(|e| match e {
        // Already names the file.
        ConfigError::Read { .. } => with_next_step(e, "pass the config file with --config FILE"),
        _ => with_hint(
            e,
            format!("config {}", a.config.display()),
            "fix the file: one [[log]] table per log, with origin and vkey",
        ),
    })?;
    let signer = key::load(&a.dir).map_err(|e| key_hint(e, &a.dir))?;
    let listen: std::net::SocketAddr = a.listen.parse().map_err(|_| {
        fail(
            format!("--listen {:?} is not an address", a.listen),
            "pass IP:PORT, e.g. 127.0.0.1:8701",
        )
    })?;
    // JSON lines on stderr, like the vault's.
    crate::util::logging::init_logging(g);
    let witness = Witness::open(&a.dir, config, signer, Box::new(SystemClock)).map_err(|e| {
        let next = match &e {
            StateError::Locked { .. } => {
                "another obhut witness serve uses this directory; stop it first".to_owned()
            }
            StateError::Corrupt { .. } => {
                "restore the file from a backup; deleting it would let the log roll back".to_owned()
            }
            _ => format!("check --dir {}", a.dir.display()),
        };
        with_hint(e, "opening the witness state", next)
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let server = Server::bind(Arc::new(witness), listen)
            .await
            .map_err(|e| match e {
                ServeError::Bind { .. } => {
                    with_next_step(e, "pass another --listen ADDR (port 0 picks a free one)")
                }
                e => e.into(),
            })?;
        println!("obhut witness listening on http://{}", server.addr());
        Ok(server
            .run(obhut_server::embedded::shutdown_signal())
            .await?)
    })
}

fn show(a: &ShowArgs) -> anyhow::Result<()> {
    let signer = key::load(&a.dir).map_err(|e| key_hint(e, &a.dir))?;
    let snap = WitnessState::read(&a.dir).hint(
        "reading the witness state",
        "restore a corrupt file from a backup; deleting it would let the log roll back",
    )?;
    println!("name  {}", signer.verifier_key().name());
    println!("vkey  {}", signer.verifier_key());
    if snap.latest.is_empty() {
        println!("no checkpoint cosigned yet");
    }
    for (origin, latest) in &snap.latest {
        println!(
            "log   {}  size {}  root {}",
            printable(origin),
            latest.size,
            latest.root.to_base64()
        );
    }
    Ok(())
}
