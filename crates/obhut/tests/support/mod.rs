//! What the end-to-end tests of the binary share: running `obhut` with a
//! passphrase, ffmpeg clips, an `obhut serve` process on a free port, and
//! the keys and custody groups most tests start from.
#![allow(dead_code)]

pub mod credentials;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_obhut");
pub const PASS: &str = "correct horse battery staple";
pub const CLASS: &str = "bodycam-30d";

/// A file in a test's directory naming the PostgreSQL database the
/// vault's index is on ([`on_postgres`], [`Backend::PostgresS3`]): every
/// `obhut` the test runs (`serve`, `admin`, `check`) gets it as
/// `OBHUT_DATABASE_URL`.
pub const DATABASE_URL_FILE: &str = "database-url";
/// A file in a test's directory naming the S3 bucket the vault's blobs
/// are in ([`Backend::PostgresS3`]): every `obhut` the test runs gets it
/// as `OBHUT_BLOB_URL`, with the test S3 server's endpoint and
/// credentials as `AWS_*`.
pub const BLOB_URL_FILE: &str = "blob-url";

/// Where a test's vault keeps its index and blobs: the embedded default
/// (SQLite and a blob directory in the data directory) or PostgreSQL
/// and an S3 bucket (the shared throwaway cluster and SeaweedFS server
/// of `obhut_store::contract`). An end-to-end test whose behaviour
/// depends on the store runs on both ([`on_both_backends!`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    PostgresS3,
}

/// What keeps a test's stores up: hold it until the vault has stopped.
pub struct Stores {
    pub backend: Backend,
    _pg: Option<std::sync::Arc<obhut_store::contract::pg::TestServer>>,
}

impl Backend {
    /// Put the vault of the test directory `dir` on this backend: for
    /// [`Backend::PostgresS3`] a fresh database and a fresh bucket, named
    /// in `dir` for every `obhut` the test runs there ([`cmd`],
    /// [`spawn_listening`], [`store_env`]).
    pub fn prepare(self, dir: &Path) -> Stores {
        let pg = match self {
            Backend::Embedded => None,
            Backend::PostgresS3 => {
                use obhut_store::contract::s3::TestS3;
                let url = TestS3::new_url();
                // The two servers start at once (the first test of a
                // binary waits for both: seconds each).
                let pg = std::thread::scope(|s| {
                    let pg = s.spawn(|| on_postgres(dir));
                    // The bucket exists once written to (SeaweedFS makes it).
                    rt().block_on(TestS3::shared().store_at(&url));
                    pg.join().expect("a PostgreSQL database")
                });
                std::fs::write(dir.join(BLOB_URL_FILE), &url).unwrap();
                Some(pg)
            }
        };
        Stores {
            backend: self,
            _pg: pg,
        }
    }
}

/// Two tests running `body(Backend)`: `NAME::on_embedded` and
/// `NAME::on_postgres_s3` (a module beside the function of the same name).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn on_embedded() {
                super::$name(super::support::Backend::Embedded)
            }
            #[test]
            fn on_postgres_s3() {
                super::$name(super::support::Backend::PostgresS3)
            }
        }
    )+};
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Give `c` (an `obhut` run in `dir`) the stores `dir` names: the
/// database and bucket of [`Backend::PostgresS3`], else none (the data
/// directory's).
pub fn store_env(dir: &Path, c: &mut Command) {
    c.env_remove("OBHUT_DATABASE_URL")
        .env_remove("OBHUT_BLOB_URL");
    if let Ok(url) = std::fs::read_to_string(dir.join(DATABASE_URL_FILE)) {
        c.env("OBHUT_DATABASE_URL", url.trim());
    }
    if let Ok(url) = std::fs::read_to_string(dir.join(BLOB_URL_FILE)) {
        c.env("OBHUT_BLOB_URL", url.trim())
            .envs(obhut_store::contract::s3::TestS3::shared().env());
    }
}

pub fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(args)
        .env("OBHUT_PASSPHRASE", PASS)
        .env_remove("OBHUT_STATE")
        .stdin(Stdio::null());
    store_env(dir, &mut c);
    c
}

/// Put the vault of the test directory `dir` on a fresh database of the
/// shared throwaway PostgreSQL cluster; keep the returned handle until the
/// vault has stopped.
pub fn on_postgres(dir: &Path) -> std::sync::Arc<obhut_store::contract::pg::TestServer> {
    let server =
        obhut_store::contract::pg::TestServer::shared().expect("a PostgreSQL test cluster");
    let db = rt().block_on(server.database()).expect("a fresh database");
    std::fs::write(dir.join(DATABASE_URL_FILE), &db.url).unwrap();
    server
}

