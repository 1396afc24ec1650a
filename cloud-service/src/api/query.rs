//! The query endpoints:
//!
//! - `GET /v1/query/{table}`: rows of a time range.
//! - `GET /v1/bars/{table}`: OHLCV bars at an interval.
//! - `GET /v1/aggregate/{table}`: count/sum/min/max/avg per group.
//!
//! Common parameters: `from`, `to` (ms or RFC 3339 UTC), `limit`, `order=asc|desc`,
//! `format=ndjson|json|csv`, `columns=a,b`, `require_complete=true`. Any
//! other parameter named after a column is an equality filter; a comma list
//! asks for several values at once (`symbol=BTCUSDT,ETHUSDT`). `eq.COL=`
//! filters a column whose name is also a parameter name.
//!
//! Answers up to [`WHOLE_BYTES`] go out whole, with every header; larger
//! ones are streamed as they are read (`x-hotcold-streamed: true`). A part
//! that fails mid-stream aborts the body, so a cut answer is never taken
//! for a whole one.

use super::encode::{Encoder, Format};
use super::error::ApiError;
use super::state::AppState;
use crate::config::QueryConfig;
use crate::router::{Answer, Item, Request};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hotcold_core::query::{Aggregate, Filter, Func, QuerySpec};
use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::time::parse_timestamp_ms;
use hotcold_core::units::Span;
use std::collections::HashMap;
use std::sync::Arc;

/// Answers up to this size are sent whole, with the truncation flag and
/// row counts in headers.
pub const WHOLE_BYTES: usize = 1 << 20;

const COMMON: &[&str] = &[
    "from",
    "to",
    "limit",
    "format",
    "require_complete",
    "columns",
    "order",
];

/// Which endpoint a request came to: its parameters differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Rows,
    Bars,
    Stats,
}

impl Kind {
    fn params(self) -> &'static [&'static str] {
        match self {
            Kind::Rows => &[],
            Kind::Bars => &["interval", "price", "volume", "group_by"],
            Kind::Stats => &["interval", "group_by", "agg"],
        }
    }
}

pub(super) fn time_param(p: &HashMap<String, String>, name: &str) -> Result<i64, ApiError> {
    let v = p.get(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "missing parameter {name:?} (milliseconds or YYYY-MM-DDTHH:MM:SSZ)"
        ))
    })?;
    v.parse::<i64>()
        .ok()
        .or_else(|| parse_timestamp_ms(v))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "parameter {name}={v:?} is not milliseconds nor YYYY-MM-DD[THH:MM:SS[.fff]Z]"
            ))
        })
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// The columns a `columns=a,b` parameter names, in its order; all by default.
fn chosen_columns(
    schema: &TableSchema,
    p: &HashMap<String, String>,
) -> Result<Vec<usize>, ApiError> {
    let Some(l) = p.get("columns") else {
        return Ok((0..schema.columns.len()).collect());
    };
    let names = list(l);
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "columns= is empty: name at least one column",
        ));
    }
    names
        .iter()
        .map(|n| {
            schema.column(n).map(|(i, _)| i).ok_or_else(|| {
                let all: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
                ApiError::bad_request(format!(
                    "unknown column {n:?} in columns= (the answer has {})",
                    all.join(", ")
                ))
            })
        })
        .collect()
}

/// A filter value from the URL, as the JSON the column type expects.
fn filter_value(ty: LogicalType, v: &str) -> serde_json::Value {
    match ty {
        LogicalType::String | LogicalType::LcString => serde_json::Value::String(v.into()),
        _ => serde_json::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|j| j.is_number() || j.is_boolean())
            .unwrap_or_else(|| serde_json::Value::String(v.into())),
    }
}

fn interval_param(p: &HashMap<String, String>, required: bool) -> Result<Option<i64>, ApiError> {
    match p.get("interval") {
        None if required => Err(ApiError::bad_request(
            "missing parameter \"interval\" (1s to 1d, as in 1m, 15m, 1h, 1d)",
        )),
        None => Ok(None),
        Some(v) => v
            .parse::<Span>()
            .map(|s| Some(s.0.as_millis() as i64))
            .map_err(|e| ApiError::bad_request(format!("interval={v:?}: {e}"))),
    }
}

/// A query's parameters, checked: the router's request, the answer's
/// format and columns, and whether it must be complete.
pub type Parsed = (Request, Format, Vec<usize>, bool);

