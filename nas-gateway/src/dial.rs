//! `dial: ADDR`: the gateway opens the link (the cloud's `link.direction:
//! nas-dials`), so a NAS behind a NAT or a router nobody can configure needs
//! no VPN and no forwarded port. Two connections, one per role
//! (`hotcold_link::Role`), each dialled again with capped backoff when it
//! drops; QUIC keep-alives (`keep-alive`) hold the NAT's mapping open. On
//! each connection the gateway serves the cloud's requests exactly as when
//! the cloud dials (`server::connection`).

use crate::cold::ColdStore;
use crate::gateway::Gateway;
use hotcold_link::backoff::Backoff;
use hotcold_link::Role;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection must stay up this long before the backoff starts over:
/// one the cloud closes at once (another gateway took its place, a role
/// refused) must not be dialled again twice a second.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long one attempt waits for the cloud's answer.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// Keeps both connections to the cloud up until `shutdown` resolves.
pub(crate) async fn dial<S: ColdStore>(
    endpoint: quinn::Endpoint,
    cloud: String,
    gw: Arc<Gateway<S>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let loops: Vec<_> = Role::ALL
        .into_iter()
        .map(|role| {
            tokio::spawn(keep_dialling(
                endpoint.clone(),
                cloud.clone(),
                role,
                gw.clone(),
            ))
        })
        .collect();
    shutdown.await;
    loops.iter().for_each(|l| l.abort());
    endpoint.close(0u32.into(), b"shutdown");
}

async fn keep_dialling<S: ColdStore>(
    endpoint: quinn::Endpoint,
    cloud: String,
    role: Role,
    gw: Arc<Gateway<S>>,
) {
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    loop {
        match connect(&endpoint, &cloud, role).await {
            Ok(conn) => {
                tracing::info!(%cloud, %role, "connected to the cloud");
                let up = Instant::now();
                crate::server::connection(conn.clone(), gw.clone()).await;
                let why = conn
                    .close_reason()
                    .map_or_else(|| "unknown".to_string(), |r| r.to_string());
                tracing::warn!(%cloud, %role, reason = %why, "the connection to the cloud closed; dialling again");
                if up.elapsed() >= STABLE_AFTER {
                    backoff.succeeded();
                }
            }
            Err(e) => tracing::warn!(%cloud, %role, error = %e, "cannot reach the cloud"),
        }
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        let wait = backoff.failed(Instant::now(), jitter);
        tokio::time::sleep(wait).await;
    }
}

/// One attempt: the handshake (the cloud's certificate must be the pinned
/// one), then the role, on a stream of its own.
async fn connect(
    endpoint: &quinn::Endpoint,
    cloud: &str,
    role: Role,
) -> Result<quinn::Connection, String> {
    let addr = tokio::net::lookup_host(cloud)
        .await
        .map_err(|e| format!("cannot look up {cloud}: {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("{cloud} has no IPv4 address"))?;
    let connecting = endpoint
        .connect(addr, hotcold_link::CLOUD_NAME)
        .map_err(|e| e.to_string())?;
    let conn = tokio::time::timeout(CONNECT_WITHIN, connecting)
        .await
        .map_err(|_| format!("no answer within {}s", CONNECT_WITHIN.as_secs()))?
        .map_err(|e| e.to_string())?;
    hotcold_link::version::check(&conn, "cloud")?;
    let mut s = conn.open_uni().await.map_err(|e| e.to_string())?;
    s.write_all(&[role.byte()])
        .await
        .map_err(|e| e.to_string())?;
    s.finish().map_err(|e| e.to_string())?;
    Ok(conn)
}
