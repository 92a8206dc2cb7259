//! `obhut audit` against a real `obhut serve` process, playing the
//! attacker who controls the vault's database (docs/threat-model.md P3,
//! docs/log.md §How forks are caught): an old entry rewritten, an entry
//! dropped, a rollback to a backup, a fork (another history at the same
//! size), and a checkpoint signed with the wrong key. Each must be caught
//! by the client, which must also refuse to move its stored state.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_server::testkit::{custody_group, http};

use crate::support;

const BIN: &str = env!("CARGO_BIN_EXE_obhut");

use support::Listening as Server;

/// `obhut serve` on `dir/data` and `dir/keys`, made by `--init` if new.
fn start(dir: &Path) -> Server {
    support::spawn_listening(
        dir,
        &[
            "serve",
            "--init",
            "--data",
            "data",
            "--keys",
            "keys",
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

fn obhut(dir: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(args)
        .env("OBHUT_PASSPHRASE", "correct horse battery staple")
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("OBHUT_DATA");
    support::store_env(dir, &mut c);
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout {}\nstderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "accepted: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

fn checkpoint_size(addr: SocketAddr) -> Option<u64> {
    let r = http(addr, "GET", "/v1/log/checkpoint", &[], &[]).ok()?;
    (r.status == 200)
        .then(|| {
            String::from_utf8_lossy(&r.body)
                .lines()
                .nth(1)?
                .parse()
                .ok()
        })
        .flatten()
}

fn wait_size(addr: SocketAddr, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while checkpoint_size(addr) != Some(size) {
        assert!(
            Instant::now() < deadline,
            "no checkpoint of size {size}: {:?}",
            checkpoint_size(addr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The size of the served checkpoint once it carries the log's and the
/// witness's signatures and has not grown for half a second.
fn settled_cosigned_size(addr: SocketAddr) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    let mut since = Instant::now();
    loop {
        let now = (signature_lines(addr) >= 2)
            .then(|| checkpoint_size(addr))
            .flatten();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if let Some(size) = now
            && since.elapsed() >= Duration::from_millis(500)
        {
            return size;
        }
        assert!(Instant::now() < deadline, "the log did not settle: {now:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn admin_token(dir: &Path) {
    ok(&obhut(
        dir,
        &[
            "admin",
            "enrol-token",
            "--data",
            "data",
            "--group",
            "group.obgd",
            "--retention-class",
            "cctv-7d",
        ],
    ));
}

fn sql(dir: &Path, statement: &str) {
    support::index_sql(dir, "data", statement);
}

// The database rewritten, and restored from a backup, on either index:
// SQLite, or PostgreSQL (with the blobs in S3).
on_both_backends!(audit_verify_catches_rewrite_drop_rollback_fork_and_wrong_key);

fn audit_verify_catches_rewrite_drop_rollback_fork_and_wrong_key(backend: support::Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _stores = backend.prepare(dir);
    std::fs::write(dir.join("group.obgd"), custody_group().to_bytes()).unwrap();
    ok(&obhut(
        dir,
        &[
            "keygen",
            "person",
            "--name",
            "dpo",
            "--out",
            "dpo.key",
            "--kdf-fast",
        ],
    ));
    let mut server = start(dir);
    let url = format!("http://{}", server.addr);
    let key = http(server.addr, "GET", "/v1/log/key", &[], &[])
        .unwrap()
        .json();
    let vkey = key["vkey"].as_str().unwrap().to_owned();

    // Four changes by the admin CLI, each logged in its own transaction,
    // after the policy the vault logged at its first start.
    ok(&obhut(
        dir,
        &[
            "admin",
            "add-auditor",
            "--data",
            "data",
            "--identity",
            "dpo.key.pub",
        ],
    ));
    for _ in 0..3 {
        admin_token(dir);
    }
    wait_size(server.addr, 5);
    let verify = ["audit", "verify", "--vault", &url, "--log-key", &vkey];
    let full = [&verify[..], &["--full", "--identity", "dpo.key"]].concat();
    let out = ok(&obhut(dir, &full));
    assert!(out.starts_with("5 "), "{out}");
    let state = dir.join("state/obhut/logs");
    // One state (and the lock beside it that serialises its updates).
    let names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".checkpoint")).count(),
        1,
        "{names:?}"
    );

    // An old entry rewritten in the database: its body no longer hashes to
    // its leaf; rewritten with a matching leaf hash, the root differs.
    sql(dir, "CREATE TABLE saved AS SELECT * FROM log_entries");
    let byte = match backend {
        support::Backend::Embedded => "X'00'",
        support::Backend::PostgresS3 => "'\\x00'::bytea",
    };
    sql(
        dir,
        &format!("UPDATE log_entries SET body = {byte} WHERE idx = 1"),
    );
    refused(&obhut(dir, &full), "entry #1 was rewritten");
    sql(
        dir,
        "UPDATE log_entries SET leaf_hash = (SELECT leaf_hash FROM log_entries WHERE idx = 2) WHERE idx = 1",
    );
    sql(
        dir,
        "UPDATE log_entries SET body = (SELECT body FROM log_entries WHERE idx = 2) WHERE idx = 1",
    );
    refused(&obhut(dir, &full), "an entry was rewritten or dropped");

    // An entry dropped.
    sql(dir, "DELETE FROM log_entries");
    sql(
        dir,
        "INSERT INTO log_entries SELECT * FROM saved WHERE idx <> 2",
    );
    refused(&obhut(dir, &full), "entry #2 is missing");
    sql(
        dir,
        "INSERT INTO log_entries SELECT * FROM saved WHERE idx = 2",
    );
    ok(&obhut(dir, &full));

    // A checkpoint signed with another key under the same name.
    let origin = key["origin"].as_str().unwrap();
    let forged = obhut_log::NoteSigner::from_seed(origin, &[7; 32])
        .unwrap()
        .verifier_key()
        .to_string();
    refused(
        &obhut(
            dir,
            &[
                "audit",
                "verify",
                "--vault",
                &url,
                "--log-key",
                &forged,
                "--state",
                "other.cp",
            ],
        ),
        "not signed",
    );

    // Rollback: the operator restores a backup taken at size 5 after the
    // client saw size 8 (the restarted vault's schedule made the tokens'
    // class's two epochs, then one more token). The backup: the data
    // directory copied, or a copy of the PostgreSQL database (the bucket
    // holds no blob: nothing was ingested).
    drop(server);
    let backup = match backend {
        support::Backend::Embedded => {
            copy_dir(&dir.join("data"), &dir.join("backup"));
            None
        }
        support::Backend::PostgresS3 => Some(support::copy_database(dir, "backup")),
    };
    server = start(dir);
    admin_token(dir);
    wait_size(server.addr, 8);
    let url = format!("http://{}", server.addr);
    let verify = ["audit", "verify", "--vault", &url, "--log-key", &vkey];
    assert!(ok(&obhut(dir, &verify)).starts_with("8 "));
    let seen = std::fs::read(first_file(&state)).unwrap();
    drop(server);
    match backup {
        None => {
            std::fs::remove_dir_all(dir.join("data")).unwrap();
            copy_dir(&dir.join("backup"), &dir.join("data"));
        }
        Some(url) => std::fs::write(dir.join(support::DATABASE_URL_FILE), url).unwrap(),
    }
    server = start(dir);
    wait_size(server.addr, 7);
    let url = format!("http://{}", server.addr);
    let verify = ["audit", "verify", "--vault", &url, "--log-key", &vkey];
    refused(&obhut(dir, &verify), "rollback");

    // Fork: the restored vault grows another history to the same size.
    admin_token(dir);
    wait_size(server.addr, 8);
    let o = obhut(dir, &verify);
    refused(&o, "do not approve or release anything");
    // Both signed checkpoints are printed as evidence, and the client's
    // state did not move.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("checkpoint stored earlier")
            && err.contains("checkpoint the vault presents now")
    );
    assert_eq!(std::fs::read(first_file(&state)).unwrap(), seen);
}

fn first_file(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Start `obhut witness serve` in `dir` (state in `dir/w`).
fn start_witness(dir: &Path) -> Server {
    support::spawn_listening(
        dir,
        &[
            "witness",
            "serve",
            "--dir",
            "w",
            "--config",
            "witness.toml",
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

fn signature_lines(addr: SocketAddr) -> usize {
    http(addr, "GET", "/v1/log/checkpoint", &[], &[])
        .map(|r| {
            String::from_utf8_lossy(&r.body)
                .lines()
                .filter(|l| l.starts_with("— "))
                .count()
        })
        .unwrap_or(0)
}

// The cosigned checkpoints kept, and forged, in SQLite or PostgreSQL.
on_both_backends!(clients_requiring_a_witness_accept_its_cosignature_and_catch_a_forged_one);

fn clients_requiring_a_witness_accept_its_cosignature_and_catch_a_forged_one(
    backend: support::Backend,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _stores = backend.prepare(dir);
    std::fs::write(dir.join("group.obgd"), custody_group().to_bytes()).unwrap();
    // First start creates the log key; the witness is told to follow it.
    let vault = start(dir);
    let key = http(vault.addr, "GET", "/v1/log/key", &[], &[])
        .unwrap()
        .json();
    drop(vault);
    let (origin, vkey) = (
        key["origin"].as_str().unwrap(),
        key["vkey"].as_str().unwrap(),
    );
    let wvkey = ok(&obhut(
        dir,
        &[
            "witness",
            "init",
            "--dir",
            "w",
            "--name",
            "dpo.example/witness",
        ],
    ))
    .trim()
    .to_owned();
    std::fs::write(
        dir.join("witness.toml"),
        format!("[[log]]\norigin = \"{origin}\"\nvkey = \"{vkey}\"\n"),
    )
    .unwrap();
    let witness = start_witness(dir);
    // ./obhut.toml is read by `obhut serve` and `obhut admin` alike.
    std::fs::write(
        dir.join("obhut.toml"),
        format!(
            "[[witness]]\nurl = \"http://{}\"\nvkey = \"{wvkey}\"\n",
            witness.addr
        ),
    )
    .unwrap();
    let vault = start(dir);
    admin_token(dir);
    admin_token(dir);
    wait_size(vault.addr, 4);
    let deadline = Instant::now() + Duration::from_secs(15);
    while signature_lines(vault.addr) < 2 {
        assert!(Instant::now() < deadline, "no cosigned checkpoint");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://{}", vault.addr);
    let verify = ["audit", "verify", "--vault", &url, "--log-key", vkey];
    ok(&obhut(
        dir,
        &[&verify[..], &["--witness", &wvkey, "--state", "a.cp"]].concat(),
    ));
    // Growth is cosigned again, with a consistency proof the witness checks.
    admin_token(dir);
    wait_size(vault.addr, 5);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok(&obhut(
        dir,
        &[&verify[..], &["--witness", &wvkey, "--state", "a.cp"]].concat(),
    ))
    .starts_with("5 ")
    {
        assert!(
            Instant::now() < deadline,
            "no cosigned checkpoint of size 5"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A witness key the vault's witness does not hold (same name).
    let other = obhut_log::CosignatureSigner::from_seed("dpo.example/witness", &[9; 32])
        .unwrap()
        .verifier_key()
        .to_string();
    refused(
        &obhut(
            dir,
            &[&verify[..], &["--witness", &other, "--state", "b.cp"]].concat(),
        ),
        "witness",
    );

    // A start makes the epochs of any class named since the last start
    // (entries the log then integrates and the witness cosigns). Restart
    // once and let that settle, so that the restart after the forgery adds
    // nothing and every client is shown the forged note.
    drop(vault);
    let mut vault = start(dir);
    // Under load the log can still be growing when it looks settled; then
    // the restart below serves a newer, honestly cosigned checkpoint and
    // no client would see the forgery. Forge again until the vault serves
    // the forged note, so the check below is of the forgery.
    let mut tries = 0;
    loop {
        let size = settled_cosigned_size(vault.addr);
        // The operator forges the witness's cosignature on the stored
        // checkpoint: same name and key ID, one bit of the signature changed.
        let served = http(vault.addr, "GET", "/v1/log/checkpoint", &[], &[])
            .unwrap()
            .body;
        let forged: String = String::from_utf8(served)
            .unwrap()
            .lines()
            .map(|l| match l.strip_prefix("— dpo.example/witness ") {
                Some(b64) => {
                    let mut raw = B64.decode(b64).unwrap();
                    *raw.last_mut().unwrap() ^= 1;
                    format!("— dpo.example/witness {}\n", B64.encode(raw))
                }
                None => format!("{l}\n"),
            })
            .collect();
        drop(vault);
        let note = hex::encode(forged.as_bytes());
        let note = match backend {
            support::Backend::Embedded => format!("X'{note}'"),
            support::Backend::PostgresS3 => format!("'\\x{note}'::bytea"),
        };
        sql(
            dir,
            &format!("UPDATE log_checkpoints SET note = {note} WHERE size = {size}"),
        );
        vault = start(dir);
        let now = http(vault.addr, "GET", "/v1/log/checkpoint", &[], &[])
            .unwrap()
            .body;
        if now == forged.as_bytes() {
            break;
        }
        tries += 1;
        assert!(tries < 5, "the vault never served the forged checkpoint");
    }
    let url = format!("http://{}", vault.addr);
    let verify = ["audit", "verify", "--vault", &url, "--log-key", vkey];
    refused(
        &obhut(
            dir,
            &[&verify[..], &["--witness", &wvkey, "--state", "c.cp"]].concat(),
        ),
        "audit log check failed",
    );
    drop(witness);
}
