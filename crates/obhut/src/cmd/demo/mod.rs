//! `obhut demo`: the custody path end to end on one machine, with zero
//! configuration — custodians and a 2-of-3 custody group, a vault on the
//! embedded store (in this process, the code path of `obhut serve`), a
//! device enrolled with a token, a sample clip sealed and ingested, a look
//! at what the vault holds, then the access workflow: a logged request for
//! 10 seconds, two custodians' approvals, the open, and the records.
//!
//! Every step calls the functions the other subcommands call (keygen,
//! custody init/sign, serve, admin, enrol, ingest, request --vault,
//! approve, open, audit log); nothing runs the binary. The steps are
//! methods of [`Demo`], each taking what earlier steps produced.

mod access;
mod footage;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use obhut_agent::ingest::{Agent, IngestOptions};
use obhut_agent::state::StateDir;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::{DeviceSecret, PersonSecret, PublicIdentity};
use obhut_core::ids::{Fingerprint, RecordingId};
use obhut_core::locked::{Content, KdfParams};
use obhut_core::rng::os_rng;
use obhut_core::secret::SecretBytes;
use obhut_core::vault::descriptor_fingerprint;
use obhut_log::WitnessPolicy;
use obhut_server::admin;
use obhut_server::config::{FileConfig, ServerConfig};
use obhut_server::embedded::{EmbeddedApp, Start, Vault, shutdown_signal};
use obhut_store::scan::{self, Needles};
use zeroize::Zeroizing;

use crate::cmd::custody;
use crate::util::agent::{agent_error, enrol_error, ingest_file};
use crate::util::files::{self, Mode};
use crate::util::hint::{HintExt, fail, with_hint};
use crate::util::keyfiles::{Lock, write_key_files};
use crate::util::vault::vault_error;
use crate::util::{Global, entry, load, open, request, time};
use obhut_client::access::AccessClient;
use obhut_client::approve::{Delivery, Share, Unsent};
use obhut_client::log::{LogClient, StateFile};
use obhut_client::reader::{self, Reader};

/// Run the whole custody path on this machine, in under a minute.
#[derive(Debug, clap::Args)]
#[command(
    about = "Show the whole custody path on this machine: custodians, vault, device, sealed ingest, request, approvals, open, records",
    long_about = "\
Show Obhut end to end on this machine, with no configuration, in under a
minute, printing each step in plain words:

  1. three custodians get identities, and a 2-of-3 custody group is dealt
     and signed by them (obhut keygen, obhut custody init|sign); the group
     fingerprint is printed;
  2. a vault starts in this process on 127.0.0.1 (a free port), on the
     embedded store: SQLite index and blob directory (obhut serve);
  3. a camera key is made, the admin makes a one-time enrolment token
     (obhut admin enrol-token) and the device enrols, pinning the group by
     its fingerprint (obhut enrol);
  4. a 30-second sample clip is made with ffmpeg (H.264, a keyframe every
     second) with a sidecar (officer, GPS track, tags); without ffmpeg a
     synthetic file is used instead;
  5. the clip is cut at keyframes, sealed segment by segment and uploaded,
     and every receipt verified (obhut ingest);
  6. what the vault holds is shown: the recording listing as the reader
     API returns it, and a scan of every file under its data and keys
     directories for any 64-byte window of the clip and any sidecar value;
  7. a requester signs a request for 10 seconds of the recording (purpose,
     justification, legal basis, case, recipients) and the vault logs it
     (obhut request --vault);
  8. two of the three custodians each check the request is in the audit
     log, resolve the scope from the device-signed records, log their
     approval and send a proved partial sealed to the requester
     (obhut approve);
  9. the requester has the vault release its epoch part (logged), combines
     the partials and decrypts the scope: byte-identical to the camera's
     file, with every segment outside it still sealed (obhut open);
 10. the data-protection officer reads the recording's chain of custody,
     each entry proved included in the signed log (obhut audit log).

