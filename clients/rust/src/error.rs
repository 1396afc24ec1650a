//! What the client returns when a call fails.

/// A missing cold range, in epoch ms: `[start, end)`.
pub type Range = (i64, i64);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request; `message` is its own text.
    #[error("HTTP {status}: {message}")]
    Server {
        status: u16,
        message: String,
        body: serde_json::Value,
    },
    /// Part of the cold history could not be read (the NAS is offline),
    /// so the server answered nothing; ask with `require_complete(false)`
    /// for the rest.
    #[error("HTTP 503: {message}")]
    MissingRanges {
        message: String,
        missing: Vec<Range>,
        reason: Option<String>,
    },
    /// The server could not be reached, or the connection broke.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// An answer broke off or could not be read (a streamed answer whose
    /// part failed after the first byte ends without its end marker).
    #[error("the answer could not be read whole: {0}")]
    Incomplete(String),
    /// An answer longer than [`crate::Client::max_answer_bytes`].
    #[error("the answer is over {limit} bytes (Client::max_answer_bytes): ask for a narrower range, or page with limit")]
    TooLarge { limit: u64 },
    /// A batch of an ingest failed after `batches_done` batches
    /// (`rows_stored` rows) were stored: call `ingest_with_key` again with
    /// `key`, the same rows and batch size, to resume (stored batches are
    /// replayed, not stored twice).
    #[error("{source} (after {batches_done} batches, {rows_stored} rows stored; resume with ingest_with_key and key {key})")]
    Ingest {
        key: String,
        batches_done: usize,
        rows_stored: u64,
        source: Box<Error>,
    },
    /// Rows that cannot be sent (they do not serialize as JSON objects).
    #[error("row {row}: {why}")]
    Row { row: usize, why: String },
}

impl Error {
    /// The HTTP status of a refusal, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Server { status, .. } => Some(*status),
            Error::MissingRanges { .. } => Some(503),
            Error::Ingest { source, .. } => source.status(),
            _ => None,
        }
    }
}

/// Missing ranges as the server writes them: a JSON list of
/// `{"start", "end"}`, or the metadata text `START-END,START-END`.
pub(crate) fn parse_missing(v: &serde_json::Value) -> Vec<Range> {
    match v {
        serde_json::Value::Array(list) => list
            .iter()
            .filter_map(|r| Some((r.get("start")?.as_i64()?, r.get("end")?.as_i64()?)))
            .collect(),
        serde_json::Value::String(s) => parse_missing_text(s),
        _ => Vec::new(),
    }
}

pub(crate) fn parse_missing_text(s: &str) -> Vec<Range> {
    s.split(',')
        .filter_map(|part| {
            // A start may be negative: the separator is the first dash after it.
            let cut = part.get(1..)?.find('-')? + 1;
            Some((part[..cut].parse().ok()?, part[cut + 1..].parse().ok()?))
        })
        .collect()
}

/// The error a refused request's body names (a JSON `error`, and for a
/// 503 the `missing` cold ranges), read within `MAX_ERROR_BYTES`.
/// An error body is a short JSON object; more is not read.
const MAX_ERROR_BYTES: usize = 64 << 10;

pub(crate) async fn refusal(mut r: reqwest::Response) -> Error {
    let status = r.status();
    let mut raw = Vec::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        raw.extend_from_slice(&chunk);
        if raw.len() >= MAX_ERROR_BYTES {
            raw.truncate(MAX_ERROR_BYTES);
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    let message = body
        .get("error")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .unwrap_or(text);
    match body.get("missing") {
        Some(m) if status == reqwest::StatusCode::SERVICE_UNAVAILABLE => Error::MissingRanges {
            message,
            missing: parse_missing(m),
            reason: body
                .get("missing_reason")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        },
        _ => Error::Server {
            status: status.as_u16(),
            message,
            body,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ranges_in_both_forms() {
        assert_eq!(parse_missing_text("-5-10,20-30"), vec![(-5, 10), (20, 30)]);
        assert_eq!(parse_missing_text(""), Vec::<Range>::new());
        assert_eq!(parse_missing_text("garbage,1-2"), vec![(1, 2)]);
        let v = serde_json::json!([{"start": 1, "end": 2}, {"start": "x"}]);
        assert_eq!(parse_missing(&v), vec![(1, 2)]);
    }
}
