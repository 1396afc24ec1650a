//! QUIC endpoints with transport settings for a long, thin home line.

use crate::tls::{TlsError, TlsFiles};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Streams one connection may have open at once (both ends use this).
pub const MAX_STREAMS: u32 = 64;
/// Cold queries at once (on their own connection, apart from the
/// archive's): one more is told "busy" at once instead of waiting for a
/// stream to free.
pub const QUERY_STREAMS: usize = MAX_STREAMS as usize;

/// Transport knobs; windows are sized from bandwidth × RTT.
#[derive(Debug, Clone)]
pub struct LinkTuning {
    /// Expected bandwidth of the path in bytes per second.
    pub bandwidth: u64,
    pub rtt: Duration,
    pub keep_alive: Duration,
    pub idle_timeout: Duration,
}

impl Default for LinkTuning {
    fn default() -> Self {
        Self {
            bandwidth: 100 << 20,
            rtt: Duration::from_millis(100),
            keep_alive: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl LinkTuning {
    fn transport(&self) -> TransportConfig {
        let bdp = (self.bandwidth as f64 * self.rtt.as_secs_f64()) as u64;
        // At least quinn's defaults; at most 64 MiB per stream.
        let stream_window = bdp.clamp(1_250_000, 64 << 20);
        let mut t = TransportConfig::default();
        t.stream_receive_window(VarInt::from_u64(stream_window).unwrap_or(VarInt::MAX))
            .receive_window(VarInt::from_u64(stream_window * 2).unwrap_or(VarInt::MAX))
            .send_window(stream_window * 2)
            .keep_alive_interval(Some(self.keep_alive))
            .max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok())
            .max_concurrent_bidi_streams(VarInt::from_u32(MAX_STREAMS));
        t
    }
}

pub fn server_endpoint(
    addr: SocketAddr,
    files: &TlsFiles,
    tuning: &LinkTuning,
) -> Result<quinn::Endpoint, EndpointError> {
    server_endpoint_speaking(addr, files, tuning, &crate::version::offered())
}

/// `server_endpoint` offering these protocol versions (tests speak older).
pub fn server_endpoint_speaking(
    addr: SocketAddr,
    files: &TlsFiles,
    tuning: &LinkTuning,
    protocols: &[&str],
) -> Result<quinn::Endpoint, EndpointError> {
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crate::tls::server_crypto_speaking(
        files, protocols,
    )?));
    cfg.transport_config(Arc::new(tuning.transport()));
    quinn::Endpoint::server(cfg, addr).map_err(|e| EndpointError::Bind { addr, source: e })
}

pub fn client_endpoint(
    files: &TlsFiles,
    tuning: &LinkTuning,
) -> Result<quinn::Endpoint, EndpointError> {
    client_endpoint_speaking(files, tuning, &crate::version::offered())
}

/// `client_endpoint` offering these protocol versions (tests speak older).
pub fn client_endpoint_speaking(
    files: &TlsFiles,
    tuning: &LinkTuning,
    protocols: &[&str],
) -> Result<quinn::Endpoint, EndpointError> {
    let mut cfg = quinn::ClientConfig::new(Arc::new(crate::tls::client_crypto_speaking(
        files, protocols,
    )?));
    cfg.transport_config(Arc::new(tuning.transport()));
    let bind: SocketAddr = ([0, 0, 0, 0], 0).into();
    let mut ep = quinn::Endpoint::client(bind).map_err(|e| EndpointError::Bind {
        addr: bind,
        source: e,
    })?;
    ep.set_default_client_config(cfg);
    Ok(ep)
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}