Custodians' and the camera's key files are locked with random demo
passphrases stored beside them (NAME.pass), so the other commands can be
tried on them; real custodians choose their own.

The working directory is a fresh temporary one, removed at the end, unless
--dir DIR names one (new or empty; kept). With --keep the vault keeps
running until Ctrl-C and the directory is kept.

Examples:
  obhut demo
  obhut demo --dir /tmp/obhut-demo --keep
  cargo run --release -- demo"
)]
pub struct Args {
    /// Working directory for keys, the vault's data and the clip; created if
    /// missing, refused if not empty, kept afterwards [default: a fresh
    /// temporary directory, removed at the end].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Leave the vault running (print its URL) until Ctrl-C, and keep the
    /// working directory.
    #[arg(long)]
    keep: bool,
    /// Seal a synthetic file instead of making an MP4 with ffmpeg.
    #[arg(long)]
    synthetic_clip: bool,
}

/// The custodians (their order gives the indices 1..n).
const CUSTODIANS: [&str; 3] = ["alice", "bob", "carol"];
/// k.
const THRESHOLD: u16 = 2;
/// The custody group's name.
const GROUP_NAME: &str = "demo-evidence";
/// The camera's name.
const DEVICE_NAME: &str = "bodycam-0042";
/// The retention class of the device's footage.
const CLASS: &str = "bodycam-30d";
/// Length of the sample clip.
const CLIP_SECONDS: u32 = 30;
/// Size of the synthetic clip (without ffmpeg).
const SYNTHETIC_BYTES: usize = 3 << 20;
/// Argon2id cost of the demo's key files: the core's default (64 MiB,
/// 3 passes), as `obhut keygen` uses.
const KDF: KdfParams = KdfParams::DEFAULT;

/// Run `obhut demo`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let work = Workdir::prepare(a.dir.as_deref())?;
    let demo = Demo::new(g, work.path.clone())?;
    let result = demo.run(a);
    match result {
        Ok(vault) if a.keep => {
            let path = work.keep();
            demo.keep_running(vault)?;
            demo.say(format!("The working directory {} stays.", path.display()));
            Ok(())
        }
        Ok(vault) => {
            demo.stop_vault(vault)?;
            if work.temp.is_some() {
                let path = work.path.clone();
                work.remove()?;
                demo.say(format!("Removed the working directory {}.", path.display()));
            } else {
                demo.say(format!(
                    "The working directory {} stays.",
                    work.path.display()
                ));
            }
            demo.say(format!(
                "Done in {:.1} s.",
                demo.started.elapsed().as_secs_f64()
            ));
            Ok(())
        }
        Err(e) => {
            let path = work.keep();
            Err(with_hint(
                e,
                "the demo stopped",
                format!(
                    "its working directory {} is left for inspection (remove it when done); run again with -v for details",
                    path.display()
                ),
            ))
        }
    }
}

/// The working directory: chosen (kept) or temporary (removed at the end).
struct Workdir {
    path: PathBuf,
    temp: Option<tempfile::TempDir>,
}

impl Workdir {
    fn prepare(dir: Option<&Path>) -> anyhow::Result<Self> {
        let Some(dir) = dir else {
            let temp = tempfile::Builder::new()
                .prefix("obhut-demo-")
                .tempdir()
                .hint(
                    "cannot create a temporary directory",
                    "set TMPDIR to a writable directory, or pass --dir DIR",
                )?;
            let path = std::path::absolute(temp.path()).context("resolving the temporary path")?;
            return Ok(Workdir {
                path,
                temp: Some(temp),
            });
        };
        let next = "pass a new or empty directory as --dir, or leave --dir out to use a fresh temporary one";
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(fail(
                        format!(
                            "{} (given as --dir) is not empty; the demo writes keys and a vault there and will not mix them with other files",
                            dir.display()
                        ),
                        next,
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).hint(
                    format!("cannot create {} (given as --dir)", dir.display()),
                    next,
                )?;
            }
            Err(e) => {
                return Err(with_hint(
                    e,
                    format!(
                        "{} (given as --dir) is not a usable directory",
                        dir.display()
                    ),
                    next,
                ));
            }
        }
        let path = std::path::absolute(dir)
            .with_context(|| format!("resolving {} (given as --dir)", dir.display()))?;
        Ok(Workdir { path, temp: None })
    }

    /// Keep the directory (also a temporary one) and return its path.
    fn keep(self) -> PathBuf {
        if let Some(t) = self.temp {
            let _ = t.keep();
        }
        self.path
    }

    /// Remove a temporary directory (a chosen one stays).
    fn remove(self) -> anyhow::Result<()> {
        if let Some(t) = self.temp {
            let path = t.path().to_owned();
            t.close().hint(
                format!("cannot remove {}", path.display()),
                "remove it by hand",
            )?;
        }
        Ok(())
    }
}

