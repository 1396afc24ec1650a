//! ClickHouse as the hot store, for operators who outgrow one machine.
//!
//! The hot-store trait is synchronous (callers run it in `spawn_blocking`),
//! so each call drives the async client on the runtime from that blocking
//! thread. Purge drops the day's partition (synchronous, no mutation for a
//! live server to chew on) after checking the count. With `cluster:` the
//! same calls go to a Distributed table over replicated shard tables
//! (`hotcold_clickhouse::cluster`), through the first of `url` and
//! `failover` that answers.

use super::{HotError, HotStore};
use hotcold_clickhouse::nodes::not_reached;
use hotcold_clickhouse::{ChError, ChTables, Nodes};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use std::future::Future;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

pub(crate) struct ClickHouseHot {
    /// The configured node first, then the failover nodes (one cluster).
    nodes: Nodes,
    pub(super) rt: Handle,
}

fn ch(e: ChError) -> HotError {
    HotError::ClickHouse(e)
}

impl ClickHouseHot {
    /// Must be called inside the runtime whose handle the store keeps.
    pub fn new(nodes: Nodes) -> Self {
        Self {
            nodes,
            rt: Handle::current(),
        }
    }

    /// The tables of the node in use (cluster name and all).
    pub(super) fn tables(&self) -> &ChTables {
        self.nodes.current()
    }

    /// Runs `f` on the node in use, or the next that answers.
    fn on_node<T, F, Fut>(&self, f: F) -> Result<T, HotError>
    where
        F: Fn(ChTables) -> Fut,
        Fut: Future<Output = Result<T, ChError>>,
    {
        self.rt.block_on(self.nodes.run(f)).map_err(ch)
    }

    fn scan_on(
        &self,
        t: ChTables,
        args: (&TableSchema, &Plan, Window, u64, usize),
        f: &mut dyn FnMut(RowBatch) -> Result<(), HotError>,
    ) -> (u64, Result<(), HotError>, Result<(), ChError>) {
        let (schema, plan, window, limit, segment_rows) = args;
        let (tx, mut rx) = mpsc::channel(2);
        let (s, p) = (schema.clone(), plan.clone());
        let task = self
            .rt
            .spawn(async move { t.query(&s, &p, window, limit, segment_rows, tx).await });
        let mut n = 0u64;
        let mut delivered = Ok(());
        while let Some(b) = rx.blocking_recv() {
            n += b.len() as u64;
            if let Err(e) = f(b) {
                delivered = Err(e);
                break;
            }
        }
        drop(rx);
        let read = match self.rt.block_on(task) {
            Ok(r) => r.map(|_| ()),
            Err(e) => return (n, Err(HotError::Task(e.to_string())), Ok(())),
        };
        (n, delivered, read)
    }
}

impl HotStore for ClickHouseHot {
    fn ensure_table(&self, schema: &TableSchema) -> Result<(), HotError> {
        self.on_node(|t| async move { t.ensure_table(schema).await })
    }

    fn insert(&self, schema: &TableSchema, batch: &RowBatch) -> Result<usize, HotError> {
        self.on_node(|t| async move { t.insert(schema, batch.clone()).await })
            .map(|n| n as usize)
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
        let args = (schema, plan, window, limit, segment_rows);
        let nodes: Vec<(usize, ChTables)> =
            self.nodes.in_turn().map(|(i, t)| (i, t.clone())).collect();
        for (k, (i, t)) in nodes.into_iter().enumerate() {
            let (n, delivered, read) = self.scan_on(t, args, f);
            delivered?;
            match read {
                // Only before the first row: a scan cut later is not
                // started again (its caller has rows already).
                Err(e) if n == 0 && not_reached(&e) && k + 1 < self.nodes.len() => {
                    tracing::warn!(node = i, error = %e, "hot ClickHouse node does not answer; scanning on the next");
                }
                Err(e) => return Err(ch(e)),
                Ok(()) => {
                    if k > 0 {
                        self.nodes.use_node(i);
                    }
                    return Ok(n);
                }
            }
        }
        Err(HotError::Other("no hot ClickHouse node answered".into()))
    }

    fn count(&self, schema: &TableSchema, window: Window) -> Result<u64, HotError> {
        self.on_node(|t| async move { t.count(schema, window).await })
    }

    fn settle(&self, schema: &TableSchema, window: Window) -> Result<(), HotError> {
        if self.tables().cluster.is_none() {
            return Ok(());
        }
        self.on_node(|t| async move {
            match &t.cluster {
                Some(c) => t.settle(c, schema, window).await,
                None => Ok(()),
            }
        })
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
        let cut_short = self.tables().cluster.is_some() && found < expected;
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
        self.on_node(|t| async move { t.delete_window(schema, window).await })?;
        Ok(found)
    }

    fn min_time(&self, schema: &TableSchema, from: i64) -> Result<Option<i64>, HotError> {
        self.on_node(|t| async move { t.min_time(schema, from).await })
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

    fn disk_bytes(&self, tables: &[&str]) -> Result<Option<u64>, HotError> {
        self.on_node(|t| async move { t.disk_bytes(tables).await })
            .map(Some)
    }

    fn prune_keys(&self, before_ms: i64) -> Result<u64, HotError> {
        self.keys_prune(before_ms)
    }
}
