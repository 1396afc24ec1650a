//! Tables on a ClickHouse cluster (`cluster: NAME` in the connection).
//!
//! Layout: `db.T_local`, a `ReplicatedMergeTree` on every node (its path
//! `/clickhouse/tables/{shard}/db/T_local`, so the replicas of a shard share
//! it), and `db.T`, a `Distributed(NAME, db, T_local, cityHash64(ts))` over
//! them; both made `ON CLUSTER`. Reads and inserts use `db.T`, so the SQL of
//! every read is the single server's; clearing a window goes to `T_local`
//! `ON CLUSTER` (`clear_cluster.rs`).
//!
//! Inserts are sent with `insert_distributed_sync = 1`: the Distributed
//! table answers only once each shard's block is in a replica's table. The
//! 18.16 default queues the block in a directory on the node we talk to and
//! forwards it later, so an acknowledged row could be missing from a count
//! and a content hash that an archive trusted before a purge.
//!
//! Reads the archive acts on (the count that finds a window empty, the
//! count of rows below the watermark, the export's scan and the purge's
//! count) first `settle` (`settle.rs`): every reachable replica of each shard
//! has pulled the replication log, has no part left to fetch and holds the
//! same rows of the window. A replica that lags (or whose only source of a
//! part is down) holds the archive back; it never makes it export fewer
//! rows than a partition drop then removes.

use crate::{sql, text, types, ChError, ChTables, Result};
use clickhouse::Client;
use hotcold_core::schema::TableSchema;
use std::collections::BTreeMap;

/// How long an `ON CLUSTER` statement waits for every node. A node that is
/// down runs the statement from ZooKeeper's queue when it is back; the
/// callers check the outcome on the nodes that are up.
pub(crate) const DDL_TIMEOUT_SECS: u32 = 10;

/// One server of the cluster, as `system.clusters` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub shard: u32,
    pub replica: u32,
    /// `host:tcp_port`, as `remote()` takes it.
    pub addr: String,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "shard {} replica {} ({})",
            self.shard, self.replica, self.addr
        )
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub nodes: Vec<Node>,
}

/// ` ON CLUSTER NAME`, or nothing for one server.
pub(crate) fn on_cluster(c: Option<&Cluster>) -> String {
    c.map(|c| format!(" ON CLUSTER {}", c.name))
        .unwrap_or_default()
}

