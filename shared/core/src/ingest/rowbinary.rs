//! Binary ingest: ClickHouse's RowBinary layout of the table's declared
//! columns, in schema order, row after row. A collector that already
//! writes RowBinary for ClickHouse (`INSERT ... FORMAT RowBinary`) sends
//! the same bytes here.
//!
//! Widths per logical type: Int8/16/32/64 and UInt8/16/32/64 as themselves
//! (little-endian), timestamp_ms and decimal(s) as Int64 (milliseconds; the
//! value scaled by 10^s), date as UInt16 days since 1970-01-01, float64 as
//! 8 bytes, bool as one byte 0 or 1, string and lc_string as a LEB128
//! length and UTF-8 bytes.
//!
//! Checked as strictly as NDJSON: a float must be finite (-0.0 is stored as
//! 0.0), a bool byte 0 or 1, a string valid UTF-8 and within the NAS's
//! bound; a body that stops inside a row is refused, naming the row.

use super::ndjson::IngestLimits;
use crate::batch::{Column, RowBatch};
use crate::schema::{LogicalType, TableSchema};

/// A RowBinary body read a batch at a time (see `NdjsonReader`).
pub struct RowBinaryReader<'a> {
    schema: &'a TableSchema,
    limits: &'a IngestLimits,
    body: &'a [u8],
    pos: usize,
    rows: u64,
}

impl<'a> RowBinaryReader<'a> {
    pub fn new(schema: &'a TableSchema, body: &'a [u8], limits: &'a IngestLimits) -> Self {
        Self {
            schema,
            limits,
            body,
            pos: 0,
            rows: 0,
        }
    }

    fn take(&mut self, n: usize, col: usize) -> Result<&'a [u8], String> {
        let Some(s) = self.body.get(self.pos..self.pos.saturating_add(n)) else {
            return Err(self.ended(col));
        };
        self.pos += n;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self, col: usize) -> Result<[u8; N], String> {
        let s = self.take(N, col)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn ended(&self, col: usize) -> String {
        let c = &self.schema.columns[col];
        format!(
            "row {}: the body ends inside the row, at column {:?} ({}); every row must hold all {} columns",
            self.rows + 1,
            c.name,
            c.ty,
            self.schema.columns.len()
        )
    }

    fn bad(&self, col: usize, what: String) -> String {
        let c = &self.schema.columns[col];
        format!(
            "row {}: column {:?} ({}): {what}",
            self.rows + 1,
            c.name,
            c.ty
        )
    }

    fn varint(&mut self, col: usize) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, col)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad(col, "a string length longer than 10 bytes".into()))
    }

    /// One cell of column `col` appended to `out`.
    fn cell(&mut self, col: usize, out: &mut Column) -> Result<(), String> {
        use LogicalType as L;
        let ty = self.schema.columns[col].ty;
        match (out, ty) {
            (Column::I64(c), L::Int8) => c.push(i64::from(self.fixed::<1>(col)?[0] as i8)),
            (Column::I64(c), L::Int16) => c.push(i64::from(i16::from_le_bytes(self.fixed(col)?))),
            (Column::I64(c), L::Int32) => c.push(i64::from(i32::from_le_bytes(self.fixed(col)?))),
            (Column::I64(c), L::Date) => c.push(i64::from(u16::from_le_bytes(self.fixed(col)?))),
            (Column::I64(c), L::Int64 | L::TimestampMs | L::Decimal { .. }) => {
                c.push(i64::from_le_bytes(self.fixed(col)?))
            }
            (Column::U64(c), L::UInt8) => c.push(u64::from(self.fixed::<1>(col)?[0])),
            (Column::U64(c), L::UInt16) => c.push(u64::from(u16::from_le_bytes(self.fixed(col)?))),
            (Column::U64(c), L::UInt32) => c.push(u64::from(u32::from_le_bytes(self.fixed(col)?))),
            (Column::U64(c), L::UInt64) => c.push(u64::from_le_bytes(self.fixed(col)?)),
            (Column::F64(c), L::Float64) => {
                let f = f64::from_le_bytes(self.fixed(col)?);
                if !f.is_finite() {
                    return Err(self.bad(col, format!("{f} is not a finite number")));
                }
                // SQLite does not keep the sign of zero; the hash must match.
                c.push(if f == 0.0 { 0.0 } else { f });
            }
            (Column::Bool(c), L::Bool) => match self.fixed::<1>(col)?[0] {
                0 => c.push(false),
                1 => c.push(true),
                b => return Err(self.bad(col, format!("bool byte {b} is not 0 or 1"))),
            },
            (Column::Str(c), L::String | L::LcString) => {
                let len = self.varint(col)?;
                let max = self.limits.max_string_bytes;
                if len > max as u64 {
                    return Err(self.bad(
                        col,
                        format!(
                            "a string of {len} bytes is over the {max} bytes a string may hold"
                        ),
                    ));
                }
                let s = self.take(len as usize, col)?;
                let s = std::str::from_utf8(s)
                    .map_err(|e| self.bad(col, format!("not UTF-8 (byte {})", e.valid_up_to())))?;
                c.push(s.to_string());
            }
            (c, _) => {
                return Err(self.bad(
                    col,
                    format!("internal: a {:?} column in the batch", c.kind()),
                ))
            }
        }
        Ok(())
    }

    /// Up to `max_rows` more rows, or `None` once the body is done.
    pub fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, String> {
        let width = self.schema.columns.len();
        // A row is at least one byte a column, which bounds the capacity
        // by the body, whatever `max_rows` says.
        let left = (self.body.len() - self.pos) / width.max(1);
        let mut batch = RowBatch::with_capacity(self.schema, max_rows.min(left).min(8192));
        while batch.len() < max_rows && self.pos < self.body.len() {
            for (col, out) in batch.columns.iter_mut().enumerate() {
                self.cell(col, out)?;
            }
            self.rows += 1;
        }
        if !batch.is_empty() {
            return Ok(Some(batch));
        }
        if self.rows == 0 {
            return Err("body holds no rows".into());
        }
        Ok(None)
    }
}

