//! The decoders against hostile bytes: junk, flipped and truncated
//! segments of both formats give errors, never panics, and segments that
//! would expand past the limits are refused whole.
use super::tests::{all_types_schema, assert_same};
use super::*;
use crate::schema::{LogicalType, PhysicalKind};
use crate::value::Value;
use proptest::prelude::*;

/// The fuzz target's limits: small, so the bounds are reached.
fn small() -> DecodeLimits {
    DecodeLimits {
        max_segment_bytes: 1 << 16,
        max_decoded_bytes: 1 << 20,
        max_rows: 1 << 12,
        max_string_bytes: 1 << 12,
    }
}

fn sample_segment() -> (TableSchema, Vec<u8>) {
    let schema = all_types_schema();
    let mut b = RowBatch::new(&schema);
    for i in 0..300i64 {
        b.push_row(vec![
            Value::I64(1_700_000_000_000 + i * 100),
            Value::I64(19_000 + i % 3),
            Value::Str(format!(
                "{{\"bids\":[[\"{}\",\"0.5\"],[\"4\",\"ü{}\"]]}}",
                42_000 + i % 4,
                i % 9
            )),
            Value::Str(["BTC", "ETH", "SOL"][i as usize % 3].into()),
            Value::I64((i % 3) * 10_000_000),
            Value::I64(i % 100),
            Value::I64(i * i),
            Value::U64(i as u64 * 7),
            Value::F64(i as f64 / 4.0),
            Value::Bool(i % 5 == 0),
        ])
        .unwrap();
    }
    let framed = encode_segment(&b, 3);
    (schema, framed[4..].to_vec())
}

fn decode_all_ways(schema: &TableSchema, body: &[u8]) {
    let _ = decode_segment(schema, body, &DecodeLimits::default());
    let _ = decode_segment(schema, body, &small());
    let _ = split_segments(body, &small());
    let _ = column_bytes(body);
}

proptest! {
    /// Arbitrary bytes, bare or behind either format's magic, give errors.
    #[test]
    fn junk_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..600)) {
        let schema = all_types_schema();
        decode_all_ways(&schema, &junk);
        let mut hcs2 = b"HCS2".to_vec();
        hcs2.extend_from_slice(&junk);
        decode_all_ways(&schema, &hcs2);
        let _ = hcs1::decode_raw(&schema, &junk, &small());
    }

    /// A valid segment with bytes changed anywhere: an error or some rows,
    /// never a panic.
    #[test]
    fn flipped_segments_never_panic(flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4)) {
        let (schema, mut body) = sample_segment();
        for (at, x) in flips {
            let i = at % body.len();
            body[i] ^= x;
        }
        decode_all_ways(&schema, &body);
    }

    /// The same for HCS1, inside its zstd frame.
    #[test]
    fn flipped_hcs1_segments_never_panic(flip in any::<usize>(), x in 1u8..=255) {
        let schema = all_types_schema();
        let (_, body) = sample_segment();
        let rows = decode_segment(&schema, &body, &DecodeLimits::default()).unwrap();
        let framed = hcs1::encode_segment(&rows, 1);
        let mut raw = Vec::new();
        zstd::stream::copy_decode(&framed[4..], &mut raw).unwrap();
        let i = flip % raw.len();
        raw[i] ^= x;
        let _ = hcs1::decode_raw(&schema, &raw, &DecodeLimits::default());
    }
}

#[test]
fn every_truncation_is_an_error() {
    let (schema, body) = sample_segment();
    for n in 0..body.len() {
        assert!(
            decode_segment(&schema, &body[..n], &DecodeLimits::default()).is_err(),
            "{n}"
        );
    }
    assert!(decode_segment(&schema, &body, &DecodeLimits::default()).is_ok());
}

fn one_column(ty: LogicalType) -> TableSchema {
    TableSchema::new("t", "c", &[("c", ty)])
}

