//! The link's small requests: read a committed window back (before a held
//! purge), ask the ledger about batches, and stream a cold query's rows.

use super::client::LinkClient;
use super::ClientError;
use hotcold_core::codec::{decode_segment, DecodeLimits};
use hotcold_core::frame::{ColdQuery, Frame, QueryEnd};
use hotcold_core::schema::TableSchema;
use hotcold_core::{ContentHash, RowBatch};

impl LinkClient {
    /// What the cold store holds of a committed window now: its count and
    /// content hash, read back again (before a purge held for the grace
    /// period).
    pub async fn recheck(
        &self,
        batch_id: &str,
        schema: &hotcold_core::schema::TableSchema,
        window: hotcold_core::schema::Window,
    ) -> Result<ContentHash, ClientError> {
        self.guarded(async {
            let mut s = self.stream().await?;
            s.write_frame(&Frame::Recheck(hotcold_core::frame::Recheck {
                batch_id: batch_id.to_string(),
                schema: schema.clone(),
                window,
            }))
            .await?;
            let _ = s.finish();
            match s.expect_frame().await? {
                Frame::Committed(r) if r.batch_id == batch_id => Ok(r.cold),
                Frame::Error(m) => Err(ClientError::Refused(m)),
                other => Err(ClientError::Protocol(
                    format!("{other:?}").chars().take(200).collect(),
                )),
            }
        })
        .await
    }

    /// The gateway's ledger entries for these batches (absent ones left out).
    pub async fn ledger(
        &self,
        ids: &[String],
    ) -> Result<Vec<hotcold_core::frame::LedgerRecord>, ClientError> {
        self.guarded(self.ledger_inner(ids)).await
    }

    /// The ledger's entries of `table` whose window ends after `after`.
    pub async fn ledger_after(
        &self,
        table: &str,
        after: i64,
    ) -> Result<Vec<hotcold_core::frame::LedgerRecord>, ClientError> {
        self.guarded(async {
            let mut s = self.stream().await?;
            s.write_frame(&Frame::LedgerAfter(hotcold_core::frame::LedgerAfter {
                table: table.to_string(),
                after,
            }))
            .await?;
            let _ = s.finish();
            match s.expect_frame().await? {
                Frame::LedgerEntries(e) => Ok(e),
                Frame::Error(m) => Err(ClientError::Refused(m)),
                other => Err(ClientError::Protocol(other.name().into())),
            }
        })
        .await
    }

    /// The NAS's snapshot of its cold store, taken now. It reads every
    /// window committed since the last one, so it may take minutes: the
    /// answer is waited for up to 60 request timeouts.
    pub async fn cold_snapshot(
        &self,
    ) -> Result<hotcold_core::frame::ColdSnapshotReply, ClientError> {
        let t = self.cfg.request_timeout.0;
        let mut s = match tokio::time::timeout(t, self.stream()).await {
            Ok(s) => s?,
            Err(_) => return Err(ClientError::Timeout(t)),
        };
        s.write_frame(&Frame::ColdSnapshot).await?;
        let _ = s.finish();
        let wait = t.saturating_mul(60);
        match tokio::time::timeout(wait, s.expect_frame()).await {
            Ok(f) => match f? {
                Frame::ColdSnapshotDone(r) => Ok(r),
                Frame::Error(m) => Err(ClientError::Refused(m)),
                other => Err(ClientError::Protocol(other.name().into())),
            },
            Err(_) => Err(ClientError::Timeout(wait)),
        }
    }

