//! A Parquet file (zstd) written row group by row group into a buffer the
//! caller drains. Parquet's metadata is a footer, so a reader can use
//! nothing before the last byte; what is in memory at once is one row
//! group being built (at most [`ROW_GROUP_ROWS`] rows or
//! [`ROW_GROUP_BYTES`] encoded), not the answer.

use crate::EncodeError;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

/// Rows of one row group: a million rows of a trades table are ~10 MB
/// compressed, large enough for readers to scan well.
pub const ROW_GROUP_ROWS: usize = 1 << 20;
/// Encoded bytes of the row group being built; a wide or string-heavy
/// table closes its groups here before reaching [`ROW_GROUP_ROWS`].
pub const ROW_GROUP_BYTES: usize = 64 << 20;

pub struct ParquetFile {
    writer: ArrowWriter<Vec<u8>>,
}

impl ParquetFile {
    /// The file's Arrow schema goes into its footer too (`ARROW:schema`),
    /// so Arrow readers get the dictionary and time zone back.
    pub fn new(schema: SchemaRef, out: &mut Vec<u8>) -> Result<Self, EncodeError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .build();
        let mut f = Self {
            writer: ArrowWriter::try_new(Vec::new(), schema, Some(props))?,
        };
        f.drain(out);
        Ok(f)
    }

    /// Adds `batch`; whatever row groups it completed are appended to `out`.
    pub fn write(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.writer.write(batch)?;
        self.drain(out);
        Ok(())
    }

    /// Closes the last row group and writes the footer, with `metadata` in
    /// its key-value pairs (known only now: the answer's end).
    pub fn finish(
        mut self,
        metadata: impl IntoIterator<Item = (String, String)>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        for (k, v) in metadata {
            self.writer.append_key_value_metadata(KeyValue::new(k, v));
        }
        self.writer.finish()?;
        self.drain(out);
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        out.append(self.writer.inner_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{arrow_schema, BatchConverter};
    use hotcold_core::schema::{LogicalType, TableSchema};
    use hotcold_core::{RowBatch, Value};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A file written in pieces reads back with its types (the Arrow schema
    /// in the footer), its rows and the footer's key-value metadata.
    #[test]
    fn a_file_written_in_pieces_reads_back_with_types_and_metadata() {
        let s = TableSchema::new(
            "t",
            "ts",
            &[
                ("ts", LogicalType::TimestampMs),
                ("px", LogicalType::Decimal { scale: 8 }),
                ("sym", LogicalType::LcString),
            ],
        );
        let schema = Arc::new(arrow_schema(&s, &[0, 1, 2], HashMap::new()));
        let mut conv = BatchConverter::new(s.clone(), vec![0, 1, 2], schema.clone());
        let mut out = Vec::new();
        let mut f = ParquetFile::new(schema.clone(), &mut out).unwrap();
        for k in 0..3i64 {
            let mut b = RowBatch::new(&s);
            b.push_row(vec![
                Value::I64(k),
                Value::I64(i64::MIN + k),
                Value::Str(format!("s{k}")),
            ])
            .unwrap();
            f.write(&conv.convert(&b).unwrap(), &mut out).unwrap();
        }
        f.finish(
            [("hotcold.truncated".to_string(), "true".to_string())],
            &mut out,
        )
        .unwrap();
        let r = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out)).unwrap();
        let kv = r.metadata().file_metadata().key_value_metadata().unwrap();
        assert!(kv
            .iter()
            .any(|e| e.key == "hotcold.truncated" && e.value.as_deref() == Some("true")));
        assert_eq!(
            r.schema().fields(),
            schema.fields(),
            "the Arrow types come back"
        );
        let rows: usize = r.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 3);
    }
}
