//! Times one day of 1-minute bars (100k trades, 12 groups) through the
//! SQLite scan and the router's fold, in process: where a bars answer's
//! time goes before HTTP and JSON.
//!
//! `cargo run --release -p hotcold-sqlite --example bars_scan`

use hotcold_core::query::{Aggregate, Func, Merger, QuerySpec};
use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_core::{RowBatch, Value};
use std::time::{Duration, Instant};

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let schema: TableSchema = serde_yaml::from_str(
        "name: trades\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: exchange, type: lc_string}\n  - {name: symbol, type: lc_string}\n  - {name: trade_id, type: uint64}\n  - {name: price, type: decimal(8)}\n  - {name: amount, type: decimal(8)}\n  - {name: buyer_maker, type: bool}\n",
    )
    .expect("schema");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hot.db");
    let conn = hotcold_sqlite::open(&path).expect("open");
    hotcold_sqlite::create_table(&conn, &schema).expect("create");
    let day0 = 20_000 * DAY_MS;
    let n = 200_000usize;
    let mut b = RowBatch::new(&schema);
    let mut x = 7u64;
    let mut price = 4_200_000_000_000i64;
    for i in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        price += (x >> 40) as i64 % 1_000_000_000 - 500_000_000;
        b.push_row(vec![
            Value::I64(day0 + i as i64 * 864 + (x >> 20) as i64 % 864),
            Value::Str(["binance", "okx", "bybit"][(x >> 50) as usize % 3].into()),
            Value::Str(
                ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT"][(x >> 54) as usize % 4].into(),
            ),
            Value::U64(i as u64),
            Value::I64(price),
            Value::I64((x >> 30) as i64 % 500_000_000 + 1),
            Value::Bool(x & 1 == 1),
        ])
        .expect("row");
    }
    conn.execute_batch("BEGIN").expect("begin");
    hotcold_sqlite::insert(&conn, &schema, &b).expect("insert");
    conn.execute_batch("COMMIT").expect("commit");
    let w = Window::new(day0, day0 + DAY_MS);
    for (name, agg) in [
        (
            "bars",
            Aggregate::Bars {
                interval_ms: 60_000,
                price: "price".into(),
                volume: "amount".into(),
                group_by: vec!["exchange".into(), "symbol".into()],
            },
        ),
        (
            "stats",
            Aggregate::Stats {
                interval_ms: Some(60_000),
                group_by: vec!["exchange".into(), "symbol".into()],
                funcs: ["count", "sum:amount", "min:price", "max:price", "avg:price"]
                    .iter()
                    .map(|f| Func::parse(f).expect("func"))
                    .collect(),
            },
        ),
    ] {
        let spec = QuerySpec {
            aggregate: Some(agg),
            ..Default::default()
        };
        let plan = spec.plan(&schema).expect("plan");
        let (mut scan, mut merge) = (Vec::new(), Vec::new());
        let mut rows = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let mut parts = Vec::new();
            hotcold_sqlite::scan_snapshot::<hotcold_sqlite::SqliteError>(
                &path,
                &schema,
                &plan,
                w,
                100_001,
                8192,
                |b| {
                    parts.push(b);
                    Ok(())
                },
            )
            .expect("scan");
            scan.push(t.elapsed());
            let t = Instant::now();
            let mut m = Merger::new(plan.agg.as_ref().expect("agg"));
            for p in &parts {
                m.add(p).expect("add");
            }
            let (merged, _) = m.finish(&plan.output, false, 100_000).expect("finish");
            let fin = plan.finish(&merged);
            rows = fin.len();
            merge.push(t.elapsed());
        }
        println!(
            "{name}: {rows} rows; SQLite scan+fold p50 {:.2} ms, router merge+finish p50 {:.2} ms",
            p50(scan),
            p50(merge)
        );
    }
}
