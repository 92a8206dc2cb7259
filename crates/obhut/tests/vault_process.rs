//! The vault as a real `obhut serve` process on loopback: enrolment with a
//! token from `obhut admin`, ingest of real sealed segments, `kill -9` in
//! the middle of a large upload, restart, and a scan of every file the
//! server wrote for plaintext and descriptive metadata (docs/threat-model.md P1, P8).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_core::epoch::EpochPublic;
use obhut_core::identity::SignKey;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_server::testkit::{
    HttpResponse, Sealed, VaultIds, custody_group, http, put_sealed, seal_recording,
    signed_headers, write_head,
};

use crate::support;

const BIN: &str = env!("CARGO_BIN_EXE_obhut");
const CLASS: &str = "bodycam-30d";
const METADATA: &str = r#"{"officer":"PC 4711 Erika Mustermann","gps":[[52.5219,13.4132]],"notes":"stop at Alexanderplatz, witness Jane Roe"}"#;

struct Server {
    child: Child,
    addr: SocketAddr,
}

/// `obhut serve` on `dir/data` and `dir/keys`; `init` the first time.
fn start(dir: &Path, log: &Path, init: bool) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args([
            "serve",
            "--data",
            "data",
            "--keys",
            "keys",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(init.then_some("--init"))
        .env_remove("OBHUT_DATA")
        .env_remove("OBHUT_KEYS")
        .env_remove("OBHUT_LISTEN")
        .stdout(Stdio::piped())
        .stderr(log);
    support::store_env(dir, &mut c);
    let mut child = c.spawn().expect("spawn obhut serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Server { child, addr }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    obhut_server::Clock::now_ms(&obhut_server::SystemClock)
}

fn put(addr: SocketAddr, ids: &VaultIds, device: &SignKey, s: &Sealed) -> HttpResponse {
    put_sealed(addr, ids, device, s, now_ms()).unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// What the blob store holds of an upload in progress: the sizes of the
/// files in `DATA/tmp/`, or of the objects under the bucket's `tmp/`.
fn staged_sizes(dir: &Path) -> Vec<u64> {
    match std::fs::read_to_string(dir.join(support::BLOB_URL_FILE)) {
        Err(_) => files_under(&dir.join("data/tmp"))
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .collect(),
        Ok(_) => support::with_blobs(dir, "data", |b| async move {
            let obhut_store::blobs::AnyBlobStore::S3(s3) = b else {
                unreachable!("a bucket")
            };
            // A multipart upload's parts are not objects yet: its marker
            // says one is open.
            s3.objects()
                .await
                .unwrap()
                .iter()
                .filter(|o| o.starts_with("tmp/"))
                .map(|o| if o.ends_with(".upload") { u64::MAX } else { 0 })
                .collect()
        }),
    }
}

// A kill -9 in the middle of a large upload: the blob directory's tmp/,
// or an S3 multipart upload under the bucket's tmp/ (with PostgreSQL).
on_both_backends!(real_process_kill9_restart_and_no_plaintext_at_rest);

fn real_process_kill9_restart_and_no_plaintext_at_rest(backend: support::Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _stores = backend.prepare(dir);
    let log = dir.join("server.log");
    let group = custody_group();
    std::fs::write(dir.join("group.obgd"), group.to_bytes()).unwrap();
    let mut server = start(dir, &log, true);
    let ids = VaultIds::from_keystore(&dir.join("keys"));

    // The admin CLI works on the store while the server runs.
    let mut admin = Command::new(BIN);
    admin.current_dir(dir).args([
        "admin",
        "enrol-token",
        "--data",
        "data",
        "--group",
        "group.obgd",
        "--retention-class",
        CLASS,
    ]);
    support::store_env(dir, &mut admin);
    let out = admin.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("obhut-enrol-"), "{token}");

    let device = SignKey::generate(&mut os_rng());
    let body = serde_json_body(&token, &device);
    let h = signed_headers(
        &VaultIds::ENROL,
        &device,
        false,
        "POST",
        "/v1/enrol",
        now_ms(),
        &body_sha256(&body),
    );
    let r = http(server.addr, "POST", "/v1/enrol", &h, &body).unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    let e = http(
        server.addr,
        "GET",
        &format!("/v1/epochs?class={CLASS}"),
        &[],
        &[],
    )
    .unwrap();
    let epoch = EpochPublic::from_bytes(
        &B64.decode(e.json()["current"]["public"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();

    // Media, then a metadata segment with a known string, then a large one.
    let media: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let large: Vec<u8> = (0..12_000_000u32)
        .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
        .collect();
    let segs = seal_recording(
        &device,
        &group,
        &epoch,
        now_ms() - 60_000,
        &[
            (SegmentKind::Media, media.clone()),
            (SegmentKind::Metadata, METADATA.as_bytes().to_vec()),
            (SegmentKind::Media, large.clone()),
        ],
        true,
    );
    let rid = segs[0].record.segment_ref().recording;
    for s in &segs[..2] {
        assert_eq!(put(server.addr, &ids, &device, s).status, 201);
    }

    // Start the large upload (blob first, record last), send half, then
    // kill -9 the server.
    let body = segs[2].body();
    let path = segs[2].path();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let h = signed_headers(
        &ids,
        &device,
        false,
        "PUT",
        &path,
        now_ms(),
        &segs[2].digest(),
    );
    write_head(&mut stream, "PUT", &path, &h, body.len() as u64).unwrap();
    stream.write_all(&body[..body.len() / 2]).unwrap();
    stream.flush().unwrap();
    let t0 = Instant::now();
    while staged_sizes(dir).iter().all(|n| *n < 1_000_000) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "upload never reached tmp/"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(stream);
    assert!(
        !staged_sizes(dir).is_empty(),
        "the partial upload was in tmp/"
    );

    let server = start(dir, &log, false);
    match backend {
        support::Backend::Embedded => {
            assert!(staged_sizes(dir).is_empty(), "restart cleans tmp/")
        }
        // Another server may be uploading into the shared bucket: its
        // tmp/ is cleaned of what is a day old (docs/vault.md §6.2), or
        // by `obhut check --repair` with the vaults stopped (below).
        support::Backend::PostgresS3 => {}
    }
    let head_path = format!("/v1/recordings/{rid}/head");
    let h = signed_headers(
        &ids,
        &device,
        false,
        "GET",
        &head_path,
        now_ms(),
        &body_sha256(&[]),
    );
    let head = http(server.addr, "GET", &head_path, &h, &[]).unwrap();
    assert_eq!(
        head.json()["next_index"],
        2,
        "no partial segment is visible"
    );
    let key = |index| obhut_store::BlobKey {
        recording: rid,
        index,
    };
    let stored = |index| {
        support::with_blobs(dir, "data", |b| async move {
            match obhut_store::BlobStore::len(&b, key(index)).await.unwrap() {
                None => None,
                Some(_) => Some(support::get_blob(&b, key(index)).await),
            }
        })
    };
    assert_eq!(stored(0).as_ref(), Some(&segs[0].blob));
    assert_eq!(stored(1).as_ref(), Some(&segs[1].blob));
    assert_eq!(stored(2), None);
    // The device resumes from next_index.
    assert_eq!(put(server.addr, &ids, &device, &segs[2]).status, 201);
    assert_eq!(put(server.addr, &ids, &device, &segs[2]).status, 200);

    // No plaintext or metadata anywhere the server wrote, running or not.
    let mut needles: Vec<Vec<u8>> = vec![
        METADATA.as_bytes().to_vec(),
        b"Erika Mustermann".to_vec(),
        b"Alexanderplatz".to_vec(),
        b"52.5219".to_vec(),
    ];
    for off in [0usize, 4096, 150_000, 299_000] {
        needles.push(media[off..off + 24].to_vec());
    }
    for off in [0usize, 5_000_000, 11_999_000] {
        needles.push(large[off..off + 24].to_vec());
    }
    drop(server);
    let mut scanned = 0;
    let files = files_under(&dir.join("data"))
        .into_iter()
        .chain(files_under(&dir.join("keys")))
        .chain([log.clone()])
        .map(|f| (f.display().to_string(), std::fs::read(&f).unwrap()));
    // The blobs, wherever they are (in the data directory: read twice).
    let blobs = support::with_blobs(dir, "data", |b| async move {
        let mut out = Vec::new();
        for k in obhut_store::BlobStore::list(&b).await.unwrap() {
            let name = format!("blob {} {}", k.recording, k.index);
            out.push((name, support::get_blob(&b, k).await));
        }
        out
    });
    for (name, bytes) in files.chain(blobs) {
        scanned += bytes.len();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == &n[..]),
                "{name} contains plaintext or metadata",
            );
        }
    }
    assert!(scanned > 12_000_000, "scanned {scanned} bytes");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("segment stored"),
        "the log has ingest lines"
    );
    if backend == support::Backend::PostgresS3 {
        // The killed upload's leftovers in the bucket: listed by `obhut
        // check`, removed by `--repair`, nothing else changed.
        let mut check = Command::new(BIN);
        check
            .current_dir(dir)
            .args(["check", "--data", "data", "--keys", "keys", "--repair"]);
        support::store_env(dir, &mut check);
        let out = check.output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains(": removed"), "{said}");
        assert!(staged_sizes(dir).is_empty(), "--repair cleans tmp/");
    }
}

