//! The codec against itself: every column type round trips exactly (floats
//! bit for bit), in random batches and in market-shaped ones that take the
//! grouped and edited paths, at every size the transforms treat apart.
//! Hostile bytes are in `hostile_tests.rs`, the previous format in
//! `hcs1_tests.rs`.
use super::*;
use crate::batch::Column;
use crate::schema::{ColumnDef, LogicalType};
use crate::value::Value;
use proptest::prelude::*;

pub(crate) fn all_types_schema() -> TableSchema {
    let cols = [
        ("ts", "timestamp_ms"),
        ("d", "date"),
        ("s", "string"),
        ("sym", "lc_string"),
        ("px", "decimal(8)"),
        ("i8", "int8"),
        ("i64", "int64"),
        ("u64", "uint64"),
        ("f", "float64"),
        ("b", "bool"),
    ];
    TableSchema {
        name: "all_types".into(),
        time_column: "ts".into(),
        hot_retention: None,
        partition: Default::default(),
        columns: cols
            .iter()
            .map(|(n, t)| ColumnDef {
                name: (*n).into(),
                ty: t.parse::<LogicalType>().unwrap(),
            })
            .collect(),
    }
}

/// Encodes, frames, splits and decodes one batch.
pub(crate) fn round_trip(schema: &TableSchema, batch: &RowBatch, level: i32) -> RowBatch {
    let framed = encode_segment(batch, level);
    assert_eq!(&framed[4..8], b"HCS2");
    let bodies = split_segments(&framed, &DecodeLimits::default()).unwrap();
    assert_eq!(bodies.len(), 1);
    decode_segment(schema, bodies[0], &DecodeLimits::default()).unwrap()
}

/// Equal batches, floats compared by their bits (NaN payloads, -0.0).
pub(crate) fn assert_same(a: &RowBatch, b: &RowBatch) {
    assert_eq!(a.columns.len(), b.columns.len());
    for (x, y) in a.columns.iter().zip(&b.columns) {
        match (x, y) {
            (Column::F64(x), Column::F64(y)) => {
                let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(x), bits(y));
            }
            _ => assert_eq!(x, y),
        }
    }
}

pub(crate) fn row_strategy() -> impl Strategy<Value = Vec<Value>> {
    (
        any::<i64>(),
        0i64..65535,
        ".{0,12}",
        prop::sample::select(vec!["BTC-USD", "ETH-USD", "SOL-USD", "日本"]),
        any::<i64>(),
        -128i64..=127,
        any::<i64>(),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(ts, d, s, sym, px, i8v, i64v, u, f, b)| {
            vec![
                Value::I64(ts),
                Value::I64(d),
                Value::Str(s),
                Value::Str(sym.to_string()),
                Value::I64(px),
                Value::I64(i8v),
                Value::I64(i64v),
                Value::U64(u),
                // Any bit pattern: NaNs and infinities round trip too.
                Value::F64(f64::from_bits(f)),
                Value::Bool(b),
            ]
        })
}

fn batch(schema: &TableSchema, rows: Vec<Vec<Value>>) -> RowBatch {
    let mut b = RowBatch::new(schema);
    for r in rows {
        b.push_row(r).unwrap();
    }
    b
}

