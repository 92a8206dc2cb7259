//! `obhut custody`: create a k-of-n custody group (dealer ceremony), have
//! each custodian check its share and sign the descriptor, and show a
//! descriptor's state.

use std::path::{Path, PathBuf};

use obhut_client::Error as ClientErr;
use obhut_client::custody::{
    self, CeremonyError, CustodyError, Dealt, DirFiles, Signed, check_share, signature_state,
};
use obhut_core::group::{GroupDescriptor, ShareEnvelope};
use obhut_core::identity::{self, PersonSecret, PublicIdentity};

use crate::util::files;
use crate::util::hint::{fail, with_hint};
use crate::util::{Global, keys, load};

/// Create, sign and inspect custody groups (k of n custodians).
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Create, sign and inspect a custody group: n custodians of whom any k must
approve before a segment opens. Devices seal only to a descriptor that k
custodians have signed (\"pinned\").

Example (2 of 3):
  obhut custody init --name evidence --threshold 2 \\
      --custodian alice.key.pub --custodian bob.key.pub --custodian carol.key.pub --out custody/
  obhut custody sign --group custody/group.obgd --identity alice.key --share custody/share-1.obse
  obhut custody sign --group custody/group.obgd --identity bob.key --share custody/share-2.obse
  obhut custody show --group custody/group.obgd
  obhut custody pin-log --group custody/group.obgd --identity alice.key \\
      --log-key 'obhut/vault-…+…+…' --out custody/log.oblp")]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    Init(InitArgs),
    Sign(SignArgs),
    Show(ShowArgs),
    PinLog(super::pin_log::Args),
    ApproveReclassify(super::reclassify::Args),
    ApproveHold(super::hold::ApproveArgs),
    ApproveErasure(super::erase::ApproveArgs),
}

/// Dealer ceremony: a new group, its descriptor and one sealed share per custodian.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Run the dealer ceremony: draw the group secret, split it into n shares
(Shamir, threshold k), publish Feldman commitments in DIR/group.obgd and seal
custodian i's share to its key in DIR/share-<i>.obse. The secret and the
shares are forgotten when the command ends; a share opens only with its
custodian's key and passphrase. Run it on a custodian's machine, never on the
vault. Custodians are numbered 1..n in the order of --custodian.

The descriptor is written unsigned: next, at least k custodians run
`obhut custody sign`.

Example:
  obhut custody init --name evidence --threshold 2 \\
      --custodian alice.key.pub --custodian bob.key.pub --custodian carol.key.pub --out custody/")]
struct InitArgs {
    /// The group's name (at most 128 bytes).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// k: how many custodians must approve to open a segment.
    #[arg(long, short = 'k', value_name = "K")]
    threshold: u16,
    /// A custodian's public identity (PATH.pub from `obhut keygen person`).
    /// Repeat once per custodian; the order gives the indices 1..n.
    #[arg(long = "custodian", value_name = "PUB", required = true)]
    custodians: Vec<PathBuf>,
    /// Directory for group.obgd and share-<i>.obse (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// A custodian checks its share and signs the descriptor.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As a custodian: open your share with your identity, check that it matches the
descriptor's verification share for your index (so the dealer did not cheat
you), and add your signature to the descriptor file. The file is replaced
atomically. Once k custodians have signed, devices can pin the group.

Example:
  obhut custody sign --group custody/group.obgd --identity alice.key --share custody/share-1.obse")]
struct SignArgs {
    /// The group descriptor to sign; updated in place.
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// Your locked identity (from `obhut keygen person`).
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// Your share envelope (share-<i>.obse from `obhut custody init`).
    #[arg(long, value_name = "FILE")]
    share: PathBuf,
}

/// Show a descriptor: threshold, custodians, signatures, whether it pins.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Print a group descriptor: name, id, k and n, each custodian's fingerprint and
whether its signature is present and valid, and whether the descriptor pins
(valid signatures from at least k custodians). Needs no keys. Exits non-zero
if a signature is invalid.

Example:
  obhut custody show --group custody/group.obgd")]
struct ShowArgs {
    /// The group descriptor.
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
}

/// Run `obhut custody`.
pub fn run(g: &Global, args: &Args) -> anyhow::Result<()> {
    match &args.action {
        Action::Init(a) => init(g, a),
        Action::Sign(a) => sign(g, a),
        Action::Show(a) => show(g, a),
        Action::PinLog(a) => super::pin_log::run(g, a),
        Action::ApproveReclassify(a) => super::reclassify::run(g, a),
        Action::ApproveHold(a) => super::hold::approve(g, a),
        Action::ApproveErasure(a) => super::erase::approve(g, a),
    }
}

