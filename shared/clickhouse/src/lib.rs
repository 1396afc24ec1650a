//! Declared tables in ClickHouse, shared by the cold store (gateway) and the
//! ClickHouse hot store (cloud).
//!
//! The server version is read at connect time and picks the type mapping:
//! 18.x-21.x get types every such server has (a millisecond timestamp is an
//! `Int64`, partitioned by day through `toDateTime`); 22.x and later get
//! `DateTime64(3, 'UTC')`, `LowCardinality(String)` and `Bool`. RowBinary is
//! the same for both, so only DDL and time predicates differ.
//!
//! Rows travel as RowBinary through the official crate's formatted insert and
//! byte cursor, so any declared schema works without a compiled row type.

pub mod rowbinary;
pub mod sql;
pub mod types;

use bytes::Bytes;
use clickhouse::Client;
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_core::RowBatch;
use std::time::Duration;
use tokio::sync::mpsc;
pub use types::Flavor;

#[derive(Debug, thiserror::Error)]
pub enum ChError {
    #[error("clickhouse: {0}")]
    Server(String),
    /// An existing table's column has another type than declared.
    #[error("table {table}: column {column} is {found} in ClickHouse but declared {declared}")]
    SchemaMismatch {
        table: String,
        column: String,
        found: String,
        declared: String,
    },
    #[error("clickhouse returned bad data: {0}")]
    Decode(String),
    #[error("{0}")]
    Other(String),
}

