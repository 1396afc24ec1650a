//! One part of the columnar copy of a sealed hot hour, as bytes on disk
//! (a SQLite BLOB beside the row table): every column of the table, in
//! schema order, each as the vector a [`Columns`] chunk holds, so an
//! answer reads it back with one copy per column instead of one SQLite
//! step and one call per cell.
//!
//! ```text
//! "HCC1"  rows u32  columns u16
//! per column: type tag u8, then
//!   fixed width   rows cells, little-endian (a decimal as its i64)
//!   string        bytes u32, rows ends u32, the bytes
//!   lc_string     values u32, bytes u32, values ends u32, the bytes,
//!                 rows keys u32
//! BLAKE3 of everything before, 32 bytes
//! ```
//!
//! The bytes come from our own disk, but a disk can rot and a file can be
//! swapped: decoding is bounded ([`PartLimits`]), checks the hash, every
//! length against what is left, every tag against the schema, offsets,
//! keys and UTF-8, and never panics (property test here, fuzz target
//! `sealed_part`). A part that fails is an error naming what failed; the
//! caller reads the hour from the row table instead.

use crate::columns::{Builder, Columns};
use crate::dictionary::LocalDictionary;
use hotcold_core::schema::{LogicalType, TableSchema};

const MAGIC: &[u8; 4] = b"HCC1";
const HASH: usize = 32;

/// Bounds on what one part may claim, checked before anything is
/// allocated.
#[derive(Debug, Clone, Copy)]
pub struct PartLimits {
    pub max_bytes: usize,
    pub max_rows: usize,
}

impl Default for PartLimits {
    /// A part holds at most [`PART_ROWS`] rows; 1 GiB is far past any
    /// table's rows at that count.
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_rows: PART_ROWS,
        }
    }
}

/// Rows per part: an hour's copy is cut into parts of this many rows, so
/// building and reading one holds a part, not an hour; the size of the
/// answers' own batches (the router's `SEGMENT_ROWS`), so an answer from
/// the copy holds what one from the rows holds.
pub const PART_ROWS: usize = 1 << 13;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PartError {
    #[error("sealed part: {0}")]
    Damaged(String),
    #[error("sealed part: column {0} is not of the table's type (built for another schema)")]
    Schema(String),
    #[error("sealed part: {what} is {got}, more than the bound {max}")]
    TooBig {
        what: &'static str,
        got: usize,
        max: usize,
    },
}

fn damaged(what: impl Into<String>) -> PartError {
    PartError::Damaged(what.into())
}

/// The type tag of a column of type `ty` (its scale is the schema's, not
/// the part's: a tag says how the cells are laid out).
fn tag(ty: LogicalType) -> u8 {
    use LogicalType as L;
    match ty {
        L::TimestampMs => 1,
        L::Date => 2,
        L::Decimal { .. } => 3,
        L::Int8 => 4,
        L::Int16 => 5,
        L::Int32 => 6,
        L::Int64 => 7,
        L::UInt8 => 8,
        L::UInt16 => 9,
        L::UInt32 => 10,
        L::UInt64 => 11,
        L::Float64 => 12,
        L::Bool => 13,
        L::String => 14,
        L::LcString => 15,
    }
}

/// Reads what is left of a part, front to back.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PartError> {
        if n > self.rest.len() {
            return Err(damaged(format!(
                "{what} needs {n} bytes, {} are left",
                self.rest.len()
            )));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<usize, PartError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// `n` cells of `width` bytes.
    fn cells(&mut self, n: usize, width: usize, what: &str) -> Result<&'a [u8], PartError> {
        let len = n
            .checked_mul(width)
            .ok_or_else(|| damaged(format!("{what}: {n} cells")))?;
        self.take(len, what)
    }

    /// `n` ascending ends (u32) of texts, the last one `total`.
    fn ends(&mut self, n: usize, total: usize, what: &str) -> Result<Vec<i32>, PartError> {
        let raw = self.cells(n, 4, what)?;
        let mut ends = Vec::with_capacity(n + 1);
        ends.push(0i32);
        let mut last = 0usize;
        for c in raw.chunks_exact(4) {
            let e = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
            if e < last || e > total {
                return Err(damaged(format!("{what}: an end out of order")));
            }
            last = e;
            ends.push(i32::try_from(e).map_err(|_| damaged(format!("{what}: past 2 GiB")))?);
        }
        if last != total {
            return Err(damaged(format!("{what}: the ends stop short of the text")));
        }
        Ok(ends)
    }
}