fn refused_as_too_large(schema: &TableSchema, b: &RowBatch) {
    let framed = encode_segment(b, 3);
    assert!(
        framed.len() < 16 << 10,
        "{} bytes on the wire",
        framed.len()
    );
    let e = decode_segment(schema, &framed[4..], &small()).unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { .. }), "{e}");
}

/// One 1 KiB string 4096 times: a dictionary of one entry, a few hundred
/// bytes that would expand to 4 MiB.
#[test]
fn a_dictionary_bomb_is_refused() {
    let schema = one_column(LogicalType::String);
    let mut b = RowBatch::new(&schema);
    for _ in 0..4096 {
        b.push_row(vec![Value::Str("x".repeat(1024))]).unwrap();
    }
    assert_eq!(
        string_mode(&encode_segment(&b, 3)),
        1,
        "stored as a dictionary"
    );
    refused_as_too_large(&schema, &b);
}

/// The same through edits: each string is the previous one with a byte
/// changed, so each row costs a hunk and copies a kilobyte.
#[test]
fn an_edits_bomb_is_refused() {
    let schema = one_column(LogicalType::String);
    let mut b = RowBatch::new(&schema);
    for i in 0..4096 {
        b.push_row(vec![Value::Str(format!("{i},{}", "y".repeat(1024)))])
            .unwrap();
    }
    assert_eq!(string_mode(&encode_segment(&b, 3)), 3, "stored as edits");
    refused_as_too_large(&schema, &b);
}

/// The string encoding of the only column of a framed segment.
fn string_mode(framed: &[u8]) -> u8 {
    let mut r = varint::Reader::new(&framed[8..]);
    let (_rows, _cols, keys) = (r.varint(), r.varint(), r.varint());
    assert_eq!(keys, Ok(0));
    let (_tag, _len) = (r.u8(), r.varint());
    r.u8().unwrap()
}

/// A constant column costs no plane at all: 4096 rows from a few bytes
/// decode within the default limits and are refused by a budget below
/// their 32 KiB of values.
#[test]
fn a_constant_column_is_bounded_by_the_budget() {
    let schema = one_column(LogicalType::Int64);
    let mut b = RowBatch::new(&schema);
    for _ in 0..4096 {
        b.push_row(vec![Value::I64(7)]).unwrap();
    }
    let framed = encode_segment(&b, 3);
    assert!(framed.len() < 64, "{} bytes", framed.len());
    assert_same(
        &decode_segment(&schema, &framed[4..], &small()).unwrap(),
        &b,
    );
    let tight = DecodeLimits {
        max_decoded_bytes: 4096 * 8 - 1,
        ..small()
    };
    let e = decode_segment(&schema, &framed[4..], &tight).unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { .. }), "{e}");
}

/// The budget holds a column's values, not the planes of columns already
/// decoded: a segment of eight compressible columns decodes with room for
/// its values and one column's planes.
#[test]
fn finished_columns_give_their_planes_back() {
    let names: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let cols: Vec<(&str, LogicalType)> = names
        .iter()
        .map(|n| (n.as_str(), LogicalType::Int64))
        .collect();
    let schema = TableSchema::new("t", "c0", &cols);
    let rows = 10_000;
    let mut b = RowBatch::new(&schema);
    for i in 0..rows as i64 {
        b.push_row(
            (0..8)
                .map(|c| Value::I64((i * 7919 + c) % 1000 * 1_000_003))
                .collect(),
        )
        .unwrap();
    }
    let framed = encode_segment(&b, 3);
    let limits = DecodeLimits {
        max_decoded_bytes: rows * 8 * 8 + rows * 8,
        ..DecodeLimits::default()
    };
    assert_same(&decode_segment(&schema, &framed[4..], &limits).unwrap(), &b);
}

#[test]
fn a_stream_longer_than_its_frame_can_hold_is_refused() {
    use super::stream::Unpacker;
    use super::varint::{put_u64, Reader};
    let mut s = vec![1u8];
    put_u64(&mut s, 1 << 30);
    put_u64(&mut s, 4);
    s.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
    let mut budget = limits::Budget::new(usize::MAX, "test");
    let e = Unpacker::new()
        .get(&mut Reader::new(&s), 1 << 30, &mut budget)
        .unwrap_err();
    assert_eq!(
        e,
        DecodeError::Corrupt("stream longer than its zstd frame can hold")
    );
}

