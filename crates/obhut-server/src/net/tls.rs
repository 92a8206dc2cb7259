//! TLS on the API listener (docs/vault.md §7, "TLS"): the certificate
//! chain and key the operator names, read at start and again on SIGHUP.
//!
//! The rustls configuration is made once; what changes on a reload is the
//! certificate it offers, through [`Certs`] (a [`ResolvesServerCert`]
//! behind a lock). So a reload never touches the listener or a
//! connection: handshakes from then on get the new certificate, and
//! connections already open keep theirs. A reload that fails (a missing
//! file, a key that is not the certificate's) keeps the old certificate
//! and says why in the log, so a half-copied renewal cannot take the vault
//! off the air.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Where the certificate chain and its key are (config keys `tls_cert`,
/// `tls_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the vault's certificate first, then the intermediates.
    pub cert: PathBuf,
    /// PEM: the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate or key was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The certificate file is not PEM.
    #[error("{path}: not a PEM certificate chain: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// The parser's word.
        reason: String,
    },
    /// The key file holds no private key rustls can use.
    #[error("{path}: not a PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The parser's or rustls's word.
        reason: String,
    },
    /// The key is not the certificate's, or of a kind rustls cannot sign
    /// with.
    #[error("{key} does not go with {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's word.
        reason: String,
    },
    /// rustls refused the protocol versions (does not happen with the
    /// ring provider's defaults).
    #[error("configuring TLS: {0}")]
    Config(String),
}

/// The crypto provider of every TLS connection the vault serves: ring,
/// the same as the HTTP clients (ureq's default), so one provider is
/// compiled in.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Read and check a certificate chain and its key.
pub fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read(&files.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: files.cert.clone(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    // The key's bytes are zeroized when `PrivateKeyDer` drops (pki-types).
    let key_pem = zeroize::Zeroizing::new(read(&files.key)?);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: files.key.clone(),
        reason: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    })
}

/// The certificate the listener offers, replaced by [`Certs::reload`].
pub struct Certs {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certs {
    /// Read `files` (an error here stops the vault from starting).
    pub fn open(files: TlsFiles) -> Result<Arc<Certs>, TlsError> {
        let provider = provider();
        let key = load(&files, &provider)?;
        Ok(Arc::new(Certs {
            files,
            provider,
            current: RwLock::new(Arc::new(key)),
        }))
    }

    /// Read the files again; on success new handshakes use them, on
    /// failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = Arc::new(load(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }

    /// The certificate offered now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The acceptor of the API listener: TLS 1.3 and 1.2 (rustls's safe
    /// defaults), HTTP/1.1 by ALPN (the vault serves nothing else), no
    /// client certificates (requests are signed, docs/vault.md §2).
    pub fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl std::fmt::Debug for Certs {
    // Names the files only: the key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certs")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reload `certs` on every SIGHUP until the process ends (the task is
/// aborted with the server).
#[cfg(unix)]
pub(crate) fn reload_on_sighup(certs: Arc<Certs>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match certs.reload() {
                Ok(()) => tracing::info!(
                    cert = %certs.files.cert.display(),
                    "TLS certificate reloaded (SIGHUP); new connections get it"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "TLS certificate not reloaded (SIGHUP); the previous one stays in use"
                ),
            }
        }
    }))
}