/// The demo's shared state: output settings, the directory, the runtime
/// the vault runs on.
struct Demo<'g> {
    g: &'g Global,
    dir: PathBuf,
    rt: tokio::runtime::Runtime,
    started: Instant,
}

/// A custodian: name, identity, locked key file.
struct Custodian {
    name: &'static str,
    secret: PersonSecret,
    key: PathBuf,
}

/// Step 1's result.
struct Custody {
    custodians: Vec<Custodian>,
    group: PinnedGroup,
    group_path: PathBuf,
    shares: Vec<PathBuf>,
    fingerprint: Fingerprint,
}

/// Step 2's result: the vault serving on a runtime worker.
struct RunningVault {
    url: String,
    data: PathBuf,
    keys: PathBuf,
    app: Arc<EmbeddedApp>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Step 3's result.
struct Device {
    secret: DeviceSecret,
    pass: PathBuf,
    state: StateDir,
}

/// Step 4's result.
struct Clip {
    media: PathBuf,
    sidecar: PathBuf,
    /// Sidecar values to look for in the vault: (label, bytes).
    strings: Vec<(String, Vec<u8>)>,
    /// Random bytes instead of an MP4 (no ffmpeg).
    synthetic: bool,
}

/// Step 5's result.
struct Ingested {
    recording: RecordingId,
    /// Record hashes the vault signed receipts for, by index.
    receipted: Vec<[u8; 32]>,
}

impl Clip {
    /// Bytes taken into custody: the clip and its sidecar.
    fn plaintext_len(&self) -> u64 {
        [&self.media, &self.sidecar]
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

/// Write a random demo passphrase (never printed) to `path` (0600) and
/// return it.
fn write_passphrase(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let mut b = Zeroizing::new([0u8; 24]);
    getrandom::fill(&mut *b).map_err(|e| anyhow::anyhow!("OS randomness: {e}"))?;
    let pass = Zeroizing::new(hex::encode(*b));
    let mut line = Zeroizing::new(pass.as_bytes().to_vec());
    line.push(b'\n');
    files::write(
        path,
        &line,
        "the demo passphrase file",
        false,
        Mode::Private,
    )?;
    Ok(pass)
}

/// Write a key file and its public half as `obhut keygen` does, locked
/// under a fresh demo passphrase stored beside it (`NAME.pass`); returns
/// the public file's path.
fn write_demo_key(
    key: &Path,
    content: Content,
    secret: &SecretBytes,
    public: &[u8],
) -> anyhow::Result<PathBuf> {
    let pass = write_passphrase(&key.with_extension("pass"))?;
    write_key_files(
        key,
        "the demo's key file",
        false,
        content,
        secret,
        public,
        Lock {
            passphrase: pass.as_bytes(),
            params: KDF,
        },
    )
}

fn mkdir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).hint(
        format!("cannot create {}", path.display()),
        "check that the working directory is writable",
    )
}

fn short(s: &str) -> &str {
    s.get(..16).unwrap_or(s)
}

impl<'g> Demo<'g> {
    fn new(g: &'g Global, dir: PathBuf) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime for the vault")?;
        Ok(Demo {
            g,
            dir,
            rt,
            started: Instant::now(),
        })
    }

