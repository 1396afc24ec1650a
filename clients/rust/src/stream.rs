//! A streamed answer: record batches decoded as the bytes arrive, so an
//! answer of any size takes the memory of a batch or two, not the whole
//! answer (which [`crate::Client::query`] reads within `max_answer_bytes`).

use crate::answer::{signals, Signals};
use crate::error::Error;
use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::SchemaRef;

/// The end of an Arrow IPC stream: a continuation marker and a zero
/// length. A body that ends without it was cut (the server stopped, or the
/// connection broke between two batches).
const END: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// Batches of one answer, in order, as they arrive: `next().await` until
/// `None`. The schema and the signals the server put in it are known
/// before the first batch.
pub struct BatchStream {
    response: reqwest::Response,
    decoder: StreamDecoder,
    /// Bytes received and not yet decoded.
    buffer: Buffer,
    /// A batch decoded while the schema was awaited.
    pending: Option<RecordBatch>,
    schema: SchemaRef,
    signals: Signals,
    /// The last bytes of the body, to tell a finished stream from a cut one.
    tail: Vec<u8>,
    done: bool,
}

impl BatchStream {
    /// Reads until the schema is in (the stream's first message).
    pub(crate) async fn start(response: reqwest::Response) -> Result<Self, Error> {
        let headers = response.headers().clone();
        let mut s = Self {
            response,
            decoder: StreamDecoder::new(),
            buffer: Buffer::from(Vec::<u8>::new()),
            pending: None,
            schema: std::sync::Arc::new(arrow_schema::Schema::empty()),
            signals: Signals::default(),
            tail: Vec::new(),
            done: false,
        };
        loop {
            if let Some(schema) = s.decoder.schema() {
                s.signals = signals(schema.metadata(), &headers);
                s.schema = schema;
                return Ok(s);
            }
            match s.decode_next().await? {
                Some(b) => s.pending = Some(b),
                None => {
                    return Err(Error::Incomplete(
                        "the answer ended before its schema".into(),
                    ))
                }
            }
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// What the server said of the answer: watermark, missing cold ranges,
    /// truncation (`None` for a streamed answer, whose end was not known
    /// when its schema went out).
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// The next batch; `None` once the answer is complete. An answer that
    /// breaks off is [`Error::Incomplete`], never a silent short answer.
    pub async fn next(&mut self) -> Option<Result<RecordBatch, Error>> {
        if let Some(b) = self.pending.take() {
            return Some(Ok(b));
        }
        self.decode_next().await.transpose()
    }

    /// Every remaining batch (for callers that want them all after all).
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>, Error> {
        let mut out = Vec::new();
        while let Some(b) = self.next().await {
            out.push(b?);
        }
        Ok(out)
    }

    async fn decode_next(&mut self) -> Result<Option<RecordBatch>, Error> {
        let bad = |e: arrow_schema::ArrowError| Error::Incomplete(e.to_string());
        loop {
            if !self.buffer.is_empty() {
                if let Some(b) = self.decoder.decode(&mut self.buffer).map_err(bad)? {
                    return Ok(Some(b));
                }
                continue;
            }
            if self.done {
                return Ok(None);
            }
            match self
                .response
                .chunk()
                .await
                .map_err(|e| Error::Incomplete(e.to_string()))?
            {
                Some(chunk) => {
                    self.tail
                        .extend_from_slice(&chunk[chunk.len().saturating_sub(END.len())..]);
                    let cut = self.tail.len().saturating_sub(END.len());
                    self.tail.drain(..cut);
                    self.buffer = Buffer::from(chunk);
                }
                None => {
                    self.done = true;
                    self.decoder.finish().map_err(bad)?;
                    if self.tail != END {
                        return Err(Error::Incomplete(
                            "the answer ended without the Arrow stream's end marker (cut off)"
                                .into(),
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    }
}
