//! Column by column: delta+zigzag varints for integers, byte-shuffled
//! floats, dictionary strings; and the decoder of a raw (decompressed)
//! segment, bounded by the limits and by what its strings may expand to.

use super::varint::{put_u64, unzigzag, zigzag, Reader};
use super::{DecodeError, DecodeLimits, MAGIC};
use crate::batch::{Column, RowBatch};
use crate::schema::{PhysicalKind, TableSchema};
use std::collections::HashMap;

pub(super) fn kind_tag(k: PhysicalKind) -> u8 {
    match k {
        PhysicalKind::I64 => 1,
        PhysicalKind::U64 => 2,
        PhysicalKind::F64 => 3,
        PhysicalKind::Bool => 4,
        PhysicalKind::Str => 5,
    }
}

pub(super) fn encode_column(c: &Column, out: &mut Vec<u8>) {
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
