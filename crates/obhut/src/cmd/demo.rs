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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use obhut_agent::enrol::Enrolled;
use obhut_agent::ingest::{Agent, IngestOptions};
use obhut_agent::journal::Journal;
use obhut_agent::state::StateDir;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::{DeviceSecret, PersonSecret, PublicIdentity};
use obhut_core::ids::{Fingerprint, RecordingId};
use obhut_core::locked::{Content, KdfParams};
use obhut_core::rng::os_rng;
use obhut_core::secret::SecretBytes;
use obhut_core::vault::{IngestReceipt, descriptor_fingerprint};
use obhut_server::config::{FileConfig, ServerConfig};
use zeroize::Zeroizing;

use super::{admin, audit, custody, enrol, ingest, open, request, review};
use crate::util::access::AccessClient;
use crate::util::agent::agent_error;
use crate::util::files::{self, Mode};
use crate::util::hint::{HintExt, fail, with_hint};
use crate::util::keyfiles::{Lock, write_key_files};
use crate::util::logclient::LogArgs;
use crate::util::logging::init_logging;
use crate::util::reader::{self, Reader};
use crate::util::scan::{self, Needles};
use crate::util::vault::{EmbeddedApp, Vault, shutdown_signal};
use crate::util::{Global, load, recording, time};

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
    enrolled: Enrolled,
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

/// A random passphrase for a demo key file (never printed).
fn demo_passphrase() -> anyhow::Result<Zeroizing<String>> {
    let mut b = Zeroizing::new([0u8; 24]);
    getrandom::fill(&mut *b).map_err(|e| anyhow::anyhow!("OS randomness: {e}"))?;
    Ok(Zeroizing::new(hex::encode(*b)))
}

