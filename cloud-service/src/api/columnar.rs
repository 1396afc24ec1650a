//! Answers as an Arrow IPC stream or a Parquet file (`format=arrow`,
//! `format=parquet`), batch by batch like the text formats.
//!
//! The answer's signals go where each format keeps metadata: the IPC
//! stream's schema, which is its first message, and the Parquet footer,
//! its last. An IPC answer therefore holds back its first batches (up to
//! [`WHOLE_BYTES`] of arrays, the size below which answers go out whole)
//! until it knows whether the answer ends there: a whole answer's schema
//! carries the truncation flag and row counts, a longer one's says
//! `hotcold.streamed` and, like the text formats' streamed answers,
//! leaves truncation to the reader (rows == limit).

use super::respond::WHOLE_BYTES;
use crate::router::{Head, Tail};
use hotcold_arrow::{
    meta, BatchConverter, Columns, EncodeError, IpcStream, ParquetFile, RecordBatch,
};
use hotcold_core::schema::TableSchema;
use hotcold_core::RowBatch;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) struct Columnar {
    conv: BatchConverter,
    /// Metadata known at the head: watermark and missing ranges.
    head_meta: HashMap<String, String>,
    state: State,
}

enum State {
    /// IPC: batches waiting for the schema, and their array bytes.
    Holding(Vec<RecordBatch>, usize),
    Ipc(IpcStream),
    /// Parquet before `begin`.
    ParquetPending,
    Parquet(ParquetFile),
    Done,
}

impl Columnar {
    pub fn arrow(schema: TableSchema, cols: Vec<usize>) -> Self {
        Self::new(schema, cols, State::Holding(Vec::new(), 0))
    }

    pub fn parquet(schema: TableSchema, cols: Vec<usize>) -> Self {
        Self::new(schema, cols, State::ParquetPending)
    }

    fn new(schema: TableSchema, cols: Vec<usize>, state: State) -> Self {
        let arrow = Arc::new(hotcold_arrow::arrow_schema(&schema, &cols, HashMap::new()));
        Self {
            conv: BatchConverter::new(schema, cols, arrow),
            head_meta: HashMap::new(),
            state,
        }
    }

    /// Whether bytes already went out under a schema that could not say
    /// how the answer ends (IPC only).
    pub fn streaming(&self) -> bool {
        matches!(self.state, State::Ipc(_))
    }

    pub fn begin(&mut self, head: &Head, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.head_meta = head_meta(head);
        if let State::ParquetPending = self.state {
            // Parquet: the magic bytes now, the metadata in the footer.
            let schema = self.conv.schema().clone();
            self.state = State::Parquet(ParquetFile::new(schema, out)?);
        }
        Ok(())
    }

    pub fn batch(&mut self, b: &RowBatch, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if b.is_empty() {
            return Ok(());
        }
        let rb = self.conv.convert(b)?;
        self.push(rb, out)
    }

    /// A chunk the hot store read straight into columns.
    pub fn columns(&mut self, c: Columns, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if c.is_empty() {
            return Ok(());
        }
        let rb = self.conv.adopt(c)?;
        self.push(rb, out)
    }

    fn push(&mut self, rb: RecordBatch, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match &mut self.state {
            State::Holding(held, bytes) => {
                *bytes += rb.get_array_memory_size();
                held.push(rb);
                if *bytes > WHOLE_BYTES {
                    let mut m = self.head_meta.clone();
                    m.insert(meta::STREAMED.into(), "true".into());
                    self.start_ipc(m, out)?;
                }
            }
            State::Ipc(s) => s.write(&rb, out)?,
            State::Parquet(f) => f.write(&rb, out)?,
            State::ParquetPending | State::Done => {}
        }
        Ok(())
    }

    pub fn end(&mut self, tail: &Tail, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut m = self.head_meta.clone();
        m.extend(tail_meta(tail));
        if let State::Holding(..) = self.state {
            self.start_ipc(m.clone(), out)?;
        }
        match std::mem::replace(&mut self.state, State::Done) {
            State::Ipc(s) => s.finish(out),
            State::Parquet(f) => {
                let mut kv: Vec<(String, String)> = m.into_iter().collect();
                kv.sort();
                f.finish(kv, out)
            }
            State::Holding(..) | State::ParquetPending | State::Done => Ok(()),
        }
    }

    /// Writes the schema with `m` and every held batch.
    fn start_ipc(
        &mut self,
        m: HashMap<String, String>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let State::Holding(held, _) = std::mem::replace(&mut self.state, State::Done) else {
            return Ok(());
        };
        let schema = self.conv.schema().as_ref().clone().with_metadata(m);
        let mut s = IpcStream::new(&schema, out)?;
        for rb in held {
            // The held batches carry the schema without metadata; the
            // stream checks fields, not metadata.
            s.write(&rb, out)?;
        }
        self.state = State::Ipc(s);
        Ok(())
    }
}

fn head_meta(head: &Head) -> HashMap<String, String> {
    let mut m = HashMap::new();
    if let Some(wm) = head.watermark {
        m.insert(meta::WATERMARK.into(), wm.to_string());
    }
    if !head.missing.is_empty() {
        let ranges: Vec<String> = head
            .missing
            .iter()
            .map(|w| format!("{}-{}", w.start, w.end))
            .collect();
        m.insert(meta::MISSING.into(), ranges.join(","));
        m.insert(
            meta::MISSING_REASON.into(),
            head.missing_reason.clone().unwrap_or_default(),
        );
    }
    m
}

fn tail_meta(tail: &Tail) -> [(String, String); 3] {
    [
        (meta::TRUNCATED.into(), tail.truncated.to_string()),
        (meta::HOT_ROWS.into(), tail.hot_rows.to_string()),
        (meta::COLD_ROWS.into(), tail.cold_rows.to_string()),
    ]
}
