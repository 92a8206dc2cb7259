//! What the end-to-end tests of the binary share: running `obhut` with a
//! passphrase, ffmpeg clips, an `obhut serve` process on a free port, and
//! the keys and custody groups most tests start from.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_obhut");
pub const PASS: &str = "correct horse battery staple";
pub const CLASS: &str = "bodycam-30d";

/// A file in a test's directory naming the PostgreSQL database the
/// vault's index is on ([`on_postgres`]): every `obhut` the test runs
/// (`serve`, `admin`) gets it as `OBHUT_DATABASE_URL`.
pub const DATABASE_URL_FILE: &str = "database-url";

pub fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(args)
        .env("OBHUT_PASSPHRASE", PASS)
        .env_remove("OBHUT_STATE")
        .env_remove("OBHUT_DATABASE_URL")
        .stdin(Stdio::null());
    if let Ok(url) = std::fs::read_to_string(dir.join(DATABASE_URL_FILE)) {
        c.env("OBHUT_DATABASE_URL", url.trim());
    }
    c
}

/// Put the vault of the test directory `dir` on a fresh database of the
/// shared throwaway PostgreSQL cluster; keep the returned handle until the
/// vault has stopped.
pub fn on_postgres(dir: &Path) -> std::sync::Arc<obhut_store::contract::pg::TestServer> {
    let server =
        obhut_store::contract::pg::TestServer::shared().expect("a PostgreSQL test cluster");
    let db = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(server.database())
        .expect("a fresh database");
    std::fs::write(dir.join(DATABASE_URL_FILE), &db.url).unwrap();
    server
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().expect("run the obhut binary")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "obhut {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The vault's log verifier key (`GET /v1/log/key`), as clients pin it.
pub fn log_key(vault: &Vault) -> String {
    let r = http_get(&vault.addr, "/v1/log/key").expect("GET /v1/log/key");
    let body = &r[r.find("\r\n\r\n").expect("a body") + 4..];
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect("JSON");
    v["vkey"].as_str().expect("vkey").to_owned()
}

/// `obhut admin` on the vault's data and keys in `vault-data` and
/// `vault-keys`; what it printed.
pub fn admin(dir: &Path, args: &[&str]) -> String {
    let mut a = vec!["admin", "--data", "vault-data", "--keys", "vault-keys"];
    a.extend_from_slice(args);
    ok(dir, &a)
}

/// Makes a `seconds`-long MP4 of `size` at `dock/clip.mp4` and ingests it
/// with the agent state in `state`, in 2-second segments, at the vault the
/// state was enrolled at; the recording id `obhut ingest` printed.
pub fn ingest_clip(dir: &Path, seconds: u32, size: &str) -> String {
    std::fs::create_dir_all(dir.join("dock")).unwrap();
    make_mp4(&dir.join("dock/clip.mp4"), seconds, size);
    ok(
        dir,
        &[
            "ingest",
            "--state",
            "state",
            "--segment-ms",
            "2000",
            "dock/clip.mp4",
        ],
    )
    .trim()
    .to_owned()
}

/// The id of the custody group in `custody/group.obgd`, as `obhut custody
/// show` prints it.
pub fn group_id(dir: &Path) -> String {
    ok(dir, &["custody", "show", "--group", "custody/group.obgd"])
        .lines()
        .find_map(|l| l.strip_prefix("group id:").map(|s| s.trim().to_owned()))
        .expect("a group id")
}

pub fn make_mp4(path: &Path, seconds: u32, size: &str) {
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc=duration={seconds}:size={size}:rate=25"))
        .args(["-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg is needed (apt-get install ffmpeg; ./scripts/test does this)");
    assert!(status.success(), "ffmpeg failed making {}", path.display());
}

/// A vault process on a free loopback port; killed on drop.
pub struct Vault {
    pub child: Child,
    pub url: String,
    pub addr: String,
    pub data: PathBuf,
}

impl Drop for Vault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

impl Vault {
    pub fn start(dir: &Path) -> Vault {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let data = dir.join("vault-data");
        let child = cmd(
            dir,
            &[
                "serve",
                "--init",
                "--data",
                "vault-data",
                "--keys",
                "vault-keys",
                "--listen",
                &addr,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn obhut serve");
        let v = Vault {
            child,
            url: format!("http://{addr}"),
            addr,
            data,
        };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if http_get(&v.addr, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("obhut serve did not answer /healthz on {}", v.addr);
    }

    pub fn token(&self, dir: &Path, group: &str) -> String {
        let out = ok(
            dir,
            &[
                "admin",
                "enrol-token",
                "--data",
                "vault-data",
                "--keys",
                "vault-keys",
                "--group",
                group,
                "--retention-class",
                CLASS,
            ],
        );
        out.lines()
            .find(|l| l.starts_with("obhut-enrol-"))
            .unwrap_or_else(|| panic!("no token printed: {out}"))
            .trim()
            .to_owned()
    }
}

/// Keys, two signed custody groups (2 of 3), a device key.
pub fn setup() -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix("obhut-agent-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .keep();
    let d = dir.as_path();
    for who in ["alice", "bob", "carol"] {
        ok(
            d,
            &[
                "keygen",
                "person",
                "--name",
                who,
                "--out",
                &format!("{who}.key"),
                "--kdf-fast",
            ],
        );
    }
    ok(
        d,
        &[
            "keygen",
            "device",
            "--name",
            "bodycam-0042",
            "--out",
            "cam.key",
            "--kdf-fast",
        ],
    );
    for g in ["custody", "other"] {
        ok(
            d,
            &[
                "custody",
                "init",
                "--name",
                g,
                "--threshold",
                "2",
                "--custodian",
                "alice.key.pub",
                "--custodian",
                "bob.key.pub",
                "--custodian",
                "carol.key.pub",
                "--out",
                g,
            ],
        );
        for (i, who) in ["alice", "bob"].iter().enumerate() {
            ok(
                d,
                &[
                    "custody",
                    "sign",
                    "--group",
                    &format!("{g}/group.obgd"),
                    "--identity",
                    &format!("{who}.key"),
                    "--share",
                    &format!("{g}/share-{}.obse", i + 1),
                ],
            );
        }
    }
    dir
}

/// The fingerprint `obhut custody show` publishes.
pub fn fingerprint(dir: &Path, group: &str) -> String {
    let out = ok(dir, &["custody", "show", "--group", group]);
    out.lines()
        .find_map(|l| l.strip_prefix("fingerprint:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no fingerprint in:\n{out}"))
        .to_owned()
}

pub fn enrol(dir: &Path, vault: &Vault) {
    let token = vault.token(dir, "custody/group.obgd");
    let f = fingerprint(dir, "custody/group.obgd");
    ok(
        dir,
        &[
            "enrol",
            "--vault",
            &vault.url,
            "--token",
            &token,
            "--device",
            "cam.key",
            "--group-fingerprint",
            &f,
            "--state",
            "state",
        ],
    );
}

/// Open the vault index at `db` beside the running server (WAL lets a
/// second connection in) and run `f` on it: tests play an operator who
/// reads or edits the database directly.
pub fn with_index<T, F: std::future::Future<Output = T>>(
    db: &Path,
    f: impl FnOnce(obhut_store::sqlite::SqliteIndex) -> F,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let index = obhut_store::sqlite::SqliteIndex::open(db).await.unwrap();
        let out = f(index.clone()).await;
        index.close().await;
        out
    })
}

/// Run one SQL statement on the vault index at `db`.
pub fn sql(db: &Path, statement: &str) {
    let statement = statement.to_owned();
    with_index(db, |index| async move {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(index.pool())
            .await
            .unwrap();
    });
}

/// A server process (`obhut serve`, `obhut witness serve`) on a port it
/// chose, found from the `http://ADDR` at the end of its first stdout line;
/// killed on drop.
pub struct Listening {
    pub child: Child,
    pub addr: std::net::SocketAddr,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawn `obhut ARGS` in `dir` (listening on 127.0.0.1:0) and wait for
/// the address it prints.
pub fn spawn_listening(dir: &Path, args: &[&str]) -> Listening {
    use std::io::BufRead as _;
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("OBHUT_DATA")
        .env_remove("OBHUT_KEYS")
        .env_remove("OBHUT_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn obhut {args:?}: {e}"));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Listening { child, addr }
}
