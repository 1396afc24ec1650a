//! `GET /v1/query/{table}?from=..&to=..[&limit=..][&format=ndjson|json][&require_complete=true]`

use super::error::ApiError;
use super::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::time::parse_timestamp_ms;
use hotcold_core::RowBatch;
use std::collections::HashMap;
use std::sync::Arc;

const PARAMS: &[&str] = &[
    "from",
    "to",
    "limit",
    "format",
    "require_complete",
    "columns",
];

fn time_param(p: &HashMap<String, String>, name: &str) -> Result<i64, ApiError> {
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

/// Rows as JSON objects with the chosen columns (indices into the schema).
pub fn rows_json<'a>(
    schema: &'a TableSchema,
    batches: &'a [RowBatch],
    cols: &'a [usize],
) -> impl Iterator<Item = serde_json::Value> + 'a {
    batches.iter().flat_map(move |b| {
        (0..b.len()).map(move |i| {
            let mut m = serde_json::Map::with_capacity(cols.len());
            for &c in cols {
                let def = &schema.columns[c];
                if let Some(v) = b.columns.get(c).and_then(|col| col.get(i)) {
                    m.insert(def.name.clone(), v.to_json(def.ty));
                }
            }
            serde_json::Value::Object(m)
        })
    })
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
fn csv_field(v: &serde_json::Value, out: &mut String) {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

/// The columns a `columns=a,b` parameter names, in its order; all by default.
fn chosen_columns(
    schema: &TableSchema,
    p: &HashMap<String, String>,
) -> Result<Vec<usize>, ApiError> {
    let Some(list) = p.get("columns") else {
        return Ok((0..schema.columns.len()).collect());
    };
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
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
                    "unknown column {n:?} (table {} has {})",
                    schema.name,
                    all.join(", ")
                ))
            })
        })
        .collect()
}

async fn query_inner(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let schema = st.table(&table)?.clone();
    if let Some(k) = p.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {k:?} (expected one of {})",
            PARAMS.join(", ")
        )));
    }
    let (from, to) = (time_param(&p, "from")?, time_param(&p, "to")?);
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "empty or reversed range: from={from} must be before to={to}"
        )));
    }
    let max_range = st.cfg.query.max_range.0.as_millis() as i64;
    if to.saturating_sub(from) > max_range {
        return Err(ApiError::bad_request(format!(
            "range of {} ms is wider than query.max-range ({})",
            to.saturating_sub(from),
            st.cfg.query.max_range
        )));
    }
    let max_rows = st.cfg.query.max_rows;
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
    if !["ndjson", "json", "csv"].contains(&format) {
        return Err(ApiError::bad_request(format!(
            "format={format:?}: use ndjson, json or csv"
        )));
    }
    let cols = chosen_columns(&schema, &p)?;
    let require_complete = match p.get("require_complete").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "require_complete={v:?}: use true or false"
            )))
        }
    };

    let ans = crate::router::query(
        st.hot.clone(),
        &st.link,
        &st.watermarks,
        &schema,
        Window::new(from, to),
        limit,
    )
    .await
    .map_err(ApiError::internal)?;
    let missing_header = ans
        .missing
        .iter()
        .map(|w| format!("{}-{}", w.start, w.end))
        .collect::<Vec<_>>()
        .join(",");
    if !ans.missing.is_empty() && require_complete {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cold range {missing_header} is unavailable: {}",
                ans.missing_reason.clone().unwrap_or_default()
            ),
        );
        e.extra = Some(serde_json::json!({ "missing": ans.missing }));
        return Err(e);
    }
    let body = if format == "csv" {
        let mut out = cols
            .iter()
            .map(|&c| schema.columns[c].name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in rows_json(&schema, &ans.rows, &cols) {
            for (k, &c) in cols.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                csv_field(&r[&schema.columns[c].name], &mut out);
            }
            out.push('\n');
        }
        out.into_bytes()
    } else if format == "json" {
        let rows: Vec<_> = rows_json(&schema, &ans.rows, &cols).collect();
        let mut meta = serde_json::to_value(&ans).map_err(ApiError::internal)?;
        if let Some(o) = meta.as_object_mut() {
            o.insert("rows".into(), serde_json::Value::Array(rows));
        }
        serde_json::to_vec(&meta).map_err(ApiError::internal)?
    } else {
        let mut out = Vec::new();
        for r in rows_json(&schema, &ans.rows, &cols) {
            serde_json::to_writer(&mut out, &r).map_err(ApiError::internal)?;
            out.push(b'\n');
        }
        out
    };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    let ctype = match format {
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        _ => "application/x-ndjson",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Some(wm) = ans.watermark {
        h.insert("x-hotcold-watermark", HeaderValue::from(wm));
    }
    if !missing_header.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&missing_header) {
            h.insert("x-hotcold-missing", v);
        }
    }
    if ans.truncated {
        h.insert("x-hotcold-truncated", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Counts queries, their time and the partial ones, for /metrics.
pub async fn query(
    st: State<Arc<AppState>>,
    table: Path<String>,
    params: Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let state = st.0.clone();
    let t = std::time::Instant::now();
    let r = query_inner(st, table, params).await;
    let c = &state.counters;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut out = String::new();
        for v in [
            serde_json::json!("plain"),
            serde_json::json!("a,b"),
            serde_json::json!("say \"hi\"\nnext"),
            serde_json::json!(42),
            serde_json::json!(true),
        ] {
            csv_field(&v, &mut out);
            out.push('|');
        }
        assert_eq!(out, "plain|\"a,b\"|\"say \"\"hi\"\"\nnext\"|42|true|");
    }
}