fn init(g: &Global, a: &InitArgs) -> anyhow::Result<()> {
    custody::check_threshold(a.threshold, a.custodians.len())
        .map_err(|e| custody_error(e.into(), "--out"))?;
    let mut people = Vec::with_capacity(a.custodians.len());
    for path in &a.custodians {
        let p = files::parse(
            path,
            "--custodian",
            "a person's public identity (PATH.pub from `obhut keygen person --out PATH`)",
            PublicIdentity::from_bytes,
        )?;
        people.push(p);
    }
    let Dealt {
        descriptor,
        group_path,
        share_paths,
    } = deal_to_dir(&a.name, a.threshold, &people, &a.out, g.force)?;

    g.note(format!(
        "custody group \"{}\" ({} of {}), id {}",
        crate::util::printable(descriptor.name()),
        descriptor.threshold(),
        descriptor.size(),
        descriptor.group_id()
    ));
    for ((c, person), path) in descriptor
        .custodians()
        .iter()
        .zip(&people)
        .zip(&share_paths)
    {
        g.note(format!(
            "  custodian {}: {} {}  share: {}",
            c.index,
            identity::fingerprint(&c.sign_key, &c.kem_key),
            crate::util::printable(&person.name),
            path.display()
        ));
    }
    g.note(format!(
        "wrote {} (unsigned). The dealer's secret and shares are gone from memory.",
        group_path.display()
    ));
    g.note(format!(
        "next: give each custodian its share file; at least {} of them run\n  obhut custody sign --group {} --identity KEY --share {}",
        descriptor.threshold(),
        group_path.display(),
        a.out.join("share-<i>.obse").display()
    ));
    println!("{}", descriptor.group_id());
    Ok(())
}

/// A custody step's error with the next step; a file's names `flag`.
fn custody_error(e: CeremonyError<ClientErr>, flag: &str) -> anyhow::Error {
    let e = match e {
        CeremonyError::Files(ClientErr::OutputDir { dir, source }) => {
            let what = format!("cannot create the directory {}", dir.display());
            return with_hint(source, what, format!("check {flag}"));
        }
        CeremonyError::Files(ClientErr::OutputExists { path }) => {
            return files::exists_error(&path, flag);
        }
        CeremonyError::Files(ClientErr::Output { path, source }) => {
            return files::durable_error(source, &path, flag);
        }
        CeremonyError::Files(other) => return other.into(),
        CeremonyError::Custody(e) => e,
    };
    match e {
        CustodyError::TooManyCustodians { count } => fail(
            format!("{count} custodians given; a group has at most 255"),
            "pass at most 255 --custodian files",
        ),
        CustodyError::Threshold { threshold, n } => fail(
            format!("--threshold {threshold} with {n} custodian(s)"),
            format!("choose --threshold between 1 and {n} (the number of --custodian files)"),
        ),
        CustodyError::Deal(obhut_core::Error::Custody(reason)) => fail(
            format!("cannot create the group: {reason}"),
            "check --name, --threshold and that each --custodian file is a different person",
        ),
        CustodyError::Deal(other) => anyhow::Error::new(other).context("cannot create the group"),
        other => other.into(),
    }
}

fn sign(g: &Global, a: &SignArgs) -> anyhow::Result<()> {
    let (descriptor, envelope) = read_for_signing(&a.group, &a.share)?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let signed = sign_and_write(&a.group, &a.share, &a.identity, descriptor, &envelope, &me)?;
    g.note(format!(
        "custodian {} ({}) checked its share and signed {}",
        signed.index,
        me.public().fingerprint(),
        a.group.display()
    ));
    if signed.pins() {
        g.note(format!(
            "{} of {} custodians have signed; the group pins (devices can seal to it)",
            signed.valid, signed.size
        ));
    } else {
        g.note(format!(
            "{} of {} custodians have signed; {} more needed before devices can seal to it",
            signed.valid,
            signed.size,
            usize::from(signed.threshold).saturating_sub(signed.valid)
        ));
    }
    Ok(())
}

