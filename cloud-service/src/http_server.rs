//! The HTTP listener: plain, or HTTPS with rustls when `http-tls` names a
//! certificate; every connection bounded in time.
//!
//! `axum::serve` has no header-read timeout, so a client that opens a
//! connection and never finishes its request headers holds a socket and a
//! task for ever (900 such connections were all still open after 40 s).
//! Here each connection must deliver its TLS handshake and each request's
//! headers within `http-header-timeout`, or it is closed. A request head
//! hyper refuses itself (too long, malformed) gets a JSON answer naming the
//! limit, like every other error (`http_refusals`).

use crate::http_refusals::{Counted, OpenResponses, Refusals, MAX_HEAD};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// requests finish for up to `drain`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1.1 only: what collectors and notebooks speak, and the one whose
    // header timeout covers every request on a kept-alive connection.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // Above hyper's fixed 65,534-byte bound on the request target, so a
        // long target is refused as that (414), not as a long head (431).
        .max_header_size(MAX_HEAD)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let open = OpenResponses::default();
        let service = Counted {
            inner: TowerToHyperService::new(app.clone()),
            open: open.clone(),
        };
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The header timer starts with the first byte; a connection that
            // sends nothing at all is closed here.
            let mut first = [0u8; 1];
            if !matches!(tokio::time::timeout(header_timeout, stream.peek(&mut first)).await, Ok(Ok(n)) if n > 0)
            {
                tracing::debug!(%peer, "connection sent nothing within the header timeout");
                return;
            }
            let result = match acceptor {
                None => {
                    let conn = builder
                        .serve_connection(TokioIo::new(Refusals::new(stream, open)), service);
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn =
                        builder.serve_connection(TokioIo::new(Refusals::new(tls, open)), service);
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open HTTP connections did not finish within 10 s of shutdown");
    }
    Ok(())
}

/// The rustls configuration of the HTTPS listener, from PEM files.
pub(crate) fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow::anyhow!("http-tls.cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("http-tls.cert {}: {e}", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "http-tls.cert {}: no PEM certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("http-tls.key {}: {e}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| anyhow::anyhow!("HTTPS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| anyhow::anyhow!("http-tls: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
