//! `POST /v1/ingest/{table}`: NDJSON rows, all or nothing.

use super::body::{inflate, read_body};
use super::error::ApiError;
use super::state::AppState;
use crate::hot::keys::{KeyRecord, Once};
use crate::hot::HotError;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use hotcold_core::ingest::{IngestLimits, NdjsonReader, RowBinaryReader};
use hotcold_core::schema::TableSchema;
use hotcold_core::RowBatch;
use std::sync::Arc;

/// Parses NDJSON into a batch; the error names the line and the column.
/// Strings are bounded by what the NAS accepts, so a row taken here can
/// always be archived.
pub fn parse_ndjson(schema: &TableSchema, body: &[u8]) -> Result<RowBatch, String> {
    hotcold_core::ingest::parse_ndjson(schema, body, &IngestLimits::default())
}

/// The body's layout, from `?format=`.
#[derive(Clone, Copy)]
enum Format {
    Ndjson,
    RowBinary,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::RowBinary => "rowbinary",
        }
    }
}

fn format_of(pairs: Vec<(String, String)>) -> Result<Format, ApiError> {
    let p = super::params::merge_pairs(None, pairs)?;
    if let Some(k) = p.keys().find(|k| *k != "format") {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {k:?}: ingest takes only format=ndjson|rowbinary"
        )));
    }
    match p.get("format").map(String::as_str) {
        None | Some("ndjson") => Ok(Format::Ndjson),
        Some("rowbinary") => Ok(Format::RowBinary),
        Some(f) => Err(ApiError::bad_request(format!(
            "format={f:?} is not an ingest format: use ndjson (the default) or rowbinary"
        ))),
    }
}

/// A body read a piece at a time, whatever its layout.
enum Reader<'a> {
    Ndjson(NdjsonReader<'a>),
    RowBinary(RowBinaryReader<'a>),
}

impl Reader<'_> {
    fn next_batch(&mut self, max_rows: usize) -> Result<Option<RowBatch>, String> {
        match self {
            Reader::Ndjson(r) => r.next_batch(max_rows),
            Reader::RowBinary(r) => r.next_batch(max_rows),
        }
    }
}

/// Rows parsed per piece: small enough that writing starts almost at
/// once, large enough that handing a piece over costs nothing.
const PIECE_ROWS: usize = 8192;

/// What the parser hands the writer.
enum Piece {
    Rows(RowBatch),
    /// The body parsed whole: the writer may commit.
    End,
    Refused(ApiError),
}

/// The earliest time a row may have: 10^11 ms, 1973-03-03T09:46:40Z.
/// Anything earlier is, in practice, seconds sent as milliseconds (a
/// 2026 time in seconds reads as January 1970), and one such row once made
/// every archive run walk every day back to it.
pub const MIN_TIME_MS: i64 = 100_000_000_000;

/// Refuses a piece holding a row outside `[MIN_TIME_MS, latest)`.
fn check_time_range(
    schema: &TableSchema,
    batch: &RowBatch,
    latest: i64,
    before: usize,
) -> Result<(), ApiError> {
    let ts = batch.i64_column(schema.time_index()).unwrap_or(&[]);
    let Some((i, t)) = ts
        .iter()
        .enumerate()
        .find(|(_, t)| !(MIN_TIME_MS..latest).contains(*t))
    else {
        return Ok(());
    };
    let hint = if *t < MIN_TIME_MS
        && t.checked_mul(1000)
            .is_some_and(|ms| (MIN_TIME_MS..latest).contains(&ms))
    {
        " (it looks like seconds: send milliseconds)"
    } else if *t >= latest {
        " (later than now + ingest.future-horizon)"
    } else {
        ""
    };
    Err(ApiError::bad_request(format!(
        "row {}: {} {t} is outside the accepted range {} ({MIN_TIME_MS}) to {} ({latest}){hint}; no row of this request was stored",
        before + i + 1,
        schema.time_column,
        hotcold_core::time::format_timestamp_ms(MIN_TIME_MS),
        hotcold_core::time::format_timestamp_ms(latest),
    )))
}

/// Refuses a piece holding a row older than the table's ingest floor.
/// `before` is how many rows of the request came before this piece.
fn check_floor(
    schema: &TableSchema,
    batch: &RowBatch,
    floor: i64,
    before: usize,
) -> Result<(), ApiError> {
    let ts = batch.i64_column(schema.time_index()).unwrap_or(&[]);
    match ts.iter().enumerate().find(|(_, t)| **t < floor) {
        None => Ok(()),
        Some((i, t)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "row {}: {} {} is older than {} ({}), the start of the hot range of table {}: that range is archived or being archived; no row of this request was stored",
                before + i + 1,
                schema.time_column,
                hotcold_core::time::format_timestamp_ms(*t),
                hotcold_core::time::format_timestamp_ms(floor),
                floor,
                schema.name
            ),
        )),
    }
}

