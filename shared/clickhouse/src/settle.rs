//! Replicas agreeing on a window before the archive trusts a read of it
//! (see `cluster.rs`): every reachable replica of each shard has pulled the
//! replication log, has no part to fetch and holds the same rows.

use crate::cluster::Cluster;
use crate::{sql, ChError, ChTables, Result};
use hotcold_core::schema::{TableSchema, Window};
use std::time::{Duration, Instant};

/// How long `settle` waits for replicas to agree before it gives up.
const SETTLE_FOR: Duration = Duration::from_secs(60);

impl ChTables {
    /// Waits until every reachable replica of each shard has pulled the
    /// replication log, has no part to fetch and holds the same rows of the
    /// window; a shard with no reachable replica, or replicas that still
    /// disagree after a minute, is an error naming them.
    pub async fn settle(&self, c: &Cluster, schema: &TableSchema, w: Window) -> Result<()> {
        let (ldb, local) = self.local_of(c, schema).await?;
        let clause = self.window_clause(schema, w);
        let deadline = Instant::now() + SETTLE_FOR;
        // Replicas seen with the log pulled and nothing to fetch since the
        // wait began. The window's rows were all acknowledged before (it is
        // older than the hot retention), so one such moment proves a replica
        // holds every part of it, even if later inserts into newer days keep
        // its queue busy: under steady ingest all replicas are rarely idle
        // at the same instant. A part only a dead replica holds stays in the
        // others' queues, so they are never seen idle and the wait goes on.
        let mut idle_seen = std::collections::HashSet::new();
        loop {
            let mut problems = Vec::new();
            for (shard, nodes) in c.shards() {
                let mut counts = Vec::new();
                for n in nodes {
                    let state = self
                        .text(&format!(
                            "SELECT log_max_index, log_pointer, inserts_in_queue FROM remote('{}', system, replicas) WHERE database = {} AND table = {}",
                            n.addr,
                            sql::quote_string(&ldb),
                            sql::quote_string(&local)
                        ))
                        .await;
                    // A node that does not answer is down: the others
                    // of its shard speak for it, and it catches up from
                    // the replication log when it is back.
                    let Ok(state) = state else { continue };
                    let f: Vec<u64> = state
                        .split_whitespace()
                        .filter_map(|x| x.parse().ok())
                        .collect();
                    let [max, pointer, inserts] = f[..] else {
                        problems.push(format!("{n}: no replica of {ldb}.{local}"));
                        continue;
                    };
                    // The pointer is the next log entry to pull: max + 1
                    // once every entry is pulled, 0 while the log is empty.
                    let busy = (pointer <= max && pointer != 0) || inserts > 0;
                    if !busy {
                        idle_seen.insert(n.addr.clone());
                    } else if !idle_seen.contains(&n.addr) {
                        problems.push(format!(
                            "{n}: {inserts} parts to fetch, log pulled to {pointer} of {}",
                            max + 1
                        ));
                    }
                    let rows = self
                        .text(&format!(
                            "SELECT count() FROM remote('{}', {ldb}, {local}) WHERE {clause}",
                            n.addr
                        ))
                        .await;
                    match rows {
                        Ok(r) => counts.push((n, r.trim().to_string())),
                        Err(_) => continue,
                    }
                }
                if counts.is_empty() {
                    problems.push(format!("shard {shard}: no replica reachable"));
                } else if counts.iter().any(|(_, r)| *r != counts[0].1) {
                    let each: Vec<String> =
                        counts.iter().map(|(n, r)| format!("{n}: {r}")).collect();
                    problems.push(format!(
                        "shard {shard}: rows of the window differ ({})",
                        each.join(", ")
                    ));
                }
            }
            if problems.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ChError::ReplicasBehind {
                    table: schema.name.clone(),
                    window: w,
                    detail: problems.join("; "),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
