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
