//! Display names (issue 19 item 7; docs/format.md §3.5): `obhut keygen`
//! signs each person's and device's name with its own key (KEY.name), the
//! operator serves them (`obhut admin set-name`, logged), and `pending`,
//! `approve`, `audit log` and `export`'s chain-of-custody report show
//! "Name (fingerprint)" — through a real `obhut serve` on loopback, an
//! ffmpeg MP4 ingested by an enrolled device.
//!
//! Adversarial: the operator substituting a name (a claim for the
//! requester's key signed by another key, newer than the real one) is
//! stored and served, and every command shows "name not verified" instead
//! of it.

use std::fs;
use std::path::Path;

use obhut_core::identity::{PublicIdentity, SignKey};
use obhut_core::name::{NameClaim, Subject};
use obhut_core::rng::os_rng;

use crate::support;
use support::*;

/// `obhut approve` as `who`; what it showed (stderr).
fn approve(d: &Path, vault: &Vault, vkey: &str, who: &str, share: u32, hash: &str) -> String {
    let (state, ident, share) = (
        format!("{who}.cp"),
        format!("{who}.key"),
        format!("custody/share-{share}.obse"),
    );
    let args = [
        "approve",
        hash,
        "--vault",
        &vault.url,
        "--log-key",
        vkey,
        "--state",
        &state,
        "--identity",
        &ident,
        "--share",
        &share,
        "--group",
        "custody/group.obgd",
        "--yes",
    ];
    let out = run(d, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stderr)
}

fn pending(d: &Path, vault: &Vault, vkey: &str, who: &str) -> String {
    ok(
        d,
        &[
            "pending",
            "--vault",
            &vault.url,
            "--log-key",
            vkey,
            "--identity",
            &format!("{who}.key"),
            "--all",
        ],
    )
}

// Names are stored in, and served from, the index: SQLite or PostgreSQL.
on_both_backends!(names_signed_by_their_keys_are_shown_and_a_substituted_one_is_not);

