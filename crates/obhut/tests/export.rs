//! Issue 19 items 2 and 4: `obhut export` writes an evidence bundle of an
//! approved scope (a real vault on loopback, a real MP4 made by ffmpeg),
//! Debian's `age` decrypts its clip and ffprobe reads it, `obhut verify`
//! checks it offline, and tampering with any one part (a byte of video, a
//! record, a proof, the checkpoint, the manifest's hash list) fails naming
//! the part. The bundle holds no key for footage outside its scope.
//!
//! One vault and three exports are made once and shared by the tests (a
//! `OnceLock`); each tamper case works on its own copy.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use obhut_core::record::SegmentRecord;
use obhut_core::secret::Secret32;
use obhut_core::segment::SegmentOpener;

use crate::support;
use crate::support::credentials;
use support::*;

struct Fixture {
    dir: PathBuf,
    /// The clip's length.
    seconds: u32,
    vkey: String,
    rid: String,
}

fn request(d: &Path, vault: &Vault, vkey: &str, rid: &str, from: &str, to: &str) -> String {
    let out = format!("req-{from}.obar");
    let o = ok(
        d,
        &[
            "request",
            "--identity",
            "req.key",
            "--group",
            "custody/group.obgd",
            "--recording",
            rid,
            "--from-ms",
            from,
            "--to-ms",
            to,
            "--purpose",
            "criminal investigation",
            "--justification",
            "complaint 17 concerns this stop",
            "--legal-basis",
            "§ 48 BDSG",
            "--case",
            "CASE-17",
            "--recipient",
            "prosecutor",
            "--out",
            &out,
            "--vault",
            &vault.url,
            "--log-key",
            vkey,
            "--log-state",
            "req.cp",
        ],
    );
    let hash = o.trim().to_owned();
    assert_eq!(hash.len(), 64, "{o}");
    hash
}

fn approve(d: &Path, vault: &Vault, vkey: &str, who: &str, share: u32, hash: &str) {
    ok(
        d,
        &[
            "approve",
            hash,
            "--vault",
            &vault.url,
            "--log-key",
            vkey,
            "--state",
            &format!("{who}.cp"),
            "--identity",
            &format!("{who}.key"),
            "--share",
            &format!("custody/share-{share}.obse"),
            "--group",
            "custody/group.obgd",
            "--yes",
        ],
    );
}

fn export(d: &Path, vault: &Vault, vkey: &str, hash: &str, extra: &[&str]) {
    let mut args = vec![
        "export",
        hash,
        "--vault",
        &vault.url,
        "--log-key",
        vkey,
        "--state",
        "req.cp",
        "--identity",
        "req.key",
        "--group",
        "custody/group.obgd",
    ];
    args.extend_from_slice(extra);
    ok(d, &args);
}

/// A vault with a 60-second MP4 ingested in 2-second segments (36 s on
/// PostgreSQL + S3); a request for 25–35 s (13–23 s) exported to an age
/// recipient (`bundle-age`) and in plaintext with a ZIP (`bundle-plain`);
/// a request for the whole clip exported in plaintext (`bundle-whole`,
/// whose records are every segment's).
/// Made on the embedded store; [`fixture_on`] makes it on either.
fn fixture() -> &'static Fixture {
    fixture_on(Backend::Embedded)
}

