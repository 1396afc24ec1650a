//! A client for hotcold's `cloud-service`, for collectors and jobs written
//! in Rust: ingest rows (NDJSON, in batches, each with an Idempotency-Key so
//! a retry is stored once), and query, bars and aggregates across the hot
//! and cold tiers as Arrow record batches (or JSON rows).
//!
//! ```no_run
//! # async fn f() -> Result<(), hotcold_client::Error> {
//! use hotcold_client::{Client, Options};
//! let c = Client::new("http://127.0.0.1:8080")
//!     .token("read-token")
//!     .ingest_token("ingest-token");
//! let rows = serde_json::json!([{"ts": 1, "symbol": "BTC-USDT", "price": "42000.1"}]);
//! c.ingest("trades", rows.as_array().unwrap()).await?;
//! let answer = c
//!     .query("trades", 0, 1_000, &Options::new().filter("symbol", ["BTC-USDT"]))
//!     .await?;
//! println!("{} rows, cold from {:?}", answer.num_rows(), answer.signals.watermark);
//! # Ok(()) }
//! ```

mod answer;
mod error;
mod ndjson;
mod options;
mod stream;

pub use answer::{Answer, Signals};
pub use arrow_array::RecordBatch;
pub use error::{Error, Range};
pub use options::Options;
pub use stream::BatchStream;

use bytes::Bytes;
use error::refusal;
use ndjson::ndjson;
use std::time::Duration;

/// Rows per ingest request unless [`Client::batch_rows`] says otherwise.
pub const BATCH_ROWS: usize = 50_000;
/// The largest answer read into memory unless [`Client::max_answer_bytes`]
/// says otherwise: an answer is decoded whole, so this bounds the memory a
/// query can take (narrow the range, or page with `limit`, for more).
pub const MAX_ANSWER_BYTES: u64 = 1 << 30;
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    ingest_token: Option<String>,
    batch_rows: usize,
    retries: u32,
    max_answer: u64,
}