/// The text of `n` values ending at `ends`, checked UTF-8 at every edge.
fn texts<'a>(
    r: &mut Reader<'a>,
    ends: &[i32],
    total: usize,
    what: &str,
) -> Result<&'a str, PartError> {
    let s = std::str::from_utf8(r.take(total, what)?)
        .map_err(|_| damaged(format!("{what}: not UTF-8")))?;
    if !ends.iter().all(|&e| s.is_char_boundary(e as usize)) {
        return Err(damaged(format!("{what}: a value cut inside a character")));
    }
    Ok(s)
}

/// `part` within the bound and with its head, as (body, hash).
fn split<'a>(part: &'a [u8], limits: &PartLimits) -> Result<(&'a [u8], &'a [u8]), PartError> {
    if part.len() > limits.max_bytes {
        return Err(PartError::TooBig {
            what: "the part",
            got: part.len(),
            max: limits.max_bytes,
        });
    }
    if part.len() < MAGIC.len() + 6 + HASH || !part.starts_with(MAGIC) {
        return Err(damaged("not a sealed part (no HCC1 head)"));
    }
    Ok(part.split_at(part.len() - HASH))
}

/// Decodes `part` of `schema`'s table into the output columns `cols`
/// (indices into `schema.columns`, in output order), skipping the others.
pub fn decode_part(
    schema: &TableSchema,
    cols: &[usize],
    part: &[u8],
    limits: &PartLimits,
) -> Result<Columns, PartError> {
    check_part(part, limits)?;
    decode_checked(schema, cols, part, limits)
}

/// Whether `part` is whole: within the bound, its head, its hash. A
/// caller that must know an hour's parts are all sound before sending
/// any checks them first, then decodes each with [`decode_checked`].
pub fn check_part(part: &[u8], limits: &PartLimits) -> Result<(), PartError> {
    let (body, hash) = split(part, limits)?;
    if blake3::hash(body).as_bytes() != hash {
        return Err(damaged("its hash does not match its bytes"));
    }
    Ok(())
}

/// [`decode_part`] of a part [`check_part`] passed (the hash is not
/// computed again; every length, tag, offset and key still is).
pub fn decode_checked(
    schema: &TableSchema,
    cols: &[usize],
    part: &[u8],
    limits: &PartLimits,
) -> Result<Columns, PartError> {
    let (body, _) = split(part, limits)?;
    let mut r = Reader { rest: &body[4..] };
    let rows = r.u32("the row count")?;
    if rows > limits.max_rows {
        return Err(PartError::TooBig {
            what: "the row count",
            got: rows,
            max: limits.max_rows,
        });
    }
    let width = {
        let b = r.take(2, "the column count")?;
        u16::from_le_bytes([b[0], b[1]]) as usize
    };
    if width != schema.columns.len() {
        return Err(PartError::Schema(format!(
            "(count: {width} in the part, {} in the table)",
            schema.columns.len()
        )));
    }
    // Where each table column goes in the output, if it is wanted.
    // (A selection may name a column twice.)
    let mut out_of: Vec<Vec<usize>> = vec![Vec::new(); width];
    for (k, &c) in cols.iter().enumerate() {
        if let Some(slot) = out_of.get_mut(c) {
            slot.push(k);
        }
    }
    let mut out = Columns::new(schema, cols, 0);
    for (c, def) in schema.columns.iter().enumerate() {
        let what = def.name.as_str();
        let t = r.take(1, what)?[0];
        if t != tag(def.ty) {
            return Err(PartError::Schema(def.name.clone()));
        }
        let built = read_column(&mut r, def.ty, rows, what)?;
        if let Some((&last, rest)) = out_of[c].split_last() {
            for &k in rest {
                if let Some(slot) = out.builders.get_mut(k) {
                    *slot = built.clone();
                }
            }
            if let Some(slot) = out.builders.get_mut(last) {
                *slot = built;
            }
        }
    }
    if !r.rest.is_empty() {
        return Err(damaged(format!(
            "{} bytes after the last column",
            r.rest.len()
        )));
    }
    out.set_rows(rows);
    if !out.is_whole() {
        return Err(damaged("a column of another length"));
    }
    Ok(out)
}

