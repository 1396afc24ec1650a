//! The link server: accepts mutually authenticated QUIC connections from the
//! cloud and serves one request per bidirectional stream: a batch offer
//! (transfer, then commit) or a cold query.

use crate::cold::ColdStore;
use crate::commit::{commit, CommitError};
use crate::staging::{Staging, StagingError};
use hotcold_core::codec::{encode_segment, DecodeLimits};
use hotcold_core::frame::{ColdQuery, CommitReply, Frame, QueryEnd, StoredReply};
use hotcold_core::manifest::Manifest;
use hotcold_link::framed::{FramedStream, LinkError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub struct Gateway<S> {
    pub store: S,
    pub staging: Staging,
    pub limits: DecodeLimits,
    pub max_frame: usize,
    /// Batches being transferred or committed now: one stream per batch.
    busy: Mutex<HashSet<String>>,
    pub counters: crate::http::Counters,
}

impl<S: ColdStore> Gateway<S> {
    pub fn new(store: S, staging: Staging, max_frame: usize) -> Self {
        Self {
            store,
            staging,
            limits: DecodeLimits::default(),
            max_frame,
            busy: Mutex::new(HashSet::new()),
            counters: Default::default(),
        }
    }
}

/// Commits staged batches whose chunks are all there (the cold store was
/// down when they arrived), every `interval`.
pub async fn committer<S: ColdStore>(gw: Arc<Gateway<S>>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let busy = |id: &str| gw.busy.lock().map(|b| b.contains(id)).unwrap_or(true);
        for id in gw.staging.expire(busy) {
            tracing::warn!(batch = %id, "staged batch untouched past staging-expiry; removed");
        }
        let manifests = match gw.staging.manifests() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list staging");
                continue;
            }
        };
        for m in manifests {
            {
                let Ok(mut busy) = gw.busy.lock() else { return };
                if !busy.insert(m.batch_id.clone()) {
                    continue;
                }
            }
            let _guard = BusyGuard(&gw.busy, m.batch_id.clone());
            let Ok(staged) = gw.staging.batch(&m) else {
                continue;
            };
            let h = staged.clone_handle();
            let complete = tokio::task::spawn_blocking(move || h.missing())
                .await
                .ok()
                .and_then(Result::ok)
                .is_some_and(|v| v.is_empty());
            if !complete {
                continue;
            }
            match commit(&gw.store, &staged, gw.limits).await {
                Ok(cold) => {
                    tracing::info!(batch = %m.batch_id, cold = %cold, "committed from staging");
                    let _ = gw.staging.remove(&m.batch_id);
                }
                // Undecodable for good (over a limit, or corrupt past its
                // hashes): retrying cannot help. Dropped from staging; the
                // cloud keeps the rows hot and is told when it offers again.
                Err(e @ (CommitError::Decode { .. } | CommitError::Conflict { .. })) => {
                    tracing::error!(batch = %m.batch_id, error = %e, "staged batch can never be committed; dropped from staging");
                    let _ = gw.staging.remove(&m.batch_id);
                }
                Err(e) => {
                    tracing::debug!(batch = %m.batch_id, error = %e, "staged batch still not committed")
                }
            }
        }
    }
}

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

#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("{0}")]
    Refused(String),
}

async fn stream<S: ColdStore>(s: &mut FramedStream, gw: &Gateway<S>) -> Result<(), RequestError> {
    match s.expect_frame().await? {
        Frame::Offer(m) => offer(s, gw, *m).await,
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

struct BusyGuard<'a>(&'a Mutex<HashSet<String>>, String);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut b) = self.0.lock() {
            b.remove(&self.1);
        }
    }
}