/// Write a demo passphrase to `path` (0600) and return its bytes.
fn write_passphrase(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let pass = demo_passphrase()?;
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
        self.say("");
        self.say(format!("{n}. {title}"));
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

    /// Step 1: custodians' identities; the dealer ceremony; k signatures.
    fn create_custody(&self) -> anyhow::Result<Custody> {
        self.heading(1, "Custodians and a 2-of-3 custody group");
        let dir = self.dir.join("custodians");
        mkdir(&dir)?;
        let mut custodians = Vec::new();
        let mut people: Vec<PublicIdentity> = Vec::new();
        for name in CUSTODIANS {
            let secret = PersonSecret::generate(&format!("{name} (custodian)"), &mut os_rng());
            let key = dir.join(format!("{name}.key"));
            let pub_path = write_demo_key(
                &key,
                Content::Person,
                &secret.to_secret_bytes(),
                &secret.public().to_bytes(),
            )?;
            // As `custody init` does: the dealer reads the public files.
            people.push(files::parse(
                &pub_path,
                "the demo's public identity",
                "a person's public identity",
                PublicIdentity::from_bytes,
            )?);
            self.say(format!(
                "   {name:<5}  {:<20}  fingerprint {}…",
                self.rel(&key),
                short(&secret.public().fingerprint().to_string())
            ));
            custodians.push(Custodian { name, secret, key });
        }
        self.say("   Each identity (obhut keygen person) is an Ed25519 signing key and an X-Wing");
        self.say(format!(
            "   (post-quantum) decryption key, locked with Argon2id ({} MiB) under a random demo",
            KDF.m_kib / 1024
        ));
        self.say("   passphrase stored beside it (NAME.pass). Real custodians choose their own passphrases");
        self.say("   and keep them away from their key files.");

        let dealt = custody::deal_to_dir(
            GROUP_NAME,
            THRESHOLD,
            &people,
            &self.dir.join("custody"),
            false,
        )?;
        self.say(format!(
            "   Dealer ceremony (obhut custody init): group \"{GROUP_NAME}\" {}",
            dealt.descriptor.group_id(),
        ));
        self.say(format!(
            "   Any {THRESHOLD} of the {} must approve to open footage. Each share is sealed to its",
            CUSTODIANS.len()
        ));
        self.say("   custodian; the group secret is forgotten.");
        for (c, share) in custodians
            .iter()
            .zip(&dealt.share_paths)
            .take(usize::from(THRESHOLD))
        {
            let (descriptor, envelope) = custody::read_for_signing(&dealt.group_path, share)?;
            let signed = custody::sign_and_write(
                &dealt.group_path,
                share,
                &c.key,
                descriptor,
                &envelope,
                &c.secret,
            )?;
            self.say(format!(
                "   {} checked share {} against the group's commitments and signed (obhut custody sign): {} of {}",
                c.name, signed.index, signed.valid, signed.threshold
            ));
        }
        let group = load::pinned_group(&dealt.group_path, "the demo's group descriptor")?;
        let fingerprint = descriptor_fingerprint(&group);
        self.say(format!(
            "   {} now pins. Group fingerprint (the custodians publish it; devices pin it):",
            self.rel(&dealt.group_path),
        ));
        self.result(format!("   {fingerprint}"));
        Ok(Custody {
            custodians,
            group,
            shares: dealt.share_paths.clone(),
            group_path: dealt.group_path,
            fingerprint,
        })
    }

    /// Step 2: the vault, in this process, as `obhut serve` runs it.
    fn start_vault(&self) -> anyhow::Result<RunningVault> {
        self.heading(2, "A vault on the embedded store");
        let data = self.dir.join("vault/data");
        let keys = self.dir.join("vault/keys");
        let config = ServerConfig::from_layers(FileConfig {
            data: Some(data.clone()),
            keys: Some(keys.clone()),
            listen: Some("127.0.0.1:0".into()),
            ..FileConfig::default()
        })
        .context("the demo's vault configuration")?;
        if self.g.verbose > 0 {
            init_logging(self.g);
        }
        let vault = self.rt.block_on(Vault::open(config))?;
        let url = format!("http://{}", vault.addr());
        let app = vault.app().clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = self.rt.spawn(vault.run(async move {
            // A dropped sender (the demo failed) stops the vault too.
            let _ = stop.await;
        }));
        let running = RunningVault {
            url,
            data,
            keys,
            app,
            shutdown,
            task,
        };
        self.say(format!(
            "   {}, served from this process by the code of `obhut serve`",
            running.url
        ));
        self.say(format!(
            "   data: {} (SQLite index, blobs)  keys: {} (receipt key, retention-epoch keys)",
            self.rel(&running.data),
            self.rel(&running.keys)
        ));
        let readyz = format!("{}/readyz", running.url);
        let (status, _) = reader::get_plain(&readyz)?;
        if status != 200 {
            return Err(fail(
                format!("GET {readyz} answered {status}: the vault is not ready"),
                "run again with -v to see the vault's log",
            ));
        }
        self.say("   GET /readyz: 200 (index and blob store answer)");
        Ok(running)
    }

    /// Step 3: a camera key, a token from the admin, enrolment pinning the
    /// group by its fingerprint.
    fn enrol_device(&self, custody: &Custody, vault: &RunningVault) -> anyhow::Result<Device> {
        self.heading(3, "A camera enrols with the vault");
        let dir = self.dir.join("device");
        mkdir(&dir)?;
        let secret = DeviceSecret::generate(DEVICE_NAME, &mut os_rng());
        let key = dir.join("cam.key");
        write_demo_key(
            &key,
            Content::Device,
            &secret.to_secret_bytes(),
            &secret.public().to_bytes(),
        )?;
        self.say(format!(
            "   Camera \"{DEVICE_NAME}\": {} (obhut keygen device), device id {}…",
            self.rel(&key),
            short(&hex::encode(secret.sign.verify_key().to_bytes()))
        ));
        let token = Zeroizing::new(self.rt.block_on(admin::create_enrol_token(
            &vault.app.index,
            &custody.group,
            CLASS,
        ))?);
        self.say(format!(
            "   The admin made a one-time enrolment token for the group and class {CLASS}, valid 24 h"
        ));
        self.say("   (obhut admin enrol-token; the vault keeps only its hash; the token is a secret, not shown).");
        let state = StateDir::open_locked(dir.join("state")).map_err(agent_error)?;
        let enrolled = obhut_agent::enrol::enrol(
            &state,
            &vault.url,
            &token,
            &secret.sign,
            &key,
            &custody.fingerprint,
        )
        .map_err(enrol::enrol_error)?;
        drop(token);
        self.say(format!(
            "   The camera presented it (obhut enrol --group-fingerprint {}…) and got the group's",
            short(&custody.fingerprint.to_string())
        ));
        self.say(format!(
            "   descriptor; it pinned group {} only after checking",
            enrolled.group
        ));
        self.say(format!(
            "   that fingerprint and the signatures of custodians {:?}. It also pinned the vault's",
            enrolled.signers
        ));
        self.say(format!(
            "   receipt key {}…",
            short(&hex::encode(enrolled.vault_key.to_bytes()))
        ));
        Ok(Device {
            secret,
            pass: key.with_extension("pass"),
            state,
            enrolled,
        })
    }

    /// Step 4: a sample clip and its sidecar.
    fn sample_clip(&self, synthetic: bool) -> anyhow::Result<Clip> {
        self.heading(4, "A sample clip");
        let dir = self.dir.join("dock");
        mkdir(&dir)?;
        let mp4 = dir.join("clip.mp4");
        let made = if synthetic {
            Err("--synthetic-clip was given".to_owned())
        } else {
            make_mp4(&mp4)
        };
        let media = match made {
            Ok(()) => {
                let len = std::fs::metadata(&mp4).map(|m| m.len()).unwrap_or(0);
                self.say(format!(
                    "   ffmpeg made {}: a {CLIP_SECONDS} s test pattern and 440 Hz tone, 640x360 H.264 + AAC,",
                    self.rel(&mp4)
                ));
                self.say(format!("   a keyframe every second, {len} bytes."));
                mp4.clone()
            }
            Err(why) => {
                let bin = dir.join("clip.bin");
                let mut bytes = vec![0u8; SYNTHETIC_BYTES];
                getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS randomness: {e}"))?;
                files::write(
                    &bin,
                    &bytes,
                    "the demo's synthetic clip",
                    false,
                    Mode::Public,
                )?;
                self.say(format!("   No MP4: {why}."));
                self.say(format!(
                    "   Using a synthetic file instead: {}, {} random bytes. It is sealed and checked",
                    self.rel(&bin),
                    bytes.len()
                ));
                self.say("   the same way, but cut into fixed byte ranges instead of at keyframes (install");
                self.say("   ffmpeg to see a real MP4 cut at keyframes).");
                bin
            }
        };
        let (json, strings) = sidecar_json();
        let sidecar = media.with_extension("json");
        files::write(
            &sidecar,
            json.as_bytes(),
            "the demo's sidecar",
            false,
            Mode::Public,
        )?;
        self.say(format!(
            "   Sidecar {} ({} bytes): officer, unit, start time, a {}-point GPS track, tags.",
            self.rel(&sidecar),
            json.len(),
            GPS_TRACK.len()
        ));
        let synthetic = media != mp4;
        Ok(Clip {
            media,
            sidecar,
            strings,
            synthetic,
        })
    }

    /// Step 5: ingest with the agent, every receipt verified.
    fn ingest(&self, device: &Device, clip: &Clip) -> anyhow::Result<Ingested> {
        self.heading(5, "Ingest: cut, seal, upload, receipts");
        let mut agent = Agent::new(&device.state, &device.secret.sign).map_err(agent_error)?;
        let mut opts = IngestOptions::default();
        // Several segments for the synthetic file too.
        opts.cut.fallback_segment_bytes = 512 << 10;
        let t0 = Instant::now();
        let out = ingest::ingest_file(self.g, &mut agent, &clip.media, &opts)?;
        let secs = t0.elapsed().as_secs_f64();
        // What the device kept: a receipt per segment; check them again.
        let source = std::path::absolute(&clip.media).context("resolving the clip's path")?;
        let jpath = Journal::path_for(&device.state.journal_dir(), &source);
        let journal = Journal::load(&jpath).map_err(agent_error)?.ok_or_else(|| {
            fail(
                "the agent kept no journal for the clip",
                "this is a bug in obhut; please report it",
            )
        })?;
        let mut receipted = Vec::with_capacity(journal.acked.len());
        for i in 0..journal.acked.len() {
            let hash = journal.acked_hash(i).map_err(agent_error)?;
            let bytes = journal.acked_receipt(i).map_err(agent_error)?;
            IngestReceipt::from_bytes(&bytes)
                .and_then(|r| r.verify_for(&device.enrolled.vault_key, &hash))
                .hint(
                    format!("the receipt for segment {i} does not verify"),
                    "do not trust this vault with the footage; this is a bug or an attack",
                )?;
            receipted.push(hash);
        }
        self.say(format!(
            "   Recording {} (obhut ingest): {} segments, {} bytes in {secs:.1} s.",
            out.recording,
            out.segments,
            clip.plaintext_len()
        ));
        self.say(format!(
            "   The agent cut the {} and sealed each segment straight into its upload;",
            if clip.synthetic {
                "file into byte ranges"
            } else {
                "MP4 at keyframes"
            }
        ));
        self.say("   the sidecar went last, as the metadata segment. Each segment key is forgotten once sealed.");
        self.say(format!(
            "   Receipts: {} of {} verified under the vault key pinned at enrolment, so the original",
            receipted.len(),
            out.segments
        ));
        self.say("   may now be deleted (obhut ingest --after delete; the demo keeps it).");
        if receipted.len() != out.segments {
            return Err(fail(
                format!("{} receipts for {} segments", receipted.len(), out.segments),
                "this is a bug in obhut; please report it",
            ));
        }
        self.result(format!("   recording {}", out.recording));
        Ok(Ingested {
            recording: out.recording,
            receipted,
        })
    }

    /// Step 6: the listing a reader sees, the records, and a scan of the
    /// vault's files for plaintext.
    fn show_vault(
        &self,
        custody: &Custody,
        vault: &RunningVault,
        device: &Device,
        clip: &Clip,
        ingested: &Ingested,
    ) -> anyhow::Result<()> {
        self.heading(6, "What the vault holds");
        let reader = custody
            .custodians
            .first()
            .ok_or_else(|| fail("no custodians", "this is a bug in obhut; please report it"))?;
        self.rt.block_on(admin::add_reader(
            &vault.app.index,
            &reader.secret.public(),
            custody.group.group_id(),
        ))?;
        self.say(format!(
            "   The admin lets {} read the group's recordings (obhut admin add-reader).",
            reader.name
        ));
        self.say(format!(
            "   GET /v1/recordings, signed by {}, answers:",
            reader.name
        ));
        let client = Reader::new(&vault.url, &reader.secret.sign);
        let list = client.recordings()?;
        let shown = serde_json::to_string_pretty(&list).context("formatting the listing")?;
        for line in shown.lines() {
            self.say(format!("     {line}"));
        }
        let rid = ingested.recording.to_string();
        let ours = list
            .recordings
            .iter()
            .find(|r| r.recording_id == rid)
            .ok_or_else(|| {
                fail(
                    format!("the vault does not list recording {rid}"),
                    "this is a bug in obhut; please report it",
                )
            })?;
        self.say(
            "   That is the whole index: ids, retention class, first capture rounded to the hour",
        );
        self.say(format!(
            "   ({}), segment count and stored bytes ({} for {} bytes of plaintext).",
            time::show(ours.first_capture_hour_ms),
            ours.total_bytes,
            clip.plaintext_len()
        ));
        self.say("   No file name, officer, place or tag.");
        if !ours.complete
            || ours.device_key != hex::encode(device.secret.sign.verify_key().to_bytes())
        {
            return Err(fail(
                format!("the vault lists recording {rid} as incomplete or from another device"),
                "this is a bug in obhut; please report it",
            ));
        }

        let records = client.records(ingested.recording)?;
        let summary = obhut_core::chain::verify_chain(&records, &[custody.group.group_key()])
            .hint(
                format!("the records of recording {rid} do not verify"),
                "do not trust this vault with the footage; this is a bug or an attack",
            )?;
        let hashes: Vec<[u8; 32]> = records.iter().map(|r| r.record_hash()).collect();
        if hashes != ingested.receipted {
            return Err(fail(
                format!("the vault serves other records for {rid} than it signed receipts for"),
                "do not trust this vault with the footage; this is a bug or an attack",
            ));
        }
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for r in &records {
            let k = recording::kind_name(r.header().fields.kind);
            match kinds.iter_mut().find(|(n, _)| *n == k) {
                Some((_, c)) => *c += 1,
                None => kinds.push((k, 1)),
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, c)| format!("{c} {k}")).collect();
        self.say(format!(
            "   GET …/records: {} records ({}), each signed by the camera,",
            summary.segment_count,
            kinds.join(", ")
        ));
        self.say("   chained to the one before, its capsule proof valid for the pinned group, and the record");
        self.say("   a receipt names.");

        let clip_bytes = std::fs::read(&clip.media)
            .with_context(|| format!("reading {}", clip.media.display()))?;
        let needles = Needles::new(clip_bytes, clip.strings.clone())?;
        let report = needles.scan(&[&vault.data, &vault.keys])?;
        self.say(format!(
            "   Plaintext scan of every file under {} and {}:",
            self.rel(&vault.data),
            self.rel(&vault.keys)
        ));
        let filler = match needles.filler_windows() {
            0 => String::new(),
            n => format!(" (and {n} runs of one repeated byte, not evidence, left out)"),
        };
        self.say(format!(
            "     looked for every {}-byte window of the clip ({}){filler}",
            scan::WINDOW,
            needles.window_count()
        ));
        self.say(format!(
            "     and {} values from the sidecar (officer, unit, start time, GPS coordinates, tags)",
            needles.string_count()
        ));
        self.say(format!(
            "     scanned {} files, {} bytes",
            report.files, report.bytes
        ));
        if !report.findings.is_empty() {
            for f in &report.findings {
                eprintln!(
                    "PLAINTEXT FOUND: {} at offset {} of {}",
                    f.what,
                    f.offset,
                    f.file.display()
                );
            }
            return Err(fail(
                format!(
                    "plaintext found in the vault's files ({} occurrence(s), listed above)",
                    report.findings.len()
                ),
                "this breaks Obhut's first promise; please report it with the list above",
            ));
        }
        if report.files == 0 || report.bytes == 0 {
            return Err(fail(
                "the vault's directories hold no files to scan",
                "this is a bug in obhut; please report it",
            ));
        }
        self.result("   no plaintext found");
        Ok(())
    }

    /// Steps 7–10: a logged, scoped request; two approvals; the open; the
    /// records. Each calls what `obhut request --vault`, `obhut approve`,
    /// `obhut open` and `obhut audit log` call.
    fn access(
        &self,
        custody: &Custody,
        vault: &RunningVault,
        clip: &Clip,
        ingested: &Ingested,
    ) -> anyhow::Result<()> {
        use obhut_core::request::{RequestContent, Scope};

        self.heading(7, "A requester asks for 10 seconds of the recording");
        let requester = PersonSecret::generate("Dana (investigator)", &mut os_rng());
        let dpo = PersonSecret::generate("data-protection officer", &mut os_rng());
        let gid = custody.group.group_id();
        self.rt.block_on(async {
            admin::add_requester(&vault.app.index, &requester.public(), gid).await?;
            admin::add_reader(&vault.app.index, &requester.public(), gid).await?;
            for c in &custody.custodians {
                admin::add_reader(&vault.app.index, &c.secret.public(), gid).await?;
            }
            admin::add_auditor(&vault.app.index, &dpo.public()).await
        })?;
        self.say(
            "   The admin registers Dana as a requester for the group (obhut admin add-requester),",
        );
        self.say("   lets the custodians and Dana read its ciphertext index, and makes the data-protection");
        self.say("   officer an auditor. None of these roles opens anything.");
        let vkey = vault.app.log.verifier_key().to_string();
        let log_for = |who: &str| {
            LogArgs {
                vault: vault.url.clone(),
                log_key: vkey.clone(),
                state: Some(self.dir.join(format!("log-state/{who}.checkpoint"))),
                witnesses: Vec::new(),
                witnesses_required: None,
            }
            .client()
        };
        // Media segments carry media times only for a real MP4.
        let (from, to) = if clip.synthetic {
            (0, 10_000)
        } else {
            (10_000, 20_000)
        };
        let now = time::now_ms();
        let mut request_id = [0u8; 16];
        request_id.copy_from_slice(&obhut_core::rng::random_32(&mut os_rng())[..16]);
        let req = RequestContent {
            request_id,
            group_id: gid,
            generation: custody.group.generation(),
            scope: vec![Scope::Recording {
                recording_id: ingested.recording,
                media_start_ms: from,
                media_end_ms: to,
                include_metadata: false,
            }],
            purpose: "criminal investigation".into(),
            justification: "Complaint 17 says the officer used force at 00:10-00:20 of this stop."
                .into(),
            legal_basis: "§ 48 BDSG, § 161 StPO".into(),
            case_ref: "CASE-2026-0017".into(),
            recipients: vec!["public prosecutor's office Berlin".into()],
            created_utc_ms: now,
            expires_utc_ms: now + 7 * 86_400_000,
        }
        .sign(&requester)
        .context("signing the demo request")?;
        let dana_log = log_for("dana")?;
        let dana = AccessClient::new(Reader::new(&vault.url, &requester.sign));
        let logged = request::submit(&dana, &dana_log, &req)?;
        let hash = hex::encode(req.request_hash());
        for line in request::describe(&req).lines() {
            self.say(format!("   {line}"));
        }
        self.say(format!(
            "   Signed by Dana and sent to the vault (obhut request --vault): audit-log entry #{};",
            logged.log_index
        ));
        self.say(
            "   her client checked the entry is in a checkpoint signed by the vault's log key.",
        );

        self.heading(8, "Two of the three custodians approve");
        let envelopes = custody.shares.clone();
        let mut last_approval = Instant::now();
        for (c, share) in custody
            .custodians
            .iter()
            .zip(envelopes)
            .take(usize::from(THRESHOLD))
        {
            let envelope = files::parse(
                &share,
                "the demo's share",
                "a share envelope",
                obhut_core::group::ShareEnvelope::from_bytes,
            )?;
            let client = AccessClient::new(Reader::new(&vault.url, &c.secret.sign));
            let done = review::approve_as(
                &Global {
                    quiet: true,
                    ..self.g.clone()
                },
                &client,
                &log_for(c.name)?,
                &hash,
                &custody.group,
                &envelope,
                &c.secret,
                true,
            )?;
            last_approval = Instant::now();
            self.say(format!(
                "   {} (custodian {}) checked the request's log entry, resolved the scope from the",
                c.name, done.custodian
            ));
            self.say(format!(
                "   device-signed records to {} segment(s), computed a proved partial for those only, sealed",
                done.segments
            ));
            self.say(format!(
                "   to Dana's key, logged the approval (entry #{}, inclusion checked), then uploaded it.",
                done.log_index
            ));
        }

        self.heading(9, "Dana opens the scope");
        let out = self.dir.join("opened");
        let opened = open::open_as(
            &Global {
                quiet: true,
                ..self.g.clone()
            },
            &dana,
            &dana_log,
            &hash,
            &custody.group,
            &requester,
            &out,
            None,
        )?;
        let first_byte = last_approval.elapsed();
        let [rec] = &opened.resolved[..] else {
            return Err(fail(
                "one recording expected",
                "this is a bug in obhut; please report it",
            ));
        };
        let original = std::fs::read(&clip.media).context("reading the sample clip")?;
        let got = std::fs::read(out.join(format!("{}.media", rec.recording)))
            .context("reading the opened file")?;
        let (mut offset, mut same, mut sealed_zero) = (0usize, 0u64, true);
        for (i, r) in rec.records.iter().enumerate() {
            if r.header().fields.kind == obhut_core::segment::SegmentKind::Metadata {
                continue;
            }
            let len = usize::try_from(r.plaintext_len()).unwrap_or(usize::MAX);
            let (a, b) = (
                got.get(offset..offset + len),
                original.get(offset..offset + len),
            );
            if rec.in_scope.contains(&i) {
                if a.is_none() || a != b {
                    return Err(fail(
                        format!("segment {i} opened differs from the original"),
                        "this is a bug in obhut; please report it",
                    ));
                }
                same += r.plaintext_len();
            } else if a.is_some_and(|x| {
                // Zeros, but for a `free` box header `obhut open` lays over
                // a sealed start so that players step over it.
                let body = if x.get(4..8) == Some(b"free".as_slice()) {
                    &x[8..]
                } else {
                    x
                };
                body.iter().any(|&v| v != 0)
            }) {
                sealed_zero = false;
            }
            offset += len;
        }
        if !sealed_zero {
            return Err(fail(
                "bytes outside the scope were written",
                "this is a bug in obhut; please report it",
            ));
        }
        self.say("   The vault checked 2 logged approvals and released its epoch part for the scope only");
        self.say(format!(
            "   (entry #{}); Dana's client checked that entry, combined the two partials, and decrypted",
            opened.release_entry
        ));
        self.say(format!(
            "   {} segment(s) into {} — {same} bytes, byte-identical to the camera's file at the same",
            opened.opened,
            self.rel(&out.join(format!("{}.media", rec.recording)))
        ));
        self.say(format!(
            "   offsets. {} segment(s) outside the scope stay sealed (zeros there). Last approval to",
            opened.sealed
        ));
        self.say(format!(
            "   decrypted scope: {:.0} ms.",
            first_byte.as_secs_f64() * 1000.0
        ));
        self.result(format!(
            "   opened {} segments, {same} bytes identical",
            opened.opened
        ));

        self.heading(10, "The records (obhut audit log)");
        // The `opened` report was just sequenced; let the vault integrate it
        // so the officer's checkpoint covers it.
        self.rt.block_on(vault.app.log.checkpoint_covering(
            &vault.app.index,
            opened.opened_entry,
            time::now_ms(),
        ))?;
        let dpo_client = Reader::new(&vault.url, &dpo.sign);
        let lines = audit::chain_of_custody(&log_for("dpo")?, &dpo_client, ingested.recording)?;
        self.say(
            "   Every entry about the recording, each proved included in the signed log, as the",
        );
        self.say("   data-protection officer reads them (who, when, what, why, to whom):");
        for l in lines {
            for part in l.lines() {
                self.say(format!("     {part}"));
            }
        }
        Ok(())
    }

    /// Step 11: what happened, and what comes next.
    fn summary(&self, custody: &Custody, vault: &RunningVault, device: &Device, a: &Args) {
        self.heading(11, "What just happened");
        for line in [
            "   The camera sealed every segment before it left: each segment key needs a part only 2 of",
            "   the 3 custodians can recover together and a part only the vault's retention-epoch key",
            "   unwraps. The vault cannot open the footage, the camera no longer can, and no custodian",
            "   can alone. The camera pinned the custody group by its fingerprint and the custodians'",
            "   signatures, so a vault offering another group key would have been refused. The vault",
            "   checked every signature, chain link, capsule proof and hash before storing, and signed a",
            "   receipt per segment; it holds ciphertext, signed records and a minimal index.",
        ] {
            self.say(line);
        }
        for line in [
            "   Opening took a request that is on record with its purpose, legal basis and case, 2 of 3",
            "   custodians who each checked it is logged before approving, and a vault release that is",
            "   logged too; the keys opened the 10 seconds asked for and nothing else.",
        ] {
            self.say(line);
        }
        let kept = a.keep || a.dir.is_some();
        let d = self.dir.display();
        if kept {
            self.say("   Try, in another shell:");
            self.say(format!(
                "     obhut custody show --group {}",
                custody.group_path.display()
            ));
            self.say(format!(
                "     obhut ingest --state {} --passphrase-file {} OTHER.mp4",
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
            self.say("   To keep the keys, the vault and the clip and try the other commands on them, run");
            self.say(format!(
                "   `obhut demo --dir DIR` or `obhut demo --keep`; {d} is removed now."
            ));
        }
    }

    /// Stop the vault and wait for it.
    fn stop_vault(&self, vault: RunningVault) -> anyhow::Result<()> {
        let _ = vault.shutdown.send(());
        self.rt
            .block_on(vault.task)
            .context("the vault's task failed")??;
        self.say("");
        self.say("Vault stopped.");
        Ok(())
    }

    /// `--keep`: serve until Ctrl-C or SIGTERM, then stop.
    fn keep_running(&self, vault: RunningVault) -> anyhow::Result<()> {
        self.say("");
        self.say(format!(
            "The vault keeps running; the working directory {} stays.",
            self.dir.display()
        ));
        self.result(format!("vault URL: {}", vault.url));
        self.say("Press Ctrl-C to stop it.");
        self.rt.block_on(shutdown_signal());
        self.stop_vault(vault)
    }
}

/// Make the sample MP4 with ffmpeg; Err(why not) if ffmpeg is missing or fails.
fn make_mp4(path: &Path) -> Result<(), String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc=duration={CLIP_SECONDS}:size=640x360:rate=25"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={CLIP_SECONDS}"))
        .args([
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-keyint_min",
            "25",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("ffmpeg is not on PATH".to_owned())
        }
        Err(e) => Err(format!("cannot run ffmpeg: {e}")),
        Ok(o) if !o.status.success() => {
            let _ = std::fs::remove_file(path);
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("no message");
            Err(format!("ffmpeg failed ({}): {last}", o.status))
        }
        Ok(_) => Ok(()),
    }
}