/// Reads a whole RowBinary body into one batch.
pub fn parse_rowbinary(
    schema: &TableSchema,
    body: &[u8],
    limits: &IngestLimits,
) -> Result<RowBatch, String> {
    let mut reader = RowBinaryReader::new(schema, body, limits);
    let mut all = RowBatch::new(schema);
    while let Some(b) = reader.next_batch(usize::MAX)? {
        all.extend_from(b)
            .map_err(|i| format!("column {i} changed kind between batches"))?;
    }
    Ok(all)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the batch's rows in RowBinary (ClickHouse inserts use it too).
pub fn encode_rowbinary(schema: &TableSchema, batch: &RowBatch, out: &mut Vec<u8>) {
    for i in 0..batch.len() {
        for (c, def) in batch.columns.iter().zip(&schema.columns) {
            match (c, def.ty) {
                (Column::I64(v), LogicalType::Int8) => out.push(v[i] as i8 as u8),
                (Column::I64(v), LogicalType::Int16) => {
                    out.extend_from_slice(&(v[i] as i16).to_le_bytes())
                }
                (Column::I64(v), LogicalType::Int32) => {
                    out.extend_from_slice(&(v[i] as i32).to_le_bytes())
                }
                (Column::I64(v), LogicalType::Date) => {
                    out.extend_from_slice(&(v[i] as u16).to_le_bytes())
                }
                (Column::I64(v), _) => out.extend_from_slice(&v[i].to_le_bytes()),
                (Column::U64(v), LogicalType::UInt8) => out.push(v[i] as u8),
                (Column::U64(v), LogicalType::UInt16) => {
                    out.extend_from_slice(&(v[i] as u16).to_le_bytes())
                }
                (Column::U64(v), LogicalType::UInt32) => {
                    out.extend_from_slice(&(v[i] as u32).to_le_bytes())
                }
                (Column::U64(v), _) => out.extend_from_slice(&v[i].to_le_bytes()),
                (Column::F64(v), _) => out.extend_from_slice(&v[i].to_le_bytes()),
                (Column::Bool(v), _) => out.push(u8::from(v[i])),
                (Column::Str(v), _) => {
                    put_varint(out, v[i].len() as u64);
                    out.extend_from_slice(v[i].as_bytes());
                }
            }
        }
    }
}