/// Market-shaped rows: a few books (exchange x symbol) interleaved, a
/// steady clock with jitter, prices on ticks walking per book, sizes in
/// lots, a depth string edited from its book's previous one (with
/// non-ASCII text, so edits meet multi-byte characters).
fn market_rows(n: usize, books: usize, seed: u64) -> Vec<Vec<Value>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut price = vec![4_200_000_000_000i64; books];
    let mut depth: Vec<Vec<String>> = (0..books)
        .map(|b| {
            (0..12)
                .map(|k| format!("[\"{}\",\"{}ü\"]", 42_000 + b * 10 + k, k))
                .collect()
        })
        .collect();
    let mut seq = vec![1_000u64; books];
    (0..n)
        .map(|i| {
            let b = (next() % books as u64) as usize;
            price[b] += (next() % 5) as i64 * 10_000_000 - 20_000_000;
            seq[b] += next() % 20;
            let levels = &mut depth[b];
            match next() % 4 {
                0 => levels.insert(
                    0,
                    format!("[\"{}\",\"日本{}\"]", next() % 99_999, next() % 7),
                ),
                1 if levels.len() > 2 => {
                    levels.remove((next() % levels.len() as u64) as usize);
                }
                _ => {
                    let k = (next() % levels.len() as u64) as usize;
                    levels[k] = format!("[\"{}\",\"{}\"]", next() % 99_999, next() % 1_000);
                }
            }
            vec![
                Value::I64(1_700_000_000_000 + i as i64 * 100 + (next() % 30) as i64),
                Value::I64(19_675),
                Value::Str(format!("{{\"bids\":[{}]}}", levels.join(","))),
                Value::Str(["BTC-USD", "ETH-USD", "SOL-USD", "日本"][b % 4].to_string()),
                Value::I64(price[b]),
                Value::I64((b % 3) as i64),
                Value::I64((next() % 400) as i64 * 1_000_000),
                Value::U64(seq[b]),
                Value::F64(0.25 * (next() % 8) as f64),
                Value::Bool(next() % 3 == 0),
            ]
        })
        .collect()
}

proptest! {
    #[test]
    fn random_batches_round_trip(rows in proptest::collection::vec(row_strategy(), 0..200), level in 1i32..5) {
        let schema = all_types_schema();
        let b = batch(&schema, rows);
        assert_same(&round_trip(&schema, &b, level), &b);
    }

    #[test]
    fn market_batches_round_trip(n in 0usize..700, books in 1usize..9, seed in any::<u64>(), level in 1i32..4) {
        let schema = all_types_schema();
        let b = batch(&schema, market_rows(n, books, seed));
        assert_same(&round_trip(&schema, &b, level), &b);
    }

    /// Steady series with extreme slopes and offsets: the line and its
    /// residuals wrap, and still give the values back.
    #[test]
    fn lines_round_trip(start in any::<i64>(), step in any::<i64>(), jitter in 0u64..1_000, n in 0usize..300) {
        let schema = crate::schema::TableSchema::new("t", "ts", &[("ts", LogicalType::Int64)]);
        let mut b = RowBatch::new(&schema);
        for i in 0..n {
            let noise = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) % jitter.max(1);
            b.push_row(vec![Value::I64(start.wrapping_add(step.wrapping_mul(i as i64)).wrapping_add(noise as i64))]).unwrap();
        }
        assert_same(&round_trip(&schema, &b, 3), &b);
    }
}

/// Sizes where the transforms change: none, one, two first values, the
/// smallest line, a sample stride above one.
#[test]
fn every_small_size_round_trips() {
    let schema = all_types_schema();
    for n in (0..40).chain([511, 512, 513, 2047, 2048, 2049, 4097]) {
        let b = batch(&schema, market_rows(n, 3, n as u64 + 7));
        assert_same(&round_trip(&schema, &b, 3), &b);
    }
}

/// A full-size segment: planes long enough to be zstd streams, edits past
/// the trial, a sample stride of 32.
#[test]
fn a_segment_of_65536_market_rows_round_trips() {
    let schema = all_types_schema();
    let b = batch(&schema, market_rows(65_536, 12, 42));
    assert_same(&round_trip(&schema, &b, 3), &b);
}

