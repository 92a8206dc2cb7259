//! `obhut witness` as real processes: `init` prints a vkey, `serve` on a
//! free loopback port cosigns a log's checkpoint with that key, `show`
//! reports the stored size.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use obhut_log::note::ALG_COSIGNATURE_V1;
use obhut_log::{Checkpoint, MemoryTree, Note, NoteSigner, VerifierKey};

const BIN: &str = env!("CARGO_BIN_EXE_obhut");
const ORIGIN: &str = "obhut.example/vault-3f2a9c";

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn obhut(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "obhut {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn serve(dir: &Path) -> Server {
    let log = std::fs::File::create(dir.join("witness.log")).unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args([
            "witness",
            "serve",
            "--dir",
            "w",
            "--config",
            "witness.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn obhut witness serve");
    // The first stdout line comes once the port is bound.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no address in {line:?}; stderr: {}",
                std::fs::read_to_string(dir.join("witness.log")).unwrap_or_default()
            )
        });
    Server { child, addr }
}

#[test]
fn init_serve_cosign_show() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let out = obhut(
        dir,
        &[
            "witness",
            "init",
            "--dir",
            "w",
            "--name",
            "dpo.example/witness",
        ],
    );
    let vkey: VerifierKey = out.trim().parse().expect("init prints the vkey");
    assert_eq!(vkey.alg(), ALG_COSIGNATURE_V1);
    assert_eq!(vkey.name(), "dpo.example/witness");

    // The vault's side: a log of five entries and its checkpoint key.
    let log_key = NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let mut tree = MemoryTree::new();
    for i in 0..5u8 {
        tree.append_entry(&[i]);
    }
    let checkpoint = Checkpoint::new(ORIGIN, 5, tree.root())
        .unwrap()
        .sign(&log_key)
        .unwrap()
        .to_bytes();
    std::fs::write(
        dir.join("witness.toml"),
        format!(
            "[[log]]\norigin = \"{ORIGIN}\"\nvkey = \"{}\"\n",
            log_key.verifier_key()
        ),
    )
    .unwrap();

    let server = serve(dir);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("http://{}/add-checkpoint", server.addr))
        .send(&obhut_witness::request_body(0, &[], &checkpoint))
        .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{body}");

    // As a client: the response lines appended to the checkpoint verify
    // with the vkey `init` printed.
    let mut cosigned = checkpoint.clone();
    cosigned.extend_from_slice(body.as_bytes());
    let verified = Note::parse(&cosigned)
        .unwrap()
        .verify(std::slice::from_ref(&vkey))
        .unwrap();
    assert_eq!(verified[0].alg, ALG_COSIGNATURE_V1);
    assert!(verified[0].timestamp.is_some_and(|t| t > 0));

    // `show` works beside the running server and reports what it stored.
    let shown = obhut(dir, &["witness", "show", "--dir", "w"]);
    assert!(shown.contains(&vkey.to_string()), "{shown}");
    assert!(shown.contains(&format!("{ORIGIN}  size 5  ")), "{shown}");

    // The directory is locked while it serves.
    let second = Command::new(BIN)
        .current_dir(dir)
        .args([
            "witness",
            "serve",
            "--dir",
            "w",
            "--config",
            "witness.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another obhut witness serve"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    drop(server);
}