    async fn ledger_inner(
        &self,
        ids: &[String],
    ) -> Result<Vec<hotcold_core::frame::LedgerRecord>, ClientError> {
        let mut out = Vec::new();
        for part in ids.chunks(hotcold_core::frame::MAX_LEDGER_QUERY) {
            let mut s = self.stream().await?;
            s.write_frame(&Frame::LedgerQuery(part.to_vec())).await?;
            let _ = s.finish();
            match s.expect_frame().await? {
                Frame::LedgerEntries(e) => out.extend(e),
                Frame::Error(m) => return Err(ClientError::Refused(m)),
                other => {
                    return Err(ClientError::Protocol(
                        format!("{other:?}").chars().take(200).collect(),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Streams the cold answer to `q` into `out`, batch by batch, decoded
    /// with `output` (the plan's output schema). Each frame must come within
    /// `request-timeout`; the whole answer may take longer, as a year of
    /// rows would.
    pub async fn query(
        &self,
        q: ColdQuery,
        output: &TableSchema,
        out: tokio::sync::mpsc::Sender<RowBatch>,
    ) -> Result<QueryEnd, ClientError> {
        self.query_as(q, output, out, false).await
    }

    /// A cold query for prefetch: each answer frame waits for the link's
    /// bandwidth limit before it is read, so the gateway (held back by the
    /// stream's flow-control window) sends no faster than the limit lets
    /// the archive send. Prefetch shares the limiter with the archive: the
    /// operator's limit is for the line, whichever way the bytes go.
    pub async fn query_paced(
        &self,
        q: ColdQuery,
        output: &TableSchema,
        out: tokio::sync::mpsc::Sender<RowBatch>,
    ) -> Result<QueryEnd, ClientError> {
        self.query_as(q, output, out, true).await
    }

    async fn query_as(
        &self,
        q: ColdQuery,
        output: &TableSchema,
        out: tokio::sync::mpsc::Sender<RowBatch>,
        paced: bool,
    ) -> Result<QueryEnd, ClientError> {
        let Ok(_stream) = self.query_streams.try_acquire() else {
            return Err(ClientError::Busy(format!(
                "all {} cold query streams of the link are in use; the rest are kept for the archive",
                hotcold_link::endpoint::QUERY_STREAMS
            )));
        };
        let started = std::time::Instant::now();
        let r = self.query_inner(q, output, out, paced).await;
        if let Err(e @ (ClientError::Link(_) | ClientError::Timeout(_))) = &r {
            self.forget(&e.to_string(), started).await;
        }
        r
    }

    async fn query_inner(
        &self,
        q: ColdQuery,
        output: &TableSchema,
        out: tokio::sync::mpsc::Sender<RowBatch>,
        paced: bool,
    ) -> Result<QueryEnd, ClientError> {
        use std::sync::atomic::Ordering::Relaxed;
        let t = self.cfg.request_timeout.0;
        let mut s = match tokio::time::timeout(t, self.stream_on(&self.query_conn)).await {
            Ok(s) => s?,
            Err(_) => return Err(ClientError::Timeout(t)),
        };
        let limit = q.limit;
        s.write_frame(&Frame::Query(q)).await?;
        let _ = s.finish();
        let limits = DecodeLimits::default();
        let mut rows = 0u64;
        loop {
            let frame = match tokio::time::timeout(t, s.expect_frame()).await {
                Ok(f) => f?,
                Err(_) => return Err(ClientError::Timeout(t)),
            };
            match frame {
                Frame::Rows(body) => {
                    self.query_bytes.fetch_add(body.len() as u64, Relaxed);
                    if paced {
                        self.prefetch_bytes.fetch_add(body.len() as u64, Relaxed);
                        // In the archive's slices: the pacer's lock is held
                        // for one wait, and a whole frame's would keep the
                        // archive off the line for seconds.
                        for slice in body.chunks(super::deliver::PACE_SLICE) {
                            self.pacer.wait(slice.len()).await;
                        }
                    }
                    let b = decode_segment(output, &body, &limits)
                        .map_err(|e| ClientError::Decode(e.to_string()))?;
                    rows += b.len() as u64;
                    if rows > limit {
                        return Err(ClientError::Protocol(format!(
                            "gateway sent more than the {limit} rows asked for"
                        )));
                    }
                    if out.send(b).await.is_err() {
                        // The asker left; dropping the stream stops the gateway.
                        return Ok(QueryEnd {
                            rows,
                            truncated: true,
                        });
                    }
                }
                Frame::End(end) => return Ok(end),
                Frame::Error(m) => return Err(ClientError::Refused(m)),
                other => {
                    return Err(ClientError::Protocol(
                        format!("{other:?}").chars().take(200).collect(),
                    ))
                }
            }
        }
    }
}