#[test]
fn extremes_and_constants_round_trip() {
    let schema = all_types_schema();
    let row = |i: i64, v: i64, u: u64, f: f64| {
        vec![
            Value::I64(v),
            Value::I64(i),
            Value::Str(String::new()),
            Value::Str("x".into()),
            Value::I64(v.wrapping_mul(-1)),
            Value::I64(0),
            Value::I64(v),
            Value::U64(u),
            Value::F64(f),
            Value::Bool(i % 2 == 0),
        ]
    };
    let alternating: Vec<_> = (0..300)
        .map(|i| {
            if i % 2 == 0 {
                row(i, i64::MIN, u64::MAX, f64::NAN)
            } else {
                row(i, i64::MAX, 0, -0.0)
            }
        })
        .collect();
    let constant: Vec<_> = (0..300).map(|_| row(5, 7, 9, 1.5)).collect();
    // Multiples of a tick with one odd value out: the divisor falls to 1.
    let mut ticks: Vec<_> = (0..300).map(|i| row(i, i * 10_000_000, 0, 0.0)).collect();
    ticks[150] = row(150, 3, 1, 0.0);
    for rows in [alternating, constant, ticks] {
        let b = batch(&schema, rows);
        assert_same(&round_trip(&schema, &b, 3), &b);
    }
}

/// Columns that look like edits at first and stop being so after the
/// trial rows, and strings that split where multi-byte characters are.
#[test]
fn strings_that_stop_being_edits_round_trip() {
    let schema = crate::schema::TableSchema::new(
        "t",
        "ts",
        &[("ts", LogicalType::TimestampMs), ("s", LogicalType::String)],
    );
    let mut b = RowBatch::new(&schema);
    for i in 0..3000u64 {
        let s = if i < 600 {
            format!("{{\"a\":[\"日本\",\"{}\"],\"b\":\"üü{}\"}}", i % 7, i)
        } else {
            format!("{:x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).repeat(3)
        };
        b.push_row(vec![Value::I64(i as i64), Value::Str(s)])
            .unwrap();
    }
    assert_same(&round_trip(&schema, &b, 3), &b);
}

#[test]
fn column_bytes_adds_up_to_the_segment() {
    let schema = all_types_schema();
    let b = batch(&schema, market_rows(1000, 6, 3));
    let framed = encode_segment(&b, 3);
    let sizes = column_bytes(&framed[4..]).unwrap();
    assert_eq!(sizes.len(), schema.columns.len());
    assert!(sizes.iter().sum::<usize>() < framed.len());
}

/// The key columns and each column's section of a framed segment.
fn sections(framed: &[u8]) -> (Vec<u64>, Vec<&[u8]>) {
    let mut r = super::varint::Reader::new(&framed[8..]);
    r.varint().unwrap();
    let cols = r.varint().unwrap();
    let keys = (0..r.varint().unwrap())
        .map(|_| r.varint().unwrap())
        .collect();
    let mut out = Vec::new();
    for _ in 0..cols {
        r.u8().unwrap();
        let len = r.varint().unwrap() as usize;
        out.push(r.bytes(len).unwrap());
    }
    (keys, out)
}

/// Market rows take the paths made for them: symbol as the key, depth as
/// edits, the price as deltas within its book, the clock as a line.
#[test]
fn market_rows_are_grouped_and_edited() {
    let schema = all_types_schema();
    let b = batch(&schema, market_rows(5000, 4, 9));
    let framed = encode_segment(&b, 3);
    let (keys, s) = sections(&framed);
    assert_eq!(keys, vec![3], "sym groups the rows");
    assert_eq!(s[2][0], 3, "depth as edits");
    assert_eq!(s[3][0], 1, "sym as a dictionary");
    assert_eq!(s[4][0], 3, "price as deltas within its group");
    assert_eq!(s[0][0], 4, "the clock as a line");
    // Without a key column, strings of no pattern are stored plainly.
    let plain = crate::schema::TableSchema::new("t", "s", &[("s", LogicalType::String)]);
    let mut p = RowBatch::new(&plain);
    for i in 0..2000u64 {
        p.push_row(vec![Value::Str(format!(
            "{:x}",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ))])
        .unwrap();
    }
    assert_eq!(sections(&encode_segment(&p, 3)).1[0][0], 0);
}
