//! Logical types to ClickHouse types, per server version.

use hotcold_core::schema::{LogicalType, TableSchema};

/// Which generation of ClickHouse the server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Up to 21.x (Debian's 18.16 among them): no DateTime64 before 20.1, no
    /// Bool before 21.12, LowCardinality experimental on 18.x.
    Legacy,
    /// 22.x and later: DateTime64, LowCardinality and Bool are all there.
    Modern,
}

impl Flavor {
    /// From `SELECT version()`, e.g. `18.16.1` or `24.3.2.23`.
    pub fn of_version(v: &str) -> Flavor {
        match v
            .split('.')
            .next()
            .and_then(|m| m.trim().parse::<u32>().ok())
        {
            Some(major) if major >= 22 => Flavor::Modern,
            _ => Flavor::Legacy,
        }
    }
}

/// The ClickHouse column type for a logical type, as `system.columns`
/// spells it.
pub fn clickhouse_type(flavor: Flavor, t: LogicalType) -> String {
    use LogicalType::*;
    match (flavor, t) {
        (Flavor::Modern, TimestampMs) => "DateTime64(3, 'UTC')".into(),
        (Flavor::Modern, LcString) => "LowCardinality(String)".into(),
        (Flavor::Modern, Bool) => "Bool".into(),
        (_, TimestampMs | Int64) => "Int64".into(),
        (_, Date) => "Date".into(),
        (_, String | LcString) => "String".into(),
        (_, Decimal { scale }) => format!("Decimal(18, {scale})"),
        (_, Int8) => "Int8".into(),
        (_, Int16) => "Int16".into(),
        (_, Int32) => "Int32".into(),
        (_, UInt8 | Bool) => "UInt8".into(),
        (_, UInt16) => "UInt16".into(),
        (_, UInt32) => "UInt32".into(),
        (_, UInt64) => "UInt64".into(),
        (_, Float64) => "Float64".into(),
    }
}

/// The logical type of an existing ClickHouse column, for tables read from
/// the server rather than declared. An `Int64` time column is taken as
/// milliseconds (the 18.x mapping). `None` for types this tool cannot keep.
pub fn logical_type(ch: &str, is_time: bool) -> Option<LogicalType> {
    use LogicalType::*;
    let ch = ch.trim();
    Some(match ch {
        "Int64" if is_time => TimestampMs,
        // Any zone: a DateTime64 holds UTC instants, the zone only changes
        // how it prints and what zone-less functions of it mean.
        t if t == "DateTime64(3)" || (t.starts_with("DateTime64(3,") && t.ends_with(')')) => {
            TimestampMs
        }
        "Date" => Date,
        "String" => String,
        "LowCardinality(String)" => LcString,
        "Int8" => Int8,
        "Int16" => Int16,
        "Int32" => Int32,
        "Int64" => Int64,
        "UInt8" => UInt8,
        "UInt16" => UInt16,
        "UInt32" => UInt32,
        "UInt64" => UInt64,
        "Float64" => Float64,
        "Bool" => Bool,
        _ => {
            let scale = ch
                .strip_prefix("Decimal(18, ")
                .or_else(|| ch.strip_prefix("Decimal(18,"))
                .and_then(|r| r.strip_suffix(')'))
                .or_else(|| {
                    ch.strip_prefix("Decimal64(")
                        .and_then(|r| r.strip_suffix(')'))
                })
                .and_then(|n| n.trim().parse::<u8>().ok())
                .filter(|s| *s <= hotcold_core::schema::MAX_DECIMAL_SCALE)?;
            Decimal { scale }
        }
    })
}

/// `CREATE TABLE IF NOT EXISTS` for a declared table: MergeTree, one
/// partition per UTC day (or month), ordered by time.
///
/// The zone is written into the key: without `'UTC'` a server in a local
/// zone cuts its days at local midnight, and a partition would hold rows of
/// two UTC windows. Modern servers also fsync every inserted part, so that
/// "Committed" means on disk (18.x has no such setting; the cloud holds its
/// purge for a grace period instead).
pub fn create_table_sql(flavor: Flavor, db: &str, schema: &TableSchema) -> String {
    create_sql(flavor, db, &schema.name, schema, "", "MergeTree()")
}

/// The shard-local table of a cluster: the same columns and keys as
/// [`create_table_sql`], `ReplicatedMergeTree` under
/// `/clickhouse/tables/{shard}/<db>/<table>`, made on every node.
pub fn create_replicated_sql(
    flavor: Flavor,
    db: &str,
    local: &str,
    schema: &TableSchema,
    cluster: &str,
) -> String {
    let engine =
        format!("ReplicatedMergeTree('/clickhouse/tables/{{shard}}/{db}/{local}', '{{replica}}')");
    create_sql(
        flavor,
        db,
        local,
        schema,
        &format!(" ON CLUSTER {cluster}"),
        &engine,
    )
}