    /// A line of the story (stdout; not with --quiet).
    fn say(&self, line: impl std::fmt::Display) {
        if !self.g.quiet {
            println!("{line}");
        }
    }

    /// A result line (stdout, also with --quiet).
    fn result(&self, line: impl std::fmt::Display) {
        println!("{line}");
    }

    fn heading(&self, n: u32, title: &str) {
        self.say(format!("\n{n}. {title}"));
    }

    /// `path` relative to the working directory, for shorter lines.
    fn rel<'p>(&self, path: &'p Path) -> std::borrow::Cow<'p, str> {
        match path.strip_prefix(&self.dir) {
            Ok(p) => p.to_string_lossy(),
            Err(_) => path.to_string_lossy(),
        }
    }

    /// Steps 1 to 7; on success the vault is still running.
    fn run(&self, a: &Args) -> anyhow::Result<RunningVault> {
        self.say("Obhut demo: footage sealed on the camera, stored by a vault that holds only ciphertext.");
        self.say(format!("Working directory: {}", self.dir.display()));
        let custody = self.create_custody()?;
        let vault = self.start_vault()?;
        let device = self.enrol_device(&custody, &vault)?;
        let clip = self.sample_clip(a.synthetic_clip)?;
        let ingested = self.ingest(&device, &clip)?;
        self.show_vault(&custody, &vault, &device, &clip, &ingested)?;
        self.access(&custody, &vault, &clip, &ingested)?;
        self.summary(&custody, &vault, &device, a);
        Ok(vault)
    }

    /// Step 11: what happened, and what comes next.
    fn summary(&self, custody: &Custody, vault: &RunningVault, device: &Device, a: &Args) {
        self.heading(11, "What just happened");
        self.say(
            "   The camera sealed every segment before it left: each segment key needs a part only 2 of
   the 3 custodians can recover together and a part only the vault's retention-epoch key
   unwraps. The vault cannot open the footage, the camera no longer can, and no custodian
   can alone. The camera pinned the custody group by its fingerprint and the custodians'
   signatures, so a vault offering another group key would have been refused. The vault
   checked every signature, chain link, capsule proof and hash before storing, and signed a
   receipt per segment; it holds ciphertext, signed records and a minimal index.
   Opening took a request that is on record with its purpose, legal basis and case, 2 of 3
   custodians who each checked it is logged before approving, and a vault release that is
   logged too; the keys opened the 10 seconds asked for and nothing else.",
        );
        let kept = a.keep || a.dir.is_some();
        let d = self.dir.display();
        if kept {
            self.say(format!(
                "   Try, in another shell:
     obhut custody show --group {}
     obhut ingest --state {} --passphrase-file {} OTHER.mp4",
                custody.group_path.display(),
                device.state.root().display(),
                device.pass.display()
            ));
            if !a.keep {
                self.say(format!(
                    "     obhut serve --data {} --keys {}   (the vault again)",
                    vault.data.display(),
                    vault.keys.display()
                ));
            }
        } else {
            self.say(format!(
                "   To keep the keys, the vault and the clip and try the other commands on them, run
   `obhut demo --dir DIR` or `obhut demo --keep`; {d} is removed now."
            ));
        }
    }

    /// Stop the vault and wait for it.
    fn stop_vault(&self, vault: RunningVault) -> anyhow::Result<()> {
        let _ = vault.shutdown.send(());
        self.rt
            .block_on(vault.task)
            .context("the vault's task failed")??;
        self.say("\nVault stopped.");
        Ok(())
    }

    /// `--keep`: serve until Ctrl-C or SIGTERM, then stop.
    fn keep_running(&self, vault: RunningVault) -> anyhow::Result<()> {
        self.say(format!(
            "\nThe vault keeps running; the working directory {} stays.",
            self.dir.display()
        ));
        self.result(format!("vault URL: {}", vault.url));
        self.say("Press Ctrl-C to stop it.");
        self.rt.block_on(shutdown_signal());
        self.stop_vault(vault)
    }
}
