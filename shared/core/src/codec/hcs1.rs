//! HCS1, the segment format before HCS2: kept so that spool and staging
//! files written by the previous version still decode after an upgrade.
//!
//! One zstd frame over `"HCS1" rows ncols` then, per column, its kind tag,
//! its length and its bytes: delta+zigzag varints for integers, byte planes
//! for floats, strings as a dictionary (mode 1) or length-prefixed (mode 0).
//! The encoder is the previous version's, unchanged; nothing in production
//! calls it: it is here for the compatibility tests and for the benchmark's
//! before/after (`bench_codec`).

use super::limits::Budget;
use super::varint::{put_u64, unzigzag, zigzag, Reader};
use super::{DecodeError, DecodeLimits};
use crate::batch::{Column, RowBatch};
use crate::schema::{PhysicalKind, TableSchema};
use std::collections::HashMap;
use std::io::Read;

pub(super) const MAGIC: &[u8; 4] = b"HCS1";

/// Encodes and compresses one segment in the HCS1 format, framed with its
/// length, exactly as the previous version did.
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

pub(super) fn kind_tag(k: PhysicalKind) -> u8 {
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

/// Decompresses and decodes an HCS1 segment body (without its length frame).
pub(super) fn decode_body(
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

/// Decodes a decompressed HCS1 segment (magic included).
pub(super) fn decode_raw(
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
    let mut expanded = Budget::new(limits.max_decoded_bytes, "decoded strings of a segment");
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

fn decode_column(
    kind: PhysicalKind,
    rows: usize,
    r: &mut Reader<'_>,
    limits: &DecodeLimits,
    expanded: &mut Budget,
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
    expanded: &mut Budget,
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
