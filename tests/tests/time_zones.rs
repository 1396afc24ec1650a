//! Windows are UTC in every store, whatever the servers' time zones
//! (invariant 8). Rows sit 1 ms either side of (and on) every UTC midnight,
//! every local midnight of four zones and a month boundary, then:
//!
//! - a window is cleared on tables with every partition key an operator
//!   uses, on servers in UTC, America/New_York, Asia/Shanghai and
//!   Asia/Kolkata (half-hour offset): exactly the window's rows go;
//! - the pair archives with hot and cold servers in those zones: every row
//!   is in exactly one tier afterwards and hot keeps exactly the unarchived
//!   rows.

use hotcold_clickhouse::ChTables;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_core::time::{civil_from_days, days_from_civil};
use hotcold_tests::clickhouse::{self, OwnServer};
use hotcold_tests::data::{bools_as_u8, hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;

const ZONES: [&str; 4] = ["UTC", "America/New_York", "Asia/Shanghai", "Asia/Kolkata"];

/// One private server per zone, on ports `base..` (HTTP) and `base + 1000..`.
fn servers(base: u16) -> Option<Vec<(OwnServer, String)>> {
    clickhouse::url()?;
    Some(
        ZONES
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let s = OwnServer::with_zone(base + i as u16, base + 1000 + i as u16, z);
                let url = s.run("start");
                (s, url)
            })
            .collect(),
    )
}

/// The first day of a month at least four days before now, so the three
/// days before it and the three after are all older than a cutoff we can
/// set by retention.
fn month_start() -> i64 {
    let (y, m, _) = civil_from_days((now_ms() - 4 * DAY_MS).div_euclid(DAY_MS));
    days_from_civil(y, m, 1) * DAY_MS
}

/// Every UTC midnight of `[from, to)` and every local midnight there in each
/// zone, as the server computes it.
async fn boundaries(url: &str, from: i64, to: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut dates = Vec::new();
    let mut d = from;
    while d < to {
        out.push(d);
        let (y, m, day) = civil_from_days(d / DAY_MS);
        dates.push(format!("'{y:04}-{m:02}-{day:02} 00:00:00'"));
        d += DAY_MS;
    }
    for z in ZONES {
        let t = clickhouse::sql(
            url,
            &format!(
                "SELECT toUnixTimestamp(toDateTime(s, '{z}')) FROM (SELECT arrayJoin([{}]) AS s)",
                dates.join(", ")
            ),
        )
        .await
        .expect("local midnights");
        out.extend(
            t.lines()
                .map(|l| l.trim().parse::<i64>().expect("secs") * 1000),
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Trades at `b - 1`, `b` and `b + 1` for every boundary `b`.
fn rows_at(bounds: &[i64], seed: u64) -> Vec<serde_json::Value> {
    let mut rows = trades(0, 1, bounds.len() * 3, seed);
    for (i, r) in rows.iter_mut().enumerate() {
        r["ts"] = serde_json::json!(bounds[i / 3] + (i % 3) as i64 - 1);
    }
    rows
}

fn ts(r: &serde_json::Value) -> i64 {
    r["ts"].as_i64().expect("ts")
}

/// Partition keys an operator's own tables have, over an Int64 `ts` of ms.
const KEYS: [(&str, &str); 6] = [
    ("none", ""),
    (
        "month_local",
        "PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000)))",
    ),
    (
        "day_local",
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000)))",
    ),
    (
        "month_exchange",
        "PARTITION BY (toYYYYMM(toDateTime(intDiv(ts, 1000))), exchange)",
    ),
    (
        "day_utc",
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000), 'UTC'))",
    ),
    (
        "exchange_month_utc",
        "PARTITION BY (exchange, toYYYYMM(toDateTime(intDiv(ts, 1000), 'UTC')))",
    ),
];

fn adopted_ddl(db: &str, name: &str, key: &str) -> String {
    format!(
        "CREATE TABLE {db}.{name} (ts Int64, exchange String, symbol String, trade_id UInt64, \
         price Decimal(18, 8), amount Decimal(18, 8), buyer_maker UInt8) ENGINE = MergeTree() {key} ORDER BY ts"
    )
}

