//! The ClickHouse cold store, written for 18.16 (Debian's package) and up.
//!
//! Rows travel as RowBinary through the official crate's formatted insert
//! and byte-cursor select, so any declared schema works without a compiled
//! row type. 18.16 has no insert deduplication token and no transactions, so
//! idempotency comes from the ledger table and a per-window delete before a
//! re-insert (see `commit.rs`).

use super::rowbinary::{self, clickhouse_type};
use super::{ColdError, ColdStore, LedgerEntry};
use bytes::Bytes;
use clickhouse::Client;
use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_core::{ContentHash, RowBatch};
use std::time::Duration;
use tokio::sync::mpsc;

const LEDGER: &str = "_hotcold_ledger";

#[derive(Clone)]
pub struct ClickHouseCold {
    client: Client,
    db: String,
}

impl ClickHouseCold {
    /// Connects, creates the database and the ledger.
    pub async fn connect(
        url: &str,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<Self, ColdError> {
        hotcold_core::schema::check_name(database)
            .map_err(|e| ColdError::ClickHouse(format!("database name: {e}")))?;
        let client = Client::default()
            .with_url(url)
            .with_user(user)
            .with_password(password)
            .with_validation(false)
            .with_compression(clickhouse::Compression::None);
        client
            .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
            .execute()
            .await?;
        client
            .query(&format!(
                "CREATE TABLE IF NOT EXISTS {database}.{LEDGER} (batch_id String, table_name String, t0 Int64, t1 Int64, \
                 rows UInt64, sum String, committed_at DateTime DEFAULT now()) \
                 ENGINE = ReplacingMergeTree() ORDER BY batch_id"
            ))
            .execute()
            .await?;
        Ok(Self {
            client: client.with_database(database),
            db: database.to_string(),
        })
    }

    fn window_clause(schema: &TableSchema, w: Window) -> String {
        format!(
            "{ts} >= {} AND {ts} < {}",
            w.start,
            w.end,
            ts = schema.time_column
        )
    }

    /// Runs a raw query and collects its TabSeparated text.
    async fn text(&self, sql: &str) -> Result<String, ColdError> {
        let mut cur = self.client.query(sql).fetch_bytes("TabSeparated")?;
        let bytes = cur.collect().await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| ColdError::Decode(e.to_string()))
    }

