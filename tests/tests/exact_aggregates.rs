//! Aggregates over the extremes of uint64 and decimal(8): every answer
//! equals an independent i128 computation over the rows asked for, or is a
//! 400 naming the column whose sum overflows; nothing answers 500, wraps or
//! saturates. One day is archived to cold, one stays hot, so each statistic
//! and bar is merged across the watermark, and each group of rows puts the
//! overflow in another place: in cold alone, in hot alone, or only in the
//! router's merge of two partials that each fit, or only in a running
//! total that comes back (exact: carries are counted). Against ClickHouse 18.16
//! hot and cold (statistics grouped by the server, bars folded), and
//! against SQLite hot and cold.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{ndjson, now_ms};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;

const MAXD: i64 = i64::MAX; // decimal(8)'s largest raw value, 9.2e10
const NEAR: u64 = u64::MAX;

/// (symbol, cold day?, trade_id, price raw, amount raw).
fn rows() -> Vec<(&'static str, bool, u64, i64, i64)> {
    vec![
        // Sums that fit only just, each part in one tier.
        ("FIT", true, NEAR - 100, MAXD - 10_000, MAXD / 2),
        ("FIT", false, 50, 5_000, MAXD / 2),
        // Each tier's sum fits; their merge does not.
        ("MERGE", true, NEAR - 1, MAXD - 1, MAXD),
        ("MERGE", false, NEAR - 2, 7, 1),
        // Cold's own sum overflows.
        ("COLD", true, NEAR, MAXD, MAXD),
        ("COLD", true, 1 << 63, MAXD, 1),
        ("COLD", false, 3, 1, 1),
        // Hot's own sum overflows.
        ("HOT", true, 4, 1, 1),
        ("HOT", false, NEAR, MAXD, MAXD),
        ("HOT", false, 1 << 63, 1, MAXD),
        // A running total that passes the top and comes back: exact.
        ("SWING", false, 1, MAXD, 1),
        ("SWING", false, 2, 2, 1),
        ("SWING", false, 3, -2, 1),
        // The negative end, and the small ends of uint64.
        ("NEG", true, 0, i64::MIN + 1, 1),
        ("NEG", false, (1 << 63) - 1, -5, 1),
        ("NEG", false, 1 << 63, i64::MIN + 1, 1),
    ]
}

fn dec(raw: i64) -> String {
    hotcold_core::value::format_decimal(raw, 8)
}

/// A JSON cell as an exact integer: u64/i64 numbers, or decimal text.
fn exact(v: &serde_json::Value) -> i128 {
    match v {
        serde_json::Value::String(s) => {
            i128::from(hotcold_core::value::parse_decimal(s, 8).expect("decimal"))
        }
        v => v
            .as_u64()
            .map(i128::from)
            .or_else(|| v.as_i64().map(i128::from))
            .unwrap_or_else(|| panic!("not an integer: {v}")),
    }
}

/// The one JSON row of a 200, or the error of a 400; any other status fails.
async fn ask(stack: &Stack, endpoint: &str, params: &str) -> Result<serde_json::Value, String> {
    let (s, _, body) = stack.cloud.ask(endpoint, "trades", params).await;
    match s {
        200 => {
            let rows = hotcold_tests::data::parse_ndjson(&body);
            assert_eq!(rows.len(), 1, "{endpoint}?{params}: {body}");
            Ok(rows[0].clone())
        }
        400 => Err(body),
        _ => panic!("{endpoint}?{params}: {s} {body}"),
    }
}

/// The answer must be `want`, or, when `want` does not fit `range`, a 400
/// naming `column`.
fn check(
    got: &Result<serde_json::Value, String>,
    key: &str,
    want: i128,
    range: (i128, i128),
    column: &str,
    what: &str,
) {
    if (range.0..=range.1).contains(&want) {
        match got {
            Ok(row) => assert_eq!(exact(&row[key]), want, "{what}: {row}"),
            Err(e) => panic!("{what}: want {want}, got a refusal: {e}"),
        }
    } else {
        match got {
            Err(e) => assert!(
                e.contains(&format!("sum of column {column} (")) && e.contains("narrower range"),
                "{what}: {e}"
            ),
            Ok(row) => panic!("{what}: the sum {want} does not fit, yet answered {row}"),
        }
    }
}

