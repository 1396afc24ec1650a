//! The gateway's shared state: the cold store, staging, decode limits, the
//! batches in progress and the counters /metrics shows. The link server,
//! the background committer and the HTTP endpoints all read it; none of
//! them owns it.

use crate::cold::ColdStore;
use crate::staging::Staging;
use hotcold_core::codec::DecodeLimits;
use hotcold_link::framed::LinkError;
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

pub struct Gateway<S> {
    pub store: S,
    pub staging: Staging,
    pub limits: DecodeLimits,
    pub max_frame: usize,
    /// Batches being transferred or committed now: one at a time each.
    busy: Mutex<HashSet<String>>,
    /// Schemas (as JSON) a query has created or checked in the cold store
    /// since start: later queries of the same schema skip the two round
    /// trips of that check. A query that fails forgets its schema, so the
    /// next one checks (and creates) again.
    queried: Mutex<HashSet<String>>,
    pub counters: Counters,
    /// Where the cloud's hot backups are kept (`backup.rs`); none in the
    /// standalone edition, which has no link.
    pub backups: Option<crate::backup::Backups>,
}

/// Totals since start.
#[derive(Default)]
pub struct Counters {
    pub batches_committed: AtomicU64,
    pub rows_committed: AtomicU64,
    pub chunk_bytes_received: AtomicU64,
    pub chunks_rejected: AtomicU64,
    pub batches_stored_not_committed: AtomicU64,
    pub queries: AtomicU64,
}

/// Why one link request failed; the text goes back to the cloud.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("{0}")]
    Refused(String),
}

impl<S: ColdStore> Gateway<S> {
    pub fn new(store: S, staging: Staging, max_frame: usize) -> Self {
        Self {
            store,
            staging,
            limits: DecodeLimits::default(),
            max_frame,
            busy: Mutex::new(HashSet::new()),
            queried: Mutex::new(HashSet::new()),
            counters: Default::default(),
            backups: None,
        }
    }

    /// Keeps the cloud's hot backups in `backups`.
    pub fn with_backups(mut self, backups: crate::backup::Backups) -> Self {
        self.backups = Some(backups);
        self
    }

    /// Marks `batch` as in progress until the guard drops; `None` if it
    /// already is (a second stream for it, or the committer has it).
    pub(crate) fn claim(&self, batch: &str) -> Option<BusyGuard<'_>> {
        let mut busy = self.busy.lock().ok()?;
        if !busy.insert(batch.to_string()) {
            return None;
        }
        Some(BusyGuard(&self.busy, batch.to_string()))
    }

    /// Whether `batch` is in progress (unknown counts as yes).
    pub(crate) fn is_busy(&self, batch: &str) -> bool {
        self.busy.lock().map(|b| b.contains(batch)).unwrap_or(true)
    }

    /// Whether a query already checked this schema (see `queried`).
    pub(crate) fn was_queried(&self, schema_json: &str) -> bool {
        self.queried
            .lock()
            .map(|q| q.contains(schema_json))
            .unwrap_or(false)
    }

    /// Records (`true`) or forgets a schema a query checked.
    pub(crate) fn set_queried(&self, schema_json: &str, checked: bool) {
        if let Ok(mut q) = self.queried.lock() {
            if checked {
                q.insert(schema_json.to_string());
            } else {
                q.remove(schema_json);
            }
        }
    }

    /// Whether the cold store's inserts into this table are on disk when
    /// they return; an unreadable answer counts as "no", which only delays
    /// a purge.
    pub(crate) async fn durable(&self, schema: &hotcold_core::schema::TableSchema) -> bool {
        match self.store.fsyncs_inserts(schema).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(table = %schema.name, error = %e, "cannot tell whether inserts are fsynced; saying not durable");
                false
            }
        }
    }
}

pub(crate) struct BusyGuard<'a>(&'a Mutex<HashSet<String>>, String);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut b) = self.0.lock() {
            b.remove(&self.1);
        }
    }
}
