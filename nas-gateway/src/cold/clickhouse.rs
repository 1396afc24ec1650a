//! The ClickHouse cold store: declared tables (`hotcold-clickhouse`) plus the
//! ledger of committed batches. Idempotency comes from the ledger and a
//! per-window clear before a re-insert (see `commit.rs`), because 18.16 has
//! neither insert deduplication tokens nor transactions.

use super::{ColdError, ColdStore, LedgerEntry};
use hotcold_clickhouse::{ChError, ChTables};
use hotcold_core::content_hash::{parse_sum, sum_hex};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::{ContentHash, RowBatch};
use tokio::sync::mpsc;

const LEDGER: &str = "_hotcold_ledger";
const SCHEMAS: &str = "_hotcold_schemas";
const EXPIRED: &str = "_hotcold_expired";

#[derive(Clone)]
pub struct ClickHouseCold {
    pub tables: ChTables,
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
    /// Connects, creates the database and the ledger.
    pub async fn connect(c: &hotcold_clickhouse::Connection) -> Result<Self, ColdError> {
        // The connection type is shared with the hot side, which has
        // clusters; the ledger and schema tables here are single-server
        // tables, so a cold cluster would hold batches whose ledger one node
        // alone keeps. Refused until the cold side is built for it.
        if c.cluster.is_some() || !c.failover.is_empty() {
            return Err(ColdError::ClickHouse(Box::new(ChError::Other(
                "cold.cluster, cold.failover: the cold store does not run on a ClickHouse cluster yet; point cold.url at one server".into(),
            ))));
        }
        let tables = ChTables::connect(c, crate::config::DEFAULT_COLD_DATABASE).await?;
        let database = tables.db.clone();
        tables
            .client
            .query(&format!(
                "CREATE TABLE IF NOT EXISTS {database}.{LEDGER} (batch_id String, table_name String, t0 Int64, t1 Int64, \
                 rows UInt64, sum String, committed_at DateTime DEFAULT now()) \
                 ENGINE = ReplacingMergeTree() ORDER BY batch_id"
            ))
            .execute()
            .await
            .map_err(ChError::from)?;
        tables
            .client
            .query(&format!(
                "CREATE TABLE IF NOT EXISTS {database}.{SCHEMAS} (table_name String, schema String, \
                 recorded_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree(recorded_at) ORDER BY table_name"
            ))
            .execute()
            .await
            .map_err(ChError::from)?;
        tables
            .client
            .query(&format!(
                "CREATE TABLE IF NOT EXISTS {database}.{EXPIRED} (batch_id String, table_name String, t0 Int64, t1 Int64, \
                 expired_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree() ORDER BY batch_id"
            ))
            .execute()
            .await
            .map_err(ChError::from)?;
        Ok(Self {
            tables,
            recorded: Default::default(),
        })
    }
}

impl ColdStore for ClickHouseCold {
    async fn ensure_table(&self, schema: &TableSchema) -> Result<(), ColdError> {
        self.tables.ensure_table(schema).await?;
        // Kept beside the data so `scrub` can read a table without a batch
        // in hand; once per schema and process.
        let json = serde_json::to_string(schema).map_err(|e| ColdError::Decode(e.to_string()))?;
        let fresh = self
            .recorded
            .lock()
            .map(|mut r| r.insert(json.clone()))
            .unwrap_or(true);
        if fresh {
            self.tables
                .client
                .query(&format!(
                    "INSERT INTO {}.{SCHEMAS} (table_name, schema) VALUES ({}, {})",
                    self.tables.db,
                    hotcold_clickhouse::sql::quote_string(&schema.name),
                    hotcold_clickhouse::sql::quote_string(&json)
                ))
                .execute()
                .await
                .map_err(ChError::from)?;
        }
        Ok(())
    }

    async fn ledger_list(&self) -> Result<Vec<LedgerEntry>, ColdError> {
        let t = self
            .tables
            .text(&format!(
                "SELECT batch_id, table_name, t0, t1, rows, sum FROM {}.{LEDGER} FINAL ORDER BY committed_at, batch_id",
                self.tables.db
            ))
            .await?;
        t.lines().map(parse_ledger_line).collect()
    }