    /// ALTER ... DELETE/UPDATE are asynchronous mutations on 18.x: wait
    /// until none of the table's is pending.
    pub async fn wait_mutations(&self, table: &str) -> Result<(), ColdError> {
        for _ in 0..3000 {
            let n = self
                .text(&format!(
                    "SELECT count() FROM system.mutations WHERE database = '{}' AND table = '{table}' AND is_done = 0",
                    self.db
                ))
                .await?;
            if n.trim() == "0" {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ColdError::ClickHouse(format!(
            "mutations on {table} still pending after 5 minutes"
        )))
    }
}

impl ColdStore for ClickHouseCold {
    async fn ensure_table(&self, schema: &TableSchema) -> Result<(), ColdError> {
        let cols: Vec<String> = schema
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, clickhouse_type(c.ty)))
            .collect();
        self.client
            .query(&format!(
                "CREATE TABLE IF NOT EXISTS {}.{} ({}) ENGINE = MergeTree() \
                 PARTITION BY toYYYYMMDD(toDateTime(intDiv({ts}, 1000))) ORDER BY {ts}",
                self.db,
                schema.name,
                cols.join(", "),
                ts = schema.time_column
            ))
            .execute()
            .await?;
        let found = self
            .text(&format!(
                "SELECT name, type FROM system.columns WHERE database = '{}' AND table = '{}'",
                self.db, schema.name
            ))
            .await?;
        for c in &schema.columns {
            let want = clickhouse_type(c.ty);
            let have = found
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .find(|(n, _)| *n == c.name)
                .map(|(_, t)| t);
            match have {
                Some(t) if t == want => {}
                other => {
                    return Err(ColdError::SchemaMismatch {
                        table: schema.name.clone(),
                        column: c.name.clone(),
                        found: other.unwrap_or("missing").to_string(),
                        declared: format!("{} ({want})", c.ty),
                    })
                }
            }
        }
        Ok(())
    }

    async fn ledger_get(&self, batch_id: &str) -> Result<Option<LedgerEntry>, ColdError> {
        hotcold_core::manifest::check_batch_id(batch_id)
            .map_err(|e| ColdError::Decode(e.to_string()))?;
        let t = self
            .text(&format!(
                "SELECT batch_id, table_name, t0, t1, rows, sum FROM {}.{LEDGER} FINAL WHERE batch_id = '{batch_id}' LIMIT 1",
                self.db
            ))
            .await?;
        let Some(line) = t.lines().next() else {
            return Ok(None);
        };
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |what: &str| ColdError::Decode(format!("ledger row {line:?}: bad {what}"));
        if f.len() != 6 {
            return Err(bad("field count"));
        }
        Ok(Some(LedgerEntry {
            batch_id: f[0].to_string(),
            table: f[1].to_string(),
            window: Window::new(
                f[2].parse().map_err(|_| bad("t0"))?,
                f[3].parse().map_err(|_| bad("t1"))?,
            ),
            content: ContentHash {
                rows: f[4].parse().map_err(|_| bad("rows"))?,
                sum: u128::from_str_radix(f[5], 16).map_err(|_| bad("sum"))?,
            },
        }))
    }

    async fn ledger_put(&self, e: &LedgerEntry) -> Result<(), ColdError> {
        hotcold_core::manifest::check_batch_id(&e.batch_id)
            .map_err(|x| ColdError::Decode(x.to_string()))?;
        self.client
            .query(&format!(
                "INSERT INTO {}.{LEDGER} (batch_id, table_name, t0, t1, rows, sum) VALUES ('{}', '{}', {}, {}, {}, '{:032x}')",
                self.db, e.batch_id, e.table, e.window.start, e.window.end, e.content.rows, e.content.sum
            ))
            .execute()
            .await?;
        Ok(())
    }

    async fn window_count(&self, schema: &TableSchema, w: Window) -> Result<u64, ColdError> {
        let t = self
            .text(&format!(
                "SELECT count() FROM {}.{} WHERE {}",
                self.db,
                schema.name,
                Self::window_clause(schema, w)
            ))
            .await?;
        t.trim()
            .parse()
            .map_err(|_| ColdError::Decode(format!("count {t:?}")))
    }

    async fn delete_window(&self, schema: &TableSchema, w: Window) -> Result<(), ColdError> {
        // A day-aligned window is exactly one partition: dropping it is
        // synchronous and cheap. Anything else is a mutation, waited for.
        let sql = if w.start.rem_euclid(DAY_MS) == 0 && w.end - w.start == DAY_MS {
            let (y, m, d) = hotcold_core::time::civil_from_days(w.start / DAY_MS);
            format!(
                "ALTER TABLE {}.{} DROP PARTITION {y:04}{m:02}{d:02}",
                self.db, schema.name
            )
        } else {
            format!(
                "ALTER TABLE {}.{} DELETE WHERE {}",
                self.db,
                schema.name,
                Self::window_clause(schema, w)
            )
        };
        self.client.query(&sql).execute().await?;
        self.wait_mutations(&schema.name).await
    }

    async fn insert_stream(
        &self,
        schema: &TableSchema,
        mut rows: mpsc::Receiver<RowBatch>,
    ) -> Result<u64, ColdError> {
        let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        let mut insert = self.client.insert_formatted_with(format!(
            "INSERT INTO {}.{} ({}) FORMAT RowBinary",
            self.db,
            schema.name,
            cols.join(", ")
        ));
        let mut n = 0u64;
        let mut buf = Vec::new();
        while let Some(b) = rows.recv().await {
            buf.clear();
            rowbinary::encode(schema, &b, &mut buf);
            insert.send(Bytes::copy_from_slice(&buf)).await?;
            n += b.len() as u64;
        }
        insert.end().await?;
        Ok(n)
    }

    async fn query(
        &self,
        schema: &TableSchema,
        w: Window,
        limit: u64,
        out: mpsc::Sender<RowBatch>,
    ) -> Result<u64, ColdError> {
        let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        let limit = if limit == u64::MAX {
            String::new()
        } else {
            format!(" LIMIT {limit}")
        };
        let sql = format!(
            "SELECT {} FROM {}.{} WHERE {} ORDER BY {}{limit}",
            cols.join(", "),
            self.db,
            schema.name,
            Self::window_clause(schema, w),
            schema.time_column
        );
        let mut cur = self.client.query(&sql).fetch_bytes("RowBinary")?;
        let mut dec = rowbinary::Decoder::new(schema.clone(), 16 << 20);
        let mut n = 0u64;
        while let Some(bytes) = cur.next().await? {
            dec.feed(&bytes)
                .map_err(|e| ColdError::Decode(e.to_string()))?;
            if dec.buffered_rows() >= 8192 {
                let b = dec.take();
                n += b.len() as u64;
                out.send(b)
                    .await
                    .map_err(|_| ColdError::Task("query reader went away".into()))?;
            }
        }
        let b = dec.finish().map_err(|e| ColdError::Decode(e.to_string()))?;
        if !b.is_empty() {
            n += b.len() as u64;
            out.send(b)
                .await
                .map_err(|_| ColdError::Task("query reader went away".into()))?;
        }
        Ok(n)
    }

    async fn execute(&self, sql: &str) -> Result<(), ColdError> {
        self.client.query_raw(sql).execute().await?;
        // Test statements may be mutations; make their effect visible.
        let tables = self
            .text(&format!(
                "SELECT name FROM system.tables WHERE database = '{}'",
                self.db
            ))
            .await?;
        for t in tables.lines() {
            self.wait_mutations(t).await?;
        }
        Ok(())
    }
}
