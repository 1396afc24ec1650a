//! The query endpoints:
//!
//! - `GET /v1/query/{table}`: rows of a time range.
//! - `GET /v1/bars/{table}`: OHLCV bars at an interval.
//! - `GET /v1/aggregate/{table}`: count/sum/min/max/avg per group.
//!
//! Common parameters: `from`, `to` (ms or RFC 3339 UTC), `limit`, `order=asc|desc`,
//! `format=ndjson|json|csv|arrow|parquet`, `columns=a,b`, `allow_partial=true`. Any
//! other parameter named after a column is an equality filter; a comma list
//! asks for several values at once (`symbol=BTCUSDT,ETHUSDT`). `eq.COL=`
//! filters a column whose name is also a parameter name.
//!
//! Parameters are checked in `params.rs`; answers up to
//! [`respond::WHOLE_BYTES`](super::respond::WHOLE_BYTES) go out whole, with every header; larger
//! ones are streamed as they are read (`x-hotcold-streamed: true`). A part
//! that fails mid-stream aborts the body, so a cut answer is never taken
//! for a whole one.

use super::encode::{Encoder, Format};
use super::error::ApiError;
use super::params::{merge_pairs, parse, Kind};
use super::respond::respond;
use super::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Arc;

async fn run(
    st: Arc<AppState>,
    table: String,
    p: HashMap<String, String>,
    kind: Kind,
) -> Result<Response, ApiError> {
    let schema = st.query_table(&table)?;
    let (mut req, format, cols, allow_partial) = parse(&st.cfg.query, &schema, kind, &p)?;
    // A columnar answer of rows: the hot store may read straight into its
    // columns (the answer's columns are the table's, indexed alike).
    if matches!(format, Format::Arrow | Format::Parquet) && req.plan.agg.is_none() {
        req.columns = Some(cols.clone());
    }
    let out_schema = req.plan.final_schema();
    let ans = st.router.query(req).await.map_err(|e| match e {
        e if e.is_limit() => ApiError::bad_request(e.to_string()),
        e => ApiError::internal(e),
    })?;
    let missing_header = ans
        .head
        .missing
        .iter()
        .map(|w| format!("{}-{}", w.start, w.end))
        .collect::<Vec<_>>()
        .join(",");
    if !ans.head.missing.is_empty() && !allow_partial {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cold range {missing_header} is unavailable ({}), so nothing was answered; add allow_partial=true for the rest, with the missing ranges named in the body and the x-hotcold-missing header",
                ans.head.missing_reason.clone().unwrap_or_default()
            ),
        );
        e.extra = Some(serde_json::json!({ "missing": ans.head.missing }));
        return Err(e);
    }
    let enc = Encoder::new(format, out_schema, cols);
    respond(ans, enc, missing_header, &st).await
}

/// Counts queries, their time and the partial ones, for /metrics.
async fn counted(
    st: Arc<AppState>,
    table: String,
    p: HashMap<String, String>,
    kind: Kind,
) -> Result<Response, ApiError> {
    let t = std::time::Instant::now();
    let r = run(st.clone(), table, p, kind).await;
    let c = &st.counters;
    use std::sync::atomic::Ordering::Relaxed;
    c.queries.fetch_add(1, Relaxed);
    c.query_micros
        .fetch_add(t.elapsed().as_micros() as u64, Relaxed);
    let partial = match &r {
        Ok(resp) => resp.headers().contains_key("x-hotcold-missing"),
        Err(e) => e.status == StatusCode::SERVICE_UNAVAILABLE,
    };
    if partial {
        c.queries_partial.fetch_add(1, Relaxed);
    }
    r
}

pub async fn query(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(p): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    counted(st, table, merge_pairs(Some(Kind::Rows), p)?, Kind::Rows).await
}

pub async fn bars(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(p): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    counted(st, table, merge_pairs(Some(Kind::Bars), p)?, Kind::Bars).await
}

pub async fn aggregate(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(p): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    counted(st, table, merge_pairs(Some(Kind::Stats), p)?, Kind::Stats).await
}