fn fixture_on(backend: Backend) -> &'static Fixture {
    static EMBEDDED: OnceLock<Fixture> = OnceLock::new();
    static POSTGRES_S3: OnceLock<Fixture> = OnceLock::new();
    let f = match backend {
        Backend::Embedded => &EMBEDDED,
        Backend::PostgresS3 => &POSTGRES_S3,
    };
    // The same exports of a shorter clip on PostgreSQL + S3 (a scope of
    // 10 s within it): what depends on the store is the same, in less of
    // the CI budget.
    let (seconds, from, to) = match backend {
        Backend::Embedded => (60, "25000", "35000"),
        Backend::PostgresS3 => (36, "13000", "23000"),
    };
    f.get_or_init(|| {
        let dir = setup();
        let d = dir.as_path();
        // Dropped with the vault below: the bundles are checked offline.
        let stores = backend.prepare(d);
        ok(
            d,
            &[
                "keygen",
                "person",
                "--name",
                "requester",
                "--out",
                "req.key",
                "--kdf-fast",
            ],
        );
        let vault = Vault::start(d);
        let vkey = log_key(&vault);
        let token = vault.token(d, "custody/group.obgd");
        let fpr = fingerprint(d, "custody/group.obgd");
        ok(
            d,
            &[
                "enrol",
                "--vault",
                &vault.url,
                "--token",
                &token,
                "--device",
                "cam.key",
                "--group-fingerprint",
                &fpr,
                "--state",
                "state",
            ],
        );
        let rid = ingest_clip(d, seconds, "320x240");
        let gid = group_id(d);
        let admin = |args: &[&str]| {
            let mut a = vec!["admin", "--data", "vault-data", "--keys", "vault-keys"];
            a.extend_from_slice(args);
            ok(d, &a)
        };
        admin(&[
            "add-requester",
            "--identity",
            "req.key.pub",
            "--group",
            &gid,
        ]);
        for who in ["req", "alice", "bob"] {
            admin(&[
                "add-reader",
                "--identity",
                &format!("{who}.key.pub"),
                "--group",
                &gid,
            ]);
        }
        // Names the vault serves (the device's and a custodian's, each
        // signed by its own key); the requester's is in its key file only,
        // so the export signs it (docs/bundle.md §2.1).
        for who in ["cam", "alice"] {
            admin(&["set-name", &format!("{who}.key.name")]);
        }
        let granted = |from: &str, to: &str| {
            let hash = request(d, &vault, &vkey, &rid, from, to);
            approve(d, &vault, &vkey, "alice", 1, &hash);
            approve(d, &vault, &vkey, "bob", 2, &hash);
            approve(d, &vault, &vkey, "alice", 1, &hash);
            hash
        };
        let hash = granted(from, to);
        let keygen = Command::new("age-keygen")
            .args(["-o", "recipient.txt"])
            .current_dir(d)
            .output()
            .expect("age-keygen is needed (./scripts/test installs age)");
        assert!(keygen.status.success(), "{}", text(&keygen.stderr));
        let public = Command::new("age-keygen")
            .args(["-y", "recipient.txt"])
            .current_dir(d)
            .output()
            .unwrap();
        let recipient = text(&public.stdout).trim().to_owned();
        assert!(recipient.starts_with("age1"), "{recipient}");
        export(
            d,
            &vault,
            &vkey,
            &hash,
            &["--to", &recipient, "--out", "bundle-age"],
        );
        export(
            d,
            &vault,
            &vkey,
            &hash,
            &[
                "--plaintext",
                "--out",
                "bundle-plain",
                "--zip",
                "--lang",
                "de",
                "--lang",
                "en",
            ],
        );
        let whole = granted("0", &(seconds * 1000).to_string());
        export(
            d,
            &vault,
            &vkey,
            &whole,
            &["--plaintext", "--out", "bundle-whole"],
        );
        drop(vault);
        drop(stores);
        Fixture {
            dir,
            seconds,
            vkey,
            rid,
        }
    })
}

/// A copy of `bundle-plain` to tamper with.
fn copy_of_plain(name: &str) -> PathBuf {
    let f = fixture();
    let to = f.dir.join(name);
    let st = Command::new("cp")
        .arg("-r")
        .arg(f.dir.join("bundle-plain"))
        .arg(&to)
        .status()
        .unwrap();
    assert!(st.success());
    to
}

fn verify(bundle: &Path, extra: &[&str]) -> std::process::Output {
    verify_in(fixture(), bundle, extra)
}

/// `obhut verify` of `bundle` with the log key of `f`'s vault.
fn verify_in(f: &Fixture, bundle: &Path, extra: &[&str]) -> std::process::Output {
    let b = bundle.to_string_lossy().into_owned();
    let mut args = vec!["verify", "--log-key", &f.vkey];
    args.extend_from_slice(extra);
    args.push(&b);
    run(&f.dir, &args)
}

/// `obhut verify` fails, and its error names `part`; returns stderr.
#[track_caller]
fn fails_naming(bundle: &Path, part: &str) -> String {
    let out = verify(bundle, &[]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "verify passed a tampered bundle\n{}",
        text(&out.stdout)
    );
    assert!(
        err.contains(&format!("failed verification: {part} ("))
            || err.contains(&format!("; {part} (")),
        "the error names {part}:\n{err}\n{}",
        text(&out.stdout)
    );
    err
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x01;
    fs::write(path, b).unwrap();
}

// The footage the bundles hold was read from the vault's blobs and
// index: the directory and SQLite, or an S3 bucket and PostgreSQL.
on_both_backends!(
    an_age_export_opens_with_debians_age_plays_and_verifies_offline,
    an_export_holds_no_key_for_footage_outside_its_scope,
);

