//! An HCS2 segment: the header, the key columns that group its rows, and
//! one section per column.
//!
//! ```text
//! "HCS2" varint rows, varint columns, varint keys, varint key column index...
//! per column: u8 kind tag, varint section length, section
//! ```
//!
//! Key columns are string columns stored as a dictionary of 2 to 256
//! entries (exchange, symbol), chosen by the encoder while the product of
//! their sizes stays within `MAX_GROUPS`. A row's group is its key columns'
//! ids in mixed radix; other columns may be coded against the previous row
//! of the same group. The decoder decodes the key columns first, so the
//! groups cost no bytes of their own.

use super::ints::{self, Groups};
use super::limits::Budget;
use super::stream::{Packer, Unpacker};
use super::strings::{self, Dict};
use super::varint::{put_u64, Reader};
use super::{DecodeError, DecodeLimits};
use crate::batch::{Column, RowBatch};
use crate::schema::{PhysicalKind, TableSchema};

pub(super) const MAGIC: &[u8; 4] = b"HCS2";

/// Groups of a segment at most: 3 exchanges x 400 symbols fit.
const MAX_GROUPS: usize = 4096;
/// Dictionary entries of a key column at most.
const MAX_KEY_ENTRIES: usize = 256;

fn kind_tag(k: PhysicalKind) -> u8 {
    match k {
        PhysicalKind::I64 => 1,
        PhysicalKind::U64 => 2,
        PhysicalKind::F64 => 3,
        PhysicalKind::Bool => 4,
        PhysicalKind::Str => 5,
    }
}

/// Group keys from the key columns' ids; every key is below the product of
/// the dictionary sizes, which the callers keep within MAX_GROUPS.
fn groups_of(rows: usize, keys: &[(&[u64], usize)]) -> Groups {
    let mut key = vec![0u32; rows];
    let mut count = 1usize;
    for &(ids, size) in keys {
        for (k, &id) in key.iter_mut().zip(ids) {
            *k = *k * size as u32 + id as u32;
        }
        count *= size;
    }
    Groups { key, count }
}

/// Encodes one segment (without its length frame).
pub(super) fn encode(batch: &RowBatch, zstd_level: i32) -> Vec<u8> {
    Packer::with(zstd_level, |p| encode_with(batch, p))
}

fn encode_with(batch: &RowBatch, p: &mut Packer) -> Vec<u8> {
    let rows = batch.len();
    let dicts: Vec<Option<Dict<'_>>> = batch
        .columns
        .iter()
        .map(|c| match c {
            Column::Str(v) => strings::dictionary(v),
            _ => None,
        })
        .collect();
    let mut keys = Vec::new();
    let mut product = 1usize;
    // Groups index every column by row: only for a batch whose columns are
    // all `rows` long (push_row keeps them so; a hand-built one may not,
    // and is encoded without groups, to fail decoding, not to panic here).
    let even = batch.columns.iter().all(|c| c.len() == rows);
    for (i, d) in dicts.iter().enumerate().filter(|_| even) {
        if let Some(d) = d {
            let n = d.entries.len();
            if (2..=MAX_KEY_ENTRIES).contains(&n) && product * n <= MAX_GROUPS {
                product *= n;
                keys.push(i);
            }
        }
    }
    let key_ids: Vec<(&[u64], usize)> = keys
        .iter()
        .filter_map(|&i| {
            dicts[i]
                .as_ref()
                .map(|d| (d.ids.as_slice(), d.entries.len()))
        })
        .collect();
    let groups = (!keys.is_empty()).then(|| groups_of(rows, &key_ids));
    let g = groups.as_ref();

    let mut out = Vec::with_capacity(batch.heap_bytes() / 8 + 64);
    out.extend_from_slice(MAGIC);
    put_u64(&mut out, rows as u64);
    put_u64(&mut out, batch.columns.len() as u64);
    put_u64(&mut out, keys.len() as u64);
    for &k in &keys {
        put_u64(&mut out, k as u64);
    }
    let mut section = Vec::new();
    let mut bits = Vec::new();
    for (i, c) in batch.columns.iter().enumerate() {
        section.clear();
        match c {
            Column::I64(v) => {
                bits.clear();
                bits.extend(v.iter().map(|&x| x as u64));
                ints::encode(&bits, g, p, &mut section);
            }
            Column::U64(v) => ints::encode(v, g, p, &mut section),
            Column::F64(v) => {
                bits.clear();
                bits.extend(v.iter().map(|x| x.to_bits()));
                ints::encode(&bits, g, p, &mut section);
            }
            Column::Bool(v) => {
                let mut packed = vec![0u8; v.len().div_ceil(8)];
                for (j, &b) in v.iter().enumerate() {
                    packed[j / 8] |= u8::from(b) << (j % 8);
                }
                p.put(&mut section, &packed, true);
            }
            Column::Str(v) => {
                let ids_groups = if keys.contains(&i) { None } else { g };
                strings::encode(v, dicts[i].as_ref(), g, ids_groups, p, &mut section);
            }
        }
        out.push(kind_tag(c.kind()));
        put_u64(&mut out, section.len() as u64);
        out.extend_from_slice(&section);
    }
    out
}

