//! Generated trades, as NDJSON for ingest and as a batch for hashing.

use hotcold_core::schema::TableSchema;
use hotcold_core::{ContentHash, RowBatch, Value};
use rand::{Rng, SeedableRng};

pub fn trades_schema() -> TableSchema {
    let yaml = "
name: trades
time-column: ts
columns:
  - { name: ts, type: timestamp_ms }
  - { name: exchange, type: lc_string }
  - { name: symbol, type: lc_string }
  - { name: trade_id, type: uint64 }
  - { name: price, type: decimal(8) }
  - { name: amount, type: decimal(8) }
  - { name: buyer_maker, type: bool }
";
    serde_yaml::from_str(yaml).expect("built-in schema parses")
}

/// `n` trades spread evenly over `[start, end)`, reproducible from `seed`.
pub fn trades(start: i64, end: i64, n: usize, seed: u64) -> Vec<serde_json::Value> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let symbols = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT"];
    let exchanges = ["binance", "okx", "bybit"];
    let step = ((end - start) as f64 / n.max(1) as f64).max(1.0);
    let mut price: i64 = 4_200_000_000_000; // 42000 at scale 8
    (0..n)
        .map(|i| {
            let ts = start + (i as f64 * step) as i64 + rng.gen_range(0..step.max(1.0) as i64);
            let ts = ts.min(end - 1);
            price += rng.gen_range(-500_000_000..=500_000_000);
            let amount: i64 = rng.gen_range(1..500_000_000);
            serde_json::json!({
                "ts": ts,
                "exchange": exchanges[rng.gen_range(0..exchanges.len())],
                "symbol": symbols[rng.gen_range(0..symbols.len())],
                "trade_id": i as u64 + seed * 1_000_000_000,
                "price": hotcold_core::value::format_decimal(price, 8),
                "amount": hotcold_core::value::format_decimal(amount, 8),
                "buyer_maker": rng.gen_bool(0.5),
            })
        })
        .collect()
}

pub fn ndjson(rows: &[serde_json::Value]) -> String {
    let mut s = String::with_capacity(rows.len() * 160);
    for r in rows {
        s.push_str(&r.to_string());
        s.push('\n');
    }
    s
}

/// The content hash of JSON rows under a schema (the test's own account).
pub fn hash_json(schema: &TableSchema, rows: &[serde_json::Value]) -> ContentHash {
    let mut h = ContentHash::default();
    for r in rows {
        let row: Vec<Value> = schema
            .columns
            .iter()
            .map(|c| Value::from_json(c.ty, &r[&c.name]).expect("generated row is valid"))
            .collect();
        h.add_row(&row);
    }
    h
}

pub fn batch_of(schema: &TableSchema, rows: &[serde_json::Value]) -> RowBatch {
    let mut b = RowBatch::new(schema);
    for r in rows {
        let row = schema
            .columns
            .iter()
            .map(|c| Value::from_json(c.ty, &r[&c.name]).expect("valid"))
            .collect();
        b.push_row(row).expect("kinds match");
    }
    b
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