fn an_age_export_opens_with_debians_age_plays_and_verifies_offline(backend: Backend) {
    let f = fixture_on(backend);
    let d = f.dir.as_path();
    let rid = &f.rid;
    let out = Command::new("age")
        .args(["-d", "-i", "recipient.txt", "-o", "clip.mp4"])
        .arg(format!("bundle-age/clips/{rid}.mp4.age"))
        .current_dir(d)
        .output()
        .expect("age is needed (./scripts/test installs it)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(d.join("clip.mp4"))
        .output()
        .expect("ffprobe");
    let secs: f64 = text(&probe.stdout).trim().parse().expect("a duration");
    assert!((9.0..=11.0).contains(&secs), "the clip lasts {secs} s");
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(d.join("clip.mp4"))
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert_eq!(text(&o.stderr), "", "ffmpeg decodes it without an error");
    // The keys are encrypted too: age opens them, and they are hex.
    let keys = Command::new("age")
        .args(["-d", "-i", "recipient.txt"])
        .arg(format!("bundle-age/keys/{rid}.keys.age"))
        .current_dir(d)
        .output()
        .unwrap();
    assert!(keys.status.success());
    assert!(text(&keys.stdout).lines().count() >= 5);

    // Offline: the vault is gone. With the identity every byte is checked.
    let full = verify_in(
        f,
        &d.join("bundle-age"),
        &["--age-identity", "recipient.txt"],
    );
    let report = text(&full.stdout);
    assert!(full.status.success(), "{report}\n{}", text(&full.stderr));
    assert!(
        report.contains(&format!("ok           clips/{rid}.mp4.age: every byte")),
        "{report}"
    );
    for kind in [
        "device-enrolled",
        "segment-received",
        "access-requested",
        "approved",
        "released",
        "disclosed",
    ] {
        assert!(
            report.contains(kind),
            "a verdict for the {kind} event:\n{report}"
        );
    }
    assert!(report.contains("result: ok"), "{report}");
    // Without it, the clip is reported as not checked (and nothing fails).
    let partial = verify_in(f, &d.join("bundle-age"), &[]);
    assert!(partial.status.success());
    assert!(text(&partial.stdout).contains("NOT CHECKED"));
    // Without --log-key the bundle's own key is used, and the report says so.
    let own = run(d, &["verify", "bundle-plain"]);
    assert!(own.status.success(), "{}", text(&own.stderr));
    assert!(text(&own.stdout).contains("taken from the bundle"));
    // A log key that is not the vault's refuses the checkpoint.
    let other = run(
        d,
        &[
            "verify",
            "--log-key",
            "other+12345678+AWRRQ2wt9zmwuvkIdDsAJmPU5Kd6lr3+BZmpVSvDgq4m",
            "bundle-plain",
        ],
    );
    assert!(!other.status.success());

    // --zip: the same files, one archive that unzip accepts.
    let t = Command::new("unzip")
        .args(["-t", "bundle-plain.zip"])
        .current_dir(d)
        .output();
    if let Ok(t) = t {
        assert!(t.status.success(), "{}", text(&t.stdout));
        assert!(text(&t.stdout).contains("manifest.json"));
    }
}

#[test]
fn a_changed_byte_of_video_fails_naming_the_clip() {
    let f = fixture();
    let b = copy_of_plain("t-video");
    let clip = b.join(format!("clips/{}.mp4", f.rid));
    let len = fs::metadata(&clip).unwrap().len() as usize;
    flip(&clip, len / 2);
    fails_naming(&b, &format!("clips/{}.mp4", f.rid));
    // With the manifest's hashes made to fit, the clip is still caught:
    // the logged disclosure's digest and the re-derivation both differ.
    refit_hashes(&b, &format!("clips/{}.mp4", f.rid));
    let err = fails_naming(&b, &format!("clips/{}.mp4", f.rid));
    assert!(err.contains("clip differs"), "{err}");
    assert!(err.contains("content digest"), "{err}");
}

/// The manifest's hashes of the bundle file `rel` made to fit it again.
fn refit_hashes(b: &Path, rel: &str) {
    let bytes = fs::read(b.join(rel)).unwrap();
    let info = text(
        &Command::new("sha256sum")
            .arg(b.join(rel))
            .output()
            .unwrap()
            .stdout,
    );
    let sha = info.split_whitespace().next().unwrap().to_owned();
    let m = fs::read_to_string(b.join("manifest.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&m).unwrap();
    let b3 = blake3::hash(&bytes).to_hex().to_string();
    for file in v["files"].as_array_mut().unwrap() {
        if file["path"] == rel {
            file["sha256"] = sha.clone().into();
            file["blake3"] = b3.clone().into();
        }
    }
    fs::write(
        b.join("manifest.json"),
        serde_json::to_vec_pretty(&v).unwrap(),
    )
    .unwrap();
}

/// Issue 19 item 6: the bundle's clip carries Content Credentials that
/// the C2PA reference reader validates (and finds invalid after one byte
/// of video is changed), stating the bundle's own facts: the recording,
/// the exported segments with their record hashes, the grant. Its
/// manifest box is not footage: `obhut verify` re-derives the clip
/// around it, and a changed byte in it fails the clip's hashes and, with
/// those made to fit, the logged disclosure's digest.
#[test]
fn the_clip_carries_content_credentials_a_c2pa_reader_validates() {
    let f = fixture();
    let rid = &f.rid;
    let plain = f.dir.join("bundle-plain");
    let clip = plain.join(format!("clips/{rid}.mp4"));
    let custody = credentials::assert_credentials(&clip, rid);
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(plain.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(custody["device"]["name"], "bodycam-0042", "{custody}");
    assert_eq!(custody["grant"]["request_hash"], m["request"]["hash"]);
    assert_eq!(custody["grant"]["request_index"], m["request"]["index"]);
    let exported = m["recordings"][0]["segments"].as_array().unwrap();
    let stated = custody["segments"].as_array().unwrap();
    assert_eq!(stated.len(), exported.len());
    for (s, i) in stated.iter().zip(exported) {
        assert_eq!(&s["index"], i);
        let i = i.as_u64().unwrap();
        let rec = fs::read(plain.join(format!("records/{rid}/{i:06}.rec"))).unwrap();
        let rec = SegmentRecord::from_bytes(&rec).unwrap();
        assert_eq!(s["record_hash"], hex::encode(rec.record_hash()));
        assert_eq!(s["ciphertext_blake3"], hex::encode(rec.ciphertext_hash()));
    }
    let map: serde_json::Value =
        serde_json::from_slice(&fs::read(plain.join(format!("samples/{rid}.json"))).unwrap())
            .unwrap();
    let boxed = map["c2pa_len"]
        .as_u64()
        .expect("the sample map names the box");
    let ok = verify(&plain, &[]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains(&format!("C2PA manifest box ({boxed} bytes")),
        "{}",
        text(&ok.stdout)
    );

    // A byte of the manifest box (after the 28-byte ftyp) changed.
    let b = copy_of_plain("t-c2pa");
    let clip = b.join(format!("clips/{rid}.mp4"));
    flip(&clip, 28 + boxed as usize / 2);
    fails_naming(&b, &format!("clips/{rid}.mp4"));
    // With the hashes made to fit, the clip still re-derives (the box is
    // not footage), but it is not the content the requester disclosed.
    refit_hashes(&b, &format!("clips/{rid}.mp4"));
    let out = verify(&b, &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(err.contains(".entry (disclosure refused"), "{err}");
    assert!(err.contains("content digest"), "{err}");
}

#[test]
fn a_changed_record_fails_naming_it() {
    let f = fixture();
    let b = copy_of_plain("t-record");
    let dir = b.join(format!("records/{}", f.rid));
    let first = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    flip(&first, 200);
    let rel = first
        .strip_prefix(&b)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let err = fails_naming(&b, &rel);
    assert!(err.contains("record refused"), "{err}");
}

#[test]
fn a_changed_proof_fails_naming_it() {
    let b = copy_of_plain("t-proof");
    let proof = fs::read_dir(b.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "tlog-proof")
                && fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .nth(2)
                    .is_some_and(|l| !l.is_empty())
        })
        .expect("a proof with at least one hash");
    let text_ = fs::read_to_string(&proof).unwrap();
    let mut lines: Vec<String> = text_.split('\n').map(str::to_owned).collect();
    // The first hash: a different, still well-formed one.
    lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    fs::write(&proof, lines.join("\n")).unwrap();
    let rel = proof
        .strip_prefix(&b)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let err = fails_naming(&b, &rel);
    assert!(err.contains("not included"), "{err}");
}

#[test]
fn a_changed_checkpoint_fails_naming_it() {
    let b = copy_of_plain("t-checkpoint");
    let cp = b.join("log/checkpoint");
    let t = fs::read_to_string(&cp).unwrap();
    let mut lines: Vec<String> = t.split('\n').map(str::to_owned).collect();
    // One more entry than was signed.
    let size: u64 = lines[1].parse().unwrap();
    lines[1] = (size + 1).to_string();
    fs::write(&cp, lines.join("\n")).unwrap();
    let err = fails_naming(&b, "log/checkpoint");
    assert!(err.contains("checkpoint refused"), "{err}");
}

#[test]
fn a_changed_hash_in_the_manifest_fails_naming_the_file() {
    let b = copy_of_plain("t-manifest");
    let m = fs::read_to_string(b.join("manifest.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&m).unwrap();
    let file = &mut v["files"][0];
    let path = file["path"].as_str().unwrap().to_owned();
    let sha = file["sha256"].as_str().unwrap().to_owned();
    let changed = format!(
        "{}{}",
        if sha.starts_with('0') { "1" } else { "0" },
        &sha[1..]
    );
    file["sha256"] = changed.into();
    fs::write(
        b.join("manifest.json"),
        serde_json::to_vec_pretty(&v).unwrap(),
    )
    .unwrap();
    let err = fails_naming(&b, &path);
    assert!(err.contains("SHA-256 differs from the manifest"), "{err}");
}

/// Issue 19 item 3: the chain-of-custody report in the bundle, both
/// languages, HTML and PDF; it names the other files' hashes and the
/// manifest covers it, so a changed report byte fails `obhut verify`
/// naming the report file.
#[test]
fn the_report_is_in_the_bundle_in_both_languages_and_verify_covers_it() {
    let f = fixture();
    let plain = f.dir.join("bundle-plain");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(plain.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    let sha_of = |path: &str| {
        files
            .iter()
            .find(|x| x["path"] == path)
            .unwrap_or_else(|| panic!("the manifest lists {path}"))["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for lang in ["de", "en"] {
        for ext in ["html", "pdf"] {
            sha_of(&format!("report/report.{lang}.{ext}"));
        }
        let pdf = fs::read(plain.join(format!("report/report.{lang}.pdf"))).unwrap();
        assert!(pdf.starts_with(b"%PDF"), "{lang}: not a PDF");
        let out = Command::new("pdftotext")
            .arg(plain.join(format!("report/report.{lang}.pdf")))
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) is needed");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let words = text(&out.stdout);
        assert!(
            words.contains("CASE-17"),
            "{lang}: the case is shown\n{words}"
        );
        if lang == "de" {
            assert!(words.contains("Beweismittelkette"), "{words}");
        }
        // The report names the requester by name, and the clip's hash.
        let html = fs::read_to_string(plain.join(format!("report/report.{lang}.html"))).unwrap();
        assert!(html.contains("requester"), "{lang}: the requester's name");
        let clip = sha_of(&format!("clips/{}.mp4", f.rid));
        assert!(html.contains(&clip), "{lang}: the clip's SHA-256 {clip}");
    }
    // An age bundle without --lang has the English report only.
    let age = f.dir.join("bundle-age");
    assert!(age.join("report/report.en.pdf").exists());
    assert!(!age.join("report/report.de.pdf").exists());

    let t = copy_of_plain("tamper-report");
    let html = t.join("report/report.de.html");
    let body = fs::read_to_string(&html).unwrap();
    let clip = sha_of(&format!("clips/{}.mp4", f.rid));
    let at = body.find(&clip).expect("the clip's hash in the report");
    flip(&html, at);
    fails_naming(&t, "report/report.de.html");
}

/// The Ed25519 key (hex) in `who`.key.pub.
fn person_key(who: &str) -> obhut_core::identity::VerifyKey {
    let p = fs::read(fixture().dir.join(format!("{who}.key.pub"))).unwrap();
    obhut_core::identity::PublicIdentity::from_bytes(&p)
        .unwrap()
        .sign_key
}

/// Display names travel in the bundle (docs/bundle.md §2.1) and `obhut
/// verify` checks each claim offline and shows "Name (ID)" in the events'
/// verdicts, as the report names them. A claim with its name swapped, or
/// signed by a key that is neither the named key nor an approving
/// custodian, fails naming its file.
#[test]
fn the_bundle_names_people_and_verify_checks_each_name() {
    use obhut_core::name::{NameClaim, Subject};
    let f = fixture();
    let plain = f.dir.join("bundle-plain");
    let alice = hex::encode(person_key("alice").to_bytes());
    let req = person_key("req");
    let out = verify(&plain, &[]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        shown.contains(&format!("ok           names/{alice}.name: person {alice} is named \"alice\", signed by that key itself")),
        "{shown}"
    );
    let req_line = shown
        .lines()
        .find(|l| l.contains("access-requested"))
        .expect("the request's entry");
    let req_fpr = {
        let p = fs::read(f.dir.join("req.key.pub")).unwrap();
        obhut_core::identity::PublicIdentity::from_bytes(&p)
            .unwrap()
            .fingerprint()
            .to_string()
    };
    assert!(
        req_line.contains(&format!("person: requester ({req_fpr})")),
        "{req_line}"
    );
    assert!(
        shown.contains(&format!("person: alice ({alice})")),
        "{shown}"
    );
    assert!(shown.contains("device: bodycam-0042 ("), "{shown}");
    // The report names the same people.
    let html = fs::read_to_string(plain.join("report/report.en.html")).unwrap();
    assert!(html.contains("bodycam-0042") && html.contains("alice, custodian 1"));

    // The name in alice's claim swapped for another of the same length.
    let b = copy_of_plain("t-name-swap");
    let rel = format!("names/{alice}.name");
    let mut claim = fs::read(b.join(&rel)).unwrap();
    let at = claim.windows(5).position(|w| w == b"alice").unwrap();
    claim[at..at + 5].copy_from_slice(b"mally");
    fs::write(b.join(&rel), &claim).unwrap();
    fails_naming(&b, &rel);
    refit_hashes(&b, &rel);
    let err = fails_naming(&b, &rel);
    assert!(
        err.contains("display name refused: the claim does not verify"),
        "{err}"
    );

    // A valid claim for the requester, signed by another key.
    let b = copy_of_plain("t-name-other");
    let rel = format!("names/{}.name", hex::encode(req.to_bytes()));
    let other = obhut_core::identity::SignKey::generate(&mut obhut_core::rng::os_rng());
    let forged = NameClaim::sign(Subject::Person, &req, "Judge", 1, &other).unwrap();
    fs::write(b.join(&rel), forged.to_bytes()).unwrap();
    refit_hashes(&b, &rel);
    let err = fails_naming(&b, &rel);
    assert!(
        err.contains("neither the key it names nor a custodian"),
        "{err}"
    );
    let out = verify(&b, &[]);
    assert!(
        !text(&out.stdout).contains("Judge ("),
        "{}",
        text(&out.stdout)
    );
}

/// Every key in the scoped bundle is tried against every segment of the
/// recording (the whole-minute bundle's records): each opens its own
/// segment's header and no other.
fn an_export_holds_no_key_for_footage_outside_its_scope(backend: Backend) {
    let f = fixture_on(backend);
    let keys_text =
        fs::read_to_string(f.dir.join(format!("bundle-plain/keys/{}.keys", f.rid))).unwrap();
    let keys: Vec<(u32, Secret32)> = keys_text
        .lines()
        .map(|l| {
            let (i, k) = l.split_once(' ').unwrap();
            let mut b = [0u8; 32];
            hex::decode_to_slice(k, &mut b).unwrap();
            (i.parse().unwrap(), Secret32::new(b))
        })
        .collect();
    let all: Vec<SegmentRecord> =
        fs::read_dir(f.dir.join(format!("bundle-whole/records/{}", f.rid)))
            .unwrap()
            .map(|e| SegmentRecord::from_bytes(&fs::read(e.unwrap().path()).unwrap()).unwrap())
            .collect();
    assert!(
        all.len() as u32 >= f.seconds / 2,
        "the whole recording: {} records",
        all.len()
    );
    assert!(keys.len() < all.len() / 2, "{} keys", keys.len());
    let scoped: Vec<u32> = fs::read_dir(f.dir.join(format!("bundle-plain/records/{}", f.rid)))
        .unwrap()
        .count()
        .try_into()
        .map(|n: u32| (0..n).collect())
        .unwrap();
    assert_eq!(
        keys.len(),
        scoped.len(),
        "a key per exported record, no more"
    );
    let mut opened = 0;
    for (i, k) in &keys {
        for r in &all {
            let j = r.segment_ref().index;
            let opens = SegmentOpener::from_segment_key(r.header(), k).is_ok();
            assert_eq!(opens, j == *i, "key of segment {i} against segment {j}");
            opened += usize::from(opens);
        }
    }
    assert_eq!(opened, keys.len());
    // The bundle's ciphertext is only of its segments.
    let segs = fs::read_dir(f.dir.join(format!("bundle-plain/segments/{}", f.rid)))
        .unwrap()
        .count();
    assert_eq!(segs, keys.len());
}