/// A copy of the PostgreSQL database `dir` names (the vault stopped), as
/// an operator's backup restored: its URL; `suffix` makes its name.
pub fn copy_database(dir: &Path, suffix: &str) -> String {
    use sqlx::Connection as _;
    let url = std::fs::read_to_string(dir.join(DATABASE_URL_FILE)).expect("a database");
    let url = url.trim();
    let (server, db) = url.rsplit_once('/').expect("postgres://…/DB");
    let copy = format!("{db}_{suffix}");
    rt().block_on(async {
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap();
        // Names made by the test harness and this test: no quoting needed.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {copy} TEMPLATE {db}"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        let _ = admin.close().await;
    });
    format!("{server}/{copy}")
}

/// Open the PostgreSQL index `dir` names beside the running server and
/// run `f` on it, as [`with_index`] does on SQLite.
pub fn with_pg_index<T, F: std::future::Future<Output = T>>(
    dir: &Path,
    f: impl FnOnce(obhut_store::postgres::PgIndex) -> F,
) -> T {
    let url = std::fs::read_to_string(dir.join(DATABASE_URL_FILE)).expect("a database");
    rt().block_on(async {
        let index = obhut_store::postgres::PgIndex::connect(url.trim())
            .await
            .unwrap();
        let out = f(index.clone()).await;
        index.close().await;
        out
    })
}

/// Run one SQL statement on the index of the vault in `dir` (its data
/// directory `data`): the PostgreSQL database `dir` names, else
/// `data/obhut.sqlite`. Tests play an operator who edits the database.
pub fn index_sql(dir: &Path, data: &str, statement: &str) {
    match std::fs::read_to_string(dir.join(DATABASE_URL_FILE)) {
        Err(_) => sql(&dir.join(data).join("obhut.sqlite"), statement),
        Ok(_) => {
            let statement = statement.to_owned();
            with_pg_index(dir, |index| async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(index.pool())
                    .await
                    .unwrap();
            });
        }
    }
}

/// Run `f` on the blob store of the vault in `dir` (its data directory
/// `data`): the bucket `dir` names, else `data/blobs/`. Tests play an
/// operator, or a disk, that damages blobs.
pub fn with_blobs<T, F: std::future::Future<Output = T>>(
    dir: &Path,
    data: &str,
    f: impl FnOnce(obhut_store::blobs::AnyBlobStore) -> F,
) -> T {
    let url = std::fs::read_to_string(dir.join(BLOB_URL_FILE)).ok();
    let options = match url {
        None => Vec::new(),
        Some(_) => obhut_store::contract::s3::TestS3::shared()
            .options()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    };
    let config = obhut_store::BlobConfig {
        url: url.map(|u| u.trim().to_owned()),
        options,
    };
    let data = dir.join(data);
    rt().block_on(async move {
        let blobs = config.open(&data).await.unwrap();
        f(blobs).await
    })
}

/// Store `bytes` as the blob `key` whatever they hash to, replacing the
/// one there (a damaged blob, as a disk or an operator leaves it).
pub async fn put_blob(
    blobs: &obhut_store::blobs::AnyBlobStore,
    key: obhut_store::BlobKey,
    bytes: &[u8],
) {
    use obhut_store::{BlobStore as _, StagedBlob as _};
    let staged = blobs.stage(bytes, bytes.len() as u64).await.unwrap();
    let hash = staged.hash();
    blobs.publish(key, staged, hash).await.unwrap();
}

/// The whole blob `key`.
pub async fn get_blob(
    blobs: &obhut_store::blobs::AnyBlobStore,
    key: obhut_store::BlobKey,
) -> Vec<u8> {
    use obhut_store::BlobStore as _;
    use tokio::io::AsyncReadExt as _;
    let len = blobs.len(key).await.unwrap().expect("the blob");
    let mut out = Vec::new();
    blobs
        .get_range(key, 0, len)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
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
                // On PostgreSQL + S3 nothing is stored in the data directory.
                if dir.join(BLOB_URL_FILE).exists() {
                    assert!(!v.data.join("obhut.sqlite").exists(), "an SQLite index");
                    assert!(!v.data.join("blobs").exists(), "a blob directory");
                }
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
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(args)
        .env_remove("OBHUT_DATA")
        .env_remove("OBHUT_KEYS")
        .env_remove("OBHUT_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    store_env(dir, &mut c);
    let mut child = c
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
