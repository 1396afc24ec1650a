//! The Rust client (`clients/rust`) against a real pair: a collector's
//! ingest in batches (a retry with the same key stored once), queries as
//! Arrow batches and as JSON rows across hot and cold, bars and
//! aggregates compared with the rows sent, the server's refusals as typed
//! errors, and, with the gateway killed, the missing-range error and the
//! partial answer that names what it lacks.

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, TimestampMillisecondType, UInt64Type};
use hotcold_client::{Client, Error, Options};
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{now_ms, scaled, trades};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::collections::BTreeMap;

/// (ts, trade_id, price) of each row of a trades batch.
fn ts_id_price(b: &hotcold_client::RecordBatch, out: &mut Vec<(i64, u64, i128)>) {
    let ts = b
        .column_by_name("ts")
        .expect("ts")
        .as_primitive::<TimestampMillisecondType>();
    let id = b
        .column_by_name("trade_id")
        .expect("id")
        .as_primitive::<UInt64Type>();
    let px = b
        .column_by_name("price")
        .expect("price")
        .as_primitive::<Decimal128Type>();
    for i in 0..b.num_rows() {
        out.push((ts.value(i), id.value(i), px.value(i)));
    }
}

/// (ts, trade_id, price) of each ingested row, sorted.
fn ingested(rows: &[serde_json::Value]) -> Vec<(i64, u64, i128)> {
    let mut want: Vec<(i64, u64, i128)> = rows
        .iter()
        .map(|r| {
            (
                r["ts"].as_i64().expect("ts"),
                r["trade_id"].as_u64().expect("id"),
                scaled(r["price"].as_str().expect("price")),
            )
        })
        .collect();
    want.sort_unstable();
    want
}

