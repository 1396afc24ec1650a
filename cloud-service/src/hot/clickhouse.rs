//! ClickHouse as the hot store, for operators who outgrow one machine.
//!
//! The hot-store trait is synchronous (callers run it in `spawn_blocking`),
//! so each call drives the async client on the runtime from that blocking
//! thread. Purge drops the day's partition (synchronous, no mutation for a
//! live server to chew on) after checking the count. With `cluster:` the
//! same calls go to a Distributed table over replicated shard tables
//! (`hotcold_clickhouse::cluster`).

use super::{HotError, HotStore};
use hotcold_clickhouse::{ChError, ChTables};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

pub(crate) struct ClickHouseHot {
    pub tables: ChTables,
    pub(super) rt: Handle,
}

fn ch(e: ChError) -> HotError {
    HotError::ClickHouse(e)
}

impl ClickHouseHot {
    /// Must be called inside the runtime whose handle the store keeps.
    pub fn new(tables: ChTables) -> Self {
        Self {
            tables,
            rt: Handle::current(),
        }
    }
}

impl HotStore for ClickHouseHot {
    fn ensure_table(&self, schema: &TableSchema) -> Result<(), HotError> {
        self.rt
            .block_on(self.tables.ensure_table(schema))
            .map_err(ch)
    }

    fn insert(&self, schema: &TableSchema, batch: &RowBatch) -> Result<usize, HotError> {
        self.rt
            .block_on(self.tables.insert(schema, batch.clone()))
            .map(|n| n as usize)
            .map_err(ch)
    }

    fn scan(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        window: Window,
        limit: u64,
        segment_rows: usize,
        f: &mut dyn FnMut(RowBatch) -> Result<(), HotError>,
    ) -> Result<u64, HotError> {
        let (tx, mut rx) = mpsc::channel(2);
        let (t, s, p) = (self.tables.clone(), schema.clone(), plan.clone());
        let task = self
            .rt
            .spawn(async move { t.query(&s, &p, window, limit, segment_rows, tx).await });
        let mut n = 0u64;
        let mut failed = None;
        while let Some(b) = rx.blocking_recv() {
            n += b.len() as u64;
            if let Err(e) = f(b) {
                failed = Some(e);
                break;
            }
        }
        drop(rx);
        let read = self
            .rt
            .block_on(task)
            .map_err(|e| HotError::Task(e.to_string()))?;
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(ch)?;
        Ok(n)
    }

    fn count(&self, schema: &TableSchema, window: Window) -> Result<u64, HotError> {
        self.rt
            .block_on(self.tables.count(schema, window))
            .map_err(ch)
    }

    fn settle(&self, schema: &TableSchema, window: Window) -> Result<(), HotError> {
        match &self.tables.cluster {
            Some(c) => self
                .rt
                .block_on(self.tables.settle(c, schema, window))
                .map_err(ch),
            None => Ok(()),
        }
    }

    fn purge(&self, schema: &TableSchema, window: Window, expected: u64) -> Result<u64, HotError> {
        // The ingest floor keeps new rows out of an archived window, so the
        // count cannot change between this check and the drop. On a cluster
        // the count first waits for the replicas to agree.
        self.settle(schema, window)?;
        let found = self.count(schema, window)?;
        // Fewer rows than exported, on a cluster: an earlier purge of this
        // window was cut short on some shard (a leader died under it). The
        // floor lets no row in, so what is left was exported and is in cold
        // (confirmed): finish it. Failing instead would plan the window
        // again and replace cold's whole copy with hot's remainder.
        let cut_short = self.tables.cluster.is_some() && found < expected;
        if cut_short {
            tracing::warn!(table = %schema.name, %window, found, expected, "finishing a purge cut short on the cluster");
        }
        if found != expected && !cut_short {
            return Err(HotError::PurgeMismatch {
                table: schema.name.clone(),
                window,
                found,
                expected,
            });
        }
        self.rt
            .block_on(self.tables.delete_window(schema, window))
            .map_err(ch)?;
        Ok(found)
    }

    fn min_time(&self, schema: &TableSchema, from: i64) -> Result<Option<i64>, HotError> {
        self.rt
            .block_on(self.tables.min_time(schema, from))
            .map_err(ch)
    }

    fn find_key(&self, key: &str) -> Result<Option<super::keys::KeyRecord>, HotError> {
        self.keys_find(key)
    }

    fn insert_once(
        &self,
        schema: &TableSchema,
        key: &super::keys::KeyRecord,
        next: &mut dyn FnMut() -> Result<Option<RowBatch>, HotError>,
    ) -> Result<super::keys::Once, HotError> {
        self.keys_insert_once(schema, key, next)
    }

    fn prune_keys(&self, before_ms: i64) -> Result<u64, HotError> {
        self.keys_prune(before_ms)
    }
}