/// Parses the body a piece at a time on one thread while another writes
/// the pieces in one transaction: on two cores the two overlap, and the
/// request still commits all its rows or none.
async fn ingest_inner(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    format: Format,
    encoding: Option<String>,
    key: Option<String>,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let schema = Arc::new(st.table(&table)?.clone());
    let body = read_body(&st, body).await?;
    let key = match key {
        None => None,
        Some(k) => {
            let record = KeyRecord {
                body_hash: crate::hot::keys::body_hash(
                    &table,
                    format.name(),
                    encoding.as_deref().unwrap_or(""),
                    &body,
                ),
                key: k,
                table: table.clone(),
                rows: 0,
                at_ms: crate::clock::now_ms(),
            };
            if let Some(done) = stored_before(&st, &record).await? {
                return Ok(done);
            }
            Some(record)
        }
    };
    let body = inflate(&st, encoding, body).await?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Piece>(2);
    let parsing = schema.clone();
    let parser = tokio::task::spawn_blocking(move || {
        let limits = IngestLimits::default();
        let mut reader = match format {
            Format::RowBinary => Reader::RowBinary(RowBinaryReader::new(&parsing, &body, &limits)),
            Format::Ndjson => match NdjsonReader::new(&parsing, &body, &limits) {
                Ok(r) => Reader::Ndjson(r),
                Err(e) => return drop(tx.send(Piece::Refused(ApiError::bad_request(e)))),
            },
        };
        loop {
            let piece = match reader.next_batch(PIECE_ROWS) {
                Ok(Some(b)) => Piece::Rows(b),
                Ok(None) => return drop(tx.send(Piece::End)),
                Err(e) => return drop(tx.send(Piece::Refused(ApiError::bad_request(e)))),
            };
            if tx.send(piece).is_err() {
                return; // the writer stopped; it says why
            }
        }
    });
    let st2 = st.clone();
    let asked = key.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<Once, ApiError> {
        // Hold the gate from the first check to the commit (see gate.rs).
        let floors = st2.gate.read();
        let floor = floors.get(&schema.name).copied();
        let horizon = st2.cfg.ingest.future_horizon.0.as_millis() as i64;
        let latest = crate::clock::now_ms().saturating_add(horizon);
        let mut refused = None;
        let mut before = 0;
        let stop = || HotError::Other("ingest refused".into());
        let mut next = || match rx.recv() {
            Ok(Piece::Rows(b)) => {
                let range = check_time_range(&schema, &b, latest, before).err();
                let e =
                    range.or_else(|| floor.and_then(|f| check_floor(&schema, &b, f, before).err()));
                if let Some(e) = e {
                    refused = Some(e);
                    return Err(stop());
                }
                before += b.len();
                Ok(Some(b))
            }
            Ok(Piece::End) => Ok(None),
            Ok(Piece::Refused(e)) => {
                refused = Some(e);
                Err(stop())
            }
            // Without `End` the body was not parsed whole: store nothing.
            Err(_) => Err(HotError::Task("the ingest parser stopped early".into())),
        };
        let stored = match &key {
            None => st2.hot.insert_pieces(&schema, &mut next).map(Once::Stored),
            Some(k) => st2.hot.insert_once(&schema, k, &mut next),
        };
        match refused {
            Some(e) => Err(e),
            None => stored.map_err(ApiError::internal),
        }
    });
    let (written, parsed) = tokio::join!(writer, parser);
    let once = written.map_err(ApiError::internal)??;
    match once {
        Once::Stored(rows) => {
            parsed.map_err(ApiError::internal)?;
            Ok((
                StatusCode::OK,
                Json(serde_json::json!({ "table": table, "rows": rows })),
            ))
        }
        // Another request with the key committed first (a retry racing
        // its original): this one stored nothing.
        Once::Replayed(r) => match asked {
            Some(k) => replay(&k, &r),
            None => Err(ApiError::internal("a replay without a key")),
        },
    }
}

/// The answer for a key already stored: the first request's, marked as a
/// replay; or a 422 when the key came with another body.
async fn stored_before(
    st: &AppState,
    key: &KeyRecord,
) -> Result<Option<(StatusCode, Json<serde_json::Value>)>, ApiError> {
    let (hot, k) = (st.hot.clone(), key.key.clone());
    let found = tokio::task::spawn_blocking(move || hot.find_key(&k))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    found.map(|r| replay(key, &r)).transpose()
}

fn replay(
    asked: &KeyRecord,
    stored: &KeyRecord,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    if stored.body_hash != asked.body_hash || stored.table != asked.table {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Idempotency-Key {} was used at {} for another request (table {}); nothing was stored. Use a new key for new rows",
                stored.key,
                hotcold_core::time::format_timestamp_ms(stored.at_ms),
                stored.table
            ),
        ));
    }
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({
            "table": stored.table, "rows": stored.rows, "replayed": true,
            "stored_at": hotcold_core::time::format_timestamp_ms(stored.at_ms),
        })),
    ))
}

/// Counts what was stored and what was refused, for /metrics.
pub async fn ingest(
    st: State<Arc<AppState>>,
    table: Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let counters = st.0.clone();
    let name = table.0.clone();
    let encoding = match headers.get(axum::http::header::CONTENT_ENCODING) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_string())).map_err(|_| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding is not text; send gzip, zstd or identity",
            )
        }),
    };
    let key = match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map_err(|_| "Idempotency-Key is not text".to_string())
            .and_then(|k| crate::hot::keys::check_key(k).map(|()| Some(k.to_string())))
            .map_err(ApiError::bad_request),
    };
    let r = match (format_of(q), encoding, key) {
        (Ok(f), Ok(enc), Ok(key)) => ingest_inner(st, table, f, enc, key, body).await,
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
    };
    match &r {
        Ok((_, j)) => counters
            .counters
            .ingested(&name, j["rows"].as_u64().unwrap_or(0)),
        Err(_) => {
            counters
                .counters
                .ingest_rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    r
}