/// An answer of several MiB (streamed by the server, so its schema cannot
/// say whether it was truncated) read batch by batch with `query_stream`:
/// every row once, as ingested, in time order, in more than one batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_batch_by_batch() {
    let stack = Stack::start(StackOptions::default());
    let client = Client::new(&stack.cloud.url);
    let start = Window::day_of(now_ms() - 2 * DAY_MS).start;
    let end = start + DAY_MS;
    let rows = trades(start, end, 80_000, 5);
    assert_eq!(
        client.ingest("trades", &rows).await.expect("ingest"),
        80_000
    );
    let mut s = client
        .query_stream("trades", start, end, &Options::new())
        .await
        .expect("query_stream");
    assert!(s.signals().streamed, "{:?}", s.signals());
    assert_eq!(s.signals().truncated, None, "{:?}", s.signals());
    assert!(s.schema().field_with_name("price").is_ok());
    let (mut got, mut batches) = (Vec::new(), 0);
    while let Some(b) = s.next().await {
        ts_id_price(&b.expect("batch"), &mut got);
        batches += 1;
    }
    assert!(batches > 1, "{batches} batches");
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
    got.sort_unstable();
    let want = ingested(&rows);
    assert_eq!(got, want, "every row once, prices exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_against_a_real_pair() {
    let mut stack = Stack::start(StackOptions::default());
    let client = Client::new(&stack.cloud.url).batch_rows(1_000);
    let start = Window::day_of(now_ms() - 5 * DAY_MS).start;
    let end = Window::day_of(now_ms()).start;
    let rows = trades(start, end, 6_000, 77);

    // Ingest in six batches; the same key again stores nothing twice.
    assert_eq!(
        client
            .ingest_with_key("trades", &rows, "collector-1")
            .await
            .expect("ingest"),
        6_000
    );
    assert_eq!(
        client
            .ingest_with_key("trades", &rows, "collector-1")
            .await
            .expect("retry"),
        6_000
    );
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert!(r["rows_archived"].as_u64().unwrap_or(0) > 0, "{r}");

    // Arrow rows: every row once, decimals exact, across the watermark.
    let a = client
        .query("trades", start, end, &Options::new())
        .await
        .expect("query");
    assert_eq!(a.num_rows(), rows.len(), "stored once despite the retry");
    assert!(
        a.signals.hot_rows.unwrap_or(0) > 0 && a.signals.cold_rows.unwrap_or(0) > 0,
        "{:?}",
        a.signals
    );
    let mut got = Vec::new();
    for b in &a.batches {
        ts_id_price(b, &mut got);
    }
    got.sort_unstable();
    let want = ingested(&rows);
    assert_eq!(got, want);

    // JSON rows with a filter, newest first, limited.
    let (json, sig) = client
        .query_rows(
            "trades",
            start,
            end,
            &Options::new()
                .filter("symbol", ["BTC-USDT"])
                .descending()
                .limit(10),
        )
        .await
        .expect("rows");
    let mut btc: Vec<i64> = rows
        .iter()
        .filter(|r| r["symbol"] == "BTC-USDT")
        .filter_map(|r| r["ts"].as_i64())
        .collect();
    btc.sort_unstable_by(|a, b| b.cmp(a));
    let got: Vec<i64> = json.iter().filter_map(|r| r["ts"].as_i64()).collect();
    assert_eq!(got, btc[..10]);
    assert!(sig.missing.is_empty() && sig.watermark.is_some(), "{sig:?}");

    // Daily bars and grouped counts, against the rows sent.
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut per_symbol: BTreeMap<String, (u64, i128)> = BTreeMap::new();
    for r in &rows {
        *per_day
            .entry(Window::day_of(r["ts"].as_i64().expect("ts")).start)
            .or_default() += 1;
        let e = per_symbol
            .entry(r["symbol"].as_str().expect("sym").to_string())
            .or_default();
        e.0 += 1;
        e.1 += scaled(r["amount"].as_str().expect("amount"));
    }
    let bars = client
        .bars("trades", start, end, "1d", &Options::new().group_by(&[]))
        .await
        .expect("bars");
    let mut got = BTreeMap::new();
    for b in &bars.batches {
        let ts = b
            .column_by_name("ts")
            .expect("ts")
            .as_primitive::<TimestampMillisecondType>();
        let n = b
            .column_by_name("count")
            .expect("count")
            .as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            got.insert(ts.value(i), n.value(i));
        }
    }
    assert_eq!(got, per_day);
    let agg = client
        .aggregate(
            "trades",
            start,
            end,
            &["count", "sum:amount"],
            &Options::new().group_by(&["symbol"]),
        )
        .await
        .expect("aggregate");
    let mut got = BTreeMap::new();
    for b in &agg.batches {
        let sym = arrow_array::cast::as_dictionary_array::<arrow_array::types::Int32Type>(
            b.column_by_name("symbol").expect("symbol"),
        );
        let names = sym.values().as_string::<i32>();
        let n = b
            .column_by_name("count")
            .expect("count")
            .as_primitive::<UInt64Type>();
        let sum = b
            .column_by_name("sum_amount")
            .expect("sum")
            .as_primitive::<Decimal128Type>();
        for i in 0..b.num_rows() {
            let k = sym.keys().value(i) as usize;
            got.insert(names.value(k).to_string(), (n.value(i), sum.value(i)));
        }
    }
    assert_eq!(got, per_symbol);

    // Refusals carry the server's text.
    let e = client
        .query("nosuch", start, end, &Options::new())
        .await
        .expect_err("unknown table");
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("trades"), "{e}");
    let bad = vec![serde_json::json!({"ts": "2026-11-20T10:00:00+Europe/Paris"})];
    let e = client.ingest("trades", &bad).await.expect_err("bad row");
    assert_eq!(e.status(), Some(400), "{e}");
    let e = client
        .ingest("trades", &[1, 2])
        .await
        .expect_err("not objects");
    assert!(matches!(e, Error::Row { row: 0, .. }), "{e}");

    // The NAS goes away: an error naming the missing range, or on request
    // the hot part with the range named.
    stack.gateway.kill("KILL");
    let o = Options::new().filter("exchange", ["okx"]);
    match client.query("trades", start, end, &o).await {
        Err(Error::MissingRanges {
            missing, message, ..
        }) => {
            assert!(
                !missing.is_empty() && message.contains("allow_partial"),
                "{message}"
            );
        }
        other => panic!("expected MissingRanges, got {other:?}"),
    }
    let part = client
        .query("trades", start, end, &o.require_complete(false))
        .await
        .expect("partial");
    assert!(!part.signals.missing.is_empty(), "{:?}", part.signals);
    let wm = part.signals.watermark.expect("watermark");
    let hot = rows
        .iter()
        .filter(|r| r["exchange"] == "okx" && r["ts"].as_i64().is_some_and(|t| t >= wm))
        .count();
    assert_eq!(part.num_rows(), hot, "the hot rows, whole");
    let o = Options::new()
        .filter("exchange", ["bybit"])
        .require_complete(false);
    let (json, sig) = client
        .query_rows("trades", start, end, &o)
        .await
        .expect("partial rows");
    assert!(
        !sig.missing.is_empty(),
        "the NDJSON answer names what it lacks: {sig:?}"
    );
    assert!(
        json.iter()
            .all(|r| r["ts"].as_i64().is_some_and(|t| t >= wm)),
        "only hot rows"
    );
    // A collector's multi-batch ingest that fails part way says how far it got.
    let mut mixed: Vec<serde_json::Value> = trades(now_ms() - 60_000, now_ms() - 1_000, 2_500, 9);
    mixed[2_100]["price"] = serde_json::json!("not a price");
    match client
        .ingest_with_key("trades", &mixed, "collector-2")
        .await
    {
        Err(Error::Ingest {
            batches_done,
            rows_stored,
            source,
            ..
        }) => {
            assert_eq!((batches_done, rows_stored), (2, 2_000));
            assert_eq!(source.status(), Some(400), "{source}");
        }
        other => panic!("expected Error::Ingest, got {other:?}"),
    }
}