fn serde_json_body(token: &str, device: &SignKey) -> Vec<u8> {
    format!(
        r#"{{"token":"{token}","device_key":"{}"}}"#,
        hex::encode(device.verify_key().to_bytes())
    )
    .into_bytes()
}

/// `obhut serve` once more on `dir`: its exit status and stderr, for a
/// start that must be refused (it would serve forever otherwise; the
/// timeout turns that into a failure).
fn serve_refused(dir: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args([
            "serve",
            "--data",
            "data",
            "--keys",
            "keys",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("OBHUT_DATA")
        .env_remove("OBHUT_KEYS")
        .env_remove("OBHUT_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn obhut serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("obhut serve {extra:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Issue 16: with its keystore missing, the vault made new keys and said
/// ready. `obhut serve` now refuses (naming the problem and the fix), and
/// keys are made only by `--init`.
#[test]
fn serve_refuses_a_missing_keystore_and_makes_keys_only_with_init() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = serve_refused(dir, &[]);
    assert!(
        err.contains("no vault in") && err.contains("--init"),
        "{err}"
    );
    assert!(!dir.join("data").exists() && !dir.join("keys").exists());

    let log = dir.join("server.log");
    let mut server = start(dir, &log, true);
    // Until the vault has logged (its policy) and signed a checkpoint: from
    // then on its keys are irreplaceable.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http(server.addr, "GET", "/v1/log/checkpoint", &[], &[]).is_ok_and(|r| r.status == 200) {
        assert!(Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    std::fs::rename(dir.join("keys"), dir.join("keys-backup")).unwrap();
    for extra in [&[][..], &["--init"][..]] {
        let err = serve_refused(dir, extra);
        assert!(
            err.contains("does not exist") && err.contains("Restore"),
            "{extra:?}: {err}"
        );
    }
    assert!(!dir.join("keys").join("vault.key").exists());
    std::fs::rename(dir.join("keys-backup"), dir.join("keys")).unwrap();
    let mut server = start(dir, &log, false);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
