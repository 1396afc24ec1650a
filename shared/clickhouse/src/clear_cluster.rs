//! Clearing a window on a cluster: the single server's rules (`clear.rs`)
//! applied to the shard-local tables, `ON CLUSTER`.
//!
//! A partition is dropped only where the local table's key proves it lies
//! inside the window and the active parts of one replica per shard hold
//! exactly the window's rows (read through the Distributed table, after
//! `settle`); the rest is an `ALTER ... DELETE` waited for on every node.
//! On a replicated table one replica of each shard runs the statement and
//! the replication log carries it to the others; a node that is down runs
//! it when it is back. So an `ON CLUSTER` wait that times out on a down
//! node is not a failure by itself: the window is settled and counted
//! again on the nodes that are up, and rows left there are the error.

use crate::clear::{is_partition_id, named, Cleared};
use crate::cluster::Cluster;
use crate::{sql, ChError, ChTables, Result};
use hotcold_core::schema::{TableSchema, Window};
use std::time::Duration;

/// How many times the statements are sent before rows left are an error.
const ROUNDS: u32 = 6;

impl ChTables {
    pub(crate) async fn delete_window_on_cluster(
        &self,
        c: &Cluster,
        schema: &TableSchema,
        w: Window,
    ) -> Result<Cleared> {
        let (ldb, local) = self.local_of(c, schema).await?;
        let key = self.partition_key_in(&ldb, &local, schema).await?;
        let clause = self.window_clause(schema, w);
        self.settle(c, schema, w).await?;
        // Through the Distributed table: every shard's rows of the window.
        let inside = self
            .rows_per_partition(&format!("{}.{}", self.db, schema.name), schema, &clause)
            .await?;
        let mut cleared = Cleared::default();
        if inside.is_empty() {
            return Ok(cleared);
        }
        let ids: Vec<String> = inside.iter().map(|(p, _)| sql::quote_string(p)).collect();
        let parts = self
            .text(&format!(
                "SELECT partition_id, any(partition), sum(rows) FROM remote('{}', system, parts) \
                 WHERE database = {} AND table = {} AND active AND partition_id IN ({}) GROUP BY partition_id",
                c.one_replica_per_shard(),
                sql::quote_string(&ldb),
                sql::quote_string(&local),
                ids.join(", ")
            ))
            .await
            .map_err(|e| named(&schema.name, "system.parts of the shards", e))?;
        let mut rest = false;
        let mut drop = Vec::new();
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
                drop.push(id.clone());
            } else {
                rest = true;
            }
        }
        let mut statements: Vec<String> = drop
            .iter()
            .map(|id| {
                format!(
                    "ALTER TABLE {ldb}.{local} ON CLUSTER {} DROP PARTITION ID '{id}'",
                    c.name
                )
            })
            .collect();
        if rest {
            statements.push(format!(
                "ALTER TABLE {ldb}.{local} ON CLUSTER {} DELETE WHERE {clause}",
                c.name
            ));
        }
        cleared.dropped = drop;
        cleared.mutation = rest;
        // On a replicated table only the shard's leader drops a partition
        // (others forward to it); a leader just killed fails the statement
        // on its shard until ZooKeeper ends its session and another replica
        // leads (seconds: session_timeout_ms). Repeating the statements is
        // harmless where the rows are gone already.
        let mut left = 0;
        for round in 0..ROUNDS {
            for st in &statements {
                self.on_cluster(&schema.name, st).await;
            }
            if rest {
                self.wait_mutations_on(c, &ldb, &local).await?;
            }
            // Settled again: every reachable replica has applied the drop.
            self.settle(c, schema, w).await?;
            left = self.count(schema, w).await?;
            if left == 0 {
                break;
            }
            tracing::warn!(table = %schema.name, window = %w, left, round, "rows left on a shard after clearing; trying again");
            tokio::time::sleep(Duration::from_secs(2 * (u64::from(round) + 1))).await;
        }
        if left != 0 {
            return Err(ChError::Other(format!(
                "table {}: {left} rows still in window {w} after clearing it on cluster {} {ROUNDS} times (partition key {:?})",
                schema.name, c.name, key.text
            )));
        }
        tracing::debug!(table = %schema.name, window = %w, ?cleared, "window cleared on the cluster");
        Ok(cleared)
    }

    /// Runs an `ON CLUSTER` statement. Its failure is logged, not
    /// returned: a wait that timed out on a node that is down, or a shard
    /// whose leader just died, leaves the caller's count to decide (see the
    /// module), and that count names what is left.
    async fn on_cluster(&self, table: &str, statement: &str) {
        if let Err(e) = self.client.query(statement).execute().await {
            tracing::warn!(table, statement, error = %e, "ON CLUSTER statement not done on every node; counting what is left");
        }
    }

    /// Waits until no node that answers has a pending mutation of the table.
    async fn wait_mutations_on(&self, c: &Cluster, db: &str, table: &str) -> Result<()> {
        for _ in 0..3000 {
            let mut pending = 0u64;
            for n in &c.nodes {
                let t = self
                    .text(&format!(
                        "SELECT count() FROM remote('{}', system, mutations) WHERE database = {} AND table = {} AND is_done = 0",
                        n.addr,
                        sql::quote_string(db),
                        sql::quote_string(table)
                    ))
                    .await;
                pending += t.ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
            }
            if pending == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ChError::Other(format!(
            "mutations on {db}.{table} still pending on cluster {} after 5 minutes",
            c.name
        )))
    }
}
