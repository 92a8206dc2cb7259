//! The vault serving TLS itself, and the agent trusting an operator's
//! internal CA (issue 20, operations): a real `obhut serve` process on
//! loopback with a certificate signed by a test CA made here (rcgen), a
//! device that enrols and uploads a real MP4 given only that CA
//! (`--ca-cert`, `OBHUT_CA_CERT`), a refusal that names the certificate
//! problem without it, and the certificate replaced on SIGHUP while the
//! listener stays up.

use crate::support;

use std::fs;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use support::*;

/// A test CA: its certificate (PEM) and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let pem = p.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(p, key),
    }
}

/// A vault certificate for 127.0.0.1 signed by `ca`, written as
/// `vault.crt` (with the CA's certificate after it, as a chain) and
/// `vault.key`; returns the leaf's DER.
fn issue(ca: &Ca, dir: &Path) -> Vec<u8> {
    let mut p =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "vault.test");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    fs::write(dir.join("vault.crt"), format!("{}{}", cert.pem(), ca.pem)).unwrap();
    fs::write(dir.join("vault.key"), key.serialize_pem()).unwrap();
    cert.der().to_vec()
}

/// `obhut serve --init` over TLS on a free port; killed on drop.
struct TlsVault {
    child: Child,
    url: String,
}

