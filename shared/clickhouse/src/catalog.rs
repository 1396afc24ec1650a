//! What the server says about a table, read from `system.*` and
//! `DESCRIBE`: its columns and their types (to adopt a table the user's
//! collectors already write), its engine's fsync settings, its partitions
//! and running mutations; and dropping one partition by id.

use super::*;

impl ChTables {
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
        // On a cluster the rows are written to the shard-local tables.
        let (db, table) = match &self.cluster {
            Some(c) => self.local_of_name(c, table).await?,
            None => (self.db.clone(), table.to_string()),
        };
        let ddl = self
            .text(&format!(
                "SELECT create_table_query FROM system.tables WHERE database = {} AND name = {}",
                sql::quote_string(&db),
                sql::quote_string(&table)
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
            // On a cluster: the shard-local table's partitions, one
            // replica of each shard asked.
            let (db, table, parts) = match &self.cluster {
                Some(c) => {
                    let (db, local) = self.local_of(c, schema).await?;
                    let from = format!("remote('{}', system, parts)", c.one_replica_per_shard());
                    (db, local, from)
                }
                None => (self.db.clone(), schema.name.clone(), "system.parts".into()),
            };
            let key = self.partition_key_in(&db, &table, schema).await?;
            if key.utc_bucket.is_none() {
                tracing::warn!(table = %schema.name, key = %key.text, "partition key is not a UTC day or month; retention skips the table");
                continue;
            }
            let t = self
                .text(&format!(
                    "SELECT DISTINCT partition_id, partition FROM {parts} WHERE database = {} AND table = {} AND active ORDER BY partition_id",
                    sql::quote_string(&db),
                    sql::quote_string(&table)
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

    /// Drops one partition by its id (`system.parts.partition_id`). On a
    /// cluster the shard-local table's, `ON CLUSTER`: a node that is down
    /// drops it from the replication log when it is back, so a statement
    /// that timed out there is done once no shard that answers still has
    /// the partition.
    pub async fn drop_partition(&self, table: &str, partition_id: &str) -> Result<()> {
        hotcold_core::schema::check_name(table).map_err(|e| ChError::Other(e.to_string()))?;
        if !clear::is_partition_id(partition_id) {
            return Err(ChError::Other(format!(
                "partition id {partition_id:?} is not one the server makes"
            )));
        }
        let Some(c) = &self.cluster else {
            let statement = format!(
                "ALTER TABLE {}.{table} DROP PARTITION ID '{partition_id}'",
                self.db
            );
            return self
                .client
                .query(&statement)
                .execute()
                .await
                .map_err(|e| clear::statement_error(table, &statement, e));
        };
        let (db, local) = self.local_of_name(c, table).await?;
        let statement = format!(
            "ALTER TABLE {db}.{local} ON CLUSTER {} DROP PARTITION ID '{partition_id}'",
            c.name
        );
        let Err(e) = self.client.query(&statement).execute().await else {
            return Ok(());
        };
        let left = self
            .text(&format!(
                "SELECT count() FROM remote('{}', system, parts) WHERE database = {} AND table = {} AND active AND partition_id = '{partition_id}'",
                c.one_replica_per_shard(),
                sql::quote_string(&db),
                sql::quote_string(&local)
            ))
            .await?;
        if left.trim() == "0" {
            tracing::warn!(table, partition_id, error = %e, "partition dropped where the cluster answers; a node that is down drops it when it is back");
            return Ok(());
        }
        Err(clear::statement_error(table, &statement, e))
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
