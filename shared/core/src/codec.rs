//! The batch codec: rows are cut into segments, each segment is encoded
//! column by column (delta+zigzag varints for integers, byte-shuffled floats,
//! dictionary strings) and compressed with zstd.
//!
//! A batch on disk and on the wire is a sequence of framed segments:
//! `[u32 LE length][zstd frame]`, so both sides stream it a segment at a time
//! and memory stays bounded by the segment size, not the batch size.

use crate::batch::{Column, RowBatch};
use crate::schema::{PhysicalKind, TableSchema};
use crate::varint::{put_u64, unzigzag, zigzag, Reader};
use std::collections::HashMap;
use std::io::Read;

const MAGIC: &[u8; 4] = b"HCS1";

/// Bounds on what a decoder accepts; inputs beyond them are errors.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Compressed bytes of one segment.
    pub max_segment_bytes: usize,
    /// Decompressed bytes of one segment.
    pub max_decoded_bytes: usize,
    pub max_rows: usize,
    pub max_string_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_segment_bytes: 64 << 20,
            max_decoded_bytes: 256 << 20,
            max_rows: 1 << 20,
            max_string_bytes: 16 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The input ended in the middle of a value.
    #[error("input truncated")]
    Truncated,
    /// A length or count is over its bound.
    #[error("{what} is {value}, over the limit of {max}")]
    TooLarge {
        what: &'static str,
        value: u64,
        max: u64,
    },
    /// The bytes are not a valid encoding.
    #[error("corrupt segment: {0}")]
    Corrupt(&'static str),
    /// The segment's columns do not match the table's schema.
    #[error("segment does not match schema: {0}")]
    SchemaMismatch(String),
    /// zstd refused the compressed bytes.
    #[error("zstd: {0}")]
    Zstd(String),
}

fn kind_tag(k: PhysicalKind) -> u8 {
    match k {
        PhysicalKind::I64 => 1,
        PhysicalKind::U64 => 2,
        PhysicalKind::F64 => 3,
        PhysicalKind::Bool => 4,
        PhysicalKind::Str => 5,
    }
}

fn encode_column(c: &Column, out: &mut Vec<u8>) {
    match c {
        Column::I64(v) => {
            let mut prev = 0i64;
            for &x in v {
                put_u64(out, zigzag(x.wrapping_sub(prev)));
                prev = x;
            }
        }
        Column::U64(v) => {
            let mut prev = 0u64;
            for &x in v {
                put_u64(out, zigzag(x.wrapping_sub(prev) as i64));
                prev = x;
            }
        }
        Column::F64(v) => {
            // Byte planes: the sign/exponent bytes of similar prices repeat,
            // which zstd then finds.
            for b in 0..8 {
                out.extend(v.iter().map(|x| x.to_bits().to_le_bytes()[b]));
            }
        }
        Column::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Column::Str(v) => encode_strings(v, out),
    }
}

