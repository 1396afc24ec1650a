//! The SQLite cold store, for a NAS (or a laptop) without ClickHouse.

use super::{ColdError, ColdStore, LedgerEntry};
use hotcold_core::content_hash::{parse_sum, sum_hex};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::{ContentHash, RowBatch};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// One connection behind a std mutex: every use is inside `spawn_blocking`,
/// never held across an await.
#[derive(Clone)]
pub struct SqliteCold {
    conn: Arc<Mutex<Connection>>,
    /// Queries read through connections of their own (WAL lets readers run
    /// beside the writer), so a cold answer streaming to a slow link does
    /// not hold up commits.
    readers: Arc<hotcold_sqlite::Readers>,
}

impl SqliteCold {
    pub fn open(path: &Path) -> Result<Self, ColdError> {
        let conn = hotcold_sqlite::open(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _hotcold_ledger (
                batch_id TEXT PRIMARY KEY, table_name TEXT NOT NULL,
                t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, rows INTEGER NOT NULL, sum TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS _hotcold_schemas (
                table_name TEXT PRIMARY KEY, schema TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS _hotcold_expired (
                batch_id TEXT PRIMARY KEY, table_name TEXT NOT NULL,
                t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, expired_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS _hotcold_owner (
                cloud TEXT PRIMARY KEY, claimed_ms INTEGER NOT NULL);",
        )
        .map_err(hotcold_sqlite::SqliteError::from)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(hotcold_sqlite::Readers::new(path)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ColdError> + Send + 'static,
    ) -> Result<T, ColdError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| ColdError::Task("sqlite mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| ColdError::Task(e.to_string()))?
    }
}

/// A ledger row (batch_id, table_name, t0, t1, rows, sum) as an entry; the
/// inner error is a sum that is not hex.
fn ledger_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<LedgerEntry, ColdError>> {
    let sum: String = r.get(5)?;
    let rows: i64 = r.get(4)?;
    Ok(Ok(LedgerEntry {
        batch_id: r.get(0)?,
        table: r.get(1)?,
        window: Window::new(r.get(2)?, r.get(3)?),
        content: ContentHash {
            rows: rows as u64,
            sum: match parse_sum(&sum) {
                Some(s) => s,
                None => {
                    return Ok(Err(ColdError::Decode(format!(
                        "ledger sum {sum:?} is not hex"
                    ))))
                }
            },
        },
    }))
}

fn sql(e: rusqlite::Error) -> ColdError {
    ColdError::Sqlite(e.into())
}

impl ColdStore for SqliteCold {
    async fn ensure_table(&self, schema: &TableSchema) -> Result<(), ColdError> {
        let s = schema.clone();
        // The schema is kept beside the data, so `scrub` can read the
        // table without a batch in hand.
        let json = serde_json::to_string(schema).map_err(|e| ColdError::Decode(e.to_string()))?;
        self.with(move |c| {
            hotcold_sqlite::create_table(c, &s)?;
            c.execute(
                "INSERT OR REPLACE INTO _hotcold_schemas (table_name, schema) VALUES (?1, ?2)",
                params![s.name, json],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn ledger_list(&self) -> Result<Vec<LedgerEntry>, ColdError> {
        self.with(|c| {
            let mut st = c
                .prepare("SELECT batch_id, table_name, t0, t1, rows, sum FROM _hotcold_ledger ORDER BY rowid")
                .map_err(sql)?;
            let rows = st.query_map([], ledger_row).map_err(sql)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r.map_err(sql)??);
            }
            Ok(out)
        })
        .await
    }

    async fn schema_of(&self, table: &str) -> Result<Option<TableSchema>, ColdError> {
        let t = table.to_string();
        self.with(move |c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT schema FROM _hotcold_schemas WHERE table_name = ?1",
                    [t],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            json.map(|j| {
                serde_json::from_str(&j)
                    .map_err(|e| ColdError::Decode(format!("stored schema: {e}")))
            })
            .transpose()
        })
        .await
    }

    async fn ledger_get(&self, batch_id: &str) -> Result<Option<LedgerEntry>, ColdError> {
        let id = batch_id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT batch_id, table_name, t0, t1, rows, sum FROM _hotcold_ledger WHERE batch_id = ?1",
                [id],
                ledger_row,
            )
            .optional()
            .map_err(sql)?
            .transpose()
        })
        .await
    }

    async fn ledger_put(&self, e: &LedgerEntry) -> Result<(), ColdError> {
        let e = e.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO _hotcold_ledger (batch_id, table_name, t0, t1, rows, sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.batch_id, e.table, e.window.start, e.window.end, e.content.rows as i64, sum_hex(e.content.sum)],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn window_count(&self, schema: &TableSchema, window: Window) -> Result<u64, ColdError> {
        let s = schema.clone();
        self.with(move |c| Ok(hotcold_sqlite::count(c, &s, window)?))
            .await
    }

    async fn delete_window(&self, schema: &TableSchema, window: Window) -> Result<(), ColdError> {
        let s = schema.clone();
        self.with(move |c| {
            hotcold_sqlite::delete_window(c, &s, window)?;
            Ok(())
        })
        .await
    }

    async fn insert_stream(
        &self,
        schema: &TableSchema,
        mut rows: mpsc::Receiver<RowBatch>,
    ) -> Result<u64, ColdError> {
        let s = schema.clone();
        // One transaction for the whole stream: what it delivered lands
        // together. A stream cut by a decode error is cleared by commit.rs.
        self.with(move |c| {
            let tx = c.transaction().map_err(sql)?;
            let mut n = 0u64;
            while let Some(b) = rows.blocking_recv() {
                n += hotcold_sqlite::insert(&tx, &s, &b)? as u64;
            }
            tx.commit().map_err(sql)?;
            Ok(n)
        })
        .await
    }

    async fn query(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        window: Window,
        limit: u64,
        out: mpsc::Sender<RowBatch>,
    ) -> Result<u64, ColdError> {
        let (s, p, readers) = (schema.clone(), plan.clone(), self.readers.clone());
        tokio::task::spawn_blocking(move || {
            readers.scan_snapshot::<ColdError>(&s, &p, window, limit, 8192, |b| {
                out.blocking_send(b)
                    .map_err(|_| ColdError::Task("query reader went away".into()))
            })
        })
        .await
        .map_err(|e| ColdError::Task(e.to_string()))?
    }

    async fn content_hash(
        &self,
        schema: &TableSchema,
        window: Window,
    ) -> Result<ContentHash, ColdError> {
        let s = schema.clone();
        self.with(move |c| Ok(hotcold_sqlite::content_hash(c, &s, window)?))
            .await
    }

    /// `synchronous = FULL` (see `hotcold_sqlite::open`): a commit is on
    /// disk when it returns.
    async fn fsyncs_inserts(&self, _schema: &TableSchema) -> Result<bool, ColdError> {
        Ok(true)
    }

    /// SQLite has no partitions: each day holding rows counts as one.
    async fn partitions(&self) -> Result<Vec<(String, String, Window)>, ColdError> {
        self.with(|c| {
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'")
                .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
                .map_err(sql)?;
            let mut out = Vec::new();
            for t in tables {
                let ts: Option<String> = c
                    .prepare(&format!("PRAGMA table_info(\"{t}\")"))
                    .and_then(|mut st| st.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(sql)?
                    .into_iter()
                    .find(|(_, ty)| ty == "INT_TIMESTAMP_MS")
                    .map(|(n, _)| n);
                let Some(ts) = ts else { continue };
                let days: Vec<i64> = c
                    .prepare(&format!("SELECT DISTINCT \"{ts}\" / 86400000 FROM \"{t}\" WHERE \"{ts}\" >= 0 ORDER BY 1"))
                    .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
                    .map_err(sql)?;
                for d in days {
                    let (y, m, dd) = hotcold_core::time::civil_from_days(d);
                    out.push((t.clone(), format!("{y:04}{m:02}{dd:02}"), Window::new(d * 86_400_000, (d + 1) * 86_400_000)));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn ledger_expire(&self, table: &str, window: Window) -> Result<u64, ColdError> {
        let t = table.to_string();
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO _hotcold_expired (batch_id, table_name, t0, t1, expired_at)
                 SELECT batch_id, table_name, t0, t1, CAST(strftime('%s','now') AS INTEGER) * 1000
                 FROM _hotcold_ledger WHERE table_name = ?1 AND t0 >= ?2 AND t1 <= ?3",
                params![t, window.start, window.end],
            )
            .map_err(sql)?;
            c.query_row(
                "SELECT count(*) FROM _hotcold_expired WHERE table_name = ?1 AND t0 >= ?2 AND t1 <= ?3",
                params![t, window.start, window.end],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(sql)
        })
        .await
    }

    async fn expired_batches(&self) -> Result<std::collections::HashSet<String>, ColdError> {
        self.with(|c| {
            let mut st = c
                .prepare("SELECT batch_id FROM _hotcold_expired")
                .map_err(sql)?;
            let ids = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            Ok(ids)
        })
        .await
    }

    async fn owner(&self) -> Result<Option<String>, ColdError> {
        self.with(|c| {
            c.query_row(
                "SELECT cloud FROM _hotcold_owner ORDER BY claimed_ms, cloud LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
        })
        .await
    }

    async fn claim_owner(&self, cloud: &str, at_ms: i64) -> Result<(), ColdError> {
        let cloud = cloud.to_string();
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO _hotcold_owner (cloud, claimed_ms) VALUES (?1, ?2)",
                rusqlite::params![cloud, at_ms],
            )
            .map(|_| ())
            .map_err(sql)
        })
        .await
    }

    async fn drop_partition(
        &self,
        table: &str,
        _partition: &str,
        window: Window,
    ) -> Result<(), ColdError> {
        let t = table.to_string();
        hotcold_core::schema::check_name(&t).map_err(|e| ColdError::Decode(e.to_string()))?;
        self.with(move |c| {
            let ts: String = c
                .query_row(&format!("SELECT name FROM pragma_table_info('{t}') WHERE type = 'INT_TIMESTAMP_MS' LIMIT 1"), [], |r| r.get(0))
                .map_err(sql)?;
            c.execute(&format!("DELETE FROM \"{t}\" WHERE \"{ts}\" >= ?1 AND \"{ts}\" < ?2"), params![window.start, window.end]).map_err(sql)?;
            Ok(())
        })
        .await
    }

    async fn execute(&self, statement: &str) -> Result<(), ColdError> {
        let st = statement.to_string();
        self.with(move |c| c.execute_batch(&st).map_err(sql)).await
    }
}