async fn every_aggregate_is_exact_or_named(stack: Stack) {
    let (cold_day, hot_day) = (
        Window::day_of(now_ms() - 3 * DAY_MS),
        Window::day_of(now_ms() - DAY_MS),
    );
    let all = rows();
    let json: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, (sym, cold, id, px, amt))| {
            let day = if *cold { cold_day } else { hot_day };
            serde_json::json!({
                "ts": day.start + 1000 * i as i64, "exchange": "x", "symbol": sym,
                "trade_id": id, "price": dec(*px), "amount": dec(*amt), "buyer_maker": false,
            })
        })
        .collect();
    let (s, v) = stack.cloud.ingest("trades", ndjson(&json)).await;
    assert_eq!(s, 200, "{v}");
    let (s, r) = stack.cloud.archive_when_idle().await;
    if s != 200 || r["failed"] != 0 || r["pending"] != 0 {
        stack.dump_logs();
        panic!("archive: {r:#}");
    }
    // One bucket holding both days, so bars straddle the watermark too.
    let iv_days = [7i64, 30, 61, 122, 366]
        .into_iter()
        .find(|d| {
            let b = |t: i64| t - t.rem_euclid(d * DAY_MS);
            b(cold_day.start) == b(hot_day.end - 1)
        })
        .expect("an interval holding both days");
    let range = format!("from={}&to={}", cold_day.start, hot_day.end);
    let u64s = (0, i128::from(u64::MAX));
    let i64s = (i128::from(i64::MIN), i128::from(i64::MAX));
    for sym in ["FIT", "MERGE", "COLD", "HOT", "SWING", "NEG"] {
        let mine: Vec<_> = all.iter().filter(|r| r.0 == sym).collect();
        let n = mine.len() as i128;
        let sum_id: i128 = mine.iter().map(|r| i128::from(r.2)).sum();
        let sum_px: i128 = mine.iter().map(|r| i128::from(r.3)).sum();
        let sum_amt: i128 = mine.iter().map(|r| i128::from(r.4)).sum();
        let q = format!("{range}&symbol={sym}");
        // Min and max never overflow: always exact.
        let got = ask(
            &stack,
            "aggregate",
            &format!("{q}&agg=count,min:trade_id,max:trade_id,min:price,max:price"),
        )
        .await;
        let row = got.unwrap_or_else(|e| panic!("{sym} extremes: {e}"));
        assert_eq!(exact(&row["count"]), n, "{sym}: {row}");
        let ext = |f: fn(&&(&str, bool, u64, i64, i64)) -> i128, max: bool| {
            let it = mine.iter().map(f);
            if max { it.max() } else { it.min() }.unwrap_or(0)
        };
        assert_eq!(
            exact(&row["min_trade_id"]),
            ext(|r| i128::from(r.2), false),
            "{sym}: {row}"
        );
        assert_eq!(
            exact(&row["max_trade_id"]),
            ext(|r| i128::from(r.2), true),
            "{sym}: {row}"
        );
        assert_eq!(
            exact(&row["min_price"]),
            ext(|r| i128::from(r.3), false),
            "{sym}: {row}"
        );
        assert_eq!(
            exact(&row["max_price"]),
            ext(|r| i128::from(r.3), true),
            "{sym}: {row}"
        );
        // Each sum alone, so one overflow does not hide another's answer.
        for (col, want, range) in [
            ("trade_id", sum_id, u64s),
            ("price", sum_px, i64s),
            ("amount", sum_amt, i64s),
        ] {
            let got = ask(&stack, "aggregate", &format!("{q}&agg=sum:{col}")).await;
            check(
                &got,
                &format!("sum_{col}"),
                want,
                range,
                col,
                &format!("{sym} sum:{col}"),
            );
            // An average is answered when its sum fits, as sum / count.
            let what = format!("{sym} avg:{col}");
            match ask(&stack, "aggregate", &format!("{q}&agg=avg:{col}")).await {
                Ok(row) if (range.0..=range.1).contains(&want) => {
                    let scale = if col == "trade_id" { 1.0 } else { 1e8 };
                    let avg = row[format!("avg_{col}")].as_f64().expect("avg");
                    let exp = want as f64 / scale / n as f64;
                    assert!(
                        (avg - exp).abs() <= exp.abs() * 1e-12,
                        "{what}: {avg} vs {exp}"
                    );
                }
                got => check(&got, "-", want, range, col, &what),
            }
            // Bars: the volume over both days in one bucket.
            let got = ask(
                &stack,
                "bars",
                &format!("{q}&interval={iv_days}d&volume={col}"),
            )
            .await;
            check(
                &got,
                "volume",
                want,
                range,
                col,
                &format!("{sym} bars volume={col}"),
            );
            if let Ok(row) = &got {
                assert_eq!(exact(&row["count"]), n, "{sym} bars: {row}");
                assert_eq!(
                    exact(&row["high"]),
                    ext(|r| i128::from(r.3), true),
                    "{sym} bars: {row}"
                );
                assert_eq!(
                    exact(&row["low"]),
                    ext(|r| i128::from(r.3), false),
                    "{sym} bars: {row}"
                );
            }
        }
    }
    // The remedy the refusal names: finer groups (a bucket per day) split
    // the merge's overflow into sums that fit, each exact.
    let q = format!("{range}&symbol=MERGE&agg=sum:trade_id&interval=1d");
    let (s, _, body) = stack.cloud.ask("aggregate", "trades", &q).await;
    assert_eq!(s, 200, "{body}");
    let got: Vec<i128> = hotcold_tests::data::parse_ndjson(&body)
        .iter()
        .map(|r| exact(&r["sum_trade_id"]))
        .collect();
    assert_eq!(got, [i128::from(NEAR - 1), i128::from(NEAR - 2)], "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_hot_and_cold() {
    let Some(url) = clickhouse::url() else { return };
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: clickhouse::unique_db("exactcold"),
        },
        hot_clickhouse: Some((url, clickhouse::unique_db("exacthot"))),
        ..Default::default()
    });
    every_aggregate_is_exact_or_named(stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hot_and_cold() {
    every_aggregate_is_exact_or_named(Stack::start(StackOptions::default())).await;
}

/// Groups by a `uint64` key come out in the key's own order from every
/// store: keys on both sides of 2^63, each in a cold day and a hot day, and
/// a float summed so that SQLite groups in SQL rather than in the fold. A
/// `limit` keeps the first groups of that order (SQLite's GROUP BY once
/// ordered the bit-cast keys, above 2^63 first, and kept the wrong ones).
async fn uint64_groups_come_out_in_unsigned_order(stack: Stack) {
    let (cold_day, hot_day) = (
        Window::day_of(now_ms() - 3 * DAY_MS),
        Window::day_of(now_ms() - DAY_MS),
    );
    let keys: [u64; 6] = [u64::MAX, 1 << 63, 7, u64::MAX - 3, 0, (1 << 63) - 1];
    let mut json = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        for day in [cold_day, hot_day] {
            json.push(serde_json::json!({"ts": day.start + 1000 * i as i64, "id": k, "qty": 0.5}));
        }
    }
    let (s, v) = stack.cloud.ingest("fills", ndjson(&json)).await;
    assert_eq!(s, 200, "{v}");
    let (s, r) = stack.cloud.archive_when_idle().await;
    if s != 200 || r["failed"] != 0 || r["pending"] != 0 {
        stack.dump_logs();
        panic!("archive: {r:#}");
    }
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    let range = format!("from={}&to={}", cold_day.start, hot_day.end);
    for (extra, want) in [
        ("", sorted.clone()),
        ("&order=desc", sorted.iter().rev().copied().collect()),
        ("&limit=2", sorted[..2].to_vec()),
        ("&order=desc&limit=2", vec![u64::MAX, u64::MAX - 3]),
    ] {
        let q = format!("{range}&group_by=id&agg=count,sum:qty{extra}");
        let (s, _, body) = stack.cloud.ask("aggregate", "fills", &q).await;
        assert_eq!(s, 200, "{q}: {body}");
        let rows = hotcold_tests::data::parse_ndjson(&body);
        let got: Vec<u64> = rows.iter().filter_map(|r| r["id"].as_u64()).collect();
        assert_eq!(got, want, "{q}: {body}");
        for r in &rows {
            assert_eq!(
                (&r["count"], &r["sum_qty"]),
                (&2.into(), &1.0.into()),
                "{q}: {r}"
            );
        }
    }
}

