//! Removing one window's rows, and nothing else, whatever the partition key
//! and the server's time zone (invariant 8).
//!
//! A partition is dropped (synchronous, no mutation for a live server to
//! chew on) only where both hold: the key proves that every row the
//! partition can ever hold lies inside the window (see `partition.rs`), and
//! the server shows that it holds exactly the window's rows now (its active
//! parts' row total equals its rows in the window). Everything else is
//! deleted by predicate, as a mutation that is waited for. Then the window is
//! counted again: rows left in it are an error, never a silent success.

use crate::partition::PartitionKey;
use crate::{sql, ChError, ChTables, Result};
use hotcold_core::schema::{TableSchema, Window};

/// How a window was cleared, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Partition ids dropped whole.
    pub dropped: Vec<String>,
    /// Whether a predicate delete ran for the rest.
    pub mutation: bool,
}

impl ChTables {
    /// The table's partition key, read from the server.
    pub async fn partition_key(&self, schema: &TableSchema) -> Result<PartitionKey> {
        self.partition_key_in(&self.db, &schema.name, schema).await
    }

    /// The partition key of `db.table`, a table with `schema`'s time column
    /// (on a cluster: the shard-local table under the Distributed one).
    pub(crate) async fn partition_key_in(
        &self,
        db: &str,
        table: &str,
        schema: &TableSchema,
    ) -> Result<PartitionKey> {
        let t = self
            .text(&format!(
                "SELECT partition_key FROM system.tables WHERE database = {} AND name = {}",
                sql::quote_string(db),
                sql::quote_string(table)
            ))
            .await?;
        let Some(line) = t.lines().next() else {
            return Err(ChError::Other(format!("table {db}.{table} does not exist")));
        };
        let key = sql::unescape_tsv(line);
        let time_type = self
            .column_type_in(db, table, &schema.time_column)
            .await?
            .ok_or_else(|| {
                ChError::Other(format!(
                    "table {}: time column {} does not exist",
                    schema.name, schema.time_column
                ))
            })?;
        Ok(PartitionKey::parse(
            &key,
            &schema.time_column,
            &time_type,
            &self.timezone,
        ))
    }

    /// A column's type as `system.columns` prints it.
    pub async fn column_type(&self, table: &str, column: &str) -> Result<Option<String>> {
        self.column_type_in(&self.db, table, column).await
    }

    async fn column_type_in(&self, db: &str, table: &str, column: &str) -> Result<Option<String>> {
        let t = self
            .text(&format!(
                "SELECT type FROM system.columns WHERE database = {} AND table = {} AND name = {}",
                sql::quote_string(db),
                sql::quote_string(table),
                sql::quote_string(column)
            ))
            .await?;
        Ok(t.lines().next().map(sql::unescape_tsv))
    }

    /// Removes every row of the window, and only those, and returns once
    /// they are gone.
    pub async fn delete_window(&self, schema: &TableSchema, w: Window) -> Result<Cleared> {
        if let Some(c) = &self.cluster {
            return self.delete_window_on_cluster(c, schema, w).await;
        }
        let key = self.partition_key(schema).await?;
        let table = format!("{}.{}", self.db, schema.name);
        let clause = self.window_clause(schema, w);
        let inside = self.rows_per_partition(&table, schema, &clause).await?;
        let mut cleared = Cleared::default();
        if inside.is_empty() {
            return Ok(cleared);
        }
        let ids: Vec<String> = inside.iter().map(|(p, _)| sql::quote_string(p)).collect();
        let parts = self
            .text(&format!(
                "SELECT partition_id, any(partition), sum(rows) FROM system.parts \
                 WHERE database = {} AND table = {} AND active AND partition_id IN ({}) GROUP BY partition_id",
                sql::quote_string(&self.db),
                sql::quote_string(&schema.name),
                ids.join(", ")
            ))
            .await
            .map_err(|e| named(&schema.name, "system.parts", e))?;
        let mut rest = false;
        for (id, in_window) in &inside {
            let row = parts.lines().find_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 3 && f[0] == id).then(|| (sql::unescape_tsv(f[1]), f[2].parse::<u64>()))
            });
            let droppable = match row {
                Some((value, Ok(total))) => {
                    total == *in_window && key.span(&value).is_some_and(|s| w.covers(&s))
                }
                _ => false,
            };
            if droppable && is_partition_id(id) {
                self.drop_partition(&schema.name, id).await?;
                cleared.dropped.push(id.clone());
            } else {
                rest = true;
            }
        }
        if rest {
            self.client
                .query(&format!("ALTER TABLE {table} DELETE WHERE {clause}"))
                .execute()
                .await
                .map_err(|e| statement_error(&schema.name, "ALTER TABLE ... DELETE", e))?;
            self.wait_mutations(&schema.name).await?;
            cleared.mutation = true;
        }
        let left = self.count(schema, w).await?;
        if left != 0 {
            return Err(ChError::Other(format!(
                "table {}: {left} rows still in window {w} after clearing it (partition key {:?})",
                schema.name, key.text
            )));
        }
        tracing::debug!(table = %schema.name, window = %w, ?cleared, "window cleared");
        Ok(cleared)
    }
}

/// Partition ids are digits, hex and `-`/`_` as the server makes them;
/// anything else is not written into a statement.
pub(crate) fn is_partition_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A failed read, named with its table and what it asked.
impl ChTables {
    /// The rows of `table` that `clause` selects, per partition id (the
    /// primary key finds them): what a clear of a window must account for.
    pub(crate) async fn rows_per_partition(
        &self,
        table: &str,
        schema: &TableSchema,
        clause: &str,
    ) -> Result<Vec<(String, u64)>> {
        self.text(&format!(
            "SELECT _partition_id, count() FROM {table} WHERE {clause} GROUP BY _partition_id"
        ))
        .await
        .map_err(|e| named(&schema.name, "the window's rows per partition", e))?
        .lines()
        .map(|l| parse_pair(l, "rows per partition"))
        .collect()
    }
}

pub(crate) fn named(table: &str, what: &str, e: ChError) -> ChError {
    match e {
        ChError::Server(m) => ChError::Other(format!(
            "table {table}: the server refused a read of {what}: {m}"
        )),
        other => other,
    }
}

pub(crate) fn parse_pair(line: &str, what: &str) -> Result<(String, u64)> {
    let (a, b) = line
        .split_once('\t')
        .ok_or_else(|| ChError::Decode(format!("{what}: {line:?}")))?;
    let n = b
        .trim()
        .parse()
        .map_err(|_| ChError::Decode(format!("{what}: {line:?}")))?;
    Ok((sql::unescape_tsv(a), n))
}

/// A refused statement, named with its table.
pub(crate) fn statement_error(
    table: &str,
    statement: &str,
    e: clickhouse::error::Error,
) -> ChError {
    ChError::Other(format!(
        "table {table}: the server refused {statement}: {e}"
    ))
}