/// Read a descriptor and a share envelope for `custody sign`, refusing a
/// share of another group or generation (before any passphrase is asked).
pub fn read_for_signing(
    group: &Path,
    share: &Path,
) -> anyhow::Result<(GroupDescriptor, ShareEnvelope)> {
    let descriptor = load::group(group, "--group")?;
    let envelope = files::parse(
        share,
        "--share",
        "your share envelope (share-<i>.obse from `obhut custody init`)",
        ShareEnvelope::from_bytes,
    )?;
    if let Err(CustodyError::OtherGroup {
        share_group,
        share_generation,
        group: id,
        generation,
    }) = check_share(&descriptor, &envelope)
    {
        return Err(fail(
            format!(
                "{} is a share of group {share_group} (generation {share_generation}), but {} is group {id} (generation {generation})",
                share.display(),
                group.display(),
            ),
            "pass the share-<i>.obse written with this group.obgd",
        ));
    }
    Ok((descriptor, envelope))
}

/// What a custodian does in `custody sign` once its key is unlocked
/// ([`obhut_client::custody::sign_and_write`]). `share_path` and
/// `identity_path` name the files in messages.
pub fn sign_and_write(
    group_path: &Path,
    share_path: &Path,
    identity_path: &Path,
    descriptor: GroupDescriptor,
    envelope: &ShareEnvelope,
    me: &PersonSecret,
) -> anyhow::Result<Signed> {
    let mut files = DirFiles { overwrite: true };
    let next = || {
        format!(
            "check that {} is your share (custodian {}) and {} your identity; if they are, the dealer gave you a bad share: do not sign, and tell the other custodians",
            share_path.display(),
            envelope.index,
            identity_path.display()
        )
    };
    custody::sign_and_write(group_path, descriptor, envelope, me, &mut files).map_err(|e| match e {
        CeremonyError::Custody(CustodyError::ShareOpen { source, .. }) => with_hint(
            source,
            format!("cannot open {}", share_path.display()),
            next(),
        ),
        CeremonyError::Custody(CustodyError::Sign(source)) => {
            with_hint(source, "refusing to sign the descriptor", next())
        }
        e => custody_error(e, "--group"),
    })
}

/// The dealer ceremony of `obhut custody init`
/// ([`obhut_client::custody::deal_to_dir`]), writing as `--out`.
pub fn deal_to_dir(
    name: &str,
    threshold: u16,
    people: &[PublicIdentity],
    out: &Path,
    force: bool,
) -> anyhow::Result<Dealt> {
    let mut files = DirFiles { overwrite: force };
    custody::deal_to_dir(name, threshold, people, out, &mut files)
        .map_err(|e| custody_error(e, "--out"))
}

fn show(_g: &Global, a: &ShowArgs) -> anyhow::Result<()> {
    let d = load::group(&a.group, "--group")?;
    print!("{}", describe(&d, &a.group));
    let bad = custody::bad_signatures(&d);
    if let Some(first) = bad.first() {
        return Err(fail(
            format!(
                "{}: the signature of custodian {first} does not verify; the descriptor was altered after signing",
                a.group.display()
            ),
            "do not use this descriptor; get the original from the custodians",
        ));
    }
    Ok(())
}

/// A descriptor as text, for `custody show`.
fn describe(d: &GroupDescriptor, path: &Path) -> String {
    use std::fmt::Write as _;
    let body = d.signed_body();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "group:       {} ({})",
        crate::util::printable(d.name()),
        path.display()
    );
    let _ = writeln!(s, "group id:    {}", d.group_id());
    let _ = writeln!(
        s,
        "fingerprint: {}  (for `obhut enrol --group-fingerprint`)",
        obhut_core::vault::descriptor_fingerprint(d)
    );
    let _ = writeln!(s, "generation:  {}", d.generation());
    let _ = writeln!(
        s,
        "threshold:   {} of {} custodians",
        d.threshold(),
        d.size()
    );
    let _ = writeln!(s, "custodians:");
    let mut valid = 0;
    for c in d.custodians() {
        let state = match signature_state(d, c.index, &body) {
            Some(true) => {
                valid += 1;
                "signed"
            }
            Some(false) => "INVALID SIGNATURE",
            None => "not signed",
        };
        let _ = writeln!(
            s,
            "  {:>3}  {}  {}",
            c.index,
            identity::fingerprint(&c.sign_key, &c.kem_key),
            state
        );
    }
    let _ = writeln!(s, "signatures:  {valid} valid of {} needed", d.threshold());
    let pins = d.pin().is_ok();
    let _ = writeln!(
        s,
        "pins:        {}",
        if pins {
            "yes (devices and requesters can use it)"
        } else {
            "no (more custodians must run `obhut custody sign`)"
        }
    );
    s
}
