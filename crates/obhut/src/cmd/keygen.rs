//! `obhut keygen`: new person, device and retention-epoch keys, each as a
//! passphrase-locked secret file plus a `.pub` file to hand out.

use std::path::PathBuf;

use obhut_core::epoch::{EpochPublic, EpochSecret};
use obhut_core::identity::SignKey;
use obhut_core::identity::{DeviceSecret, MAX_NAME_LEN, PersonSecret};
use obhut_core::ids::EpochId;
use obhut_core::locked::{Content, KdfParams};
use obhut_core::name::{MAX_NAME_LEN as MAX_DISPLAY_NAME, NameClaim, Subject, valid_name};
use obhut_core::rng::os_rng;
use obhut_core::secret::SecretBytes;

use crate::util::files;
use crate::util::hint::fail;
use crate::util::keyfiles::{Lock, write_key_files};
use crate::util::{Global, passphrase, time};

/// Create keys: a person's identity, a device's signing key, or a
/// retention-epoch key.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Create a key pair. The secret half is written to --out, locked with a
passphrase (Argon2id, 64 MiB); the public half to the same path plus .pub.
A person's or device's --name is also signed with the new key as its
display name, into PATH.name (give it to the vault's admin: `obhut admin
set-name PATH.name`). Hand out only the .pub and .name files. A weak passphrase is refused (one the zxcvbn
estimator guesses in fewer than 10^14 tries; the key's name and file name
count as easy guesses): use five or more random words, or 16+ random
characters.

Examples:
  obhut keygen person --name \"Alice (custodian)\" --out alice.key
  obhut keygen device --name bodycam-0042 --out cam.key
  obhut keygen epoch --class bodycam-30d \\
      --not-before 2026-11-01T00:00:00Z --not-after 2026-12-01T00:00:00Z --out epoch.key")]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Debug, clap::Subcommand)]
enum Kind {
    Person(PersonArgs),
    Device(DeviceArgs),
    Epoch(EpochArgs),
}

/// Flags shared by every kind of key.
#[derive(Debug, clap::Args)]
struct OutArgs {
    /// Where to write the locked secret key; the public key goes to PATH.pub.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,

    /// Lock with the weakest allowed KDF parameters (8 MiB, 1 pass). For
    /// tests only: a stolen key file is then much cheaper to brute-force, so
    /// the flag exists only in a build with the cargo feature `kdf-fast`
    /// (the integration tests' build), never in a normal or release one.
    #[cfg(feature = "kdf-fast")]
    #[arg(long, hide = true)]
    kdf_fast: bool,
}

/// A person's identity: a custodian, requester or auditor.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Create a person's identity (custodian, requester, auditor): an Ed25519
signing key and an X-Wing (post-quantum) decryption key. Prints the
fingerprint; compare it out of band before trusting someone's .pub file.

Example:
  obhut keygen person --name \"Alice (custodian)\" --out alice.key
  # writes alice.key (locked secret) and alice.key.pub (public identity)")]
struct PersonArgs {
    /// A label for people (at most 128 bytes); not part of the fingerprint.
    #[arg(long, value_name = "NAME")]
    name: String,
    #[command(flatten)]
    out: OutArgs,
}

/// A device's signing key (a camera, a dock).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Create a device's signing key. The device signs every segment record it
seals; the device id is its public key. The device keeps no other secret:
segment keys are forgotten after sealing.

Example:
  obhut keygen device --name bodycam-0042 --out cam.key
  # writes cam.key (locked secret) and cam.key.pub (device public key)")]
struct DeviceArgs {
    /// A label, e.g. the camera's serial number (at most 128 bytes).
    #[arg(long, value_name = "NAME")]
    name: String,
    #[command(flatten)]
    out: OutArgs,
}

/// A retention-epoch key (the vault's), for one class and period.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Create a retention-epoch key: the vault's X-Wing key pair for one retention
class and period. Devices wrap each segment's epoch part to the .pub file;
destroying every copy of the secret file makes all footage of the epoch
unrecoverable. Times are RFC 3339 (2026-11-01T00:00:00Z) or milliseconds
since 1970; the epoch covers captures in [not-before, not-after).

Example:
  obhut keygen epoch --class bodycam-30d \\
      --not-before 2026-11-01T00:00:00Z --not-after 2026-12-01T00:00:00Z --out epoch.key")]
struct EpochArgs {
    /// Retention class, e.g. bodycam-30d (at most 64 bytes).
    #[arg(long, value_name = "CLASS")]
    class: String,
    /// First capture time covered (RFC 3339 or ms since 1970).
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant, allow_hyphen_values = true)]
    not_before: i64,
    /// First capture time no longer covered (RFC 3339 or ms since 1970).
    #[arg(long, value_name = "TIME", value_parser = time::parse_instant, allow_hyphen_values = true)]
    not_after: i64,
    #[command(flatten)]
    out: OutArgs,
}

/// Run `obhut keygen`.
pub fn run(g: &Global, args: &Args) -> anyhow::Result<()> {
    match &args.kind {
        Kind::Person(a) => person(g, a),
        Kind::Device(a) => device(g, a),
        Kind::Epoch(a) => epoch(g, a),
    }
}

fn check_name(name: &str, max: usize, flag: &str) -> anyhow::Result<()> {
    if name.len() > max {
        return Err(fail(
            format!(
                "{flag} is {} bytes long, more than the {max} allowed",
                name.len()
            ),
            format!("shorten {flag}"),
        ));
    }
    Ok(())
}

/// Write the locked secret and the public file, and say which is which
/// (`what`: the secret's and the public file's description); refuses to
/// overwrite either (before asking for a passphrase) unless `--force`.
fn write_pair(
    g: &Global,
    out: &OutArgs,
    content: Content,
    secret: &SecretBytes,
    public: &[u8],
    what: [&str; 2],
    name: &str,
) -> anyhow::Result<()> {
    let pub_path = files::pub_path(&out.out);
    files::check_new(&out.out, "--out", g.force)?;
    files::check_new(&pub_path, "--out (PATH.pub)", g.force)?;
    files::check_new(&files::name_path(&out.out), "--out (PATH.name)", g.force)?;
    let pass = passphrase::for_new_key(g, &out.out, &[name])?;
    #[cfg(feature = "kdf-fast")]
    let params = if out.kdf_fast {
        KdfParams::MINIMUM
    } else {
        KdfParams::DEFAULT
    };
    #[cfg(not(feature = "kdf-fast"))]
    let params = KdfParams::DEFAULT;
    let lock = Lock {
        passphrase: pass.expose(),
        params,
    };
    write_key_files(&out.out, "--out", g.force, content, secret, public, lock)?;
    g.note(format!(
        "wrote {} ({}) and {} ({})",
        out.out.display(),
        what[0],
        pub_path.display(),
        what[1]
    ));
    Ok(())
}

/// Sign `name` with the new key as its display name (docs/format.md §3.5)
/// into PATH.name. A name that cannot be a display name (longer than 64
/// bytes, or with control or bidirectional-formatting characters) is
/// still the key's label, but gets no claim: people then see the
/// fingerprint alone.
fn write_name(
    g: &Global,
    out: &OutArgs,
    kind: Subject,
    name: &str,
    key: &SignKey,
) -> anyhow::Result<()> {
    if !valid_name(name) {
        g.note(format!(
            "--name is not a display name (1 to {MAX_DISPLAY_NAME} bytes, no control or \
             bidirectional-formatting characters, no surrounding spaces): no .name file written; \
             commands will show the fingerprint alone"
        ));
        return Ok(());
    }
    let claim = NameClaim::sign_own(kind, name, time::now_ms(), key)?;
    let path = files::name_path(&out.out);
    super::name::write_claim(g, &path, "--out (PATH.name)", &claim, false)?;
    g.note(format!(
        "give {} to the vault's operator for `obhut admin set-name`; rename later with `obhut name set`",
        path.display()
    ));
    Ok(())
}

fn person(g: &Global, a: &PersonArgs) -> anyhow::Result<()> {
    check_name(&a.name, MAX_NAME_LEN, "--name")?;
    let secret = PersonSecret::generate(&a.name, &mut os_rng());
    let public = secret.public();
    let what = ["locked person identity", "public identity to hand out"];
    let (s, p) = (secret.to_secret_bytes(), public.to_bytes());
    write_pair(g, &a.out, Content::Person, &s, &p, what, &a.name)?;
    write_name(g, &a.out, Subject::Person, &a.name, &secret.sign)?;
    g.note("fingerprint (compare it out of band before trusting the .pub file):");
    println!("{}", public.fingerprint());
    Ok(())
}

fn device(g: &Global, a: &DeviceArgs) -> anyhow::Result<()> {
    check_name(&a.name, MAX_NAME_LEN, "--name")?;
    let secret = DeviceSecret::generate(&a.name, &mut os_rng());
    let public = secret.public();
    let what = ["locked device key", "device public key"];
    let (s, p) = (secret.to_secret_bytes(), public.to_bytes());
    write_pair(g, &a.out, Content::Device, &s, &p, what, &a.name)?;
    write_name(g, &a.out, Subject::Device, &a.name, &secret.sign)?;
    g.note("device id:");
    println!("{}", hex::encode(public.sign_key.to_bytes()));
    Ok(())
}

fn epoch(g: &Global, a: &EpochArgs) -> anyhow::Result<()> {
    check_name(&a.class, obhut_core::epoch::MAX_CLASS_LEN, "--class")?;
    if a.not_after <= a.not_before {
        return Err(fail(
            format!(
                "--not-after ({}) is not after --not-before ({})",
                time::show(a.not_after),
                time::show(a.not_before)
            ),
            "the epoch covers captures in [--not-before, --not-after); swap or fix the times",
        ));
    }
    let mut rng = os_rng();
    let secret = EpochSecret::generate(EpochId::random(&mut rng), &mut rng);
    let public: EpochPublic = secret.public(&a.class, a.not_before, a.not_after);
    let what = [
        "locked epoch secret: keep it in the vault's keystore only",
        "epoch public key for devices",
    ];
    let (s, p) = (secret.to_secret_bytes(), public.to_bytes());
    write_pair(g, &a.out, Content::Epoch, &s, &p, what, &a.class)?;
    g.note(format!(
        "class {}, captures in [{}, {})",
        a.class,
        time::show(a.not_before),
        time::show(a.not_after)
    ));
    g.note("epoch id:");
    println!("{}", public.epoch_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::Args,
    }

    /// `--kdf-fast` parses exactly when the cargo feature `kdf-fast` is on
    /// (the tests' build); scripts/test checks a normal build refuses it.
    #[test]
    fn kdf_fast_is_test_only() {
        let parsed = Cli::try_parse_from([
            "keygen",
            "person",
            "--name",
            "x",
            "--out",
            "x.key",
            "--kdf-fast",
        ]);
        assert_eq!(parsed.is_ok(), cfg!(feature = "kdf-fast"), "{parsed:?}");
    }
}