/// Every parameter of a query, checked, as a router request. Pure (no
/// state but the limits), so it is fuzzed (fuzz/fuzz_targets/query_params.rs).
pub fn parse(
    q: &QueryConfig,
    schema: &TableSchema,
    kind: Kind,
    p: &HashMap<String, String>,
) -> Result<Parsed, ApiError> {
    let reserved = |k: &str| COMMON.contains(&k) || kind.params().contains(&k);
    let mut filters = Vec::new();
    for (k, v) in p {
        if reserved(k) {
            continue;
        }
        let col = k.strip_prefix("eq.").unwrap_or(k);
        let Some((_, c)) = schema.column(col) else {
            let mut known: Vec<&str> = COMMON.iter().chain(kind.params()).copied().collect();
            known.sort_unstable();
            return Err(ApiError::bad_request(format!(
                "unknown parameter {k:?}: not a column of {} nor one of {}",
                schema.name,
                known.join(", ")
            )));
        };
        let values: Vec<serde_json::Value> =
            list(v).iter().map(|x| filter_value(c.ty, x)).collect();
        filters.push(Filter {
            column: c.name.clone(),
            values,
        });
    }
    filters.sort_by(|a, b| a.column.cmp(&b.column));
    if let Some(w) = filters.windows(2).find(|w| w[0].column == w[1].column) {
        return Err(ApiError::bad_request(format!(
            "column {} is filtered twice (as {0} and eq.{0})",
            w[0].column
        )));
    }
    let (from, to) = (time_param(p, "from")?, time_param(p, "to")?);
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "empty or reversed range: from={from} must be before to={to}"
        )));
    }
    let max_range = q.max_range.0.as_millis() as i64;
    if to.saturating_sub(from) > max_range {
        return Err(ApiError::bad_request(format!(
            "range of {} ms is wider than query.max-range ({})",
            to.saturating_sub(from),
            q.max_range
        )));
    }
    let max_rows = q.max_rows;
    let limit = match p.get("limit") {
        None => max_rows,
        Some(l) => l
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=max_rows).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit={l:?} must be a whole number from 1 to {max_rows}"
                ))
            })?,
    };
    let format = p.get("format").map_or("ndjson", String::as_str);
    let format = Format::parse(format).ok_or_else(|| {
        ApiError::bad_request(format!("format={format:?}: use ndjson, json or csv"))
    })?;
    let descending = match p.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "order={v:?}: use asc or desc"
            )))
        }
    };
    let require_complete = match p.get("require_complete").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "require_complete={v:?}: use true or false"
            )))
        }
    };
    // Bars group by the table's low-cardinality columns (exchange, symbol)
    // unless told otherwise: bars mixing two symbols mean nothing.
    let group_by = match p.get("group_by") {
        Some(g) => list(g),
        None if kind == Kind::Bars => schema
            .columns
            .iter()
            .filter(|c| c.ty == LogicalType::LcString)
            .map(|c| c.name.clone())
            .collect(),
        None => Vec::new(),
    };
    let aggregate = match kind {
        Kind::Rows => None,
        Kind::Bars => Some(Aggregate::Bars {
            interval_ms: interval_param(p, true)?.unwrap_or_default(),
            price: p.get("price").cloned().unwrap_or_else(|| "price".into()),
            volume: p.get("volume").cloned().unwrap_or_else(|| "amount".into()),
            group_by,
        }),
        Kind::Stats => {
            let funcs = list(p.get("agg").map_or("count", String::as_str))
                .iter()
                .map(|f| Func::parse(f))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::bad_request(format!("agg=: {e}")))?;
            Some(Aggregate::Stats {
                interval_ms: interval_param(p, false)?,
                group_by,
                funcs,
            })
        }
    };
    // Buckets are folded before the limit applies: bound how many a range
    // can make (a 1 s interval over a year is 31 million per group).
    let interval = match &aggregate {
        Some(Aggregate::Bars { interval_ms, .. }) => Some(*interval_ms),
        Some(Aggregate::Stats { interval_ms, .. }) => *interval_ms,
        None => None,
    };
    if let Some(i) = interval.filter(|i| *i > 0) {
        let buckets = (to.saturating_sub(from) as u64).div_ceil(i as u64);
        let max = q.max_buckets;
        if buckets > max {
            return Err(ApiError::bad_request(format!(
                "{buckets} buckets of {i} ms in {from}..{to}: over query.max-buckets ({max}); use a longer interval or a shorter range"
            )));
        }
    }
    let spec = QuerySpec {
        filters,
        descending,
        aggregate,
    };
    let mut plan = spec
        .plan(schema)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Folding holds every (bucket, groups) key at once: bound them all,
    // not only the buckets (a million symbols x a few buckets is as bad).
    if let Some(a) = plan.agg.as_mut() {
        a.max_groups = q.max_buckets;
    }
    let cols = chosen_columns(&plan.final_schema(), p)?;
    Ok((
        Request {
            schema: schema.clone(),
            spec,
            plan,
            window: Window::new(from, to),
            limit,
            max_cold_bytes: Some(q.max_cold_bytes.0),
            stall: q.stall_timeout.0,
        },
        format,
        cols,
        require_complete,
    ))
}