fn names_signed_by_their_keys_are_shown_and_a_substituted_one_is_not(backend: Backend) {
    let dir = setup();
    let d = dir.as_path();
    let _stores = backend.prepare(d);
    ok(
        d,
        &[
            "keygen",
            "person",
            "--name",
            "Kommissarin Weiß",
            "--out",
            "req.key",
            "--kdf-fast",
        ],
    );
    for f in ["req", "alice", "bob", "cam"] {
        assert!(d.join(format!("{f}.key.name")).is_file(), "{f}.key.name");
    }
    let vault = Vault::start(d);
    let vkey = log_key(&vault);
    enrol(d, &vault);
    let rid = ingest_clip(d, 6, "160x120");
    let gid = group_id(d);
    admin(
        d,
        &[
            "add-requester",
            "--identity",
            "req.key.pub",
            "--group",
            &gid,
        ],
    );
    for who in ["req", "alice", "bob"] {
        let id = format!("{who}.key.pub");
        admin(d, &["add-reader", "--identity", &id, "--group", &gid]);
    }
    admin(d, &["add-auditor", "--identity", "alice.key.pub"]);
    for f in ["req", "alice", "bob", "cam"] {
        admin(d, &["set-name", &format!("{f}.key.name")]);
    }
    let req_pub = PublicIdentity::from_bytes(&fs::read(d.join("req.key.pub")).unwrap()).unwrap();
    let req_fpr = req_pub.fingerprint().to_string();
    let cam_hex = {
        let p = fs::read(d.join("cam.key.pub")).unwrap();
        let dev = obhut_core::identity::DevicePublic::from_bytes(&p).unwrap();
        hex::encode(dev.sign_key.to_bytes())
    };

    let hash = ok(
        d,
        &[
            "request",
            "--identity",
            "req.key",
            "--group",
            "custody/group.obgd",
            "--recording",
            &rid,
            "--from-ms",
            "0",
            "--to-ms",
            "4000",
            "--purpose",
            "criminal investigation",
            "--justification",
            "complaint 17",
            "--legal-basis",
            "§ 48 BDSG",
            "--case",
            "CASE-17",
            "--recipient",
            "prosecutor",
            "--out",
            "req.obar",
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--log-state",
            "req.cp",
        ],
    )
    .trim()
    .to_owned();

    // pending and approve: "Name (fingerprint)" for the requester and the
    // device.
    let p = pending(d, &vault, &vkey, "alice");
    assert!(
        p.contains(&format!("requester:     Kommissarin Weiß ({req_fpr})")),
        "{p}"
    );
    let shown = approve(d, &vault, &vkey, "alice", 1, &hash);
    assert!(
        shown.contains(&format!("Kommissarin Weiß ({req_fpr})"))
            && shown.contains(&format!("device:        bodycam-0042 ({cam_hex})")),
        "{shown}"
    );
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "alice", 1, &hash);

    // audit log: each person's and device's entries with its name.
    let audit = ok(
        d,
        &[
            "audit",
            "log",
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--state",
            "alice-audit.cp",
            "--recording",
            &rid,
            "--identity",
            "alice.key",
        ],
    );
    assert!(
        audit.contains(&format!("device: bodycam-0042 ({cam_hex})"))
            && audit.contains("person: alice (")
            && audit.contains("person: Kommissarin Weiß ("),
        "{audit}"
    );

    // The operator's console reads the same claims from the index.
    let devices = admin(d, &["devices"]);
    assert!(
        devices.contains(&format!("{cam_hex}\tbodycam-0042\t")),
        "{devices}"
    );

    // The export's chain-of-custody report names them too.
    ok(
        d,
        &[
            "export",
            &hash,
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--state",
            "req.cp",
            "--identity",
            "req.key",
            "--group",
            "custody/group.obgd",
            "--plaintext",
            "--out",
            "bundle",
        ],
    );
    let html = fs::read_to_string(d.join("bundle/report/report.en.html")).unwrap();
    for name in [
        "Kommissarin Weiß",
        "bodycam-0042",
        "alice, custodian 1 of custody",
    ] {
        assert!(html.contains(name), "{name} not in the report");
    }

    // The operator substitutes the requester's name: a newer claim for the
    // requester's key, signed by a key of the operator's. The vault stores
    // and serves it (it relays names) and logs it; no command shows it.
    let mallory = SignKey::generate(&mut os_rng());
    let forged = NameClaim::sign(
        Subject::Person,
        &req_pub.sign_key,
        "Judge Dredd",
        i64::MAX / 2,
        &mallory,
    )
    .unwrap();
    fs::write(d.join("forged.name"), forged.to_bytes()).unwrap();
    admin(d, &["set-name", "forged.name"]);
    let p = pending(d, &vault, &vkey, "bob");
    assert!(
        !p.contains("Judge Dredd") && p.contains(&format!("{req_fpr} (name not verified)")),
        "{p}"
    );
    let audit = ok(
        d,
        &[
            "audit",
            "log",
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--state",
            "alice-audit.cp",
            "--recording",
            &rid,
            "--identity",
            "alice.key",
        ],
    );
    assert!(
        !audit.contains("Judge Dredd") && audit.contains("(name not verified)"),
        "{audit}"
    );

    // A key renamed by its holder (`obhut name set`): the operator serves
    // the newer claim, and alice's old claim sent again cannot roll her
    // name back (the vault keeps the later claim, docs/format.md §3.5).
    fs::copy(d.join("alice.key.name"), d.join("alice-old.name")).unwrap();
    let help = ok(d, &["name", "set", "--help"]);
    assert!(
        help.contains("obhut admin --data DIR --keys DIR set-name"),
        "{help}"
    );
    let set = run(
        d,
        &[
            "name",
            "set",
            "--key",
            "alice.key",
            "--name",
            "Alice Schmidt",
        ],
    );
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(text(&set.stderr).contains("obhut admin set-name"));
    admin(d, &["set-name", "alice.key.name"]);
    let replay = run(
        d,
        &[
            "admin",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "set-name",
            "alice-old.name",
        ],
    );
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    assert!(
        text(&replay.stderr).contains("keeps its name"),
        "{}",
        text(&replay.stderr)
    );
    let p = pending(d, &vault, &vkey, "bob");
    let audit = ok(
        d,
        &[
            "audit",
            "log",
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--state",
            "alice-audit.cp",
            "--recording",
            &rid,
            "--identity",
            "alice.key",
        ],
    );
    assert!(
        audit.contains("person: Alice Schmidt (") && !audit.contains("person: alice ("),
        "{audit}\n{p}"
    );
}