impl From<clickhouse::error::Error> for ChError {
    fn from(e: clickhouse::error::Error) -> Self {
        ChError::Server(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, ChError>;

/// A database on one ClickHouse server.
#[derive(Clone)]
pub struct ChTables {
    pub client: Client,
    pub db: String,
    pub flavor: Flavor,
    pub version: String,
}

impl ChTables {
    /// Connects, reads the server version and creates the database.
    pub async fn connect(url: &str, database: &str, user: &str, password: &str) -> Result<Self> {
        hotcold_core::schema::check_name(database)
            .map_err(|e| ChError::Other(format!("database name: {e}")))?;
        let client = Client::default()
            .with_url(url)
            .with_user(user)
            .with_password(password)
            .with_validation(false)
            .with_compression(clickhouse::Compression::None);
        let version = text(&client, "SELECT version()").await?.trim().to_string();
        let flavor = Flavor::of_version(&version);
        client
            .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
            .execute()
            .await?;
        tracing::info!(%url, %version, ?flavor, database, "connected to ClickHouse");
        Ok(Self {
            client: client.with_database(database),
            db: database.to_string(),
            flavor,
            version,
        })
    }

    /// Runs a query and collects its TabSeparated text.
    pub async fn text(&self, sql: &str) -> Result<String> {
        text(&self.client, sql).await
    }

    pub fn window_clause(&self, schema: &TableSchema, w: Window) -> String {
        sql::window_clause(self.flavor, schema, w)
    }

    /// Creates the table, or checks that the existing one has the declared
    /// columns and types; a mismatch names the column and both types.
    pub async fn ensure_table(&self, schema: &TableSchema) -> Result<()> {
        self.client
            .query(&types::create_table_sql(self.flavor, &self.db, schema))
            .execute()
            .await?;
        let found = self
            .text(&format!(
                "SELECT name, type FROM system.columns WHERE database = '{}' AND table = '{}'",
                self.db, schema.name
            ))
            .await?;
        for c in &schema.columns {
            let want = types::clickhouse_type(self.flavor, c.ty);
            let have = found
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .find(|(n, _)| *n == c.name)
                .map(|(_, t)| t);
            match have {
                Some(t) if t == want => {}
                other => {
                    return Err(ChError::SchemaMismatch {
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

    /// Reads an existing table's columns into a schema (for tables the
    /// config names without declaring columns).
    pub async fn describe(&self, name: &str, time_column: &str) -> Result<TableSchema> {
        let found = self
            .text(&format!(
                "SELECT name, type FROM system.columns WHERE database = '{}' AND table = '{name}'",
                self.db
            ))
            .await?;
        let mut columns = Vec::new();
        for line in found.lines() {
            let (col, ty) = line
                .split_once('\t')
                .ok_or_else(|| ChError::Decode(format!("system.columns row {line:?}")))?;
            let lt = types::logical_type(ty, col == time_column).ok_or_else(|| {
                ChError::Other(format!("table {name}: column {col} has type {ty}, which hotcold cannot archive (declare the table instead)"))
            })?;
            columns.push(hotcold_core::schema::ColumnDef {
                name: col.to_string(),
                ty: lt,
            });
        }
        if columns.is_empty() {
            return Err(ChError::Other(format!(
                "table {name} does not exist in {} and declares no columns",
                self.db
            )));
        }
        Ok(TableSchema {
            name: name.to_string(),
            time_column: time_column.to_string(),
            columns,
            hot_retention: None,
            partition: Default::default(),
        })
    }

    /// Active partitions of the database's tables (not those starting with
    /// `_`): table, partition id (`YYYYMMDD` or `YYYYMM`) and the time range
    /// it covers.
    pub async fn partitions(&self) -> Result<Vec<(String, String, Window)>> {
        let t = self
            .text(&format!(
                "SELECT DISTINCT table, partition FROM system.parts WHERE database = '{}' AND active AND NOT startsWith(table, '_') ORDER BY table, partition",
                self.db
            ))
            .await?;
        let mut out = Vec::new();
        for line in t.lines() {
            let Some((table, p)) = line.split_once('\t') else {
                continue;
            };
            if let Some(w) = partition_window(p) {
                out.push((table.to_string(), p.to_string(), w));
            }
        }
        Ok(out)
    }

    pub async fn drop_partition(&self, table: &str, partition: &str) -> Result<()> {
        hotcold_core::schema::check_name(table).map_err(|e| ChError::Other(e.to_string()))?;
        if !partition.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ChError::Other(format!(
                "partition {partition:?} is not a date partition"
            )));
        }
        self.client
            .query(&format!(
                "ALTER TABLE {}.{table} DROP PARTITION {partition}",
                self.db
            ))
            .execute()
            .await?;
        Ok(())
    }

    /// ALTER ... DELETE/UPDATE are asynchronous mutations on 18.x: wait
    /// until none of the table's is pending.
    pub async fn wait_mutations(&self, table: &str) -> Result<()> {
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
        Err(ChError::Other(format!(
            "mutations on {table} still pending after 5 minutes"
        )))
    }

    pub async fn count(&self, schema: &TableSchema, w: Window) -> Result<u64> {
        let t = self
            .text(&format!(
                "SELECT count() FROM {}.{} WHERE {}",
                self.db,
                schema.name,
                self.window_clause(schema, w)
            ))
            .await?;
        t.trim()
            .parse()
            .map_err(|_| ChError::Decode(format!("count {t:?}")))
    }

    /// The oldest timestamp in the table, in epoch milliseconds.
    pub async fn min_time(&self, schema: &TableSchema) -> Result<Option<i64>> {
        let ts = sql::time_ms(self.flavor, schema);
        let t = self
            .text(&format!(
                "SELECT count(), min({ts}) FROM {}.{}",
                self.db, schema.name
            ))
            .await?;
        let (n, min) = t
            .trim()
            .split_once('\t')
            .ok_or_else(|| ChError::Decode(format!("min {t:?}")))?;
        if n == "0" {
            return Ok(None);
        }
        min.parse()
            .map(Some)
            .map_err(|_| ChError::Decode(format!("min {t:?}")))
    }

    /// Removes every row of the window and returns once they are gone. A
    /// day-aligned window is exactly one partition: dropping it is
    /// synchronous and cheap, and spares a live server a mutation.
    pub async fn delete_window(&self, schema: &TableSchema, w: Window) -> Result<()> {
        let day_partition = schema.partition == hotcold_core::schema::Partition::Day;
        let sql = if day_partition && w.start.rem_euclid(DAY_MS) == 0 && w.end - w.start == DAY_MS {
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
                self.window_clause(schema, w)
            )
        };
        self.client.query(&sql).execute().await?;
        self.wait_mutations(&schema.name).await
    }

    /// Inserts every batch received until the channel closes, as one
    /// streamed INSERT.
    pub async fn insert_stream(
        &self,
        schema: &TableSchema,
        mut rows: mpsc::Receiver<RowBatch>,
    ) -> Result<u64> {
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

    pub async fn insert(&self, schema: &TableSchema, batch: RowBatch) -> Result<u64> {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.send(batch).await;
        drop(tx);
        self.insert_stream(schema, rx).await
    }

    /// Streams what the plan asks of the window (rows in time order, or
    /// partial aggregate rows in key order), at most `limit`, in batches of
    /// about `batch_rows`.
    pub async fn query(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        w: Window,
        limit: u64,
        batch_rows: usize,
        out: mpsc::Sender<RowBatch>,
    ) -> Result<u64> {
        let sql = sql::select(
            self.flavor,
            &self.db,
            schema,
            plan,
            &self.window_clause(schema, w),
            limit,
        );
        let mut cur = self.client.query(&sql).fetch_bytes("RowBinary")?;
        let mut dec = rowbinary::Decoder::new(plan.output.clone(), 16 << 20);
        let mut n = 0u64;
        let gone = || ChError::Other("query reader went away".into());
        while let Some(bytes) = cur.next().await? {
            dec.feed(&bytes)
                .map_err(|e| ChError::Decode(e.to_string()))?;
            if dec.buffered_rows() >= batch_rows {
                let b = dec.take();
                n += b.len() as u64;
                out.send(b).await.map_err(|_| gone())?;
            }
        }
        let b = dec.finish().map_err(|e| ChError::Decode(e.to_string()))?;
        if !b.is_empty() {
            n += b.len() as u64;
            out.send(b).await.map_err(|_| gone())?;
        }
        Ok(n)
    }
}

async fn text(client: &Client, sql: &str) -> Result<String> {
    let mut cur = client.query(sql).fetch_bytes("TabSeparated")?;
    let bytes = cur.collect().await?;
    String::from_utf8(bytes.to_vec()).map_err(|e| ChError::Decode(e.to_string()))
}

/// The time range of a `toYYYYMMDD` or `toYYYYMM` partition id.
pub fn partition_window(p: &str) -> Option<Window> {
    let p = p.trim_matches('\'');
    let num = |a: usize, b: usize| p.get(a..b).and_then(|x| x.parse::<u32>().ok());
    let day = 86_400_000i64;
    match p.len() {
        8 => {
            let d =
                hotcold_core::time::days_from_civil(i64::from(num(0, 4)?), num(4, 6)?, num(6, 8)?);
            Some(Window::new(d * day, (d + 1) * day))
        }
        6 => {
            let (y, m) = (i64::from(num(0, 4)?), num(4, 6)?);
            if !(1..=12).contains(&m) {
                return None;
            }
            let start = hotcold_core::time::days_from_civil(y, m, 1);
            let end = if m == 12 {
                hotcold_core::time::days_from_civil(y + 1, 1, 1)
            } else {
                hotcold_core::time::days_from_civil(y, m + 1, 1)
            };
            Some(Window::new(start * day, end * day))
        }
        _ => None,
    }
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    #[test]
    fn partition_ids_map_to_windows() {
        let w = partition_window("20240229").unwrap();
        assert_eq!(w.end - w.start, 86_400_000);
        assert_eq!(
            hotcold_core::time::format_timestamp_ms(w.start),
            "2024-02-29T00:00:00.000Z"
        );
        let m = partition_window("202412").unwrap();
        assert_eq!(
            hotcold_core::time::format_timestamp_ms(m.end),
            "2025-01-01T00:00:00.000Z"
        );
        assert!(partition_window("tuple()").is_none());
        assert!(partition_window("202413").is_none());
    }
}