fn encode_strings(v: &[String], out: &mut Vec<u8>) {
    let mut dict: HashMap<&str, u64> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for s in v {
        if !dict.contains_key(s.as_str()) {
            if order.len() > v.len() / 4 {
                break;
            }
            dict.insert(s, order.len() as u64);
            order.push(s);
        }
    }
    let use_dict = dict.len() <= v.len() / 4 + 1 && v.iter().all(|s| dict.contains_key(s.as_str()));
    if use_dict {
        out.push(1);
        put_u64(out, order.len() as u64);
        for s in &order {
            put_u64(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        for s in v {
            put_u64(out, dict[s.as_str()]);
        }
    } else {
        out.push(0);
        for s in v {
            put_u64(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Encodes and compresses one segment, framed with its length.
pub fn encode_segment(batch: &RowBatch, zstd_level: i32) -> Vec<u8> {
    let mut raw = Vec::with_capacity(batch.heap_bytes() / 2 + 16);
    raw.extend_from_slice(MAGIC);
    put_u64(&mut raw, batch.len() as u64);
    put_u64(&mut raw, batch.columns.len() as u64);
    let mut col = Vec::new();
    for c in &batch.columns {
        col.clear();
        encode_column(c, &mut col);
        raw.push(kind_tag(c.kind()));
        put_u64(&mut raw, col.len() as u64);
        raw.extend_from_slice(&col);
    }
    // Compressing an in-memory buffer into a Vec cannot fail for a valid
    // level; zstd clamps levels, so the fallback is never taken in practice.
    let compressed = zstd::bulk::compress(&raw, zstd_level).unwrap_or_else(|_| raw.clone());
    let mut out = Vec::with_capacity(compressed.len() + 4);
    out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    out.extend_from_slice(&compressed);
    out
}

/// Reads the length of the next segment from its 4-byte frame header.
pub fn segment_len(header: [u8; 4], limits: &DecodeLimits) -> Result<usize, DecodeError> {
    let n = u32::from_le_bytes(header) as usize;
    if n > limits.max_segment_bytes {
        return Err(DecodeError::TooLarge {
            what: "segment length",
            value: n as u64,
            max: limits.max_segment_bytes as u64,
        });
    }
    Ok(n)
}

/// Decompresses and decodes one segment body (without its length frame).
pub fn decode_segment(
    schema: &TableSchema,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<RowBatch, DecodeError> {
    let mut raw = Vec::new();
    let decoder =
        zstd::stream::read::Decoder::new(body).map_err(|e| DecodeError::Zstd(e.to_string()))?;
    decoder
        .take(limits.max_decoded_bytes as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| DecodeError::Zstd(e.to_string()))?;
    if raw.len() > limits.max_decoded_bytes {
        return Err(DecodeError::TooLarge {
            what: "decoded segment",
            value: raw.len() as u64,
            max: limits.max_decoded_bytes as u64,
        });
    }
    decode_raw(schema, &raw, limits)
}

fn decode_raw(
    schema: &TableSchema,
    raw: &[u8],
    limits: &DecodeLimits,
) -> Result<RowBatch, DecodeError> {
    let mut r = Reader::new(raw);
    if r.bytes(4)? != MAGIC {
        return Err(DecodeError::Corrupt("bad magic"));
    }
    let rows = r.len(limits.max_rows, "row count")?;
    let ncols = r.len(4096, "column count")?;
    let kinds = schema.kinds();
    if ncols != kinds.len() {
        return Err(DecodeError::SchemaMismatch(format!(
            "{ncols} columns, table {} has {}",
            schema.name,
            kinds.len()
        )));
    }
    let mut columns = Vec::with_capacity(ncols);
    // What the segment's strings may expand to in all: a dictionary entry
    // repeated for every row costs its length each time, so a few KB of
    // compressed bytes could otherwise claim terabytes.
    let mut expanded = ExpandBudget {
        left: limits.max_decoded_bytes,
        max: limits.max_decoded_bytes,
    };
    for (i, kind) in kinds.into_iter().enumerate() {
        let tag = r.u8()?;
        if tag != kind_tag(kind) {
            return Err(DecodeError::SchemaMismatch(format!(
                "column {} has kind tag {tag}, expected {}",
                schema.columns[i].name,
                kind_tag(kind)
            )));
        }
        let len = r.len(r.remaining(), "column length")?;
        let mut cr = Reader::new(r.bytes(len)?);
        columns.push(decode_column(kind, rows, &mut cr, limits, &mut expanded)?);
        if cr.remaining() != 0 {
            return Err(DecodeError::Corrupt("trailing bytes in column"));
        }
    }
    if r.remaining() != 0 {
        return Err(DecodeError::Corrupt("trailing bytes in segment"));
    }
    Ok(RowBatch { columns })
}

/// Bytes the decoded strings of one segment may still take.
struct ExpandBudget {
    left: usize,
    max: usize,
}

impl ExpandBudget {
    fn take(&mut self, n: usize) -> Result<(), DecodeError> {
        self.left = self.left.checked_sub(n).ok_or(DecodeError::TooLarge {
            what: "decoded strings of a segment",
            value: (self.max - self.left + n) as u64,
            max: self.max as u64,
        })?;
        Ok(())
    }
}

fn decode_column(
    kind: PhysicalKind,
    rows: usize,
    r: &mut Reader<'_>,
    limits: &DecodeLimits,
    expanded: &mut ExpandBudget,
) -> Result<Column, DecodeError> {
    // Every value takes at least one byte, so `rows` can be checked against
    // what is left before anything is allocated for it.
    let per_value_min = if kind == PhysicalKind::F64 { 8 } else { 1 };
    if kind != PhysicalKind::Str && rows.saturating_mul(per_value_min) > r.remaining() {
        return Err(DecodeError::Truncated);
    }
    Ok(match kind {
        PhysicalKind::I64 => {
            let mut v = Vec::with_capacity(rows);
            let mut prev = 0i64;
            for _ in 0..rows {
                prev = prev.wrapping_add(unzigzag(r.varint()?));
                v.push(prev);
            }
            Column::I64(v)
        }
        PhysicalKind::U64 => {
            let mut v = Vec::with_capacity(rows);
            let mut prev = 0u64;
            for _ in 0..rows {
                prev = prev.wrapping_add(unzigzag(r.varint()?) as u64);
                v.push(prev);
            }
            Column::U64(v)
        }
        PhysicalKind::F64 => {
            let planes = r.bytes(rows * 8)?;
            let v = (0..rows)
                .map(|i| {
                    let mut b = [0u8; 8];
                    for (p, byte) in b.iter_mut().enumerate() {
                        *byte = planes[p * rows + i];
                    }
                    f64::from_bits(u64::from_le_bytes(b))
                })
                .collect();
            Column::F64(v)
        }
        PhysicalKind::Bool => {
            let bytes = r.bytes(rows)?;
            let mut v = Vec::with_capacity(rows);
            for &b in bytes {
                match b {
                    0 => v.push(false),
                    1 => v.push(true),
                    _ => return Err(DecodeError::Corrupt("bool byte not 0 or 1")),
                }
            }
            Column::Bool(v)
        }
        PhysicalKind::Str => Column::Str(decode_strings(rows, r, limits, expanded)?),
    })
}

fn read_string(r: &mut Reader<'_>, limits: &DecodeLimits) -> Result<String, DecodeError> {
    let n = r.len(limits.max_string_bytes, "string length")?;
    String::from_utf8(r.bytes(n)?.to_vec()).map_err(|_| DecodeError::Corrupt("string is not UTF-8"))
}

fn decode_strings(
    rows: usize,
    r: &mut Reader<'_>,
    limits: &DecodeLimits,
    expanded: &mut ExpandBudget,
) -> Result<Vec<String>, DecodeError> {
    let mode = r.u8()?;
    if rows > r.remaining() {
        return Err(DecodeError::Truncated);
    }
    let mut v = Vec::with_capacity(rows);
    match mode {
        0 => {
            for _ in 0..rows {
                let s = read_string(r, limits)?;
                expanded.take(s.len())?;
                v.push(s);
            }
        }
        1 => {
            let n = r.len(r.remaining(), "dictionary size")?;
            let mut dict = Vec::with_capacity(n);
            for _ in 0..n {
                dict.push(read_string(r, limits)?);
            }
            for _ in 0..rows {
                let i = r.varint()?;
                let s = dict
                    .get(i as usize)
                    .ok_or(DecodeError::Corrupt("dictionary index out of range"))?;
                expanded.take(s.len())?;
                v.push(s.clone());
            }
        }
        _ => return Err(DecodeError::Corrupt("unknown string encoding")),
    }
    Ok(v)
}

/// Splits a buffer holding whole framed segments into their bodies.
pub fn split_segments<'a>(
    mut buf: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Vec<&'a [u8]>, DecodeError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let header: [u8; 4] = buf
            .get(..4)
            .ok_or(DecodeError::Truncated)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        let n = segment_len(header, limits)?;
        let body = buf.get(4..4 + n).ok_or(DecodeError::Truncated)?;
        out.push(body);
        buf = &buf[4 + n..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn row_strategy() -> impl Strategy<Value = Vec<Value>> {
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
}
