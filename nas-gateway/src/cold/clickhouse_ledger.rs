//! The ClickHouse cold store's own tables, beside the data: the ledger of
//! committed batches, the schemas they were committed with, the batches
//! cold retention expired, and the clouds that claimed the store. Their
//! DDL (plain, or replicated on the cold shard), the check that a
//! replicated store's ledger is replicated too, and the ledger's text rows.

use super::{ColdError, LedgerEntry};
use hotcold_clickhouse::cluster::Cluster;
use hotcold_clickhouse::{ChError, ChTables};
use hotcold_core::content_hash::parse_sum;
use hotcold_core::schema::Window;
use hotcold_core::ContentHash;

pub(super) const LEDGER: &str = "_hotcold_ledger";
pub(super) const SCHEMAS: &str = "_hotcold_schemas";
pub(super) const EXPIRED: &str = "_hotcold_expired";
pub(super) const OWNER: &str = "_hotcold_owner";

/// The ledger's own tables: name, columns, engine (`ReplacingMergeTree`
/// with its version column, or `MergeTree`), sort key. The owner table
/// keeps every claim (plain MergeTree): the owner is the earliest, which a
/// replacing engine could merge away.
pub(super) const OWN_TABLES: [(&str, &str, Engine, &str); 4] = [
    (
        LEDGER,
        "batch_id String, table_name String, t0 Int64, t1 Int64, rows UInt64, sum String, committed_at DateTime DEFAULT now()",
        Engine::Replacing(""),
        "batch_id",
    ),
    (
        SCHEMAS,
        "table_name String, schema String, recorded_at DateTime DEFAULT now()",
        Engine::Replacing("recorded_at"),
        "table_name",
    ),
    (
        EXPIRED,
        "batch_id String, table_name String, t0 Int64, t1 Int64, expired_at DateTime DEFAULT now()",
        Engine::Replacing(""),
        "batch_id",
    ),
    (OWNER, "cloud String, claimed_ms Int64", Engine::Plain, "cloud"),
];

#[derive(Clone, Copy)]
pub(super) enum Engine {
    /// `ReplacingMergeTree` with this version column (or none).
    Replacing(&'static str),
    Plain,
}

/// Creates one of the ledger's tables, or checks the one found: on a
/// cluster it must be replicated on every replica, or a replica the gateway
/// turns to would answer from a ledger missing batches.
pub(super) async fn create_own_table(
    t: &ChTables,
    name: &str,
    columns: &str,
    engine: Engine,
    order: &str,
) -> Result<(), ColdError> {
    let db = &t.db;
    let (kind, version) = match engine {
        Engine::Replacing(v) => ("ReplacingMergeTree", v),
        Engine::Plain => ("MergeTree", ""),
    };
    let ddl = match &t.cluster {
        None => format!(
            "CREATE TABLE IF NOT EXISTS {db}.{name} ({columns}) ENGINE = {kind}({version}) ORDER BY {order}"
        ),
        Some(c) => {
            let version = if version.is_empty() {
                String::new()
            } else {
                format!(", {version}")
            };
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {} ({columns}) \
                 ENGINE = Replicated{kind}('/clickhouse/tables/{{shard}}/{db}/{name}', '{{replica}}'{version}) ORDER BY {order}",
                c.name
            )
        }
    };
    t.client
        .query(&ddl)
        .execute()
        .await
        .map_err(|e| ChError::Other(format!("creating {db}.{name}: {e} (statement: {ddl})")))?;
    if let Some(c) = &t.cluster {
        check_own_replicated(t, c, name).await?;
    }
    Ok(())
}

async fn check_own_replicated(t: &ChTables, c: &Cluster, name: &str) -> Result<(), ColdError> {
    let table = format!("{}.{name}", t.db);
    t.check_replicated(c, &table, &t.db, name)
        .await
        .map_err(|e| {
            ChError::Other(format!(
                "{e}; the ledger of a replicated cold store must be replicated too (an older single-server ledger: move its rows into a replicated table of the same name)"
            ))
            .into()
        })
}

pub(super) fn parse_ledger_line(line: &str) -> Result<LedgerEntry, ColdError> {
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
