//! Binary ingest (`POST /v1/ingest/{table}?format=rowbinary`): the bytes a
//! collector writes for ClickHouse's `FORMAT RowBinary` are taken as they
//! are, checked as strictly as NDJSON, all or nothing.

use hotcold_core::{ContentHash, Window};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{batch_of, hash_json, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

fn rowbinary(rows: &[serde_json::Value]) -> Vec<u8> {
    let schema = trades_schema();
    let mut out = Vec::new();
    hotcold_clickhouse::rowbinary::encode(&schema, &batch_of(&schema, rows), &mut out);
    out
}

async fn post(stack: &Stack, params: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/ingest/trades?{params}", stack.cloud.url))
        .body(body)
        .send()
        .await
        .expect("ingest request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rowbinary_rows_are_stored_and_read_back_exactly() {
    let stack = Stack::start(StackOptions::default());
    let now = now_ms();
    let rows = trades(now - 600_000, now, 20_000, 31);
    let (s, v) = post(&stack, "format=rowbinary", rowbinary(&rows)).await;
    assert_eq!((s, v["rows"].as_u64()), (200, Some(20_000)), "{v}");
    let params = format!("from={}&to={}&limit=100000", now - 600_000, now + 1);
    let got = stack.cloud.query_rows("trades", &params).await;
    let schema = trades_schema();
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, &rows));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rowbinary_is_refused_naming_row_and_column_and_stores_nothing() {
    let stack = Stack::start(StackOptions::default());
    let now = now_ms();
    let w = Window::new(now - 600_000, now + 1);
    let rows = trades(now - 600_000, now, 20_000, 32);
    let good = rowbinary(&rows);
    // Cut inside the last row: the first pieces were already written into
    // the open transaction when the end is found short.
    let cut = good[..good.len() - 5].to_vec();
    let (s, v) = post(&stack, "format=rowbinary", cut).await;
    assert_eq!(s, 400, "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("row 20000") && msg.contains("ends inside the row"),
        "{v}"
    );
    // A bool byte that is neither 0 nor 1, in the 10,000th row.
    let mut bad = rowbinary(&rows[..10_000]);
    let last = bad.len() - 1;
    bad[last] = 7;
    let (s, v) = post(&stack, "format=rowbinary", bad).await;
    assert_eq!(s, 400, "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("row 10000") && msg.contains("buyer_maker") && msg.contains("bool byte 7"),
        "{v}"
    );
    assert_eq!(
        stack.cloud.hot_count(&trades_schema(), w),
        0,
        "a refused body left rows"
    );

    for (params, want) in [
        ("format=xml", "format=\"xml\" is not an ingest format"),
        ("format=ndjson&format=rowbinary", "given more than once"),
        ("fmt=rowbinary", "unknown parameter \"fmt\""),
    ] {
        let (s, v) = post(&stack, params, rowbinary(&rows[..10])).await;
        assert_eq!(s, 400, "{params}: {v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{params}: {v}");
    }
    assert_eq!(stack.cloud.hot_count(&trades_schema(), w), 0);
}

/// The layout claim, checked against a real server: the very bytes we
/// accept go into ClickHouse with `INSERT ... FORMAT RowBinary` and read
/// back as the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bytes_go_into_clickhouse_as_rowbinary() {
    let Some(url) = clickhouse::url() else { return };
    let db = clickhouse::unique_db("rb_layout");
    let schema = trades_schema();
    clickhouse::sql(&url, &format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    clickhouse::sql(
        &url,
        &format!(
            "CREATE TABLE {db}.trades (ts Int64, exchange String, symbol String, trade_id UInt64, price Decimal(18, 8), amount Decimal(18, 8), buyer_maker UInt8) ENGINE = MergeTree ORDER BY ts"
        ),
    )
    .await
    .unwrap();
    let now = now_ms();
    let rows = trades(now - 600_000, now, 5_000, 33);
    let r = reqwest::Client::new()
        .post(&url)
        .query(&[("query", format!("INSERT INTO {db}.trades FORMAT RowBinary"))])
        .body(rowbinary(&rows))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let w = Window::new(now - 600_000, now + 1);
    let got: ContentHash = clickhouse::window_hash(&url, &db, &schema, w)
        .await
        .unwrap();
    assert_eq!(got, hash_json(&schema, &rows));
    let _ = clickhouse::sql(&url, &format!("DROP DATABASE {db}")).await;
}
