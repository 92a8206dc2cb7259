//! # obhut-http
//!
//! The one place an Obhut HTTP client is configured: the device agent,
//! the people's client (`obhut request`, `pending`, `audit`, …) and the
//! vault's witness client all start from [`config_builder`], so they agree
//! on what they trust and on what they refuse (redirects: a signed request
//! is bound to its path; HTTP errors come back as answers, not as
//! transport errors, so a caller reads the vault's error body).
//!
//! Trust: a vault's certificate is accepted if it chains to
//!
//! - Mozilla's roots (`webpki-root-certs`), as before;
//! - the system trust store (`rustls-native-certs`: on Debian
//!   `/etc/ssl/certs`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), where
//!   `update-ca-certificates` puts an operator's internal CA;
//! - the CA certificates of [`trust_ca_file`] (`--ca-cert FILE`,
//!   `OBHUT_CA_CERT`), for a CA the host's store does not hold.
//!
//! Why rustls-native-certs and not ureq's platform verifier: ureq 3 takes
//! either the platform verifier or a list of roots, not both, so with the
//! platform verifier an operator's `--ca-cert` could not be added; the
//! list of roots takes all three sources at once. Both crates are the
//! rustls project's and maintained; on Linux the platform verifier reads
//! the same files.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use ureq::config::ConfigBuilder;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::typestate::AgentScope;

/// Why a CA file was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file could not be read.
    #[error("reading the CA certificate file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not PEM, or holds no certificate.
    #[error("{path}: {reason}")]
    NotPem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Mozilla's roots and the system store's, read once per process.
fn base_roots() -> &'static [Certificate<'static>] {
    static BASE: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        // A host without a store (a minimal container) still has Mozilla's
        // roots and the operator's CA; unreadable entries are skipped as
        // the store's own tools skip them.
        let native = rustls_native_certs::load_native_certs();
        roots.extend(
            native
                .certs
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
        );
        roots
    })
}

/// The roots every client trusts now: [`base_roots`] and the operator's.
fn roots() -> &'static RwLock<Option<RootCerts>> {
    static ROOTS: RwLock<Option<RootCerts>> = RwLock::new(None);
    &ROOTS
}

/// Read the CA certificates (PEM, one or more) in `path`.
pub fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, TrustError> {
    let pem = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            // A key beside the certificate (a bundle) is not trust.
            Ok(_) => {}
            Err(e) => {
                return Err(TrustError::NotPem {
                    path: path.to_owned(),
                    reason: format!("not PEM: {e}"),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(TrustError::NotPem {
            path: path.to_owned(),
            reason: "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        });
    }
    Ok(certs)
}

/// Trust the CA certificates in `path` too, from now on, for every client
/// in this process (replacing an earlier call's); returns how many were
/// read. A file that cannot be used changes nothing.
pub fn trust_ca_file(path: &Path) -> Result<usize, TrustError> {
    let extra = read_ca_file(path)?;
    let n = extra.len();
    let all: Vec<Certificate<'static>> = base_roots().iter().cloned().chain(extra).collect();
    *roots().write().unwrap_or_else(|e| e.into_inner()) = Some(RootCerts::Specific(Arc::new(all)));
    Ok(n)
}

/// The TLS settings of every client: the roots above, SNI on.
pub fn tls_config() -> TlsConfig {
    let current = roots().read().unwrap_or_else(|e| e.into_inner()).clone();
    let root_certs =
        current.unwrap_or_else(|| RootCerts::Specific(Arc::new(base_roots().to_vec())));
    TlsConfig::builder().root_certs(root_certs).build()
}

/// The agent configuration every Obhut client starts from: [`tls_config`],
/// no redirects, HTTP error statuses as answers. The caller adds its
/// timeouts and buffers and builds.
pub fn config_builder() -> ConfigBuilder<AgentScope> {
    ureq::Agent::config_builder()
        .tls_config(tls_config())
        .http_status_as_error(false)
        .max_redirects(0)
}

/// Whether `e` is a certificate the client did not accept (its issuer
/// unknown, expired, for another name), so a front end can say which flag
/// helps. rustls's refusal reaches ureq either as its own error or inside
/// the I/O error of the first read or write of the connection.
pub fn is_certificate_error(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Rustls(r) => is_certificate_rustls(r),
        ureq::Error::Io(io) => is_certificate_io(io),
        _ => false,
    }
}

fn is_certificate_rustls(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
    )
}

fn is_certificate_io(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(is_certificate_rustls)
}

/// [`is_certificate_error`] for one error of a chain (an agent's or a
/// client's error, whose source is the HTTP client's, boxed or not).
pub fn is_certificate_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(u) = e.downcast_ref::<ureq::Error>() {
        return is_certificate_error(u);
    }
    if let Some(u) = e.downcast_ref::<Box<ureq::Error>>() {
        return is_certificate_error(u);
    }
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return is_certificate_rustls(r);
    }
    e.downcast_ref::<std::io::Error>()
        .is_some_and(is_certificate_io)
}
