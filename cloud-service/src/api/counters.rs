//! What the HTTP side counts (the archiver keeps its own counters):
//! rendered by `/metrics` (`metrics.rs`), kept in the shared state.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Default)]
pub struct HttpCounters {
    pub ingest_rows: Mutex<BTreeMap<String, u64>>,
    pub ingest_rejected: AtomicU64,
    pub queries: AtomicU64,
    pub queries_partial: AtomicU64,
    /// Answers too large to send whole, streamed instead.
    pub queries_streamed: AtomicU64,
    /// Microseconds spent answering queries, for an average latency.
    pub query_micros: AtomicU64,
}

impl HttpCounters {
    pub fn ingested(&self, table: &str, rows: u64) {
        *self
            .ingest_rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(table.to_string())
            .or_default() += rows;
    }
}
