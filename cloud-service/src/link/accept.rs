//! `link.direction: nas-dials`: the cloud's end listens and takes the
//! connections its gateway dials. The handshake already refused anything
//! but the pinned gateway certificate (logged with the reason here); each
//! connection then names its role (`hotcold_link::Role`) and takes that
//! slot. A connection for a slot still held replaces the old one: the NAS
//! only dials again when it lost its connection, and behind a NAT the old
//! path is gone (a new source port) even if the cloud has not noticed yet.

use super::LinkClient;
use hotcold_link::Role;
use std::sync::Arc;
use std::time::Duration;

/// How long a new connection may take to name its role.
const ROLE_WITHIN: Duration = Duration::from_secs(10);
/// Handshakes at once: the port is open to the internet, and only one
/// gateway (two connections) belongs on it.
const HANDSHAKES: usize = 8;

pub(super) async fn accept_loop(link: Arc<LinkClient>) {
    let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
    while let Some(incoming) = link.endpoint.accept().await {
        // A sender that has not shown it owns its address is asked to
        // (QUIC retry) before any handshake work: spoofed floods stop here.
        if !incoming.remote_address_validated() {
            if let Err(e) = incoming.retry() {
                tracing::debug!(error = %e, "QUIC retry not sent");
            }
            continue;
        }
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(remote = %incoming.remote_address(), "refused a connection dialling in: {HANDSHAKES} handshakes already under way");
            incoming.refuse();
            continue;
        };
        let link = link.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%remote, error = %e, "refused a connection dialling in: not our gateway (the TLS handshake failed)");
                    return;
                }
            };
            if let Err(why) = hotcold_link::version::check(&conn, "gateway") {
                tracing::warn!(%remote, why, "refused a connection dialling in");
                return;
            }
            let role = match tokio::time::timeout(ROLE_WITHIN, read_role(&conn)).await {
                Ok(Ok(r)) => r,
                Ok(Err(why)) => {
                    tracing::warn!(%remote, why, "refused a connection dialling in");
                    conn.close(1u32.into(), why.as_bytes());
                    return;
                }
                Err(_) => {
                    tracing::warn!(%remote, "refused a connection dialling in: it named no role");
                    conn.close(1u32.into(), b"no role");
                    return;
                }
            };
            let slot = match role {
                Role::Archive => &link.conn,
                Role::Queries => &link.query_conn,
            };
            drop(permit);
            let id = conn.stable_id();
            link.note_arrival(id);
            let watched = conn.clone();
            if let Some(old) = slot.lock().await.replace(conn) {
                if old.close_reason().is_none() {
                    tracing::info!(%remote, %role, "the NAS dialled again; its older connection is closed");
                    old.close(0u32.into(), b"replaced");
                }
            }
            *link.down.lock().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::info!(%remote, %role, "the NAS connected");
            link.arrived.notify_waiters();
            // Health says "waiting" again from the moment the archive's
            // connection is lost, not from the next request that needs it.
            let why = watched.closed().await;
            let current = slot.lock().await.as_ref().map(|c| c.stable_id());
            if role == Role::Archive && current == Some(id) {
                tracing::warn!(%remote, reason = %why, "the NAS's connection closed; waiting for it to dial again");
                link.mark_down(&link.waiting_reason());
            }
        });
    }
}

async fn read_role(conn: &quinn::Connection) -> Result<Role, &'static str> {
    let mut recv = conn
        .accept_uni()
        .await
        .map_err(|_| "the connection closed before naming its role")?;
    let mut b = [0u8; 1];
    recv.read_exact(&mut b)
        .await
        .map_err(|_| "its role stream ended early")?;
    Role::from_byte(b[0]).ok_or("it named an unknown role")
}
