//! A chunk of [`Columns`] as a record batch of the answer: the arrays take
//! the chunk's vectors as they are (no copy), and each `lc_string`
//! column's keys move from the chunk's own dictionary into the stream's.

use crate::columns::{Builder, Columns};
use crate::EncodeError;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int16Array, Int32Array,
    Int64Array, Int8Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use std::sync::Arc;

impl crate::BatchConverter {
    /// A chunk filled by a reader as a record batch of this answer: the
    /// arrays take the chunk's vectors as they are, and each `lc_string`
    /// column's keys are moved from the chunk's dictionary into the
    /// stream's (so, like [`convert`](Self::convert), a stream sends each
    /// symbol once). Chunks must be adopted in answer order.
    pub fn adopt(&mut self, c: Columns) -> Result<RecordBatch, EncodeError> {
        if c.width() != self.dicts.len() || !c.is_whole() {
            return Err(EncodeError::Kind(format!(
                "a chunk of {} columns (rows cut short: {}) for an answer of {}",
                c.width(),
                !c.is_whole(),
                self.dicts.len()
            )));
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(c.width());
        for (k, mut b) in c.builders.into_iter().enumerate() {
            // Arrays keep their vectors' spare room, and the answer weighs
            // arrays by capacity (whole or streamed): exact sizes, as the
            // RowBatch path builds them.
            b.shrink_to_fit();
            let name = c.names.get(k).map(String::as_str).unwrap_or_default();
            arrays.push(match b {
                Builder::Ts(v) => Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC")),
                Builder::Date(v) => Arc::new(Date32Array::from(v)),
                Builder::Decimal(v, scale) => {
                    Arc::new(Decimal128Array::from(v).with_precision_and_scale(
                        crate::record_batch::DECIMAL_PRECISION,
                        scale as i8,
                    )?)
                }
                Builder::I8(v) => Arc::new(Int8Array::from(v)),
                Builder::I16(v) => Arc::new(Int16Array::from(v)),
                Builder::I32(v) => Arc::new(Int32Array::from(v)),
                Builder::I64(v) => Arc::new(Int64Array::from(v)),
                Builder::U8(v) => Arc::new(UInt8Array::from(v)),
                Builder::U16(v) => Arc::new(UInt16Array::from(v)),
                Builder::U32(v) => Arc::new(UInt32Array::from(v)),
                Builder::U64(v) => Arc::new(UInt64Array::from(v)),
                Builder::F64(v) => Arc::new(Float64Array::from(v)),
                Builder::Bool(v) => Arc::new(BooleanArray::from(v)),
                Builder::Str(bytes, ends) => Arc::new(StringArray::try_new(
                    OffsetBuffer::new(ScalarBuffer::from(ends)),
                    Buffer::from(bytes.into_bytes()),
                    None,
                )?),
                Builder::Lc(keys, local) => {
                    let Some(Some(d)) = self.dicts.get_mut(k) else {
                        return Err(EncodeError::Kind(name.to_string()));
                    };
                    d.start_batch();
                    // Only the values rows still use (a truncated chunk's
                    // dictionary may name symbols of rows cut off).
                    let mut used = vec![false; local.values.len()];
                    for &x in &keys {
                        if let Some(u) = used.get_mut(x as usize) {
                            *u = true;
                        }
                    }
                    let mut map = vec![0i32; local.values.len()];
                    for ((to, s), used) in map.iter_mut().zip(&local.values).zip(used) {
                        if used {
                            *to = d.key(s, name)?;
                        }
                    }
                    // Every local key indexes `local.values` (LocalDictionary::key).
                    let keys = keys
                        .into_iter()
                        .map(|x| map.get(x as usize).copied().unwrap_or(0))
                        .collect();
                    d.array(keys)?
                }
            });
        }
        Ok(RecordBatch::try_new(self.arrow.clone(), arrays)?)
    }
}
