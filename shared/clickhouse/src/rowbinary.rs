//! ClickHouse's RowBinary format for runtime-declared schemas: the encoder
//! feeds inserts, the streaming decoder reads query results back into
//! batches. Widths follow the ClickHouse type each logical type maps to;
//! they are the same on 18.x and modern servers (DateTime64(3) is an Int64
//! of milliseconds, LowCardinality(String) a String, Bool a UInt8).

use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::schema::{LogicalType, TableSchema};

/// Appends the batch's rows in RowBinary: the same layout our binary
/// ingest reads, so one encoder serves both.
pub use hotcold_core::ingest::encode_rowbinary as encode;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RowBinaryError {
    #[error("string of {0} bytes is over the limit")]
    StringTooLong(u64),
    #[error("string is not UTF-8")]
    NotUtf8,
    #[error("bool byte {0} is not 0 or 1")]
    BadBool(u8),
    #[error("result ended in the middle of a row")]
    Truncated,
}

/// Decodes a RowBinary stream that arrives in arbitrary pieces.
///
/// Cells are written at the next row of the batch in place: over an old
/// cell while the batch is one handed back by [`Decoder::recycle`] (a
/// string keeps its buffer), else appended. `rows` counts the rows
/// decoded; anything past it is a partial row or a stale cell, cut off
/// when the batch is taken.
pub struct Decoder {
    schema: TableSchema,
    pending: Vec<u8>,
    batch: RowBatch,
    rows: usize,
    /// A batch handed back to be filled again.
    spare: Option<RowBatch>,
    max_string: usize,
}
/// A fixed-size array from a slice `take!` has already cut to length.
fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&s[..N]);
    a
}

enum Step {
    Row(usize),
    NeedMore,
}

/// Writes `x` at row `at`: over the old cell, else appended.
fn set<T>(v: &mut Vec<T>, at: usize, x: T) {
    match v.get_mut(at) {
        Some(old) => *old = x,
        None => v.push(x),
    }
}

impl Decoder {
    pub fn new(schema: TableSchema, max_string: usize) -> Self {
        let batch = RowBatch::new(&schema);
        Self {
            schema,
            pending: Vec::new(),
            batch,
            rows: 0,
            spare: None,
            max_string,
        }
    }

