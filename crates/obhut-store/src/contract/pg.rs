//! A throwaway PostgreSQL cluster for tests ([`TestServer`]): `initdb`
//! into a temporary directory, `pg_ctl start` on a free loopback port
//! with its unix socket in that directory, a fresh database per test
//! ([`TestServer::database`]; or a fresh schema, [`TestServer::schema`],
//! a thousand times cheaper), stopped (`pg_ctl stop -m immediate`) and
//! removed when the last handle drops. [`TestServer::shared`] gives the
//! tests of one binary one cluster while any of them runs, so a binary
//! pays the start (a second or two) once.
//!
//! The binaries come from `OBHUT_PG_BIN` if set, else Debian's
//! `/usr/lib/postgresql/<version>/bin` (newest first; the `postgresql`
//! package puts them there and not on `PATH`, which `scripts/test`
//! installs on a fresh machine), else `PATH`. PostgreSQL refuses to run
//! as root, so as root (CI) the cluster runs as the `postgres` user the
//! package creates, or `nobody`, owning the temporary directory.
//!
//! The cluster is for tests: `fsync=off` makes `CREATE DATABASE` and the
//! commits of a test cheap. The vault's own setting that matters,
//! `synchronous_commit=on`, is per connection and still in force (and
//! checked by `tests/contract_postgres.rs`).

use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tempfile::TempDir;

/// The superuser `initdb` creates; tests connect as it.
const SUPERUSER: &str = "obhut";

/// A running throwaway cluster; stopped and removed on drop.
#[derive(Debug)]
pub struct TestServer {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
    databases: AtomicU32,
}

/// A fresh database on a [`TestServer`]; keeps the cluster running.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// `postgres://obhut@127.0.0.1:PORT/NAME`.
    pub url: String,
    /// The cluster it lives on.
    pub server: Arc<TestServer>,
}

static SHARED: Mutex<Weak<TestServer>> = Mutex::new(Weak::new());

fn other(what: String) -> io::Error {
    io::Error::other(what)
}

/// The directory holding `initdb` and `pg_ctl`.
fn find_bin() -> io::Result<PathBuf> {
    if let Some(d) = std::env::var_os("OBHUT_PG_BIN") {
        return Ok(PathBuf::from(d));
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
        .collect();
    debian.sort();
    if let Some((_, p)) = debian.pop() {
        return Ok(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
        .ok_or_else(|| {
            other(
                "no initdb and pg_ctl: install Debian's `postgresql` package (scripts/test does), or set OBHUT_PG_BIN".into(),
            )
        })
}

/// The effective uid of this process (from `/proc`: no unsafe call).
fn euid() -> io::Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| other("no Uid line in /proc/self/status".into()))
}

/// The uid and gid of `user` in `/etc/passwd`.
fn passwd(user: &str) -> Option<(u32, u32)> {
    let all = std::fs::read_to_string("/etc/passwd").ok()?;
    all.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// A port free on loopback now (the cluster binds it a moment later).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl TestServer {
    /// Start a new cluster (blocking: `initdb` and `pg_ctl start -w`).
    pub fn start() -> io::Result<TestServer> {
        let bin = find_bin()?;
        let run_as = if euid()? == 0 {
            Some(
                passwd("postgres")
                    .or_else(|| passwd("nobody"))
                    .ok_or_else(|| {
                        other(
                            "running as root, and no postgres or nobody user to run PostgreSQL as"
                                .into(),
                        )
                    })?,
            )
        } else {
            None
        };
        let dir = tempfile::Builder::new().prefix("obhut-pg-").tempdir()?;
        std::fs::create_dir(dir.path().join("sock"))?;
        if let Some((uid, gid)) = run_as {
            for p in [dir.path().to_owned(), dir.path().join("sock")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid))?;
            }
        }
        let mut server = TestServer {
            dir,
            bin,
            port: 0,
            run_as,
            databases: AtomicU32::new(0),
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data().to_string_lossy(),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        // A port found free may be taken before the cluster binds it.
        let mut last = None;
        for _ in 0..3 {
            server.port = free_port()?;
            let opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=32MB",
                server.port,
                server.dir.path().join("sock").display()
            );
            let log = server.dir.path().join("log");
            match server.run(
                "pg_ctl",
                &[
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    &server.data().to_string_lossy(),
                    "-l",
                    &log.to_string_lossy(),
                    "-o",
                    &opts,
                ],
            ) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    last = Some(other(format!("{e}; server log:\n{tail}")));
                }
            }
        }
        Err(last.unwrap_or_else(|| other("pg_ctl start failed".into())))
    }

    /// The cluster the tests of this process share while any holds it;
    /// started by the first. It stops when the last handle drops: a
    /// suite that makes a store per case holds one handle across them.
    pub fn shared() -> io::Result<Arc<TestServer>> {
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.upgrade() {
            return Ok(s);
        }
        let s = Arc::new(TestServer::start()?);
        *slot = Arc::downgrade(&s);
        Ok(s)
    }

    /// A new, empty database on the cluster.
    pub async fn database(self: &Arc<Self>) -> io::Result<TestDatabase> {
        use sqlx::Connection;
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{n}");
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(|e| other(format!("connecting to the test cluster: {e}")))?;
        // A name we made from a counter: no quoting needed.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(|e| other(format!("creating database {name}: {e}")))?;
        let _ = admin.close().await;
        Ok(TestDatabase {
            url: self.url(&name),
            server: self.clone(),
        })
    }

    /// A new, empty schema in one database shared by the calls of this
    /// cluster, as the URL of that database with `search_path` set to it:
    /// to an index it is a fresh database (every name it uses is
    /// unqualified), made in milliseconds where `CREATE DATABASE` takes a
    /// second, for suites that need one per case.
    pub async fn schema(self: &Arc<Self>) -> io::Result<TestDatabase> {
        use sqlx::Connection;
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("s{n}");
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(|e| other(format!("connecting to the test cluster: {e}")))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut admin)
            .await
            .map_err(|e| other(format!("creating schema {name}: {e}")))?;
        let _ = admin.close().await;
        Ok(TestDatabase {
            url: format!("{}?options[search_path]={name}", self.url("postgres")),
            server: self.clone(),
        })
    }

    /// The URL of database `db` on the cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of its unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Run one of the cluster's programs (as the unprivileged user when
    /// root), failing with its output.
    fn run(&self, program: &str, args: &[&str]) -> io::Result<()> {
        let mut c = Command::new(self.bin.join(program));
        c.args(args).current_dir(self.dir.path());
        if let Some((uid, gid)) = self.run_as {
            c.uid(uid).gid(gid);
        }
        let out = c.output()?;
        if out.status.success() {
            return Ok(());
        }
        Err(other(format!(
            "{program} {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }

    /// Where the binaries were found.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data();
            let _ = self.run(
                "pg_ctl",
                &[
                    "stop",
                    "-m",
                    "immediate",
                    "-w",
                    "-D",
                    &data.to_string_lossy(),
                ],
            );
        }
    }
}
