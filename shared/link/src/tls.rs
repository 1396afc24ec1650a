//! rustls configurations for both ends, with the ring provider and TLS 1.3
//! only. There is no unauthenticated mode: the gateway requires a client
//! certificate chained to the operator's CA, and the cloud checks the
//! gateway's certificate against the same CA.
//!
//! Chaining to the CA is not enough where a CA signs more than this pair:
//! each side also pins its peer, accepting only the very certificate
//! `certs init` made for the other end (same name, same key). Anything else
//! that chains to the CA is refused during the handshake, with a reason
//! the refusing side logs.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCert { path: PathBuf },
    #[error("{path}: no PEM private key found")]
    NoKey { path: PathBuf },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
    #[error("QUIC crypto: {0}")]
    Quic(String),
}

/// Where one side's CA, certificate and key live, and the one certificate
/// its peer must present.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The peer's certificate (PEM). `None`: any certificate of the CA
    /// (tools and tests only; both programs always pin).
    pub peer: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCert {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsError::NoKey {
        path: path.to_path_buf(),
    })
}

fn roots(ca: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for c in certs(ca)? {
        store.add(c)?;
    }
    Ok(store)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The pinned peer certificate, if one is configured.
fn pinned(files: &TlsFiles) -> Result<Option<CertificateDer<'static>>, TlsError> {
    match &files.peer {
        None => Ok(None),
        Some(p) => Ok(certs(p)?.into_iter().next()),
    }
}

/// The gateway's side: requires and verifies a client certificate.
pub fn server_crypto(
    files: &TlsFiles,
) -> Result<quinn::crypto::rustls::QuicServerConfig, TlsError> {
    server_crypto_speaking(files, &crate::version::offered())
}

/// `server_crypto` offering these ALPN protocols (tests speak older ones).
pub fn server_crypto_speaking(
    files: &TlsFiles,
    protocols: &[&str],
) -> Result<quinn::crypto::rustls::QuicServerConfig, TlsError> {
    let webpki = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(&files.ca)?),
        provider(),
    )
    .build()
    .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = match pinned(files)? {
        Some(pin) => Arc::new(crate::pin::PinnedClient { inner: webpki, pin }),
        None => webpki,
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&files.cert)?, key(&files.key)?)?;
    cfg.alpn_protocols = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
    quinn::crypto::rustls::QuicServerConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))
}

/// The cloud's side: presents its certificate, trusts only the CA.
pub fn client_crypto(
    files: &TlsFiles,
) -> Result<quinn::crypto::rustls::QuicClientConfig, TlsError> {
    client_crypto_speaking(files, &crate::version::offered())
}

/// `client_crypto` offering these ALPN protocols (tests speak older ones).
pub fn client_crypto_speaking(
    files: &TlsFiles,
    protocols: &[&str],
) -> Result<quinn::crypto::rustls::QuicClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let roots = Arc::new(roots(&files.ca)?);
    let builder = match pinned(files)? {
        Some(pin) => {
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
                    .build()
                    .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(crate::pin::PinnedServer { inner, pin }))
        }
        None => builder.with_root_certificates(roots),
    };
    let mut cfg = builder.with_client_auth_cert(certs(&files.cert)?, key(&files.key)?)?;
    cfg.alpn_protocols = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
    quinn::crypto::rustls::QuicClientConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))
}
