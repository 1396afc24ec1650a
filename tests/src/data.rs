//! Generated trades and order-book snapshots, as NDJSON for ingest and as
//! a batch for hashing.

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

/// The order-book preset shipped in config/tables/orderbook.yaml.
pub fn orderbook_schema() -> TableSchema {
    preset("orderbook")
}

/// One instrument's book on one exchange: price levels in ticks, sizes in
/// lots, best first on each side.
struct Book {
    exchange: &'static str,
    symbol: &'static str,
    /// Tick and lot at scale 8, and the decimals an exchange prints them with.
    tick: i64,
    tick_decimals: u8,
    lot: i64,
    lot_decimals: u8,
    depth: usize,
    sequence: u64,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

impl Book {
    fn new(exchange: &'static str, symbol: &'static str, rng: &mut impl Rng) -> Self {
        // The mid in ticks: 42000.0 is 420,000 ticks of 0.1.
        let (mid, tick, tick_decimals, lot, lot_decimals) = match symbol {
            "BTC-USDT" => (420_000, 10_000_000, 1, 10_000, 4),
            "ETH-USDT" => (250_000, 1_000_000, 2, 100_000, 3),
            "SOL-USDT" => (100_000, 100_000, 3, 1_000_000, 2),
            _ => (6_000, 10_000, 4, 100_000_000, 0),
        };
        let depth = rng.gen_range(10..=20);
        let mut b = Book {
            exchange,
            symbol,
            tick,
            tick_decimals,
            lot,
            lot_decimals,
            depth,
            sequence: rng.gen_range(1_000_000..9_000_000),
            bids: Vec::new(),
            asks: Vec::new(),
        };
        let best_bid = mid + rng.gen_range(-3..=3);
        for k in 0..depth as i64 {
            b.bids.push((best_bid - k, Self::size(rng)));
            b.asks.push((best_bid + 1 + k, Self::size(rng)));
        }
        b
    }

    /// Lots at a level: mostly small, now and then a wall; often round.
    fn size(rng: &mut impl Rng) -> i64 {
        let lots = if rng.gen_bool(0.1) {
            rng.gen_range(1_000..50_000)
        } else {
            rng.gen_range(1..2_000)
        };
        if rng.gen_bool(0.3) {
            (lots / 100).max(1) * 100
        } else {
            lots
        }
    }

    /// The next snapshot: sequence numbers skipped by updates between
    /// snapshots, a few sizes changed, now and then the price moves a tick.
    fn step(&mut self, rng: &mut impl Rng) {
        self.sequence += rng.gen_range(1..=20);
        if rng.gen_bool(0.15) {
            if rng.gen_bool(0.5) {
                // Up a tick: the best ask is taken, a new best bid appears.
                let p = self.bids[0].0 + 1;
                self.bids.insert(0, (p, Self::size(rng)));
                self.bids.truncate(self.depth);
                if self.asks[0].0 <= p {
                    self.asks.remove(0);
                    let last = self.asks.last().map_or(p + 1, |a| a.0 + 1);
                    self.asks.push((last, Self::size(rng)));
                }
            } else {
                let p = self.asks[0].0 - 1;
                self.asks.insert(0, (p, Self::size(rng)));
                self.asks.truncate(self.depth);
                if self.bids[0].0 >= p {
                    self.bids.remove(0);
                    let last = self.bids.last().map_or(p - 1, |b| b.0 - 1);
                    self.bids.push((last, Self::size(rng)));
                }
            }
        }
        for _ in 0..rng.gen_range(1..=3) {
            // Changes cluster near the top of the book.
            let k = (rng.gen_range(0.0f64..1.0).powi(2) * self.depth as f64) as usize;
            let side = if rng.gen_bool(0.5) {
                &mut self.bids
            } else {
                &mut self.asks
            };
            if let Some(level) = side.get_mut(k) {
                level.1 = Self::size(rng);
            }
        }
    }

    fn level(&self, price_ticks: i64, lots: i64) -> String {
        format!(
            "[\"{}\",\"{}\"]",
            decimal_with(price_ticks * self.tick, self.tick_decimals),
            decimal_with(lots * self.lot, self.lot_decimals)
        )
    }

    fn depth_json(&self) -> String {
        let side = |v: &[(i64, i64)]| {
            v.iter()
                .map(|&(p, s)| self.level(p, s))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "{{\"bids\":[{}],\"asks\":[{}]}}",
            side(&self.bids),
            side(&self.asks)
        )
    }
}

/// A scale-8 integer printed with `decimals` places, as an exchange would.
fn decimal_with(v: i64, decimals: u8) -> String {
    let s = hotcold_core::value::format_decimal(v, 8);
    let cut = 8 - usize::from(decimals);
    let s = &s[..s.len() - cut];
    s.strip_suffix('.').unwrap_or(s).to_string()
}

/// `n` order-book snapshots over `[start, end)`, reproducible from `seed`:
/// twelve books (3 exchanges x 4 symbols) of 10 to 20 levels a side, each
/// snapshot one book a little changed since its previous one, the depth as
/// the JSON string exchanges publish (`{"bids":[["42000.1","0.5"],...],...}`).
pub fn orderbooks(start: i64, end: i64, n: usize, seed: u64) -> Vec<serde_json::Value> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut books = Vec::new();
    for exchange in ["binance", "okx", "bybit"] {
        for symbol in ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT"] {
            books.push(Book::new(exchange, symbol, &mut rng));
        }
    }
    let step = ((end - start) as f64 / n.max(1) as f64).max(1.0);
    (0..n)
        .map(|i| {
            // Snapshots at a steady rate, each late by up to a quarter step.
            let late = rng.gen_range(0..(step / 4.0).max(1.0) as i64);
            let ts = (start + (i as f64 * step) as i64 + late).min(end - 1);
            let b = &mut books[rng.gen_range(0..12)];
            b.step(&mut rng);
            serde_json::json!({
                "ts": ts,
                "exchange": b.exchange,
                "symbol": b.symbol,
                "sequence": b.sequence,
                "bid_price": hotcold_core::value::format_decimal(b.bids[0].0 * b.tick, 8),
                "bid_size": hotcold_core::value::format_decimal(b.bids[0].1 * b.lot, 8),
                "ask_price": hotcold_core::value::format_decimal(b.asks[0].0 * b.tick, 8),
                "ask_size": hotcold_core::value::format_decimal(b.asks[0].1 * b.lot, 8),
                "depth": b.depth_json(),
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

/// A decimal's text (`-12.5`, `3`) at scale 8, as the integer a
/// decimal128 of the trades' price and amount holds.
pub fn scaled(text: &str) -> i128 {
    let (neg, t) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let v: i128 = format!("{int}{frac:0<8}")
        .parse()
        .unwrap_or_else(|_| panic!("decimal {text}"));
    if neg {
        -v
    } else {
        v
    }
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

/// Rows per seed in a SQLite hot file, read with plain SQL (not our
/// code): `trades(.., seed)` gives every row `trade_id / 10^9 == seed`, so
/// a test that sends one seed per request can tell which requests a
/// restored store holds, and whether whole.
pub fn seeds_in_sqlite(path: &std::path::Path) -> std::collections::BTreeMap<u64, u64> {
    let c = rusqlite::Connection::open(path).expect("open hot.db");
    let mut st = c
        .prepare("SELECT trade_id / 1000000000, count(*) FROM trades GROUP BY 1")
        .expect("prepare");
    let rows = st
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}
