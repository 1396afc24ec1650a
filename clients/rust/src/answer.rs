//! An answer in Arrow: its record batches and the signals the server put in
//! the stream's schema (and headers).

use crate::error::{parse_missing_text, Error, Range};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

/// What the server said about an answer besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// The confirmed watermark the answer was split at (epoch ms).
    pub watermark: Option<i64>,
    /// Cold ranges the answer lacks (only with `require_complete(false)`).
    pub missing: Vec<Range>,
    pub missing_reason: Option<String>,
    /// The server's row limit cut the answer: `Some(true)` or
    /// `Some(false)`, or `None` when it cannot be known (a streamed answer
    /// went out before its end; ask for `limit` + 1 rows to tell).
    pub truncated: Option<bool>,
    pub hot_rows: Option<u64>,
    pub cold_rows: Option<u64>,
    /// Sent before its end was known (no truncation flag then).
    pub streamed: bool,
}

/// Rows as Arrow record batches (timestamps as timestamp[ms, UTC],
/// decimals as decimal128(38, scale), exact).
#[derive(Debug, Clone)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub signals: Signals,
}

impl Answer {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Reads an IPC stream answer whole.
    pub(crate) fn from_ipc(
        body: &[u8],
        headers: &reqwest::header::HeaderMap,
    ) -> Result<Self, Error> {
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
            .map_err(|e| Error::Incomplete(e.to_string()))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Incomplete(e.to_string()))?;
        let signals = signals(schema.metadata(), headers);
        Ok(Self {
            schema,
            batches,
            signals,
        })
    }
}

impl Signals {
    /// What the headers say (the text formats' answers carry no schema).
    pub(crate) fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        signals(&arrow_schema::Metadata::default(), headers)
    }
}

pub(crate) fn signals(
    meta: &arrow_schema::Metadata,
    headers: &reqwest::header::HeaderMap,
) -> Signals {
    let get = |key: &str, header: &str| -> Option<String> {
        meta.get(&format!("hotcold.{key}")).cloned().or_else(|| {
            headers
                .get(format!("x-hotcold-{header}"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
    };
    let meta_num = |key: &str| {
        meta.get(&format!("hotcold.{key}"))
            .and_then(|v| v.parse().ok())
    };
    Signals {
        watermark: get("watermark", "watermark").and_then(|v| v.parse().ok()),
        missing: get("missing", "missing")
            .map(|v| parse_missing_text(&v))
            .unwrap_or_default(),
        missing_reason: meta.get("hotcold.missing_reason").cloned(),
        truncated: match get("truncated", "truncated").as_deref() {
            Some(v) => Some(v == "true"),
            None if meta.get("hotcold.streamed").map(String::as_str) == Some("true") => None,
            None if headers.contains_key("x-hotcold-streamed") => None,
            None => Some(false),
        },
        hot_rows: meta_num("hot_rows"),
        cold_rows: meta_num("cold_rows"),
        streamed: meta.get("hotcold.streamed").map(String::as_str) == Some("true"),
    }
}