impl Client {
    /// A client of the service at `url` (`http://host:8080`).
    pub fn new(url: &str) -> Self {
        // A hung server must not hang the collector: connecting and each
        // read have a deadline (a streamed answer's reads are seconds apart
        // at most).
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(300))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: url.trim_end_matches('/').to_string(),
            token: None,
            ingest_token: None,
            batch_rows: BATCH_ROWS,
            retries: 3,
            max_answer: MAX_ANSWER_BYTES,
        }
    }

    /// The bearer token for queries (and ingest, unless
    /// [`Client::ingest_token`] is set).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// The collectors' token, for ingest.
    pub fn ingest_token(mut self, token: &str) -> Self {
        self.ingest_token = Some(token.to_string());
        self
    }

    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// The largest answer read (bytes); a longer one is [`Error::TooLarge`].
    pub fn max_answer_bytes(mut self, bytes: u64) -> Self {
        self.max_answer = bytes;
        self
    }

    /// How often a request that got no answer, or a 503 with Retry-After
    /// (too many requests at once), is sent again.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// The configured tables with their columns in schema order.
    pub async fn tables(&self) -> Result<serde_json::Value, Error> {
        let r = self.send(self.get("/v1/tables", &[]), false).await?;
        Ok(r.json().await?)
    }

    /// Rows of `table` in `[from_ms, to_ms)`, each once across hot and cold.
    pub async fn query(
        &self,
        table: &str,
        from_ms: i64,
        to_ms: i64,
        o: &Options,
    ) -> Result<Answer, Error> {
        self.arrow("query", table, from_ms, to_ms, o.pairs()).await
    }

    /// [`Client::query`] as a stream of batches decoded as they arrive: any
    /// size of answer in the memory of a batch or two, no
    /// `max_answer_bytes` bound.
    pub async fn query_stream(
        &self,
        table: &str,
        from_ms: i64,
        to_ms: i64,
        o: &Options,
    ) -> Result<BatchStream, Error> {
        let mut q = range(from_ms, to_ms);
        q.extend(o.pairs());
        q.push(("format".into(), "arrow".into()));
        let r = self
            .send(self.get(&format!("/v1/query/{table}"), &q), false)
            .await?;
        BatchStream::start(r).await
    }

    /// OHLCV bars of `interval` (`1m`, `1h`, `1d`, ...), UTC-aligned.
    pub async fn bars(
        &self,
        table: &str,
        from_ms: i64,
        to_ms: i64,
        interval: &str,
        o: &Options,
    ) -> Result<Answer, Error> {
        let mut q = o.pairs();
        q.push(("interval".into(), interval.into()));
        self.arrow("bars", table, from_ms, to_ms, q).await
    }

    /// Statistics per group: `aggs` of `count`, `sum:COL`, `min:COL`,
    /// `max:COL`, `avg:COL`; exact sums or a 400 naming the overflow.
    pub async fn aggregate(
        &self,
        table: &str,
        from_ms: i64,
        to_ms: i64,
        aggs: &[&str],
        o: &Options,
    ) -> Result<Answer, Error> {
        let mut q = o.pairs();
        q.push(("agg".into(), aggs.join(",")));
        self.arrow("aggregate", table, from_ms, to_ms, q).await
    }

    /// The same rows as JSON objects (decimals as exact strings, times as
    /// epoch ms), for callers that do not want Arrow, with the answer's
    /// signals (a partial answer's missing ranges from its last line).
    pub async fn query_rows(
        &self,
        table: &str,
        from_ms: i64,
        to_ms: i64,
        o: &Options,
    ) -> Result<(Vec<serde_json::Value>, Signals), Error> {
        let mut q = range(from_ms, to_ms);
        q.extend(o.pairs());
        q.push(("format".into(), "ndjson".into()));
        let (body, headers) = self.body(&format!("/v1/query/{table}"), &q).await?;
        let mut signals = Signals::from_headers(&headers);
        let mut rows = Vec::new();
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value =
                serde_json::from_slice(line).map_err(|e| Error::Incomplete(e.to_string()))?;
            match v.get("_missing") {
                Some(m) => {
                    signals.missing = error::parse_missing(m);
                    signals.missing_reason = v
                        .get("_missing_reason")
                        .and_then(|r| r.as_str())
                        .map(str::to_string);
                }
                None => rows.push(v),
            }
        }
        Ok((rows, signals))
    }

    /// Sends `rows` (each serializing to a JSON object of the table's
    /// columns) in batches; returns the rows the server took. One bad row
    /// refuses its whole batch with a 400 naming it; earlier batches stay.
    /// Each batch has the Idempotency-Key `KEY:N` (a random KEY), so a
    /// batch sent again after a lost answer is stored once.
    pub async fn ingest<T: serde::Serialize>(&self, table: &str, rows: &[T]) -> Result<u64, Error> {
        let key = format!("{:032x}", rand::random::<u128>());
        self.ingest_with_key(table, rows, &key).await
    }

    /// [`Client::ingest`] with the caller's key: calling again with the
    /// same key and rows stores nothing twice. A failed batch is
    /// [`Error::Ingest`], saying how far the call got.
    pub async fn ingest_with_key<T: serde::Serialize>(
        &self,
        table: &str,
        rows: &[T],
        key: &str,
    ) -> Result<u64, Error> {
        let mut total = 0;
        for (i, part) in rows.chunks(self.batch_rows).enumerate() {
            match self.ingest_batch(table, part, key, i).await {
                Ok(n) => total += n,
                Err(e @ Error::Row { .. }) if i == 0 => return Err(e),
                Err(e) => {
                    return Err(Error::Ingest {
                        key: key.to_string(),
                        batches_done: i,
                        rows_stored: total,
                        source: Box::new(e),
                    })
                }
            }
        }
        Ok(total)
    }

    async fn ingest_batch<T: serde::Serialize>(
        &self,
        table: &str,
        part: &[T],
        key: &str,
        i: usize,
    ) -> Result<u64, Error> {
        let body = ndjson(part, i * self.batch_rows)?;
        let req = self
            .http
            .post(format!("{}/v1/ingest/{table}", self.base))
            .header("Idempotency-Key", format!("{key}:{i}"))
            .header("Content-Encoding", "gzip")
            .body(body);
        let r = self.send(req, true).await?;
        let v: serde_json::Value = r.json().await?;
        Ok(v.get("rows")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0))
    }

    async fn arrow(
        &self,
        kind: &str,
        table: &str,
        from_ms: i64,
        to_ms: i64,
        more: Vec<(String, String)>,
    ) -> Result<Answer, Error> {
        let mut q = range(from_ms, to_ms);
        q.extend(more);
        q.push(("format".into(), "arrow".into()));
        let (body, headers) = self.body(&format!("/v1/{kind}/{table}"), &q).await?;
        Answer::from_ipc(&body, &headers)
    }

    async fn body(
        &self,
        path: &str,
        q: &[(String, String)],
    ) -> Result<(Bytes, reqwest::header::HeaderMap), Error> {
        let mut r = self.send(self.get(path, q), false).await?;
        let headers = r.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| Error::Incomplete(e.to_string()))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_answer {
                return Err(Error::TooLarge {
                    limit: self.max_answer,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(body), headers))
    }

    fn get(&self, path: &str, q: &[(String, String)]) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).query(q)
    }

    /// Sends with the role's token, again after no answer or a busy 503;
    /// a refusal becomes [`Error::Server`] or [`Error::MissingRanges`].
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        ingest: bool,
    ) -> Result<reqwest::Response, Error> {
        let token = if ingest {
            self.ingest_token.as_ref().or(self.token.as_ref())
        } else {
            self.token.as_ref()
        };
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let mut attempt = 0;
        loop {
            let Some(this) = req.try_clone() else {
                // A streaming body cannot be sent twice: one try.
                let r = req.send().await?;
                return if r.status().is_success() {
                    Ok(r)
                } else {
                    Err(refusal(r).await)
                };
            };
            match this.send().await {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r) => {
                    let retry_after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        // An HTTP-date, or garbage, counts as a second.
                        .map(|v| v.parse::<u64>().unwrap_or(1));
                    let err = refusal(r).await;
                    match (err, retry_after) {
                        (e @ Error::Server { status: 503, .. }, Some(s))
                            if attempt < self.retries =>
                        {
                            drop(e);
                            tokio::time::sleep(Duration::from_secs(s).min(MAX_BACKOFF)).await;
                        }
                        (e, _) => return Err(e),
                    }
                }
                Err(e)
                    if attempt < self.retries
                        && (e.is_connect() || e.is_request() || e.is_timeout()) =>
                {
                    let wait = Duration::from_millis(500).saturating_mul(1 << attempt.min(8));
                    tokio::time::sleep(wait.min(MAX_BACKOFF)).await;
                }
                Err(e) => return Err(e.into()),
            }
            attempt += 1;
        }
    }
}

fn range(from_ms: i64, to_ms: i64) -> Vec<(String, String)> {
    vec![
        ("from".into(), from_ms.to_string()),
        ("to".into(), to_ms.to_string()),
    ]
}
