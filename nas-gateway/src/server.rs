//! The link server: accepts mutually authenticated QUIC connections from the
//! cloud and serves one request per bidirectional stream: a batch offer
//! (`receive.rs`), a cold query, a recheck of a committed window or a
//! ledger question.

use crate::cold::ColdStore;
use crate::gateway::{Gateway, RequestError};
use hotcold_core::codec::encode_segment;
use hotcold_core::frame::{ColdQuery, CommitReply, Frame, QueryEnd};
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
                        Ok(conn) => {
                            tracing::info!(%remote, "link connected");
                            connection(conn, gw).await;
                        }
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

async fn connection<S: ColdStore>(conn: quinn::Connection, gw: Arc<Gateway<S>>) {
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
        Frame::Recheck(r) => recheck(s, gw, r).await,
        Frame::LedgerQuery(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if hotcold_core::manifest::check_batch_id(&id).is_err() {
                    continue;
                }
                if let Some(e) = gw
                    .store
                    .ledger_get(&id)
                    .await
                    .map_err(|e| RequestError::Refused(e.to_string()))?
                {
                    out.push(hotcold_core::frame::LedgerRecord {
                        batch_id: e.batch_id,
                        table: e.table,
                        window: e.window,
                        cold: e.content,
                    });
                }
            }
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

/// Reads a committed window back again, for a cloud about to purge it after
/// its grace period: the answer is what the cold store holds now.
async fn recheck<S: ColdStore>(
    s: &mut FramedStream,
    gw: &Gateway<S>,
    r: hotcold_core::frame::Recheck,
) -> Result<(), RequestError> {
    let refuse = |e: &dyn std::fmt::Display| RequestError::Refused(e.to_string());
    r.schema.validate().map_err(|e| refuse(&e))?;
    let entry = gw
        .store
        .ledger_get(&r.batch_id)
        .await
        .map_err(|e| refuse(&e))?
        .ok_or_else(|| {
            RequestError::Refused(format!("batch {} is not in the ledger", r.batch_id))
        })?;
    if entry.table != r.schema.name || entry.window != r.window {
        return Err(RequestError::Refused(format!(
            "batch {} is {} {} in the ledger, not {} {}",
            r.batch_id, entry.table, entry.window, r.schema.name, r.window
        )));
    }
    let cold = gw
        .store
        .content_hash(&r.schema, r.window)
        .await
        .map_err(|e| refuse(&e))?;
    let durable = gw.durable(&r.schema).await;
    s.write_frame(&Frame::Committed(CommitReply {
        batch_id: r.batch_id,
        cold,
        durable,
    }))
    .await?;
    Ok(())
}

async fn query<S: ColdStore>(
    s: &mut FramedStream,
    gw: &Gateway<S>,
    q: ColdQuery,
) -> Result<(), RequestError> {
    gw.counters
        .queries
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    q.schema
        .validate()
        .map_err(|e| RequestError::Refused(format!("bad query schema: {e}")))?;
    let schema_json = serde_json::to_string(&q.schema)
        .map_err(|e| RequestError::Refused(format!("bad query schema: {e}")))?;
    if !gw.was_queried(&schema_json) {
        gw.store
            .ensure_table(&q.schema)
            .await
            .map_err(|e| RequestError::Refused(e.to_string()))?;
        gw.set_queried(&schema_json, true);
    }
    let mut plan = q
        .spec
        .plan(&q.schema)
        .map_err(|e| RequestError::Refused(format!("bad query: {e}")))?;
    // The cloud's bound on groups x buckets, so a fold here stops where
    // the cloud's would (and the cloud names it as the client's to fix).
    if let (Some(a), Some(max)) = (plan.agg.as_mut(), q.max_groups) {
        a.max_groups = max;
    }
    let (tx, rx) = mpsc::channel(2);
    let reading = gw.store.query(&q.schema, &plan, q.window, q.limit, tx);
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
        // The table may have gone (dropped by hand): check it next time.
        read.map_err(|e| {
            gw.set_queried(&schema_json, false);
            RequestError::Refused(e.to_string())
        })?;
    }
    s.write_frame(&Frame::End(QueryEnd {
        rows,
        truncated: cut || rows >= q.limit,
    }))
    .await?;
    Ok(())
}
