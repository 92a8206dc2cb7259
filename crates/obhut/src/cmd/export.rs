//! `obhut export`: an approved grant's footage as an evidence bundle for a
//! recipient outside the system (docs/bundle.md; the library is
//! `obhut_client::export`).

use std::path::PathBuf;

use obhut_client::access::AccessClient;
use obhut_client::export::{Recipients, export};
use obhut_client::export_report::{Lang, Party, ReportSpec};
use obhut_client::names::{Name, Names};
use obhut_client::reader::Reader;
use obhut_core::identity;
use obhut_core::name::{NameClaim, Subject};

use crate::util::hint::fail;
use crate::util::logclient::LogArgs;
use crate::util::{Global, keys, load, time};

/// Export the approved scope of your request as an evidence bundle.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
As the requester, once k custodians approved your request: release it as
`obhut open` does, and write an evidence bundle into the new directory
--out DIR for the recipient --to (an age X25519 public key, age1…; repeat
for several): for each recording in scope, a clean clip of the approved
window and the segment keys, both encrypted to the recipients so that
`age -d -i KEY` opens them; the device-signed records and ciphertext of
exactly the segments in scope; a sample map tracing every byte of the clip
to signed ciphertext; the chain of custody's audit-log entries, each with
an inclusion proof (C2SP tlog-proof) against one witness-cosigned
checkpoint; and manifest.json with the SHA-256 and BLAKE3 of every file.

The export is logged as a `disclosed` entry signed by you, naming the
recipients and the digest of what the bundle holds; the bundle carries
its proof. Anyone checks the bundle offline with `obhut verify DIR`
(docs/bundle.md says how to write another verifier).

The bundle also holds the chain-of-custody report, report/report.LANG.html
and report/report.LANG.pdf, in each --lang given (de or en; repeat for
both; English when none is given): the request, the recordings, every
logged event of the chain of custody with its people by name and
fingerprint, the SHA-256 and BLAKE3 of every other file, and the
checkpoint. manifest.json lists the report's files like any other.

--plaintext writes clips and keys unencrypted (no --to): whoever holds
the bundle can watch the footage. --zip also writes DIR.zip.

Example:
  obhut export 3f2a… --vault http://127.0.0.1:8700 --log-key VKEY \\
      --identity req.key --group custody/group.obgd \\
      --to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p \\
      --out bundle/")]
pub struct Args {
    /// The request hash (64 hex digits, printed by `obhut request`).
    request: String,
    #[command(flatten)]
    log: LogArgs,
    /// Your locked identity: the one that signed the request.
    #[arg(long, value_name = "KEY")]
    identity: PathBuf,
    /// The custody group descriptor (pinned).
    #[arg(long, value_name = "FILE")]
    group: PathBuf,
    /// The recipient's age public key (age1…); repeat for several.
    #[arg(
        long = "to",
        value_name = "RECIPIENT",
        required_unless_present = "plaintext"
    )]
    to: Vec<String>,
    /// Clips and keys unencrypted (instead of --to).
    #[arg(long, conflicts_with = "to")]
    plaintext: bool,
    /// The bundle directory to create (must not exist).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write the bundle as DIR.zip.
    #[arg(long)]
    zip: bool,
    /// The report's language (de or en); repeat for both. Default en.
    #[arg(long = "lang", value_name = "LANG", value_enum)]
    lang: Vec<ReportLang>,
}

/// `--lang`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ReportLang {
    /// Deutsch.
    De,
    /// English.
    En,
}