impl Drop for TlsVault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> TlsVault {
    let log = fs::File::create(dir.join("serve.log")).unwrap();
    let mut child = cmd(
        dir,
        &[
            "serve",
            "--init",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "vault.crt",
            "--tls-key",
            "vault.key",
        ],
    )
    .args(extra)
    .env_remove("OBHUT_DATA")
    .env_remove("OBHUT_KEYS")
    .env_remove("OBHUT_LISTEN")
    .env_remove("OBHUT_CA_CERT")
    .stdout(Stdio::piped())
    .stderr(log)
    .spawn()
    .expect("spawn obhut serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit_once("https://")
        .map(|(_, a)| a.to_owned())
        .unwrap_or_else(|| panic!("no https:// address in {line:?}"));
    TlsVault {
        child,
        url: format!("https://{addr}"),
    }
}

/// `GET /healthz` on a new connection by a client that trusts exactly
/// `ca_pem` (rustls through ureq): the status, or the handshake's error
/// if the certificate offered is not that CA's.
fn offered(url: &str, ca_pem: &str) -> Result<u16, String> {
    get(url, "/healthz", ca_pem)
}

/// `GET url path` by a client trusting exactly `ca_pem`: the status, or
/// the client's error.
fn get(url: &str, path: &str, ca_pem: &str) -> Result<u16, String> {
    let roots: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(ca_pem.as_bytes())
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                .build(),
        )
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(format!("{url}{path}"))
        .call()
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

fn token(d: &Path) -> String {
    let out = ok(
        d,
        &[
            "admin",
            "enrol-token",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--group",
            "custody/group.obgd",
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

#[track_caller]
fn refused_for_its_certificate(args: &[&str], d: &Path) {
    let out = cmd(d, args)
        .env_remove("OBHUT_CA_CERT")
        .output()
        .expect("run obhut");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a refusal, not a panic: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("UnknownIssuer") && err.contains("certificate"),
        "the message names the certificate problem: {err}"
    );
    assert!(err.contains("--ca-cert"), "and the flag that helps: {err}");
}

fn send_hup(child: &Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

/// Wait until new connections are offered the certificate `ca` signed.
fn wait_for_ca(url: &str, ca: &Ca) {
    let t0 = Instant::now();
    while offered(url, &ca.pem).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the new certificate was not served after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_agent_uploads_over_tls_trusting_only_the_operators_ca_and_sighup_swaps_the_certificate() {
    let dir = setup();
    let d = dir.as_path();
    let ca1 = ca("Obhut test CA one");
    fs::write(d.join("ca1.pem"), &ca1.pem).unwrap();
    issue(&ca1, d);
    let vault = serve(d, &[]);
    let url = vault.url.clone();
    assert_eq!(offered(&url, &ca1.pem), Ok(200), "served over TLS");
    let f = fingerprint(d, "custody/group.obgd");
    let tok = token(d);
    let enrol = [
        "enrol",
        "--vault",
        url.as_str(),
        "--token",
        tok.as_str(),
        "--device",
        "cam.key",
        "--group-fingerprint",
        f.as_str(),
        "--state",
        "state",
    ];

    // Without the CA: refused for the certificate, at once (not retried
    // as if the network were down), and nothing enrolled.
    refused_for_its_certificate(&enrol, d);
    // With it, from the environment.
    let out = cmd(d, &enrol)
        .env("OBHUT_CA_CERT", d.join("ca1.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    fs::create_dir_all(d.join("dock")).unwrap();
    make_mp4(&d.join("dock/a.mp4"), 4, "160x120");
    make_mp4(&d.join("dock/b.mp4"), 4, "160x120");
    let ingest_a = ["ingest", "--state", "state", "dock/a.mp4"];
    let t0 = Instant::now();
    refused_for_its_certificate(&ingest_a, d);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "a certificate refusal is not retried with back-off"
    );
    // Given only the CA by --ca-cert: the upload completes and its
    // receipts verify (ingest exits 0 only then).
    let rid = ok(
        d,
        &[
            "--ca-cert",
            "ca1.pem",
            "ingest",
            "--state",
            "state",
            "dock/a.mp4",
        ],
    );
    assert_eq!(rid.trim().len(), 32, "{rid}");

    // A renewal by another CA, the files replaced in place, then SIGHUP.
    let ca2 = ca("Obhut test CA two");
    fs::write(d.join("ca2.pem"), &ca2.pem).unwrap();
    issue(&ca2, d);
    // Until the signal the old certificate is served.
    assert_eq!(offered(&url, &ca1.pem), Ok(200));
    send_hup(&vault.child);
    wait_for_ca(&url, &ca2);
    let old = offered(&url, &ca1.pem).expect_err("the old CA no longer verifies");
    assert!(old.contains("UnknownIssuer"), "{old}");
    // The same listener, a new connection: the agent trusting only the
    // new CA uploads; trusting only the old one it is refused.
    refused_for_its_certificate(
        &[
            "--ca-cert",
            "ca1.pem",
            "ingest",
            "--state",
            "state",
            "dock/b.mp4",
        ],
        d,
    );
    let rid = ok(
        d,
        &[
            "--ca-cert",
            "ca2.pem",
            "ingest",
            "--state",
            "state",
            "dock/b.mp4",
        ],
    );
    assert_eq!(rid.trim().len(), 32, "{rid}");

    // A broken renewal (a key that is not the certificate's) is refused
    // on SIGHUP and the certificate in use stays.
    let ca3 = ca("Obhut test CA three");
    issue(&ca3, d);
    fs::write(
        d.join("vault.key"),
        KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    send_hup(&vault.child);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        offered(&url, &ca2.pem),
        Ok(200),
        "the previous certificate stays"
    );
    assert!(
        vault_log_has(d, "not reloaded"),
        "the failed reload is logged"
    );
}

fn vault_log_has(d: &Path, needle: &str) -> bool {
    let t0 = Instant::now();
    loop {
        if fs::read_to_string(d.join("serve.log")).is_ok_and(|l| l.contains(needle)) {
            return true;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The connection cap and its refusal work over TLS: above the cap a
/// client completes its handshake and reads `503 overloaded`; and a
/// client that connects and never says hello is closed after the header
/// timeout.
#[test]
fn over_tls_the_cap_refuses_with_503_and_a_silent_client_is_timed_out() {
    let dir = tempfile::Builder::new()
        .prefix("obhut-tls-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let d = dir.path();
    let ca1 = ca("Obhut test CA");
    issue(&ca1, d);
    fs::write(
        d.join("obhut.toml"),
        "[net]\nmax_connections = 1\nheader_timeout_secs = 1\n",
    )
    .unwrap();
    let vault = serve(d, &[]);
    let url = vault.url.clone();
    let addr = url.trim_start_matches("https://").to_owned();
    // One TCP connection holding the only slot, saying nothing.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Above the cap: the handshake completes and the answer is the
    // refusal, read over TLS (and the health check's own answer).
    let status = get(&url, "/openapi.json", &ca1.pem).expect("a TLS answer above the cap");
    assert_eq!(status, 503);
    assert_eq!(
        offered(&url, &ca1.pem),
        Ok(200),
        "/healthz answered above the cap"
    );
    // The silent client is closed once the header timeout passes.
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut silent, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed, not answered");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "closed by the header timeout"
    );
    // Then the slot is free again.
    assert_eq!(offered(&url, &ca1.pem), Ok(200));
}