    /// Adds bytes and decodes every whole row in them.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), RowBinaryError> {
        self.pending.extend_from_slice(data);
        let mut pos = 0;
        while let Step::Row(next) = self.decode_row(pos)? {
            pos = next;
            self.rows += 1;
        }
        self.pending.drain(..pos);
        Ok(())
    }

    /// Rows decoded so far (taken out of the decoder).
    pub fn take(&mut self) -> RowBatch {
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| RowBatch::new(&self.schema));
        let mut b = std::mem::replace(&mut self.batch, next);
        b.truncate(self.rows);
        self.rows = 0;
        b
    }

    /// Hands back a batch [`Decoder::take`] gave, to be filled again: a
    /// reader that is done with each batch allocates nothing per row.
    pub fn recycle(&mut self, b: RowBatch) {
        let fits = b.columns.len() == self.schema.columns.len()
            && b.columns
                .iter()
                .zip(&self.schema.columns)
                .all(|(c, d)| c.kind() == d.ty.physical());
        if fits {
            self.spare = Some(b);
        }
    }

    pub fn buffered_rows(&self) -> usize {
        self.rows
    }

    /// Call at the end of the stream: leftover bytes mean a cut-off row.
    pub fn finish(&mut self) -> Result<RowBatch, RowBinaryError> {
        if !self.pending.is_empty() {
            return Err(RowBinaryError::Truncated);
        }
        Ok(self.take())
    }

    /// Writes one row's cells at row `rows` of the batch's columns if the
    /// row is whole: no row of values is built on the way (a day of bars
    /// is 17k rows, an archive read-back a whole day of trades). A partial
    /// row leaves cells past `rows`, overwritten by the next call.
    fn decode_row(&mut self, start: usize) -> Result<Step, RowBinaryError> {
        let buf = &self.pending;
        let at = self.rows;
        let max_string = self.max_string as u64;
        let mut pos = start;
        macro_rules! take {
            ($n:expr) => {{
                let n = $n;
                if buf.len() < pos + n {
                    return Ok(Step::NeedMore);
                }
                let s = &buf[pos..pos + n];
                pos += n;
                s
            }};
        }
        for (def, col) in self
            .schema
            .columns
            .iter()
            .zip(self.batch.columns.iter_mut())
        {
            match (def.ty, col) {
                (LogicalType::Int8, Column::I64(v)) => set(v, at, i64::from(take!(1)[0] as i8)),
                (LogicalType::Int16, Column::I64(v)) => {
                    set(v, at, i64::from(i16::from_le_bytes(arr(take!(2)))))
                }
                (LogicalType::Int32, Column::I64(v)) => {
                    set(v, at, i64::from(i32::from_le_bytes(arr(take!(4)))))
                }
                (LogicalType::Date, Column::I64(v)) => {
                    set(v, at, i64::from(u16::from_le_bytes(arr(take!(2)))))
                }
                (
                    LogicalType::TimestampMs | LogicalType::Int64 | LogicalType::Decimal { .. },
                    Column::I64(v),
                ) => set(v, at, i64::from_le_bytes(arr(take!(8)))),
                (LogicalType::UInt8, Column::U64(v)) => set(v, at, u64::from(take!(1)[0])),
                (LogicalType::UInt16, Column::U64(v)) => {
                    set(v, at, u64::from(u16::from_le_bytes(arr(take!(2)))))
                }
                (LogicalType::UInt32, Column::U64(v)) => {
                    set(v, at, u64::from(u32::from_le_bytes(arr(take!(4)))))
                }
                (LogicalType::UInt64, Column::U64(v)) => {
                    set(v, at, u64::from_le_bytes(arr(take!(8))))
                }
                (LogicalType::Float64, Column::F64(v)) => {
                    set(v, at, f64::from_le_bytes(arr(take!(8))))
                }
                (LogicalType::Bool, Column::Bool(v)) => match take!(1)[0] {
                    0 => set(v, at, false),
                    1 => set(v, at, true),
                    b => return Err(RowBinaryError::BadBool(b)),
                },
                (LogicalType::String | LogicalType::LcString, Column::Str(v)) => {
                    let mut len: u64 = 0;
                    let mut shift = 0;
                    loop {
                        let b = take!(1)[0];
                        len |= u64::from(b & 0x7f) << shift;
                        if b & 0x80 == 0 {
                            break;
                        }
                        shift += 7;
                        if shift > 63 {
                            return Err(RowBinaryError::StringTooLong(u64::MAX));
                        }
                    }
                    if len > max_string {
                        return Err(RowBinaryError::StringTooLong(len));
                    }
                    let s = take!(len as usize);
                    let s = std::str::from_utf8(s).map_err(|_| RowBinaryError::NotUtf8)?;
                    match v.get_mut(at) {
                        Some(old) => {
                            old.clear();
                            old.push_str(s);
                        }
                        None => v.push(s.to_string()),
                    }
                }
                // The batch is made from this schema: kinds always match.
                _ => {}
            }
        }
        Ok(Step::Row(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_core::schema::ColumnDef;
    use hotcold_core::Value;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        let cols = [
            ("ts", "timestamp_ms"),
            ("d", "date"),
            ("s", "string"),
            ("px", "decimal(8)"),
            ("a", "int8"),
            ("b", "int16"),
            ("c", "int32"),
            ("e", "uint8"),
            ("f", "uint16"),
            ("g", "uint32"),
            ("h", "uint64"),
            ("x", "float64"),
            ("y", "bool"),
        ];
        TableSchema {
            name: "t".into(),
            time_column: "ts".into(),
            hot_retention: None,
            partition: Default::default(),
            columns: cols
                .iter()
                .map(|(n, t)| ColumnDef {
                    name: (*n).into(),
                    ty: t.parse().unwrap(),
                })
                .collect(),
        }
    }

    proptest! {
        #[test]
        fn round_trip_in_random_pieces(
            rows in proptest::collection::vec((any::<i64>(), 0i64..65535, ".{0,20}", any::<i8>(), any::<i16>(), any::<i32>(),
                any::<u8>(), any::<u16>(), any::<u32>(), any::<u64>(), any::<bool>()), 0..40),
            piece in 1usize..64,
        ) {
            let s = schema();
            let mut b = RowBatch::new(&s);
            for r in &rows {
                b.push_row(vec![Value::I64(r.0), Value::I64(r.1), Value::Str(r.2.clone()), Value::I64(r.0 / 3),
                    Value::I64(r.3.into()), Value::I64(r.4.into()), Value::I64(r.5.into()), Value::U64(r.6.into()),
                    Value::U64(r.7.into()), Value::U64(r.8.into()), Value::U64(r.9), Value::F64(r.0 as f64), Value::Bool(r.10)]).unwrap();
            }
            let mut bytes = Vec::new();
            encode(&s, &b, &mut bytes);
            let mut d = Decoder::new(s, 1 << 20);
            for p in bytes.chunks(piece) {
                d.feed(p).unwrap();
            }
            prop_assert_eq!(d.finish().unwrap(), b);
        }

        /// Taking batches at any point and handing them back to be filled
        /// again (stale cells, strings of other lengths in them) loses,
        /// repeats or mixes no row.
        #[test]
        fn recycled_batches_hold_exactly_the_rows(
            rows in proptest::collection::vec((any::<i64>(), ".{0,12}", any::<bool>()), 0..60),
            piece in 1usize..40,
            every in 1usize..5,
        ) {
            let s = TableSchema {
                columns: schema().columns.into_iter().filter(|c| ["ts", "s", "y"].contains(&c.name.as_str())).collect(),
                ..schema()
            };
            let mut b = RowBatch::new(&s);
            for r in &rows {
                b.push_row(vec![Value::I64(r.0), Value::Str(r.1.clone()), Value::Bool(r.2)]).unwrap();
            }
            let mut bytes = Vec::new();
            encode(&s, &b, &mut bytes);
            let mut d = Decoder::new(s.clone(), 1 << 20);
            let mut got: Vec<Vec<Value>> = Vec::new();
            for (k, p) in bytes.chunks(piece).enumerate() {
                d.feed(p).unwrap();
                if k % every == 0 {
                    let t = d.take();
                    got.extend((0..t.len()).map(|i| t.row(i)));
                    d.recycle(t);
                }
            }
            let t = d.finish().unwrap();
            got.extend((0..t.len()).map(|i| t.row(i)));
            let want: Vec<Vec<Value>> = (0..b.len()).map(|i| b.row(i)).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn junk_is_an_error_or_rows_never_a_panic(junk in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut d = Decoder::new(schema(), 64);
            let _ = d.feed(&junk).and_then(|_| d.finish());
        }
    }
}
