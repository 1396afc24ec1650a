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

pub mod clear;
pub mod partition;
pub mod rowbinary;
pub mod sql;
pub mod types;

use bytes::Bytes;
use clickhouse::Client;
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use std::time::Duration;
use tokio::sync::mpsc;
pub use types::Flavor;

#[derive(Debug, thiserror::Error)]
pub enum ChError {
    #[error("clickhouse: {0}")]
    Server(String),
    /// An adopted table has a column whose type hotcold cannot keep.
    #[error("table {table}: column {column} has type {found}, which hotcold cannot archive (declare the table with supported types, or drop the column)")]
    UnsupportedColumn {
        table: String,
        column: String,
        found: String,
    },
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
    /// The server's own time zone (`SELECT timezone()`): what zone-less
    /// date functions in an adopted table's partition key mean.
    pub timezone: String,
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
        let timezone = text(&client, "SELECT timezone()").await?.trim().to_string();
        client
            .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
            .execute()
            .await?;
        tracing::info!(%url, %version, ?flavor, %timezone, database, "connected to ClickHouse");
        Ok(Self {
            client: client.with_database(database),
            db: database.to_string(),
            flavor,
            version,
            timezone,
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
        let ddl = types::create_table_sql(self.flavor, &self.db, schema);
        self.client
            .query(&ddl)
            .execute()
            .await
            .map_err(|e| clear::statement_error(&schema.name, &ddl, e))?;
        let found = self.columns(&schema.name).await?;
        for c in &schema.columns {
            let want = types::clickhouse_type(self.flavor, c.ty);
            let have = found
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, t)| t.as_str());
            match have {
                Some(t) if t == want => {}
                // Any zone of a millisecond DateTime64 holds the same
                // instants; only its display differs.
                Some(t)
                    if c.ty == hotcold_core::schema::LogicalType::TimestampMs
                        && types::logical_type(t, true) == Some(c.ty)
                        && t.starts_with("DateTime64(3") => {}
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

    /// Does an insert into `table` reach the disk before the server answers?
    /// Only where the server fsyncs inserted parts: a modern server with
    /// `fsync_after_insert` on for the table (our DDL sets it) or by default.
    /// 18.x has no such setting: its parts sit in the page cache until the
    /// kernel writes them back.
    pub async fn fsyncs_inserts(&self, table: &str) -> Result<bool> {
        if self.flavor == Flavor::Legacy {
            return Ok(false);
        }
        let default = self
            .text("SELECT value FROM system.merge_tree_settings WHERE name = 'fsync_after_insert'")
            .await?;
        if default.trim() == "1" {
            return Ok(true);
        }
        let ddl = self
            .text(&format!(
                "SELECT create_table_query FROM system.tables WHERE database = {} AND name = {}",
                sql::quote_string(&self.db),
                sql::quote_string(table)
            ))
            .await?;
        let ddl: String = sql::unescape_tsv(ddl.trim())
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        Ok(ddl.contains("fsync_after_insert=1"))
    }

    /// A table's columns and their types, in table order.
    pub async fn columns(&self, table: &str) -> Result<Vec<(String, String)>> {
        let found = self
            .text(&format!(
                "SELECT name, type FROM system.columns WHERE database = {} AND table = {}",
                sql::quote_string(&self.db),
                sql::quote_string(table)
            ))
            .await?;
        found
            .lines()
            .map(|line| {
                line.split_once('\t')
                    .map(|(n, t)| (sql::unescape_tsv(n), sql::unescape_tsv(t)))
                    .ok_or_else(|| ChError::Decode(format!("system.columns row {line:?}")))
            })
            .collect()
    }

    /// Reads an existing table's columns into a schema (for tables the
    /// config names without declaring columns).
    pub async fn describe(&self, name: &str, time_column: &str) -> Result<TableSchema> {
        hotcold_core::schema::check_name(name).map_err(|e| ChError::Other(e.to_string()))?;
        let found = self.columns(name).await?;
        let mut columns = Vec::new();
        for (col, ty) in &found {
            let col = col.as_str();
            let lt = types::logical_type(ty, col == time_column).ok_or_else(|| {
                ChError::UnsupportedColumn {
                    table: name.to_string(),
                    column: col.to_string(),
                    found: ty.to_string(),
                }
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
        if !columns.iter().any(|c| {
            c.name == time_column && c.ty == hotcold_core::schema::LogicalType::TimestampMs
        }) {
            let found = found
                .iter()
                .find(|(n, _)| n == time_column)
                .map_or("missing".to_string(), |(_, t)| t.clone());
            return Err(ChError::Other(format!(
                "table {name}: time column {time_column} is {found}; hotcold needs Int64 milliseconds or DateTime64(3)"
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

    /// Active partitions of these tables whose UTC range the partition key
    /// proves (see `partition.rs`): table, partition id, range. Partitions
    /// of other keys are not listed: retention never guesses their range.
    pub async fn partitions(
        &self,
        schemas: &[TableSchema],
    ) -> Result<Vec<(String, String, Window)>> {
        let mut out = Vec::new();
        for schema in schemas {
            let key = self.partition_key(schema).await?;
            if key.utc_bucket.is_none() {
                tracing::warn!(table = %schema.name, key = %key.text, "partition key is not a UTC day or month; retention skips the table");
                continue;
            }
            let t = self
                .text(&format!(
                    "SELECT DISTINCT partition_id, partition FROM system.parts WHERE database = {} AND table = {} AND active ORDER BY partition_id",
                    sql::quote_string(&self.db),
                    sql::quote_string(&schema.name)
                ))
                .await?;
            for line in t.lines() {
                let Some((id, value)) = line.split_once('\t') else {
                    continue;
                };
                if let Some(w) = key.span(&sql::unescape_tsv(value)) {
                    out.push((schema.name.clone(), id.to_string(), w));
                }
            }
        }
        Ok(out)
    }

    /// Drops one partition by its id (`system.parts.partition_id`).
    pub async fn drop_partition(&self, table: &str, partition_id: &str) -> Result<()> {
        hotcold_core::schema::check_name(table).map_err(|e| ChError::Other(e.to_string()))?;
        if !clear::is_partition_id(partition_id) {
            return Err(ChError::Other(format!(
                "partition id {partition_id:?} is not one the server makes"
            )));
        }
        let statement = format!(
            "ALTER TABLE {}.{table} DROP PARTITION ID '{partition_id}'",
            self.db
        );
        self.client
            .query(&statement)
            .execute()
            .await
            .map_err(|e| clear::statement_error(table, &statement, e))?;
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