#[test]
fn row_count_bound_is_enforced() {
    let schema = all_types_schema();
    for magic in [&b"HCS2"[..], hcs1::MAGIC] {
        let mut raw = magic.to_vec();
        varint::put_u64(&mut raw, u64::MAX);
        let e = if magic == b"HCS2" {
            decode_segment(&schema, &raw, &DecodeLimits::default()).unwrap_err()
        } else {
            hcs1::decode_raw(&schema, &raw, &DecodeLimits::default()).unwrap_err()
        };
        assert!(
            matches!(
                e,
                DecodeError::TooLarge {
                    what: "row count",
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn a_segment_of_another_table_is_a_schema_mismatch() {
    let (_, body) = sample_segment();
    let other = one_column(LogicalType::Int64);
    let e = decode_segment(&other, &body, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(e, DecodeError::SchemaMismatch(_)), "{e}");
    let swapped = TableSchema::new(
        "t",
        "ts",
        &all_types_schema()
            .columns
            .iter()
            .map(|c| {
                let ty = if c.ty.physical() == PhysicalKind::Bool {
                    LogicalType::Int8
                } else {
                    c.ty
                };
                (c.name.as_str(), ty)
            })
            .collect::<Vec<_>>(),
    );
    let e = decode_segment(&swapped, &body, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(e, DecodeError::SchemaMismatch(_)), "{e}");
}

/// One 1 KiB HCS1 dictionary entry for a million rows: about a megabyte
/// of raw bytes (a few KB once compressed) that would expand to 1 GiB.
#[test]
fn an_hcs1_dictionary_bomb_is_refused() {
    use varint::put_u64;
    let schema = TableSchema::new(
        "t",
        "ts",
        &[("ts", LogicalType::TimestampMs), ("s", LogicalType::String)],
    );
    let rows = 1usize << 20;
    let mut raw = hcs1::MAGIC.to_vec();
    put_u64(&mut raw, rows as u64);
    put_u64(&mut raw, 2);
    raw.push(hcs1::kind_tag(PhysicalKind::I64));
    put_u64(&mut raw, rows as u64);
    raw.extend(std::iter::repeat_n(0u8, rows));
    let mut col = vec![1u8];
    put_u64(&mut col, 1);
    put_u64(&mut col, 1024);
    col.extend(std::iter::repeat_n(b'x', 1024));
    col.extend(std::iter::repeat_n(0u8, rows));
    raw.push(hcs1::kind_tag(PhysicalKind::Str));
    put_u64(&mut raw, col.len() as u64);
    raw.extend_from_slice(&col);
    let e = hcs1::decode_raw(&schema, &raw, &DecodeLimits::default()).unwrap_err();
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
    let compressed = zstd::bulk::compress(&raw, 3).unwrap();
    assert!(compressed.len() < 16 << 10, "{} bytes", compressed.len());
    let e = decode_segment(&schema, &compressed, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { .. }), "{e}");
}

/// A hand-built batch whose columns differ in length encodes without
/// panicking and fails to decode, rather than decoding to other rows.
#[test]
fn an_uneven_batch_is_refused_at_decoding() {
    use crate::batch::Column;
    let schema = TableSchema::new(
        "t",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("sym", LogicalType::LcString),
            ("s", LogicalType::String),
        ],
    );
    let syms = |n: usize| (0..n).map(|i| ["a", "b"][i % 2].to_string()).collect();
    let b = RowBatch {
        columns: vec![
            Column::I64((0..100).collect()),
            Column::Str(syms(40)),
            Column::Str((0..200).map(|i| format!("x,{i}")).collect()),
        ],
    };
    let framed = encode_segment(&b, 3);
    assert!(decode_segment(&schema, &framed[4..], &DecodeLimits::default()).is_err());
}