fn read_column(
    r: &mut Reader<'_>,
    ty: LogicalType,
    rows: usize,
    what: &str,
) -> Result<Builder, PartError> {
    use LogicalType as L;
    macro_rules! fixed {
        ($t:ty, $n:literal) => {{
            let raw = r.cells(rows, $n, what)?;
            raw.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; $n])))
                .collect::<Vec<$t>>()
        }};
    }
    Ok(match ty {
        L::TimestampMs => Builder::Ts(fixed!(i64, 8)),
        L::Int64 => Builder::I64(fixed!(i64, 8)),
        L::Decimal { scale } => {
            Builder::Decimal(fixed!(i64, 8).into_iter().map(i128::from).collect(), scale)
        }
        L::Date => Builder::Date(fixed!(i32, 4)),
        L::Int32 => Builder::I32(fixed!(i32, 4)),
        L::Int8 => Builder::I8(fixed!(i8, 1)),
        L::Int16 => Builder::I16(fixed!(i16, 2)),
        L::UInt8 => Builder::U8(fixed!(u8, 1)),
        L::UInt16 => Builder::U16(fixed!(u16, 2)),
        L::UInt32 => Builder::U32(fixed!(u32, 4)),
        L::UInt64 => Builder::U64(fixed!(u64, 8)),
        L::Float64 => Builder::F64(fixed!(f64, 8)),
        L::Bool => {
            let raw = r.cells(rows, 1, what)?;
            if raw.iter().any(|&b| b > 1) {
                return Err(damaged(format!("{what}: a bool that is neither 0 nor 1")));
            }
            Builder::Bool(raw.iter().map(|&b| b == 1).collect())
        }
        L::String => {
            let total = r.u32(what)?;
            let ends = r.ends(rows, total, what)?;
            let s = texts(r, &ends, total, what)?;
            Builder::Str(s.to_string(), ends)
        }
        L::LcString => {
            let n = r.u32(what)?;
            // The encoder writes only values its rows use.
            if n > rows {
                return Err(damaged(format!("{what}: {n} values for {rows} rows")));
            }
            let total = r.u32(what)?;
            let ends = r.ends(n, total, what)?;
            let s = texts(r, &ends, total, what)?;
            let values = ends
                .windows(2)
                .map(|w| s[w[0] as usize..w[1] as usize].to_string());
            let dict = LocalDictionary::from_values(values.collect());
            let raw = r.cells(rows, 4, what)?;
            let mut keys = Vec::with_capacity(rows);
            for c in raw.chunks_exact(4) {
                let k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
                if k >= n {
                    return Err(damaged(format!("{what}: a key past its {n} values")));
                }
                // k < n, and n values came from u32 ends within i32.
                keys.push(
                    i32::try_from(k).map_err(|_| damaged(format!("{what}: a key past i32")))?,
                );
            }
            Builder::Lc(keys, dict)
        }
    })
}

#[path = "sealed_part_write.rs"]
mod write;
pub use write::encode_part;

#[cfg(test)]
#[path = "sealed_part_tests.rs"]
mod tests;
