//! The codec against itself (round trips, every type) and against hostile
//! bytes (truncations, bombs, wrong schemas).
use super::*;
use crate::schema::{ColumnDef, LogicalType, PhysicalKind};
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
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
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
                Value::F64(f),
                Value::Bool(b),
            ]
        })
}

proptest! {
    #[test]
    fn round_trip(rows in proptest::collection::vec(row_strategy(), 0..200), level in 1i32..5) {
        let schema = all_types_schema();
        let mut batch = RowBatch::new(&schema);
        for r in rows {
            batch.push_row(r).unwrap();
        }
        let framed = encode_segment(&batch, level);
        let bodies = split_segments(&framed, &DecodeLimits::default()).unwrap();
        prop_assert_eq!(bodies.len(), 1);
        let back = decode_segment(&schema, bodies[0], &DecodeLimits::default()).unwrap();
        prop_assert_eq!(back, batch);
    }

    /// Arbitrary bytes, and valid segments with bytes flipped, give errors, never panics.
    #[test]
    fn hostile_input_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..512), flip in any::<usize>()) {
        let schema = all_types_schema();
        let _ = decode_segment(&schema, &junk, &DecodeLimits::default());
        let _ = decode_raw(&schema, &junk, &DecodeLimits::default());
        let _ = split_segments(&junk, &DecodeLimits::default());
        let mut batch = RowBatch::new(&schema);
        batch.push_row(vec![Value::I64(1), Value::I64(2), Value::Str("x".into()), Value::Str("y".into()),
            Value::I64(3), Value::I64(4), Value::I64(5), Value::U64(6), Value::F64(7.5), Value::Bool(true)]).unwrap();
        let mut raw = Vec::new();
        let framed = encode_segment(&batch, 1);
        zstd::stream::copy_decode(&framed[4..], &mut raw).unwrap();
        let i = flip % raw.len();
        raw[i] ^= 0xff;
        let _ = decode_raw(&schema, &raw, &DecodeLimits::default());
    }
}

/// One 1 KiB dictionary entry for a million rows: about a megabyte of
/// raw bytes (a few KB once compressed) that would expand to 1 GiB.
#[test]
fn dictionary_bomb_is_refused() {
    let schema = crate::schema::TableSchema::new(
        "t",
        "ts",
        &[
            ("ts", crate::schema::LogicalType::TimestampMs),
            ("s", crate::schema::LogicalType::String),
        ],
    );
    let rows = 1usize << 20;
    let mut raw = MAGIC.to_vec();
    put_u64(&mut raw, rows as u64);
    put_u64(&mut raw, 2);
    raw.push(kind_tag(PhysicalKind::I64));
    put_u64(&mut raw, rows as u64);
    raw.extend(std::iter::repeat_n(0u8, rows));
    let mut col = vec![1u8];
    put_u64(&mut col, 1);
    put_u64(&mut col, 1024);
    col.extend(std::iter::repeat_n(b'x', 1024));
    col.extend(std::iter::repeat_n(0u8, rows));
    raw.push(kind_tag(PhysicalKind::Str));
    put_u64(&mut raw, col.len() as u64);
    raw.extend_from_slice(&col);
    let e = decode_raw(&schema, &raw, &DecodeLimits::default()).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::TooLarge {
                what: "decoded strings of a segment",
                ..
            }
        ),
        "{e}"
    );
    // The same through compression: small on the wire, refused whole.
    let compressed = zstd::bulk::compress(&raw, 3).unwrap();
    assert!(compressed.len() < 16 << 10, "{} bytes", compressed.len());
    let e = decode_segment(&schema, &compressed, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { .. }), "{e}");
}

#[test]
fn row_count_bound_is_enforced() {
    let schema = all_types_schema();
    let mut raw = MAGIC.to_vec();
    put_u64(&mut raw, u64::MAX);
    let e = decode_raw(&schema, &raw, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(
        e,
        DecodeError::TooLarge {
            what: "row count",
            ..
        }
    ));
}
