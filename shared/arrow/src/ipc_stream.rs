//! The Arrow IPC stream format (not the file format: no footer, so each
//! batch can go out as soon as it is encoded), written into a buffer that
//! the caller drains after every call.

use crate::EncodeError;
use arrow_array::RecordBatch;
use arrow_ipc::writer::{DictionaryHandling, IpcWriteOptions, StreamWriter};
use arrow_schema::Schema;

pub struct IpcStream {
    writer: StreamWriter<Vec<u8>>,
}

impl IpcStream {
    /// Writes the schema message into `out`. Dictionaries go as deltas: a
    /// batch sends only the values the stream has not carried yet.
    pub fn new(schema: &Schema, out: &mut Vec<u8>) -> Result<Self, EncodeError> {
        let opts = IpcWriteOptions::default().with_dictionary_handling(DictionaryHandling::Delta);
        let mut s = Self {
            writer: StreamWriter::try_new_with_options(Vec::new(), schema, opts)?,
        };
        s.drain(out);
        Ok(s)
    }

    /// Appends `batch` (and any dictionary it needs first) to `out`.
    pub fn write(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.writer.write(batch)?;
        self.drain(out);
        Ok(())
    }

    /// Appends the end-of-stream marker.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.writer.finish()?;
        self.drain(out);
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        out.append(self.writer.get_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{arrow_schema, BatchConverter};
    use arrow_ipc::reader::StreamReader;
    use hotcold_core::schema::{LogicalType, TableSchema};
    use hotcold_core::{RowBatch, Value};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Batches written one at a time, drained as they go, read back whole
    /// by arrow-rs's own reader: the schema's metadata and every row, the
    /// second batch's new symbol sent as a dictionary delta.
    #[test]
    fn a_stream_written_in_pieces_reads_back_whole() {
        let s = TableSchema::new(
            "t",
            "ts",
            &[
                ("ts", LogicalType::TimestampMs),
                ("sym", LogicalType::LcString),
            ],
        );
        let meta = HashMap::from([("hotcold.truncated".to_string(), "false".to_string())]);
        let schema = Arc::new(arrow_schema(&s, &[0, 1], meta));
        let mut conv = BatchConverter::new(s.clone(), vec![0, 1], schema.clone());
        let mut out = Vec::new();
        let mut w = IpcStream::new(&schema, &mut out).unwrap();
        let schema_bytes = out.len();
        assert!(schema_bytes > 0, "the schema goes out at once");
        for names in [["a", "b"], ["b", "c"]] {
            let mut b = RowBatch::new(&s);
            for (i, n) in names.iter().enumerate() {
                b.push_row(vec![Value::I64(i as i64), Value::Str((*n).into())])
                    .unwrap();
            }
            let before = out.len();
            w.write(&conv.convert(&b).unwrap(), &mut out).unwrap();
            assert!(out.len() > before, "each batch is drained as it is written");
        }
        w.finish(&mut out).unwrap();
        let r = StreamReader::try_new(std::io::Cursor::new(out), None).unwrap();
        assert_eq!(r.schema().metadata()["hotcold.truncated"], "false");
        let batches: Vec<_> = r.collect::<Result<_, _>>().unwrap();
        let syms: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let d = arrow_array::cast::AsArray::as_dictionary::<arrow_array::types::Int32Type>(
                    b.column(1),
                );
                let v = arrow_array::cast::AsArray::as_string::<i32>(d.values()).clone();
                d.keys()
                    .values()
                    .iter()
                    .map(|&k| v.value(k as usize).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(syms, ["a", "b", "b", "c"]);
    }
}