/// Decodes one segment body that starts with MAGIC.
pub(super) fn decode(
    schema: &TableSchema,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<RowBatch, DecodeError> {
    let mut r = Reader::new(body);
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
    let nkeys = r.len(ncols, "key column count")?;
    let mut keys = Vec::with_capacity(nkeys);
    for _ in 0..nkeys {
        let k = r.len(ncols.saturating_sub(1), "key column index")?;
        if keys.last().is_some_and(|&l| k <= l) || kinds[k] != PhysicalKind::Str {
            return Err(DecodeError::Corrupt("bad key column"));
        }
        keys.push(k);
    }
    let mut sections = Vec::with_capacity(ncols);
    for (i, &kind) in kinds.iter().enumerate() {
        let tag = r.u8()?;
        if tag != kind_tag(kind) {
            return Err(DecodeError::SchemaMismatch(format!(
                "column {} has kind tag {tag}, expected {}",
                schema.columns[i].name,
                kind_tag(kind)
            )));
        }
        let len = r.len(r.remaining(), "column length")?;
        sections.push(r.bytes(len)?);
    }
    if r.remaining() != 0 {
        return Err(DecodeError::Corrupt("trailing bytes in segment"));
    }

    let mut budget = Budget::new(limits.max_decoded_bytes, "decoded bytes of a segment");
    let mut un = Unpacker::new();
    let mut columns: Vec<Option<Column>> = (0..ncols).map(|_| None).collect();
    let mut key_ids = Vec::with_capacity(nkeys);
    let mut product = 1usize;
    for &k in &keys {
        let mark = budget.mark();
        let mut cr = Reader::new(sections[k]);
        let d = strings::decode(&mut cr, rows, None, None, &mut un, &mut budget, limits)?;
        finished(&cr)?;
        let Some((ids, size)) = d.dict else {
            return Err(DecodeError::Corrupt("key column without a dictionary"));
        };
        product = product.saturating_mul(size);
        if !(2..=MAX_KEY_ENTRIES).contains(&size) || product > MAX_GROUPS {
            return Err(DecodeError::Corrupt(
                "key column dictionary size out of range",
            ));
        }
        let kept: usize = d.values.iter().map(String::len).sum::<usize>()
            + rows * (std::mem::size_of::<String>() + 8);
        budget.release_to(mark, kept);
        columns[k] = Some(Column::Str(d.values));
        key_ids.push((ids, size));
    }
    let groups = if keys.is_empty() {
        None
    } else {
        budget.take_each(rows, 4)?;
        let view: Vec<(&[u64], usize)> = key_ids.iter().map(|(v, s)| (v.as_slice(), *s)).collect();
        Some(groups_of(rows, &view))
    };
    let g = groups.as_ref();
    drop(key_ids);

    for (i, &kind) in kinds.iter().enumerate() {
        if columns[i].is_some() {
            continue;
        }
        let mark = budget.mark();
        let mut cr = Reader::new(sections[i]);
        let (col, kept) = match kind {
            PhysicalKind::I64 => {
                let v = ints::decode(&mut cr, rows, g, &mut un, &mut budget)?;
                (
                    Column::I64(v.into_iter().map(|x| x as i64).collect()),
                    rows * 8,
                )
            }
            PhysicalKind::U64 => (
                Column::U64(ints::decode(&mut cr, rows, g, &mut un, &mut budget)?),
                rows * 8,
            ),
            PhysicalKind::F64 => {
                let v = ints::decode(&mut cr, rows, g, &mut un, &mut budget)?;
                (
                    Column::F64(v.into_iter().map(f64::from_bits).collect()),
                    rows * 8,
                )
            }
            PhysicalKind::Bool => {
                budget.take(rows)?;
                let packed = un.get(&mut cr, rows.div_ceil(8), &mut budget)?;
                if rows % 8 != 0 && packed.last().is_some_and(|&b| b >> (rows % 8) != 0) {
                    return Err(DecodeError::Corrupt("bits set past the last bool"));
                }
                let v = (0..rows)
                    .map(|j| packed[j / 8] >> (j % 8) & 1 == 1)
                    .collect();
                (Column::Bool(v), rows)
            }
            PhysicalKind::Str => {
                let d = strings::decode(&mut cr, rows, g, g, &mut un, &mut budget, limits)?;
                let kept = d.values.iter().map(String::len).sum::<usize>()
                    + rows * std::mem::size_of::<String>();
                (Column::Str(d.values), kept)
            }
        };
        finished(&cr)?;
        budget.release_to(mark, kept);
        columns[i] = Some(col);
    }
    Ok(RowBatch {
        columns: columns.into_iter().flatten().collect(),
    })
}

/// Bytes each column's section takes in an HCS2 body, in schema order.
pub(super) fn column_bytes(body: &[u8]) -> Result<Vec<usize>, DecodeError> {
    let mut r = Reader::new(body);
    if r.bytes(4)? != MAGIC {
        return Err(DecodeError::Corrupt("bad magic"));
    }
    r.varint()?;
    let ncols = r.len(4096, "column count")?;
    let nkeys = r.len(ncols, "key column count")?;
    for _ in 0..nkeys {
        r.varint()?;
    }
    let mut out = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        r.u8()?;
        let len = r.len(r.remaining(), "column length")?;
        r.bytes(len)?;
        out.push(len);
    }
    Ok(out)
}

fn finished(r: &Reader<'_>) -> Result<(), DecodeError> {
    if r.remaining() != 0 {
        return Err(DecodeError::Corrupt("trailing bytes in column"));
    }
    Ok(())
}