/// The report's languages and the people and devices it names: each
/// custodian, the requester and each exported recording's device, with its
/// display name where the vault serves a claim that verifies by the rule
/// `obhut verify` applies to the bundle (docs/bundle.md §2.1): signed by
/// the key itself or by a custodian whose approval of this request the
/// bundle holds. The requester without a stored claim signs one now with
/// the name in its own key file, so the report and the verifier agree.
fn report_spec(
    a: &Args,
    me: &obhut_core::identity::PersonSecret,
    group: &obhut_core::group::GroupDescriptor,
    reader: &Reader<'_>,
    grant: &obhut_client::open::Grant,
) -> ReportSpec {
    let mut langs = Vec::new();
    for l in if a.lang.is_empty() {
        vec![ReportLang::En]
    } else {
        a.lang.clone()
    } {
        let l = match l {
            ReportLang::De => Lang::De,
            ReportLang::En => Lang::En,
        };
        if !langs.contains(&l) {
            langs.push(l);
        }
    }
    let devices: Vec<[u8; 32]> = grant
        .resolved
        .iter()
        .flat_map(|r| r.in_scope.iter().filter_map(|&i| r.records.get(i)))
        .map(|rec| rec.header().fields.device_key.to_bytes())
        .collect();
    let public = me.public();
    let approvers: Vec<_> = grant
        .request_json
        .approvals
        .iter()
        .filter_map(|ap| group.custodian(ap.custodian))
        .map(|c| c.sign_key)
        .collect();
    let mut keys: Vec<[u8; 32]> = group
        .custodians()
        .iter()
        .map(|c| c.sign_key.to_bytes())
        .collect();
    keys.push(public.sign_key.to_bytes());
    keys.extend(&devices);
    let mut names = Names::fetch_or_none(reader, &keys, &approvers);
    if let Ok(own) = NameClaim::sign_own(Subject::Person, &public.name, time::now_ms(), &me.sign) {
        names.add_if_unnamed(&own.to_bytes(), &approvers);
    }
    let verified = |key: &[u8; 32]| match names.get(key) {
        Some(Name::Verified(n)) => Some(n.clone()),
        _ => None,
    };
    let mut people = std::collections::BTreeMap::new();
    for c in group.custodians() {
        let role = format!("custodian {} of {}", c.index, group.name());
        let key = c.sign_key.to_bytes();
        people.insert(
            key,
            Party {
                name: Some(verified(&key).map_or(role.clone(), |n| format!("{n}, {role}"))),
                fingerprint: identity::fingerprint(&c.sign_key, &c.kem_key).to_string(),
            },
        );
    }
    let key = public.sign_key.to_bytes();
    people.insert(
        key,
        Party {
            name: verified(&key),
            fingerprint: public.fingerprint().to_string(),
        },
    );
    for d in devices {
        if let Some(n) = verified(&d) {
            people.insert(
                d,
                Party {
                    name: Some(n),
                    fingerprint: format!("device {}", hex::encode(d)),
                },
            );
        }
    }
    ReportSpec {
        langs,
        people,
        names,
    }
}

/// Run `obhut export`.
pub fn run(g: &Global, a: &Args) -> anyhow::Result<()> {
    let to = if a.plaintext {
        Recipients::Plaintext
    } else {
        Recipients::parse(&a.to).map_err(|e| {
            fail(
                format!("--to: {e}"),
                "give the recipient's age public key (age1…, from `age-keygen -y KEY`)",
            )
        })?
    };
    if a.out.exists() {
        return Err(fail(
            format!("--out {} exists", a.out.display()),
            "an export goes into a new directory: name one that does not exist",
        ));
    }
    let group = load::pinned_group(&a.group, "--group")?;
    let log = a.log.client_for(&group)?;
    let me = keys::person(g, &a.identity, "--identity")?;
    let client = AccessClient::new(Reader::new(&a.log.vault, log.vault_identity(), &me.sign));
    let grant = obhut_client::open::open_as(&client, &log, &a.request, &group, &me)
        .map_err(load::other_group)?;
    for r in grant.rejected_partials() {
        eprintln!("warning: {r}");
    }
    let spec = report_spec(a, &me, group.descriptor(), client.reader(), &grant);
    let done = export(&client, &log, &grant, &a.out, &to, &spec)?;
    if a.zip {
        let mut name = a.out.as_os_str().to_owned();
        name.push(".zip");
        let path = PathBuf::from(name);
        let prefix = a
            .out
            .file_name()
            .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                fail(
                    format!("{}: {e}", path.display()),
                    "remove it or choose another --out",
                )
            })?;
        obhut_client::zip::write_zip(
            &a.out,
            &prefix,
            &done.manifest.files,
            obhut_client::bundle::MANIFEST,
            &mut file,
        )
        .map_err(|e| fail(format!("{}: {e}", path.display()), "keep the directory"))?;
        file.sync_all()?;
        g.note(format!("{}: the bundle as one ZIP", path.display()));
    }
    let segments: usize = done
        .manifest
        .recordings
        .iter()
        .map(|r| r.segments.len())
        .sum();
    g.note(format!(
        "exported {segments} segment(s) of {} recording(s) to {} for {} (disclosure logged as entry #{}, inclusion verified; proofs against the checkpoint of size {}; {} bytes of ciphertext fetched)",
        done.manifest.recordings.len(),
        a.out.display(),
        done.manifest.recipients.join(", "),
        done.disclosure_index,
        done.checkpoint_size,
        done.bytes_fetched
    ));
    g.note(format!("check it with: obhut verify {}", a.out.display()));
    if !g.quiet {
        println!("{}", a.out.display());
    }
    Ok(())
}