impl Cluster {
    /// Reads the cluster from the server's `system.clusters` and checks
    /// that ZooKeeper and every node answer, so a bad config stops the
    /// start with the problem named instead of hanging in `ON CLUSTER`.
    pub async fn discover(client: &Client, name: &str) -> Result<Self> {
        hotcold_core::schema::check_name(name)
            .map_err(|e| ChError::Other(format!("cluster name: {e}")))?;
        let t = text(
            client,
            "SELECT cluster, shard_num, replica_num, host_address, port FROM system.clusters",
        )
        .await?;
        let mut known = Vec::new();
        let mut nodes = Vec::new();
        for line in t.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let [cl, shard, replica, host, port] = f[..] else {
                return Err(ChError::Decode(format!("system.clusters row {line:?}")));
            };
            let num = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| ChError::Decode(format!("system.clusters row {line:?}")))
            };
            if !known.contains(&cl) {
                known.push(cl);
            }
            if cl == name {
                nodes.push(Node {
                    shard: num(shard)?,
                    replica: num(replica)?,
                    addr: format!("{host}:{port}"),
                });
            }
        }
        if nodes.is_empty() {
            return Err(ChError::ClusterUnknown {
                name: name.to_string(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        }
        let unreachable = |what: String, detail: String| ChError::ClusterUnreachable {
            cluster: name.to_string(),
            what,
            detail,
        };
        if let Err(e) = text(
            client,
            "SELECT count() FROM system.zookeeper WHERE path = '/'",
        )
        .await
        {
            return Err(unreachable(
                "ZooKeeper".into(),
                format!("{e} (replicated tables and ON CLUSTER need it; check <zookeeper> in the servers' config)"),
            ));
        }
        let mut down = Vec::new();
        for n in &nodes {
            let probe = format!("SELECT 1 FROM remote('{}', system, one)", n.addr);
            if text(client, &probe).await.is_err() {
                down.push(n.to_string());
            }
        }
        if !down.is_empty() {
            return Err(unreachable(
                format!("{} of {} nodes", down.len(), nodes.len()),
                down.join(", "),
            ));
        }
        tracing::info!(
            cluster = name,
            nodes = nodes.len(),
            "ClickHouse cluster found"
        );
        Ok(Self {
            name: name.to_string(),
            nodes,
        })
    }

    /// The client's settings for a cluster: synchronous distributed
    /// inserts (see the module's comment), a bounded wait for `ON
    /// CLUSTER` statements, and replicas taken in their configured order
    /// for reads and writes alike: a query then reads the replica the
    /// rows were just written to (the default, `random`, may read the
    /// other one before it fetched them; seen: a query right after an
    /// ingest answered 521 rows short).
    pub(crate) fn configure(&self, client: Client) -> Client {
        client
            .with_setting("insert_distributed_sync", "1")
            .with_setting("load_balancing", "in_order")
            .with_setting("distributed_ddl_task_timeout", DDL_TIMEOUT_SECS.to_string())
    }

    /// The nodes of each shard, by shard number.
    pub fn shards(&self) -> BTreeMap<u32, Vec<&Node>> {
        let mut m: BTreeMap<u32, Vec<&Node>> = BTreeMap::new();
        for n in &self.nodes {
            m.entry(n.shard).or_default().push(n);
        }
        m
    }

    /// `remote()`'s address list for one replica of each shard, chosen by
    /// the server among those that answer: `a|b,c|d`.
    pub(crate) fn one_replica_per_shard(&self) -> String {
        let shards: Vec<String> = self
            .shards()
            .values()
            .map(|ns| {
                ns.iter()
                    .map(|n| n.addr.as_str())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        shards.join(",")
    }
}

/// The arguments of `Distributed(cluster, db, table[, key])` as
/// `system.tables.engine_full` prints them, quotes removed.
pub fn distributed_args(engine_full: &str) -> Option<Vec<String>> {
    let inner = engine_full
        .trim()
        .strip_prefix("Distributed(")?
        .strip_suffix(')')?;
    let mut args = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for ch in inner.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                args.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    args.push(cur);
    Some(
        args.iter()
            .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .collect(),
    )
}

impl ChTables {
    /// A table's engine and full engine text, if it exists.
    async fn engine_of(&self, db: &str, table: &str) -> Result<Option<(String, String)>> {
        let t = self
            .text(&format!(
                "SELECT engine, engine_full FROM system.tables WHERE database = {} AND name = {}",
                sql::quote_string(db),
                sql::quote_string(table)
            ))
            .await?;
        Ok(t.lines().next().and_then(|l| {
            l.split_once('\t')
                .map(|(e, f)| (sql::unescape_tsv(e), sql::unescape_tsv(f)))
        }))
    }

    /// The shard-local table under the Distributed table `schema.name`:
    /// (database, table). Errors name what the table is instead.
    pub async fn local_of(&self, c: &Cluster, schema: &TableSchema) -> Result<(String, String)> {
        self.local_of_name(c, &schema.name).await
    }

    /// `local_of` for a table known by name only.
    pub async fn local_of_name(&self, c: &Cluster, table: &str) -> Result<(String, String)> {
        let not = |found: String| ChError::NotReplicated {
            table: format!("{}.{table}", self.db),
            cluster: c.name.clone(),
            found,
        };
        let (engine, full) = self
            .engine_of(&self.db, table)
            .await?
            .ok_or_else(|| not("it does not exist".into()))?;
        if engine != "Distributed" {
            return Err(not(format!("it is a {engine} table, not Distributed")));
        }
        let args = distributed_args(&full)
            .filter(|a| a.len() >= 3)
            .ok_or_else(|| not(format!("its engine {full} cannot be read")))?;
        if args[0] != c.name {
            return Err(not(format!(
                "it is Distributed over cluster {}, not {}",
                args[0], c.name
            )));
        }
        Ok((args[1].clone(), args[2].clone()))
    }

    /// Creates the local and the Distributed table `ON CLUSTER` (or adopts
    /// existing ones) and checks that the local table is Replicated* on
    /// every node that answers.
    pub(crate) async fn ensure_on_cluster(&self, schema: &TableSchema, c: &Cluster) -> Result<()> {
        let mut created = Ok(());
        if self.engine_of(&self.db, &schema.name).await?.is_none() {
            let local = format!("{}_local", schema.name);
            for ddl in [
                types::create_replicated_sql(self.flavor, &self.db, &local, schema, &c.name),
                types::create_distributed_sql(&self.db, &local, schema, &c.name),
            ] {
                // A node that is down times the statement out but runs it
                // from ZooKeeper's queue when it is back: the check below
                // decides, and names this error if the table is missing.
                if let Err(e) = self.client.query(&ddl).execute().await {
                    created = Err(crate::clear::statement_error(&schema.name, &ddl, e));
                }
            }
        }
        let (ldb, local) = match self.local_of(c, schema).await {
            Ok(l) => l,
            Err(e) => return created.and(Err(e)),
        };
        let table = format!("{}.{}", self.db, schema.name);
        self.check_replicated(c, &table, &ldb, &local)
            .await
            .map_err(|e| match created {
                Err(first) => first,
                Ok(()) => e,
            })
    }

    /// Checks that `ldb.local` is a Replicated* table on every node of the
    /// cluster that answers. A node that does not answer is skipped with a
    /// warning (it was checked when the table was made, and it catches up
    /// from the replication log when it is back), but a shard none of whose
    /// nodes answers is an error: nothing could be written to it.
    pub async fn check_replicated(
        &self,
        c: &Cluster,
        table: &str,
        ldb: &str,
        local: &str,
    ) -> Result<()> {
        for (shard, nodes) in c.shards() {
            let mut answered = 0;
            let mut down = Vec::new();
            for n in &nodes {
                let t = self
                    .text(&format!(
                        "SELECT engine FROM remote('{}', system, tables) WHERE database = {} AND name = {}",
                        n.addr,
                        sql::quote_string(ldb),
                        sql::quote_string(local)
                    ))
                    .await;
                let t = match t {
                    Ok(t) => t,
                    Err(e) => {
                        down.push(format!("{n}: {e}"));
                        continue;
                    }
                };
                answered += 1;
                let engine = t.trim();
                if !engine.starts_with("Replicated") {
                    return Err(ChError::NotReplicated {
                        table: table.to_string(),
                        cluster: c.name.clone(),
                        found: if engine.is_empty() {
                            format!("its local table {ldb}.{local} is missing on {n}")
                        } else {
                            format!("its local table {ldb}.{local} on {n} is a {engine} table, not Replicated*")
                        },
                    });
                }
            }
            if answered == 0 {
                return Err(ChError::ClusterUnreachable {
                    cluster: c.name.clone(),
                    what: format!("every node of shard {shard}"),
                    detail: down.join("; "),
                });
            }
            if !down.is_empty() {
                tracing::warn!(table, shard, down = %down.join("; "), "a node of the shard does not answer; its replica catches up when it is back");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributed_engines_are_read() {
        assert_eq!(
            distributed_args("Distributed(hotcold, db, t_local, cityHash64(ts))").unwrap(),
            ["hotcold", "db", "t_local", "cityHash64(ts)"]
        );
        assert_eq!(
            distributed_args("Distributed('c', 'db', 't', intHash64(a, b))").unwrap(),
            ["c", "db", "t", "intHash64(a, b)"]
        );
        assert_eq!(
            distributed_args("Distributed(c, db, t)").unwrap(),
            ["c", "db", "t"]
        );
        assert!(distributed_args("MergeTree() ORDER BY ts").is_none());
    }
}