async fn run(
    st: Arc<AppState>,
    table: String,
    p: HashMap<String, String>,
    kind: Kind,
) -> Result<Response, ApiError> {
    let schema = st.query_table(&table)?;
    let (req, format, cols, require_complete) = parse(&st.cfg.query, &schema, kind, &p)?;
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
    if !ans.head.missing.is_empty() && require_complete {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cold range {missing_header} is unavailable: {}",
                ans.head.missing_reason.clone().unwrap_or_default()
            ),
        );
        e.extra = Some(serde_json::json!({ "missing": ans.head.missing }));
        return Err(e);
    }
    let enc = Encoder::new(format, out_schema, cols);
    respond(ans, enc, missing_header, &st).await
}

/// Sends the answer whole if it is small, else streams it.
async fn respond(
    ans: Answer,
    mut enc: Encoder,
    missing_header: String,
    st: &AppState,
) -> Result<Response, ApiError> {
    let Answer { head, mut items } = ans;
    let ctype = enc.format.content_type();
    let mut buf = Vec::new();
    enc.begin(&mut buf);
    let mut tail = None;
    while buf.len() <= WHOLE_BYTES {
        match items.recv().await {
            Some(Item::Rows(b)) => enc.batch(&b, &mut buf),
            // The NAS's part is a gateway's failure; the hot store's is ours.
            Some(Item::Failed { cold: true, error }) => return Err(ApiError::upstream(error)),
            Some(Item::Failed { cold: false, error }) => {
                return Err(ApiError::internal(error));
            }
            Some(Item::Done(t)) => {
                enc.end(&head, &t, &mut buf);
                tail = Some(t);
                break;
            }
            None => return Err(ApiError::internal("query ended without an answer")),
        }
    }
    let body = match &tail {
        Some(_) => Body::from(buf),
        None => {
            st.counters
                .queries_streamed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let first = bytes::Bytes::from(buf);
            let rest = futures::stream::unfold(
                (items, enc, head.clone(), false),
                |(mut items, mut enc, head, done)| async move {
                    if done {
                        return None;
                    }
                    let mut out = Vec::new();
                    match items.recv().await {
                        Some(Item::Rows(b)) => {
                            enc.batch(&b, &mut out);
                            Some((Ok(bytes::Bytes::from(out)), (items, enc, head, false)))
                        }
                        Some(Item::Done(t)) => {
                            enc.end(&head, &t, &mut out);
                            Some((Ok(bytes::Bytes::from(out)), (items, enc, head, true)))
                        }
                        // Aborting the body tells the client the answer is cut.
                        Some(Item::Failed { error, .. }) => {
                            tracing::error!(%error, "streamed answer aborted");
                            Some((Err(std::io::Error::other(error)), (items, enc, head, true)))
                        }
                        None => Some((
                            Err(std::io::Error::other("query ended without an answer")),
                            (items, enc, head, true),
                        )),
                    }
                },
            );
            let all = futures::StreamExt::chain(
                futures::stream::once(async move { Ok::<_, std::io::Error>(first) }),
                rest,
            );
            Body::from_stream(all)
        }
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Some(wm) = head.watermark {
        h.insert("x-hotcold-watermark", HeaderValue::from(wm));
    }
    if !missing_header.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&missing_header) {
            h.insert("x-hotcold-missing", v);
        }
    }
    if head.cold_cached {
        h.insert("x-hotcold-cache", HeaderValue::from_static("hit"));
    }
    match &tail {
        Some(t) => {
            h.insert("x-hotcold-hot-rows", HeaderValue::from(t.hot_rows));
            h.insert("x-hotcold-cold-rows", HeaderValue::from(t.cold_rows));
            if t.truncated {
                h.insert("x-hotcold-truncated", HeaderValue::from_static("true"));
            }
        }
        None => {
            h.insert("x-hotcold-streamed", HeaderValue::from_static("true"));
        }
    }
    Ok(resp)
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
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    counted(st, table, p, Kind::Rows).await
}

pub async fn bars(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    counted(st, table, p, Kind::Bars).await
}

pub async fn aggregate(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    counted(st, table, p, Kind::Stats).await
}
