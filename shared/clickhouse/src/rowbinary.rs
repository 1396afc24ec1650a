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
pub struct Decoder {
    schema: TableSchema,
    pending: Vec<u8>,
    batch: RowBatch,
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

impl Decoder {
    pub fn new(schema: TableSchema, max_string: usize) -> Self {
        let batch = RowBatch::new(&schema);
        Self {
            schema,
            pending: Vec::new(),
            batch,
            max_string,
        }
    }

    /// Adds bytes and decodes every whole row in them.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), RowBinaryError> {
        self.pending.extend_from_slice(data);
        let mut pos = 0;
        while let Step::Row(next) = self.try_row(pos)? {
            pos = next;
        }
        self.pending.drain(..pos);
        Ok(())
    }

    /// Rows decoded so far (taken out of the decoder).
    pub fn take(&mut self) -> RowBatch {
        std::mem::replace(&mut self.batch, RowBatch::new(&self.schema))
    }

    pub fn buffered_rows(&self) -> usize {
        self.batch.len()
    }

    /// Call at the end of the stream: leftover bytes mean a cut-off row.
    pub fn finish(&mut self) -> Result<RowBatch, RowBinaryError> {
        if !self.pending.is_empty() {
            return Err(RowBinaryError::Truncated);
        }
        Ok(self.take())
    }

    /// The end of the row starting at `pos`, or `None` if the buffer does
    /// not hold all of it yet. Reads only widths and string lengths.
    fn row_end(&self, mut pos: usize) -> Result<Option<usize>, RowBinaryError> {
        let buf = &self.pending;
        for def in &self.schema.columns {
            let width = match def.ty {
                LogicalType::Int8 | LogicalType::UInt8 | LogicalType::Bool => 1,
                LogicalType::Int16 | LogicalType::UInt16 | LogicalType::Date => 2,
                LogicalType::Int32 | LogicalType::UInt32 => 4,
                LogicalType::String | LogicalType::LcString => {
                    let mut len: u64 = 0;
                    let mut shift = 0;
                    loop {
                        let Some(&b) = buf.get(pos) else {
                            return Ok(None);
                        };
                        pos += 1;
                        len |= u64::from(b & 0x7f) << shift;
                        if b & 0x80 == 0 {
                            break;
                        }
                        shift += 7;
                        if shift > 63 {
                            return Err(RowBinaryError::StringTooLong(u64::MAX));
                        }
                    }
                    if len > self.max_string as u64 {
                        return Err(RowBinaryError::StringTooLong(len));
                    }
                    len as usize
                }
                _ => 8,
            };
            pos += width;
            if pos > buf.len() {
                return Ok(None);
            }
        }
        Ok(Some(pos))
    }

    /// Decodes one row at `start` if it is whole, straight into the
    /// batch's columns (no `Value` per cell); a partial row is left alone.
    /// On an error the batch keeps only the rows before this one.
    fn try_row(&mut self, start: usize) -> Result<Step, RowBinaryError> {
        let Some(end) = self.row_end(start)? else {
            return Ok(Step::NeedMore);
        };
        let rows = self.batch.len();
        if let Err(e) = self.decode_row(start) {
            self.batch.truncate(rows);
            return Err(e);
        }
        Ok(Step::Row(end))
    }

    /// Decodes a row `row_end` found whole: every slice below is in bounds.
    fn decode_row(&mut self, mut pos: usize) -> Result<(), RowBinaryError> {
        let buf = &self.pending;
        let mut take = |n: usize| {
            let s = &buf[pos..pos + n];
            pos += n;
            s
        };
        for (def, col) in self.schema.columns.iter().zip(&mut self.batch.columns) {
            use LogicalType as L;
            match (col, def.ty) {
                (Column::I64(c), L::Int8) => c.push(i64::from(take(1)[0] as i8)),
                (Column::I64(c), L::Int16) => c.push(i64::from(i16::from_le_bytes(arr(take(2))))),
                (Column::I64(c), L::Int32) => c.push(i64::from(i32::from_le_bytes(arr(take(4))))),
                (Column::I64(c), L::Date) => c.push(i64::from(u16::from_le_bytes(arr(take(2))))),
                (Column::I64(c), _) => c.push(i64::from_le_bytes(arr(take(8)))),
                (Column::U64(c), L::UInt8) => c.push(u64::from(take(1)[0])),
                (Column::U64(c), L::UInt16) => c.push(u64::from(u16::from_le_bytes(arr(take(2))))),
                (Column::U64(c), L::UInt32) => c.push(u64::from(u32::from_le_bytes(arr(take(4))))),
                (Column::U64(c), _) => c.push(u64::from_le_bytes(arr(take(8)))),
                (Column::F64(c), _) => c.push(f64::from_le_bytes(arr(take(8)))),
                (Column::Bool(c), _) => match take(1)[0] {
                    0 => c.push(false),
                    1 => c.push(true),
                    b => return Err(RowBinaryError::BadBool(b)),
                },
                (Column::Str(c), _) => {
                    let mut len = 0usize;
                    let mut shift = 0;
                    loop {
                        let b = take(1)[0];
                        len |= usize::from(b & 0x7f) << shift;
                        if b & 0x80 == 0 {
                            break;
                        }
                        shift += 7;
                    }
                    let s = std::str::from_utf8(take(len)).map_err(|_| RowBinaryError::NotUtf8)?;
                    c.push(s.to_string());
                }
            }
        }
        Ok(())
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

        #[test]
        fn junk_is_an_error_or_rows_never_a_panic(junk in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut d = Decoder::new(schema(), 64);
            let _ = d.feed(&junk).and_then(|_| d.finish());
        }
    }
}