async fn offer<S: ColdStore>(
    s: &mut FramedStream,
    gw: &Gateway<S>,
    m: Manifest,
) -> Result<(), RequestError> {
    m.validate()
        .map_err(|e| RequestError::Refused(format!("bad manifest: {e}")))?;
    {
        let mut busy = gw
            .busy
            .lock()
            .map_err(|_| RequestError::Refused("busy set poisoned".into()))?;
        if !busy.insert(m.batch_id.clone()) {
            return Err(RequestError::Refused(format!(
                "batch {} is already being received",
                m.batch_id
            )));
        }
    }
    let _guard = BusyGuard(&gw.busy, m.batch_id.clone());
    let refuse = |e: &dyn std::fmt::Display| RequestError::Refused(e.to_string());

    // An unreadable ledger (cold store down) must not stop the transfer:
    // the chunks are staged and the commit step answers `Stored`.
    let already = match gw.store.ledger_get(&m.batch_id).await {
        Ok(entry) => entry.is_some(),
        Err(e) => {
            tracing::warn!(batch = %m.batch_id, error = %e, "cannot read the ledger; staging anyway");
            false
        }
    };
    let staged = gw.staging.batch(&m).map_err(|e| refuse(&e))?;
    let mut missing: Vec<u32> = if already {
        Vec::new()
    } else {
        let h = staged.clone_handle();
        tokio::task::spawn_blocking(move || h.missing())
            .await
            .map_err(|e| refuse(&e))?
            .map_err(|e| refuse(&e))?
    };
    tracing::info!(batch = %m.batch_id, chunks = m.chunks.len(), missing = missing.len(), "offer");
    s.write_frame(&Frame::Need(missing.clone())).await?;
    loop {
        match s.expect_frame().await? {
            Frame::Chunk { index, data } => {
                let data_len = data.len() as u64;
                let h = staged.clone_handle();
                let written = tokio::task::spawn_blocking(move || h.write_chunk(index, &data))
                    .await
                    .map_err(|e| refuse(&e))?;
                let len = data_len;
                let ok = match written {
                    Ok(()) => {
                        gw.counters
                            .chunk_bytes_received
                            .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
                        missing.retain(|i| *i != index);
                        true
                    }
                    // Damaged in transit: not stored, so still missing.
                    Err(e @ StagingError::BadChunk { .. }) => {
                        tracing::warn!(batch = %m.batch_id, error = %e, "chunk rejected");
                        gw.counters
                            .chunks_rejected
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        false
                    }
                    Err(e) => return Err(refuse(&e)),
                };
                s.write_frame(&Frame::Ack { index, ok }).await?;
            }
            Frame::Sent if !missing.is_empty() => {
                s.write_frame(&Frame::Need(missing.clone())).await?
            }
            Frame::Sent => break,
            other => {
                return Err(RequestError::Refused(
                    format!("unexpected frame during transfer: {other:?}")
                        .chars()
                        .take(200)
                        .collect(),
                ))
            }
        }
    }
    match commit(&gw.store, &staged, gw.limits).await {
        Ok(cold) => {
            tracing::info!(batch = %m.batch_id, cold = %cold, "committed");
            gw.counters
                .batches_committed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gw.counters
                .rows_committed
                .fetch_add(cold.rows, std::sync::atomic::Ordering::Relaxed);
            let durable = durable(gw, &m.schema).await;
            s.write_frame(&Frame::Committed(CommitReply {
                batch_id: m.batch_id.clone(),
                cold,
                durable,
            }))
            .await?;
            if let Err(e) = gw.staging.remove(&m.batch_id) {
                tracing::warn!(batch = %m.batch_id, error = %e, "cannot clear staging");
            }
        }
        Err(CommitError::Cold(e)) => {
            // The cold store is down or refusing: the verified batch waits in
            // staging; the background committer retries it.
            tracing::warn!(batch = %m.batch_id, error = %e, "cold store unavailable; batch stays staged");
            gw.counters
                .batches_stored_not_committed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            s.write_frame(&Frame::Stored(StoredReply {
                batch_id: m.batch_id.clone(),
                reason: e.to_string(),
            }))
            .await?;
        }
        Err(e @ (CommitError::Decode { .. } | CommitError::Conflict { .. })) => {
            tracing::error!(batch = %m.batch_id, error = %e, "batch can never be committed; dropped from staging");
            let _ = gw.staging.remove(&m.batch_id);
            return Err(refuse(&e));
        }
        Err(e) => return Err(refuse(&e)),
    }
    Ok(())
}

/// Whether the cold store's inserts into this table are on disk when they
/// return; an unreadable answer counts as "no", which only delays a purge.
async fn durable<S: ColdStore>(
    gw: &Gateway<S>,
    schema: &hotcold_core::schema::TableSchema,
) -> bool {
    match gw.store.fsyncs_inserts(schema).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(table = %schema.name, error = %e, "cannot tell whether inserts are fsynced; saying not durable");
            false
        }
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
    let durable = durable(gw, &r.schema).await;
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
    gw.store
        .ensure_table(&q.schema)
        .await
        .map_err(|e| RequestError::Refused(e.to_string()))?;
    let plan = q
        .spec
        .plan(&q.schema)
        .map_err(|e| RequestError::Refused(format!("bad query: {e}")))?;
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
        read.map_err(|e| RequestError::Refused(e.to_string()))?;
    }
    s.write_frame(&Frame::End(QueryEnd {
        rows,
        truncated: cut || rows >= q.limit,
    }))
    .await?;
    Ok(())
}