/// The sample's GPS track: (seconds into the clip, latitude, longitude).
const GPS_TRACK: [(u32, &str, &str); 6] = [
    (0, "52.521918", "13.413215"),
    (5, "52.522104", "13.412760"),
    (10, "52.522297", "13.412318"),
    (15, "52.522471", "13.411862"),
    (20, "52.522650", "13.411409"),
    (25, "52.522836", "13.410952"),
];
const OFFICER: &str = "PC 4711 Erika Mustermann";
const UNIT: &str = "Abschnitt 32, Berlin-Mitte";
const TAGS: [&str; 3] = ["traffic-stop", "witness-statement", "alexanderplatz"];

/// The sidecar a dock would write beside the clip, and its values (with
/// labels) to look for in the vault.
fn sidecar_json() -> (String, Vec<(String, Vec<u8>)>) {
    let start = time::show(time::now_ms() - i64::from(CLIP_SECONDS) * 1000);
    let mut strings: Vec<(String, Vec<u8>)> = vec![
        ("the sidecar's officer".into(), OFFICER.into()),
        ("the sidecar's unit".into(), UNIT.into()),
        ("the sidecar's start time".into(), start.clone().into()),
    ];
    let mut track = Vec::new();
    for (i, (t, lat, lon)) in GPS_TRACK.iter().enumerate() {
        track.push(format!(
            "    {{\"t_s\": {t}, \"lat\": {lat}, \"lon\": {lon}}}"
        ));
        strings.push((
            format!("the sidecar's GPS latitude {i}"),
            lat.as_bytes().to_vec(),
        ));
        strings.push((
            format!("the sidecar's GPS longitude {i}"),
            lon.as_bytes().to_vec(),
        ));
    }
    for (i, tag) in TAGS.iter().enumerate() {
        strings.push((format!("the sidecar's tag {i}"), tag.as_bytes().to_vec()));
    }
    let tags: Vec<String> = TAGS.iter().map(|t| format!("\"{t}\"")).collect();
    let json = format!(
        "{{\n  \"officer\": \"{OFFICER}\",\n  \"unit\": \"{UNIT}\",\n  \"start\": \"{start}\",\n  \"gps\": [\n{}\n  ],\n  \"tags\": [{}]\n}}\n",
        track.join(",\n"),
        tags.join(", ")
    );
    (json, strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_is_json_holding_every_value_looked_for() {
        let (json, strings) = sidecar_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["officer"], OFFICER);
        assert_eq!(v["gps"].as_array().unwrap().len(), GPS_TRACK.len());
        assert_eq!(strings.len(), 3 + 2 * GPS_TRACK.len() + TAGS.len());
        for (label, s) in &strings {
            let s = std::str::from_utf8(s).unwrap();
            assert!(json.contains(s), "{label}: {s}");
            assert!(s.len() >= 9, "{label} is too short to be distinctive: {s}");
        }
    }
}