/// The table reads and inserts go through on a cluster, over `local`.
/// Sharded by a hash of the time column (see `cluster.rs` for why).
pub fn create_distributed_sql(
    db: &str,
    local: &str,
    schema: &TableSchema,
    cluster: &str,
) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{} ON CLUSTER {cluster} AS {db}.{local} ENGINE = Distributed({cluster}, {db}, {local}, {})",
        schema.name,
        sharding_key(schema)
    )
}

/// Deterministic, so a retried request splits into the same blocks per
/// shard (and a replicated shard drops the copy it already has), and
/// spread within a day, so one day's ingest does not all land on one shard.
pub fn sharding_key(schema: &TableSchema) -> String {
    format!("cityHash64({})", schema.time_column)
}

fn create_sql(
    flavor: Flavor,
    db: &str,
    name: &str,
    schema: &TableSchema,
    on_cluster: &str,
    engine: &str,
) -> String {
    let cols: Vec<String> = schema
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, clickhouse_type(flavor, c.ty)))
        .collect();
    let ts = &schema.time_column;
    let time = match flavor {
        Flavor::Legacy => format!("toDateTime(intDiv({ts}, 1000), 'UTC')"),
        Flavor::Modern => format!("{ts}, 'UTC'"),
    };
    let partition = match schema.partition {
        hotcold_core::schema::Partition::Day => format!("toYYYYMMDD({time})"),
        hotcold_core::schema::Partition::Month => format!("toYYYYMM({time})"),
    };
    let settings = match flavor {
        Flavor::Legacy => "",
        Flavor::Modern => " SETTINGS fsync_after_insert = 1, fsync_part_directory = 1",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name}{on_cluster} ({}) ENGINE = {engine} PARTITION BY {partition} ORDER BY {ts}{settings}",
        cols.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_types_map_back() {
        for t in [
            "timestamp_ms",
            "date",
            "string",
            "lc_string",
            "decimal(8)",
            "int8",
            "uint32",
            "float64",
            "bool",
        ] {
            let lt: LogicalType = t.parse().unwrap();
            for f in [Flavor::Legacy, Flavor::Modern] {
                let ch = clickhouse_type(f, lt);
                let back = logical_type(&ch, lt == LogicalType::TimestampMs).unwrap();
                // 18.x keeps lc_string and bool as String and UInt8.
                let expected = match (f, lt) {
                    (Flavor::Legacy, LogicalType::LcString) => LogicalType::String,
                    (Flavor::Legacy, LogicalType::Bool) => LogicalType::UInt8,
                    _ => lt,
                };
                assert_eq!(back, expected, "{ch}");
            }
        }
        assert_eq!(logical_type("DateTime", true), None);
        assert_eq!(logical_type("Nullable(String)", false), None);
    }

    #[test]
    fn versions_pick_the_mapping() {
        assert_eq!(Flavor::of_version("18.16.1"), Flavor::Legacy);
        assert_eq!(Flavor::of_version("21.8.15.7"), Flavor::Legacy);
        assert_eq!(Flavor::of_version("24.3.2.23"), Flavor::Modern);
        assert_eq!(Flavor::of_version("garbage"), Flavor::Legacy);
    }

    #[test]
    fn ddl_per_flavor() {
        let s = TableSchema::new(
            "trades",
            "ts",
            &[
                ("ts", LogicalType::TimestampMs),
                ("sym", LogicalType::LcString),
                ("px", LogicalType::Decimal { scale: 8 }),
                ("maker", LogicalType::Bool),
            ],
        );
        let legacy = create_table_sql(Flavor::Legacy, "db", &s);
        assert!(
            legacy.contains("ts Int64")
                && legacy.contains("sym String")
                && legacy.contains("maker UInt8"),
            "{legacy}"
        );
        assert!(legacy.contains("toYYYYMMDD(toDateTime(intDiv(ts, 1000), 'UTC'))"));
        assert!(!legacy.contains("fsync"));
        let modern = create_table_sql(Flavor::Modern, "db", &s);
        assert!(
            modern.contains("ts DateTime64(3, 'UTC')")
                && modern.contains("sym LowCardinality(String)")
                && modern.contains("maker Bool"),
            "{modern}"
        );
        assert!(modern.contains("px Decimal(18, 8)"));
        assert!(modern.contains("toYYYYMMDD(ts, 'UTC')"));
        assert!(modern.contains("fsync_after_insert = 1"));
        for ddl in [&legacy, &modern] {
            let key = ddl
                .split("PARTITION BY ")
                .nth(1)
                .and_then(|r| r.split(" ORDER BY").next())
                .unwrap();
            let ty = if ddl == &legacy {
                "Int64"
            } else {
                "DateTime64(3, 'UTC')"
            };
            let k = crate::partition::PartitionKey::parse(key, "ts", ty, "Asia/Kolkata");
            assert!(
                k.utc_bucket.is_some(),
                "our own key must be a UTC bucket: {key}"
            );
        }
    }
}
