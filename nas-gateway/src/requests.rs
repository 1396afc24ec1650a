//! The gateway's answers apart from how they travel: the link server
//! (`server.rs`, `receive.rs`) frames them onto a QUIC stream, and the
//! standalone edition (`local.rs`) hands them to the cloud's code in the
//! same process. One copy of each rule, so the two editions cannot drift:
//! the same commit, the same ledger checks before a read-back, the same
//! query bounds.

use crate::cold::ColdStore;
use crate::commit::{commit, CommitError};
use crate::gateway::{Gateway, RequestError};
use crate::staging::StagedBatch;
use hotcold_core::frame::{ColdQuery, CommitReply, LedgerRecord, Recheck, StoredReply};
use hotcold_core::manifest::Manifest;
use hotcold_core::query::Plan;

/// How a batch whose chunks are all staged ended.
pub enum Outcome {
    /// In the cold store, read back.
    Committed(CommitReply),
    /// Verified and staged, but the cold store could not take it now; the
    /// background committer retries it.
    Stored(StoredReply),
}

/// A cold query checked and planned, ready for the store.
pub(crate) struct Prepared {
    pub plan: Plan,
    /// The schema as JSON: the key of the "already checked" memo.
    schema_json: String,
}

fn refuse(e: &dyn std::fmt::Display) -> RequestError {
    RequestError::Refused(e.to_string())
}

impl<S: ColdStore> Gateway<S> {
    /// Commits a batch whose chunks are all staged, and says how it ended.
    /// A batch that can never be committed is dropped from staging (the
    /// cloud keeps its rows hot and hears why).
    pub(crate) async fn commit_staged(
        &self,
        m: &Manifest,
        staged: &StagedBatch,
    ) -> Result<Outcome, RequestError> {
        use std::sync::atomic::Ordering::Relaxed;
        match commit(&self.store, staged, self.limits).await {
            Ok(cold) => {
                tracing::info!(batch = %m.batch_id, cold = %cold, "committed");
                self.counters.batches_committed.fetch_add(1, Relaxed);
                self.counters.rows_committed.fetch_add(cold.rows, Relaxed);
                let durable = self.durable(&m.schema).await;
                if let Err(e) = self.staging.remove(&m.batch_id) {
                    tracing::warn!(batch = %m.batch_id, error = %e, "cannot clear staging");
                }
                Ok(Outcome::Committed(CommitReply {
                    batch_id: m.batch_id.clone(),
                    cold,
                    durable,
                }))
            }
            Err(CommitError::Cold(e)) => {
                tracing::warn!(batch = %m.batch_id, error = %e, "cold store unavailable; batch stays staged");
                self.counters
                    .batches_stored_not_committed
                    .fetch_add(1, Relaxed);
                Ok(Outcome::Stored(StoredReply {
                    batch_id: m.batch_id.clone(),
                    reason: e.to_string(),
                }))
            }
            Err(
                e @ (CommitError::Decode { .. }
                | CommitError::Conflict { .. }
                | CommitError::OtherCloud { .. }),
            ) => {
                tracing::error!(batch = %m.batch_id, error = %e, "batch can never be committed; dropped from staging");
                let _ = self.staging.remove(&m.batch_id);
                Err(refuse(&e))
            }
            Err(e) => Err(refuse(&e)),
        }
    }

    /// Reads a committed window back again, for a cloud about to purge it
    /// after its grace period: what the cold store holds now, and only for
    /// the batch the ledger has for that very table and window.
    pub(crate) async fn recheck(&self, r: Recheck) -> Result<CommitReply, RequestError> {
        r.schema.validate().map_err(|e| refuse(&e))?;
        let entry = self
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
        let cold = self
            .store
            .content_hash(&r.schema, r.window)
            .await
            .map_err(|e| refuse(&e))?;
        let durable = self.durable(&r.schema).await;
        Ok(CommitReply {
            batch_id: r.batch_id,
            cold,
            durable,
        })
    }

    /// The ledger's entries for these batches; malformed ids and absent
    /// batches are left out.
    pub(crate) async fn ledger_records(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<LedgerRecord>, RequestError> {
        let mut out = Vec::with_capacity(ids.len());
        let expired = self.store.expired_batches().await.map_err(|e| refuse(&e))?;
        for id in ids.into_iter().take(hotcold_core::frame::MAX_LEDGER_QUERY) {
            if hotcold_core::manifest::check_batch_id(&id).is_err() {
                continue;
            }
            if let Some(e) = self.store.ledger_get(&id).await.map_err(|e| refuse(&e))? {
                out.push(LedgerRecord {
                    expired: expired.contains(&e.batch_id),
                    batch_id: e.batch_id,
                    table: e.table,
                    window: e.window,
                    cold: e.content,
                });
            }
        }
        Ok(out)
    }

    /// The ledger's entries of `table` whose window ends after `after`,
    /// oldest first, at most `MAX_LEDGER_QUERY` (the cloud asks again from
    /// the last one's end for more).
    pub(crate) async fn ledger_after(
        &self,
        q: hotcold_core::frame::LedgerAfter,
    ) -> Result<Vec<LedgerRecord>, RequestError> {
        let expired = self.store.expired_batches().await.map_err(|e| refuse(&e))?;
        let mut out: Vec<LedgerRecord> = self
            .store
            .ledger_list()
            .await
            .map_err(|e| refuse(&e))?
            .into_iter()
            .filter(|e| e.table == q.table && e.window.end > q.after)
            .map(|e| LedgerRecord {
                expired: expired.contains(&e.batch_id),
                batch_id: e.batch_id,
                table: e.table,
                window: e.window,
                cold: e.content,
            })
            .collect();
        out.sort_by_key(|r| (r.window.start, r.window.end));
        out.truncate(hotcold_core::frame::MAX_LEDGER_QUERY);
        Ok(out)
    }

    /// Checks a cold query and plans it; the first query of a schema also
    /// creates or checks its table.
    pub(crate) async fn prepare_query(&self, q: &ColdQuery) -> Result<Prepared, RequestError> {
        self.counters
            .queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        q.schema
            .validate()
            .map_err(|e| RequestError::Refused(format!("bad query schema: {e}")))?;
        let schema_json = serde_json::to_string(&q.schema)
            .map_err(|e| RequestError::Refused(format!("bad query schema: {e}")))?;
        if !self.was_queried(&schema_json) {
            self.store
                .ensure_table(&q.schema)
                .await
                .map_err(|e| refuse(&e))?;
            self.set_queried(&schema_json, true);
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
        Ok(Prepared { plan, schema_json })
    }

    /// How the store's read of a prepared query ended. The table may have
    /// gone (dropped by hand): a failed read checks it again next time.
    pub(crate) fn finish_query(
        &self,
        p: &Prepared,
        read: Result<u64, crate::cold::ColdError>,
    ) -> Result<u64, RequestError> {
        read.map_err(|e| {
            self.set_queried(&p.schema_json, false);
            refuse(&e)
        })
    }
}
