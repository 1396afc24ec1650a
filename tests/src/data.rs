//! Generated trades, as NDJSON for ingest and as a batch for hashing.

use hotcold_core::schema::TableSchema;
use hotcold_core::{ContentHash, RowBatch, Value};
use rand::{Rng, SeedableRng};

/// The trades preset shipped in config/tables/trades.yaml: tests use the
/// same schema an operator gets.
pub fn trades_schema() -> TableSchema {
    preset("trades")
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

/// NDJSON with decimals written as bare JSON numbers (same digits), the
/// form ClickHouse 18.16's JSONEachRow reads; our ingest takes either.
pub fn ndjson_bare_decimals(schema: &TableSchema, rows: &[serde_json::Value]) -> String {
    let mut s = String::with_capacity(rows.len() * 160);
    for r in rows {
        s.push('{');
        for (i, c) in schema.columns.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&serde_json::to_string(&c.name).expect("a name"));
            s.push(':');
            match (&r[&c.name], c.ty) {
                (serde_json::Value::String(d), hotcold_core::LogicalType::Decimal { .. }) => {
                    s.push_str(d)
                }
                (v, _) => s.push_str(&v.to_string()),
            }
        }
        s.push_str("}\n");
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

/// Loads a preset from config/tables/.
pub fn preset(name: &str) -> TableSchema {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/tables")
        .join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `n` random rows of any declared table over `[start, end)`, as JSON the
/// ingest endpoint takes. Strings mix ASCII, non-ASCII, quotes and JSON.
pub fn rows_for(
    schema: &TableSchema,
    start: i64,
    end: i64,
    n: usize,
    seed: u64,
) -> Vec<serde_json::Value> {
    use hotcold_core::schema::LogicalType as T;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let words = [
        "BTC-USDT",
        "ETH-USDT",
        "日本円",
        "",
        "buy",
        "sell",
        "a\"quote",
        "tab\there",
    ];
    (0..n)
        .map(|i| {
            let mut o = serde_json::Map::new();
            for c in &schema.columns {
                let v = match c.ty {
                    _ if c.name == schema.time_column => serde_json::json!(start + (i as i64 * (end - start) / n.max(1) as i64)),
                    T::TimestampMs => serde_json::json!(rng.gen_range(0..4_000_000_000_000i64)),
                    T::Date => serde_json::json!(hotcold_core::time::format_date(rng.gen_range(0..60_000))),
                    T::String if c.name == "depth" => serde_json::json!(format!(
                        "{{\"bids\":[[\"{}.{}\",\"0.5\"]],\"asks\":[[\"42001.5\",\"1.25\"]],\"note\":\"ü \\\" \\n\"}}",
                        rng.gen_range(40_000..44_000),
                        rng.gen_range(0..100)
                    )),
                    T::String | T::LcString => serde_json::json!(words[rng.gen_range(0..words.len())]),
                    T::Decimal { scale } => {
                        serde_json::json!(hotcold_core::value::format_decimal(rng.gen_range(-1_000_000_000_000i64..1_000_000_000_000), scale))
                    }
                    T::Int8 => serde_json::json!(rng.gen_range(i8::MIN..=i8::MAX)),
                    T::Int16 => serde_json::json!(rng.gen_range(i16::MIN..=i16::MAX)),
                    T::Int32 => serde_json::json!(rng.gen_range(i32::MIN..=i32::MAX)),
                    T::Int64 => serde_json::json!(rng.gen::<i64>()),
                    T::UInt8 => serde_json::json!(rng.gen::<u8>()),
                    T::UInt16 => serde_json::json!(rng.gen::<u16>()),
                    T::UInt32 => serde_json::json!(rng.gen::<u32>()),
                    T::UInt64 => serde_json::json!(rng.gen::<u64>()),
                    T::Float64 => serde_json::json!(rng.gen_range(-1.0e-3..1.0e-3)),
                    T::Bool => serde_json::json!(rng.gen_bool(0.5)),
                };
                o.insert(c.name.clone(), v);
            }
            serde_json::Value::Object(o)
        })
        .collect()
}

/// The rows with booleans as 0/1, as a UInt8 column holds them.
pub fn bools_as_u8(rows: &[serde_json::Value]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                for v in o.values_mut() {
                    if let Some(b) = v.as_bool() {
                        *v = serde_json::json!(u8::from(b));
                    }
                }
            }
            r
        })
        .collect()
}

/// The rows of an NDJSON answer.
pub fn parse_ndjson(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("answer line {l:?}: {e}")))
        .collect()
}