fn fills_yaml() -> String {
    use hotcold_core::schema::{LogicalType, TableSchema};
    let t = TableSchema::new(
        "fills",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("id", LogicalType::UInt64),
            ("qty", LogicalType::Float64),
        ],
    );
    serde_yaml::to_string(&vec![t]).expect("yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uint64_groups_in_order_sqlite() {
    uint64_groups_come_out_in_unsigned_order(Stack::start(StackOptions {
        tables_yaml: Some(fills_yaml()),
        ..Default::default()
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uint64_groups_in_order_clickhouse() {
    let Some(url) = clickhouse::url() else { return };
    uint64_groups_come_out_in_unsigned_order(Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: clickhouse::unique_db("u64groupscold"),
        },
        hot_clickhouse: Some((url, clickhouse::unique_db("u64groupshot"))),
        tables_yaml: Some(fills_yaml()),
        ..Default::default()
    }))
    .await;
}

/// Sums of the narrow integer widths at their extremes, grouped by the
/// server and merged across the watermark: each equals the i128 sum of the
/// rows. (They are summed as Decimal128 like the 64-bit ones; a group big
/// enough to wrap a 64-bit sum of 32-bit values, 2^32 rows, is out of a
/// test's reach, so this checks the exact path answers the same numbers.)
async fn narrow_sums_are_exact(stack: Stack) {
    let (cold_day, hot_day) = (
        Window::day_of(now_ms() - 3 * DAY_MS),
        Window::day_of(now_ms() - DAY_MS),
    );
    let cells: [(i64, i64, u64, u64); 4] = [
        (
            i64::from(i8::MIN),
            i64::from(i32::MIN),
            0,
            u64::from(u32::MAX),
        ),
        (
            i64::from(i8::MAX),
            i64::from(i32::MAX),
            u64::from(u8::MAX),
            u64::from(u32::MAX),
        ),
        (-1, i64::from(i32::MIN), 1, u64::from(u32::MAX)),
        (
            i64::from(i8::MAX),
            i64::from(i32::MAX),
            u64::from(u8::MAX),
            7,
        ),
    ];
    let mut json = Vec::new();
    let mut want = [0i128; 4];
    for (i, (a, b, c, d)) in cells.iter().enumerate() {
        for day in [cold_day, hot_day] {
            json.push(serde_json::json!({"ts": day.start + 1000 * i as i64, "g": "x", "a": a, "b": b, "c": c, "d": d}));
            want[0] += i128::from(*a);
            want[1] += i128::from(*b);
            want[2] += i128::from(*c);
            want[3] += i128::from(*d);
        }
    }
    let (s, v) = stack.cloud.ingest("narrow", ndjson(&json)).await;
    assert_eq!(s, 200, "{v}");
    let (s, r) = stack.cloud.archive_when_idle().await;
    if s != 200 || r["failed"] != 0 || r["pending"] != 0 {
        stack.dump_logs();
        panic!("archive: {r:#}");
    }
    let q = format!(
        "from={}&to={}&group_by=g&agg=sum:a,sum:b,sum:c,sum:d",
        cold_day.start, hot_day.end
    );
    let (s, _, body) = stack.cloud.ask("aggregate", "narrow", &q).await;
    assert_eq!(s, 200, "{q}: {body}");
    let rows = hotcold_tests::data::parse_ndjson(&body);
    assert_eq!(rows.len(), 1, "{body}");
    let got: Vec<i128> = ["sum_a", "sum_b", "sum_c", "sum_d"]
        .iter()
        .map(|k| exact(&rows[0][*k]))
        .collect();
    assert_eq!(got, want.to_vec(), "{body}");
}

fn narrow_yaml() -> String {
    use hotcold_core::schema::{LogicalType, TableSchema};
    let t = TableSchema::new(
        "narrow",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("g", LogicalType::String),
            ("a", LogicalType::Int8),
            ("b", LogicalType::Int32),
            ("c", LogicalType::UInt8),
            ("d", LogicalType::UInt32),
        ],
    );
    serde_yaml::to_string(&vec![t]).expect("yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrow_sums_clickhouse() {
    let Some(url) = clickhouse::url() else { return };
    narrow_sums_are_exact(Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: clickhouse::unique_db("narrowcold"),
        },
        hot_clickhouse: Some((url, clickhouse::unique_db("narrowhot"))),
        tables_yaml: Some(narrow_yaml()),
        ..Default::default()
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrow_sums_sqlite() {
    narrow_sums_are_exact(Stack::start(StackOptions {
        tables_yaml: Some(narrow_yaml()),
        ..Default::default()
    }))
    .await;
}
