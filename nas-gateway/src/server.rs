//! The link server: accepts mutually authenticated QUIC connections from the
//! cloud and serves one request per bidirectional stream: a batch offer
//! (`receive.rs`), a cold query, a recheck of a committed window or a
//! ledger question.

use crate::cold::ColdStore;
use crate::gateway::{Gateway, RequestError};
use hotcold_core::codec::encode_segment;
use hotcold_core::frame::{ColdQuery, Frame, QueryEnd};
use hotcold_link::framed::{FramedStream, LinkError};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Accepts connections until `shutdown` resolves.
pub async fn serve<S: ColdStore>(
    endpoint: quinn::Endpoint,
    gw: Arc<Gateway<S>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let gw = gw.clone();
                tokio::spawn(async move {
                    let remote = incoming.remote_address();
                    match incoming.await {
                        Ok(conn) => match hotcold_link::version::check(&conn, "cloud") {
                            Ok(()) => {
                                tracing::info!(%remote, "link connected");
                                connection(conn, gw).await;
                            }
                            Err(why) => tracing::warn!(%remote, why, "link refused"),
                        },
                        // A client without a certificate from our CA ends here.
                        Err(e) => tracing::warn!(%remote, error = %e, "link handshake refused"),
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    endpoint.close(0u32.into(), b"shutdown");
}

/// Serves the cloud's requests on one connection until it closes (either
/// end may have opened it).
pub(crate) async fn connection<S: ColdStore>(conn: quinn::Connection, gw: Arc<Gateway<S>>) {
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let gw = gw.clone();
                tokio::spawn(async move {
                    let mut s = FramedStream::new(send, recv, gw.max_frame);
                    if let Err(e) = stream(&mut s, &gw).await {
                        tracing::warn!(error = %e, "link stream failed");
                        let _ = s.write_frame(&Frame::Error(e.to_string())).await;
                    }
                    let _ = s.finish();
                });
            }
            Err(e) => {
                tracing::info!(reason = %e, "link connection closed");
                return;
            }
        }
    }
}

async fn stream<S: ColdStore>(s: &mut FramedStream, gw: &Gateway<S>) -> Result<(), RequestError> {
    match s.expect_frame().await? {
        Frame::Offer(m) => crate::receive::offer(s, gw, *m).await,
        Frame::Query(q) => query(s, gw, q).await,
        Frame::Recheck(r) => {
            let reply = gw.recheck(r).await?;
            s.write_frame(&Frame::Committed(reply)).await?;
            Ok(())
        }
        Frame::LedgerAfter(q) => {
            let out = gw.ledger_after(q).await?;
            s.write_frame(&Frame::LedgerEntries(out)).await?;
            Ok(())
        }
        Frame::ColdSnapshot => match &gw.backups {
            Some(b) => {
                let m = crate::snapshot::create(&gw.store, b.nas(), |_, _| {})
                    .await
                    .map_err(|e| RequestError::Refused(e.to_string()))?;
                s.write_frame(&Frame::ColdSnapshotDone(crate::snapshot::reply(&m)))
                    .await?;
                Ok(())
            }
            None => Err(RequestError::Refused(
                "this gateway keeps no snapshots".into(),
            )),
        },
        Frame::BackupOffer(m) => match &gw.backups {
            Some(b) => crate::backup::offer(s, b, *m).await,
            None => Err(RequestError::Refused(
                "this gateway keeps no hot backups".into(),
            )),
        },
        Frame::LedgerQuery(ids) => {
            let out = gw.ledger_records(ids).await?;
            s.write_frame(&Frame::LedgerEntries(out)).await?;
            Ok(())
        }
        other => Err(RequestError::Refused(
            format!("unexpected first frame {other:?}")
                .chars()
                .take(200)
                .collect(),
        )),
    }
}

async fn query<S: ColdStore>(
    s: &mut FramedStream,
    gw: &Gateway<S>,
    q: ColdQuery,
) -> Result<(), RequestError> {
    let prepared = gw.prepare_query(&q).await?;
    let (tx, rx) = mpsc::channel(2);
    let reading = gw
        .store
        .query(&q.schema, &prepared.plan, q.window, q.limit, tx);
    let max_bytes = q.max_bytes.unwrap_or(u64::MAX);
    let sending = async {
        // Owned here, so a cut drops it and ends the store's read.
        let mut rx = rx;
        let (mut rows, mut bytes, mut cut) = (0u64, 0u64, false);
        while let Some(b) = rx.recv().await {
            let framed = encode_segment(&b, 1);
            bytes += framed.len() as u64;
            if bytes > max_bytes {
                // Dropping the receiver stops the store's read.
                cut = true;
                break;
            }
            rows += b.len() as u64;
            s.write_frame(&Frame::Rows(framed[4..].to_vec())).await?;
        }
        Ok::<(u64, bool), LinkError>((rows, cut))
    };
    let (read, sent) = tokio::join!(reading, sending);
    let (rows, cut) = sent?;
    if !cut {
        gw.finish_query(&prepared, read)?;
    }
    s.write_frame(&Frame::End(QueryEnd {
        rows,
        truncated: cut || rows >= q.limit,
    }))
    .await?;
    Ok(())
}
