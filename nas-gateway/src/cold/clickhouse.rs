//! The ClickHouse cold store: declared tables (`hotcold-clickhouse`) plus the
//! ledger of committed batches. Idempotency comes from the ledger and a
//! per-window clear before a re-insert (see `commit.rs`), because 18.16 has
//! neither insert deduplication tokens nor transactions.
//!
//! On a replicated cold store (`cluster:` naming one shard of replicas,
//! `failover:` the other replicas' URLs) the data tables are the cluster
//! layout of `hotcold_clickhouse::cluster`, and the ledger's own tables are
//! `ReplicatedReplacingMergeTree`s of that shard, so every replica holds the
//! whole ledger and the gateway can read it from whichever replica answers.
//! Calls go to the first replica that answers (`Nodes`): with one replica
//! down the gateway keeps committing to the other, which the down one
//! catches up from when it is back. The reads a commit acts on (the count
//! before a clear, the read-back after the insert) first `settle`: a batch
//! is answered committed only once every replica that answers holds it, so
//! losing the replica it was written to right after does not hide it.
//! One shard only: the ledger must be whole on every node the gateway may
//! turn to, and one shard of replicas is what a NAS (or two) runs.

use super::clickhouse_ledger::{
    create_own_table, parse_ledger_line, EXPIRED, LEDGER, OWNER, OWN_TABLES, SCHEMAS,
};
use super::{ColdError, ColdStore, LedgerEntry};
use hotcold_clickhouse::{ChError, ChTables, Nodes};
use hotcold_core::content_hash::sum_hex;
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::{ContentHash, RowBatch};
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct ClickHouseCold {
    /// The configured replica first, then the failover ones.
    nodes: Nodes,
    /// Schemas already recorded by this process (as JSON).
    recorded: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl From<ChError> for ColdError {
    fn from(e: ChError) -> Self {
        match e {
            ChError::SchemaMismatch {
                table,
                column,
                found,
                declared,
            } => ColdError::SchemaMismatch {
                table,
                column,
                found,
                declared,
            },
            ChError::Decode(m) => ColdError::Decode(m),
            other => ColdError::ClickHouse(Box::new(other)),
        }
    }
}

impl ClickHouseCold {
    /// Connects to every configured replica, creates the database and the
    /// ledger's tables (`ON CLUSTER` on a replicated store).
    pub async fn connect(c: &hotcold_clickhouse::Connection) -> Result<Self, ColdError> {
        // Replicated tables drop a block they saw among their last 100
        // (block ids survive a DELETE or a partition drop), so a batch
        // inserted again after its window was cleared would silently not
        // be: the read-back would then fail it for good. The ledger and the
        // clear before a re-insert are what make a commit idempotent here.
        let nodes = Nodes::connect(c, crate::config::DEFAULT_COLD_DATABASE)
            .await?
            .with_setting("insert_deduplicate", "0");
        let tables = nodes.current().clone();
        if let Some(cl) = &tables.cluster {
            let shards = cl.shards().len();
            if shards != 1 {
                return Err(ChError::Other(format!(
                    "cold.cluster {}: it has {shards} shards, but the cold store keeps its ledger on one shard of replicas; name a cluster of one shard (its replicas in cold.url and cold.failover)",
                    cl.name
                ))
                .into());
            }
        }
        for (name, columns, engine, order) in OWN_TABLES {
            create_own_table(&tables, name, columns, engine, order).await?;
        }
        Ok(Self {
            nodes,
            recorded: Default::default(),
        })
    }

    /// The tables of the replica in use.
    pub fn tables(&self) -> &ChTables {
        self.nodes.current()
    }

    /// Runs a statement-level call on the replica in use, or the next that
    /// answers.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, ColdError>
    where
        F: Fn(ChTables) -> Fut,
        Fut: std::future::Future<Output = Result<T, ChError>>,
    {
        Ok(self.nodes.run(f).await?)
    }

    async fn text(&self, sql: &str) -> Result<String, ColdError> {
        self.run(|t| async move { t.text(sql).await }).await
    }

    async fn statement(&self, sql: &str) -> Result<(), ColdError> {
        self.run(|t| async move { t.client.query(sql).execute().await.map_err(ChError::from) })
            .await
    }

    fn db(&self) -> String {
        self.tables().db.clone()
    }
}

/// Waits for the replicas to agree on the window (nothing on one server).
async fn settle(t: &ChTables, schema: &TableSchema, w: Window) -> Result<(), ChError> {
    match &t.cluster {
        Some(c) => t.settle(c, schema, w).await,
        None => Ok(()),
    }
}

impl ColdStore for ClickHouseCold {
    async fn ensure_table(&self, schema: &TableSchema) -> Result<(), ColdError> {
        self.run(|t| async move { t.ensure_table(schema).await })
            .await?;
        // Kept beside the data so `scrub` can read a table without a batch
        // in hand; once per schema and process.
        let json = serde_json::to_string(schema).map_err(|e| ColdError::Decode(e.to_string()))?;
        let fresh = self
            .recorded
            .lock()
            .map(|mut r| r.insert(json.clone()))
            .unwrap_or(true);
        if fresh {
            let insert = format!(
                "INSERT INTO {}.{SCHEMAS} (table_name, schema) VALUES ({}, {})",
                self.db(),
                hotcold_clickhouse::sql::quote_string(&schema.name),
                hotcold_clickhouse::sql::quote_string(&json)
            );
            if let Err(e) = self.statement(&insert).await {
                if let Ok(mut r) = self.recorded.lock() {
                    r.remove(&json);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn ledger_list(&self) -> Result<Vec<LedgerEntry>, ColdError> {
        let t = self
            .text(&format!(
                "SELECT batch_id, table_name, t0, t1, rows, sum FROM {}.{LEDGER} FINAL ORDER BY committed_at, batch_id",
                self.db()
            ))
            .await?;
        t.lines().map(parse_ledger_line).collect()
    }

    async fn schema_of(&self, table: &str) -> Result<Option<TableSchema>, ColdError> {
        hotcold_core::schema::check_name(table).map_err(|e| ColdError::Decode(e.to_string()))?;
        let t = self
            .text(&format!(
                "SELECT schema FROM {}.{SCHEMAS} FINAL WHERE table_name = '{table}' LIMIT 1",
                self.db()
            ))
            .await?;
        let Some(line) = t.lines().next() else {
            return Ok(None);
        };
        serde_json::from_str(&hotcold_clickhouse::sql::unescape_tsv(line))
            .map(Some)
            .map_err(|e| ColdError::Decode(format!("stored schema: {e}")))
    }

    async fn ledger_get(&self, batch_id: &str) -> Result<Option<LedgerEntry>, ColdError> {
        hotcold_core::manifest::check_batch_id(batch_id)
            .map_err(|e| ColdError::Decode(e.to_string()))?;
        let t = self
            .text(&format!(
                "SELECT batch_id, table_name, t0, t1, rows, sum FROM {}.{LEDGER} FINAL WHERE batch_id = '{batch_id}' LIMIT 1",
                self.db()
            ))
            .await?;
        t.lines().next().map(parse_ledger_line).transpose()
    }

    async fn ledger_put(&self, e: &LedgerEntry) -> Result<(), ColdError> {
        hotcold_core::manifest::check_batch_id(&e.batch_id)
            .map_err(|x| ColdError::Decode(x.to_string()))?;
        self.statement(&format!(
            "INSERT INTO {}.{LEDGER} (batch_id, table_name, t0, t1, rows, sum) VALUES ('{}', '{}', {}, {}, {}, '{}')",
            self.db(), e.batch_id, e.table, e.window.start, e.window.end, e.content.rows, sum_hex(e.content.sum)
        ))
        .await
    }

    /// Settled first on a replicated store: the commit clears the window
    /// when this finds rows in it.
    async fn window_count(&self, schema: &TableSchema, w: Window) -> Result<u64, ColdError> {
        self.run(|t| async move {
            settle(&t, schema, w).await?;
            t.count(schema, w).await
        })
        .await
    }

    /// Settled first on a replicated store (see the module): the commit's
    /// read-back, recheck and scrub act on it.
    async fn content_hash(
        &self,
        schema: &TableSchema,
        w: Window,
    ) -> Result<ContentHash, ColdError> {
        self.run(|t| async move { settle(&t, schema, w).await })
            .await?;
        super::hash_by_query(self, schema, w).await
    }

    async fn delete_window(&self, schema: &TableSchema, w: Window) -> Result<(), ColdError> {
        self.run(|t| async move { t.delete_window(schema, w).await })
            .await?;
        Ok(())
    }

    async fn fsyncs_inserts(&self, schema: &TableSchema) -> Result<bool, ColdError> {
        self.run(|t| async move { t.fsyncs_inserts(&schema.name).await })
            .await
    }

    /// On the first replica that answers now: a streamed insert cannot move
    /// to another once its rows are taken; a failure fails the commit, which
    /// is tried again (staging keeps the batch).
    async fn insert_stream(
        &self,
        schema: &TableSchema,
        rows: mpsc::Receiver<RowBatch>,
    ) -> Result<u64, ColdError> {
        let t = self.nodes.reachable().await?;
        Ok(t.insert_stream(schema, rows).await?)
    }

    /// A replica that cannot be reached has sent nothing, so the next one
    /// answers the whole query.
    async fn query(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        w: Window,
        limit: u64,
        out: mpsc::Sender<RowBatch>,
    ) -> Result<u64, ColdError> {
        self.run(|t| {
            let out = out.clone();
            async move { t.query(schema, plan, w, limit, 8192, out).await }
        })
        .await
    }

    /// Tables with a recorded schema, i.e. tables the gateway committed
    /// into: the time column is needed to tell what a partition key means,
    /// and a table of the user's that no batch went to is not ours to expire.
    async fn partitions(&self) -> Result<Vec<(String, String, Window)>, ColdError> {
        let t = self
            .text(&format!(
                "SELECT DISTINCT table_name FROM {}.{SCHEMAS} ORDER BY table_name",
                self.db()
            ))
            .await?;
        let mut schemas = Vec::new();
        for table in t.lines() {
            if let Some(s) = self.schema_of(table).await? {
                schemas.push(s);
            }
        }
        let schemas = &schemas;
        self.run(|t| async move { t.partitions(schemas).await })
            .await
    }

    async fn ledger_expire(&self, table: &str, window: Window) -> Result<u64, ColdError> {
        hotcold_core::schema::check_name(table).map_err(|e| ColdError::Decode(e.to_string()))?;
        let db = self.db();
        let inside = format!(
            "table_name = '{table}' AND t0 >= {} AND t1 <= {}",
            window.start, window.end
        );
        self.statement(&format!(
            "INSERT INTO {db}.{EXPIRED} (batch_id, table_name, t0, t1) \
             SELECT batch_id, table_name, t0, t1 FROM {db}.{LEDGER} FINAL WHERE {inside}"
        ))
        .await?;
        let n = self
            .text(&format!(
                "SELECT count(DISTINCT batch_id) FROM {db}.{EXPIRED} WHERE {inside}"
            ))
            .await?;
        n.trim()
            .parse()
            .map_err(|e| ColdError::Decode(format!("expired count {n:?}: {e}")))
    }

    async fn expired_batches(&self) -> Result<std::collections::HashSet<String>, ColdError> {
        let t = self
            .text(&format!(
                "SELECT DISTINCT batch_id FROM {}.{EXPIRED}",
                self.db()
            ))
            .await?;
        Ok(t.lines().map(str::to_string).collect())
    }

    async fn drop_partition(
        &self,
        table: &str,
        partition: &str,
        _window: Window,
    ) -> Result<(), ColdError> {
        self.run(|t| async move { t.drop_partition(table, partition).await })
            .await
    }

    async fn owner(&self) -> Result<Option<String>, ColdError> {
        let t = self
            .text(&format!(
                "SELECT cloud, min(claimed_ms) AS first FROM {}.{OWNER} GROUP BY cloud ORDER BY first, cloud LIMIT 1",
                self.db()
            ))
            .await?;
        Ok(t.lines()
            .next()
            .and_then(|l| l.split('\t').next())
            .map(hotcold_clickhouse::sql::unescape_tsv))
    }

    async fn claim_owner(&self, cloud: &str, at_ms: i64) -> Result<(), ColdError> {
        hotcold_core::manifest::check_cloud_id(cloud)
            .map_err(|e| ColdError::Decode(e.to_string()))?;
        self.statement(&format!(
            "INSERT INTO {}.{OWNER} (cloud, claimed_ms) VALUES ('{cloud}', {at_ms})",
            self.db()
        ))
        .await
    }

    async fn replicas(&self) -> Vec<(String, Option<String>)> {
        if self.tables().cluster.is_none() {
            return Vec::new();
        }
        self.nodes.probe(std::time::Duration::from_secs(2)).await
    }

    async fn execute(&self, sql: &str) -> Result<(), ColdError> {
        self.statement(sql).await?;
        // Test statements may be mutations; make their effect visible.
        let t = self.tables().clone();
        let tables = t
            .text(&format!(
                "SELECT name FROM system.tables WHERE database = '{}'",
                t.db
            ))
            .await?;
        for name in tables.lines() {
            t.wait_mutations(name).await?;
        }
        Ok(())
    }
}