    async fn schema_of(&self, table: &str) -> Result<Option<TableSchema>, ColdError> {
        hotcold_core::schema::check_name(table).map_err(|e| ColdError::Decode(e.to_string()))?;
        let t = self
            .tables
            .text(&format!(
                "SELECT schema FROM {}.{SCHEMAS} FINAL WHERE table_name = '{table}' LIMIT 1",
                self.tables.db
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
            .tables
            .text(&format!(
                "SELECT batch_id, table_name, t0, t1, rows, sum FROM {}.{LEDGER} FINAL WHERE batch_id = '{batch_id}' LIMIT 1",
                self.tables.db
            ))
            .await?;
        t.lines().next().map(parse_ledger_line).transpose()
    }

    async fn ledger_put(&self, e: &LedgerEntry) -> Result<(), ColdError> {
        hotcold_core::manifest::check_batch_id(&e.batch_id)
            .map_err(|x| ColdError::Decode(x.to_string()))?;
        self.tables
            .client
            .query(&format!(
                "INSERT INTO {}.{LEDGER} (batch_id, table_name, t0, t1, rows, sum) VALUES ('{}', '{}', {}, {}, {}, '{}')",
                self.tables.db, e.batch_id, e.table, e.window.start, e.window.end, e.content.rows, sum_hex(e.content.sum)
            ))
            .execute()
            .await
            .map_err(ChError::from)?;
        Ok(())
    }

    async fn window_count(&self, schema: &TableSchema, w: Window) -> Result<u64, ColdError> {
        Ok(self.tables.count(schema, w).await?)
    }

    async fn delete_window(&self, schema: &TableSchema, w: Window) -> Result<(), ColdError> {
        self.tables.delete_window(schema, w).await?;
        Ok(())
    }

    async fn fsyncs_inserts(&self, schema: &TableSchema) -> Result<bool, ColdError> {
        Ok(self.tables.fsyncs_inserts(&schema.name).await?)
    }

    async fn insert_stream(
        &self,
        schema: &TableSchema,
        rows: mpsc::Receiver<RowBatch>,
    ) -> Result<u64, ColdError> {
        Ok(self.tables.insert_stream(schema, rows).await?)
    }

    async fn query(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        w: Window,
        limit: u64,
        out: mpsc::Sender<RowBatch>,
    ) -> Result<u64, ColdError> {
        Ok(self.tables.query(schema, plan, w, limit, 8192, out).await?)
    }

    /// Only tables with a recorded schema: the time column is needed to
    /// tell what the partition key means.
    async fn partitions(&self) -> Result<Vec<(String, String, Window)>, ColdError> {
        let t = self
            .tables
            .text(&format!(
                "SELECT DISTINCT table FROM system.parts WHERE database = {} AND active AND NOT startsWith(table, '_') ORDER BY table",
                hotcold_clickhouse::sql::quote_string(&self.tables.db)
            ))
            .await?;
        let mut schemas = Vec::new();
        for table in t.lines() {
            match self.schema_of(table).await? {
                Some(s) => schemas.push(s),
                None => {
                    tracing::warn!(table, "no recorded schema; retention skips the table")
                }
            }
        }
        Ok(self.tables.partitions(&schemas).await?)
    }

    async fn ledger_expire(&self, table: &str, window: Window) -> Result<u64, ColdError> {
        hotcold_core::schema::check_name(table).map_err(|e| ColdError::Decode(e.to_string()))?;
        let db = &self.tables.db;
        let inside = format!(
            "table_name = '{table}' AND t0 >= {} AND t1 <= {}",
            window.start, window.end
        );
        self.tables
            .client
            .query(&format!(
                "INSERT INTO {db}.{EXPIRED} (batch_id, table_name, t0, t1) \
                 SELECT batch_id, table_name, t0, t1 FROM {db}.{LEDGER} FINAL WHERE {inside}"
            ))
            .execute()
            .await
            .map_err(ChError::from)?;
        let n = self
            .tables
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
            .tables
            .text(&format!(
                "SELECT DISTINCT batch_id FROM {}.{EXPIRED}",
                self.tables.db
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
        Ok(self.tables.drop_partition(table, partition).await?)
    }

    async fn execute(&self, sql: &str) -> Result<(), ColdError> {
        self.tables
            .client
            .query_raw(sql)
            .execute()
            .await
            .map_err(ChError::from)?;
        // Test statements may be mutations; make their effect visible.
        let tables = self
            .tables
            .text(&format!(
                "SELECT name FROM system.tables WHERE database = '{}'",
                self.tables.db
            ))
            .await?;
        for t in tables.lines() {
            self.tables.wait_mutations(t).await?;
        }
        Ok(())
    }
}

fn parse_ledger_line(line: &str) -> Result<LedgerEntry, ColdError> {
    let f: Vec<&str> = line.split('\t').collect();
    let bad = |what: &str| ColdError::Decode(format!("ledger row {line:?}: bad {what}"));
    if f.len() != 6 {
        return Err(bad("field count"));
    }
    Ok(LedgerEntry {
        batch_id: f[0].to_string(),
        table: f[1].to_string(),
        window: Window::new(
            f[2].parse().map_err(|_| bad("t0"))?,
            f[3].parse().map_err(|_| bad("t1"))?,
        ),
        content: ContentHash {
            rows: f[4].parse().map_err(|_| bad("rows"))?,
            sum: parse_sum(f[5]).ok_or_else(|| bad("sum"))?,
        },
    })
}