/// `delete_window` on every key in every zone: exactly the window's rows go,
/// whether it dropped partitions or ran a mutation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_window_touches_nothing_outside_it_in_any_zone() {
    let Some(servers) = servers(18140) else {
        return;
    };
    let m = month_start();
    let bounds = boundaries(&servers[0].1, m - 3 * DAY_MS, m + 3 * DAY_MS).await;
    let rows = bools_as_u8(&rows_at(&bounds, 11));
    // The day before the month boundary, and the first of the month.
    let windows = [Window::new(m - DAY_MS, m), Window::new(m, m + DAY_MS)];
    for (zone, (_, url)) in ZONES.iter().zip(&servers) {
        let db = clickhouse::unique_db("clear");
        let ch = ChTables::connect(&hotcold_clickhouse::Connection::new(url, &db), "")
            .await
            .expect("connect");
        assert!(
            ch.timezone == *zone || hotcold_clickhouse::partition::is_utc(zone),
            "{} is not {zone}",
            ch.timezone
        );
        for (name, key) in KEYS {
            clickhouse::sql(url, &adopted_ddl(&db, name, key))
                .await
                .expect("ddl");
            let schema = clickhouse::as_legacy_table(&trades_schema(), name);
            clickhouse::insert_tsv(url, &db, &schema, &rows)
                .await
                .expect("insert");
            let mut left: Vec<serde_json::Value> = rows.clone();
            for w in windows {
                let cleared = ch.delete_window(&schema, w).await.unwrap_or_else(|e| {
                    panic!("{zone} {name}: {e}");
                });
                left.retain(|r| !w.contains(ts(r)));
                let all = Window::new(i64::MIN, i64::MAX);
                let have = clickhouse::window_hash(url, &db, &schema, all)
                    .await
                    .expect("hash");
                assert_eq!(
                    have,
                    hash_json(&schema, &left),
                    "{zone} {name} ({key}): clearing {w} must remove exactly its rows ({cleared:?})"
                );
                // Only keys that prove a UTC bucket inside the window may
                // drop partitions.
                let may_drop = name == "day_utc" || (name == "day_local" && *zone == "UTC");
                assert_eq!(
                    !cleared.dropped.is_empty(),
                    may_drop,
                    "{zone} {name}: {cleared:?}"
                );
            }
        }
        clickhouse::sql(url, &format!("DROP DATABASE {db}"))
            .await
            .expect("drop");
    }
}

/// The pair end to end, hot and cold servers in different zones, day and
/// month partitions, some cold tables keyed as older gateways keyed them
/// (zone-less, so cut at local midnight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_keeps_every_row_in_exactly_one_tier_in_any_zone() {
    let Some(servers) = servers(18150) else {
        return;
    };
    let m = month_start();
    // Retention puts the cutoff three days after the month boundary.
    let cutoff = m + 3 * DAY_MS;
    let retention_days = (Window::day_of(now_ms()).start - cutoff) / DAY_MS;
    let bounds = boundaries(&servers[0].1, m - 3 * DAY_MS, m + 6 * DAY_MS).await;
    for pair in 0..ZONES.len() {
        let (hot_url, cold_url) = (&servers[pair].1, &servers[(pair + 1) % ZONES.len()].1);
        let (hot_db, cold_db) = (
            clickhouse::unique_db("tzhot"),
            clickhouse::unique_db("tzcold"),
        );
        let mut schema = trades_schema();
        if pair % 2 == 1 {
            schema.partition = hotcold_core::schema::Partition::Month;
            // A cold table an older gateway made: a zone-less key.
            clickhouse::sql(cold_url, &format!("CREATE DATABASE {cold_db}"))
                .await
                .expect("db");
            let ddl = hotcold_clickhouse::types::create_table_sql(
                hotcold_clickhouse::Flavor::Legacy,
                &cold_db,
                &schema,
            )
            .replace(", 'UTC')", ")");
            clickhouse::sql(cold_url, &ddl)
                .await
                .expect("legacy cold table");
        }
        let stack = Stack::start(StackOptions {
            cold: ColdKind::ClickHouse {
                url: cold_url.clone(),
                database: cold_db.clone(),
            },
            hot_clickhouse: Some((hot_url.clone(), hot_db.clone())),
            hot_retention: format!("{retention_days}d"),
            tables_yaml: Some(serde_yaml::to_string(&vec![schema.clone()]).expect("yaml")),
            ..Default::default()
        });
        let now = now_ms();
        let rows: Vec<_> = rows_at(&bounds, pair as u64)
            .into_iter()
            .filter(|r| ts(r) < now)
            .collect();
        let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
        assert_eq!(s, 200, "{b}");
        let (s, r) = stack.cloud.archive().await;
        let label = format!(
            "hot {} / cold {}",
            ZONES[pair],
            ZONES[(pair + 1) % ZONES.len()]
        );
        if s != 200 || r["failed"] != 0 || r["pending"] != 0 {
            stack.dump_logs();
            panic!("{label}: {r:#}");
        }
        assert_eq!(r["cutoff_ms"].as_i64(), Some(cutoff), "{label}");
        let (old, recent): (Vec<_>, Vec<_>) = rows.iter().cloned().partition(|x| ts(x) < cutoff);
        assert!(
            old.len() > 50 && recent.len() >= 9,
            "{label}: rows on both sides"
        );
        let all = Window::new(i64::MIN, i64::MAX);
        let cold = clickhouse::window_hash(cold_url, &cold_db, &schema, all)
            .await
            .expect("cold");
        assert_eq!(
            cold,
            hash_json(&schema, &old),
            "{label}: cold holds exactly the archived rows"
        );
        let hot = clickhouse::window_hash(hot_url, &hot_db, &schema, all)
            .await
            .expect("hot");
        assert_eq!(
            hot,
            hash_json(&schema, &recent),
            "{label}: hot keeps exactly the unarchived rows"
        );
        let got = stack
            .cloud
            .query_rows(
                "trades",
                &format!(
                    "from={}&to={}&require_complete=true",
                    m - 4 * DAY_MS,
                    now_ms() + 1
                ),
            )
            .await;
        assert_eq!(got.len(), rows.len(), "{label}: every row once");
        assert_eq!(
            hash_json(&schema, &got),
            hash_json(&schema, &rows),
            "{label}"
        );
        println!("{label}: {} archived, {} hot", old.len(), recent.len());
    }
}
