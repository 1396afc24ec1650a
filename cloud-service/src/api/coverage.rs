//! `GET /v1/admin/coverage?table=T[&from=&to=][&by=day|hour][&gap_min_rows=N]`:
//! the coverage map (`hotcold_core::coverage`) of one table. Hot counts
//! come from the hot store, cold counts live from the cold store (through
//! the gateway, never the cold cache: a day deleted behind the gateway's
//! back must show), batches from the journal, and which archived windows
//! cold retention dropped from the gateway's ledger.
//!
//! The counts are taken one after the other, not at one instant: a batch
//! purged in between can show its day in neither tier for that one answer.

use super::admin::read_journal;
use super::error::ApiError;
use super::params::time_param;
use super::state::AppState;
use crate::archive::BatchState;
use crate::clock::now_ms;
use axum::extract::{Query, State};
use axum::Json;
use hotcold_core::coverage::{classify, typical_rows, BatchPhase, BatchView, Counts};
use hotcold_core::frame::ColdQuery;
use hotcold_core::query::{Aggregate, Func, Merger, Plan, QuerySpec};
use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_core::RowBatch;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const HOUR_MS: i64 = 3_600_000;

/// Buckets one answer may hold: a year of hours (8,784) fits.
const MAX_BUCKETS: i64 = 10_000;

/// An empty bucket is a suspected gap when the table's median bucket
/// holds at least this many rows (`gap_min_rows` changes it).
const GAP_MIN_ROWS: u64 = 100;

pub async fn coverage(
    State(st): State<Arc<AppState>>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = p
        .get("table")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"table\""))?;
    let schema = st.table(name)?.clone();
    let by = p.get("by").map(String::as_str).unwrap_or("day");
    let bucket = match by {
        "day" => DAY_MS,
        "hour" => HOUR_MS,
        other => {
            return Err(ApiError::bad_request(format!(
                "parameter by={other:?}: give day or hour"
            )))
        }
    };
    let gap_min_rows = match p.get("gap_min_rows") {
        None => GAP_MIN_ROWS,
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "parameter gap_min_rows={v:?}: give a whole number of rows"
            ))
        })?,
    };
    let window = range(&p, bucket)?;
    let (spec, plan) = count_plan(&schema, bucket)?;

    // The journal before the watermark: a day purged after this read is
    // archiving here, and one purged before it lies below the watermark,
    // so cold is asked about it (see coverage's race in ARCHITECTURE.md).
    let table = schema.name.clone();
    let batches = read_journal(&st, move |j| j.overlapping(&table, window))
        .await
        .map_err(ApiError::internal)?;
    let hot = hot_counts(&st, &schema, &plan, window).await?;
    let watermark = st.watermarks.read().await.get(&schema.name).copied();
    let cold_w = watermark
        .filter(|&wm| wm > window.start)
        .map(|wm| Window::new(window.start, wm.min(window.end)));
    let (cold, cold_error) = match cold_w {
        None => (BTreeMap::new(), None),
        Some(w) => match cold_counts(&st, &schema, spec, &plan, w).await {
            Ok(c) => (c, None),
            Err(e) => (BTreeMap::new(), Some(e)),
        },
    };

    let buckets: Vec<Counts> = (0..(window.end - window.start) / bucket)
        .map(|k| {
            let start = window.start + k * bucket;
            let asked = cold_w.is_some_and(|w| w.contains(start)) && cold_error.is_none();
            Counts {
                window: Window::new(start, start + bucket),
                hot: hot.get(&start).copied().unwrap_or(0),
                cold: asked.then(|| cold.get(&start).copied().unwrap_or(0)),
            }
        })
        .collect();
    let mut views = latest_batches(batches);
    // Archived windows the NAS's cold retention dropped: its ledger says
    // which (asked only when cold answered; else they are unknown anyway).
    if cold_error.is_none() {
        let ids: Vec<String> = views
            .iter()
            .filter(|v| v.phase == BatchPhase::Archived)
            .map(|v| v.batch_id.clone())
            .collect();
        let mut expired = std::collections::HashSet::new();
        for part in ids.chunks(hotcold_core::frame::MAX_LEDGER_QUERY) {
            let entries = st.cold.ledger(part).await.map_err(|e| {
                ApiError::upstream(format!("cannot read the gateway's ledger: {e}"))
            })?;
            expired.extend(
                entries
                    .into_iter()
                    .filter(|e| e.expired)
                    .map(|e| e.batch_id),
            );
        }
        for v in &mut views {
            if expired.contains(&v.batch_id) {
                v.phase = BatchPhase::Expired;
            }
        }
    }
    let cells = classify(
        &buckets,
        &views,
        watermark,
        cold_error.is_none(),
        gap_min_rows,
    );
    let out: Vec<serde_json::Value> = cells
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["label"] = label(c.start, bucket).into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({
        "table": schema.name,
        "by": by,
        "from": window.start,
        "to": window.end,
        "watermark": watermark,
        "cold_error": cold_error,
        "gap_min_rows": gap_min_rows,
        "typical_rows": typical_rows(&buckets),
        "hot_rows": buckets.iter().map(|c| c.hot).sum::<u64>(),
        "cold_rows": buckets.iter().filter_map(|c| c.cold).sum::<u64>(),
        "buckets": out,
    })))
}

/// `[from, to)` widened to whole UTC days (by hour too, so that every
/// hour of an archived day is checked against its day's batch); by default
/// the last 30 days (by day) or 2 days (by hour) up to the end of today.
/// Times past ±9e15 ms (some 285,000 years) are refused rather than let
/// the day arithmetic overflow.
fn range(p: &HashMap<String, String>, bucket: i64) -> Result<Window, ApiError> {
    const LIMIT: i64 = 9_000_000_000_000_000;
    let bad = |name: &str, t: i64| {
        ApiError::bad_request(format!(
            "parameter {name}: {t} ms is outside the times a coverage map can hold"
        ))
    };
    let day_floor = |t: i64| t.div_euclid(DAY_MS) * DAY_MS;
    let to = match p.get("to") {
        Some(_) => time_param(p, "to")?,
        None => now_ms(),
    };
    if !(-LIMIT..=LIMIT).contains(&to) {
        return Err(bad("to", to));
    }
    let to = day_floor(to - 1) + DAY_MS;
    let from = match p.get("from") {
        Some(_) => time_param(p, "from")?,
        None => to - if bucket == DAY_MS { 30 } else { 2 } * DAY_MS,
    };
    if !(-LIMIT..=LIMIT).contains(&from) {
        return Err(bad("from", from));
    }
    let from = day_floor(from);
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    let n = (to - from) / bucket;
    if n > MAX_BUCKETS {
        return Err(ApiError::bad_request(format!(
            "{n} buckets asked; at most {MAX_BUCKETS} (narrow from/to, or by=day)"
        )));
    }
    Ok(Window::new(from, to))
}

/// `count` per bucket: the same query either store answers for
/// /v1/aggregate, as the spec (for the gateway, which plans it itself) and
/// our plan of it.
fn count_plan(schema: &TableSchema, bucket: i64) -> Result<(QuerySpec, Plan), ApiError> {
    let spec = QuerySpec {
        aggregate: Some(Aggregate::Stats {
            interval_ms: Some(bucket),
            group_by: vec![],
            funcs: vec![Func::parse("count").map_err(ApiError::internal)?],
        }),
        ..Default::default()
    };
    let mut plan = spec.plan(schema).map_err(ApiError::internal)?;
    if let Some(a) = &mut plan.agg {
        a.max_groups = MAX_BUCKETS as u64;
    }
    Ok((spec, plan))
}

async fn hot_counts(
    st: &AppState,
    schema: &TableSchema,
    plan: &Plan,
    w: Window,
) -> Result<BTreeMap<i64, u64>, ApiError> {
    let (hot, schema, plan) = (st.hot.clone(), schema.clone(), plan.clone());
    tokio::task::spawn_blocking(move || {
        let Some(a) = &plan.agg else {
            return Err("count plan without aggregation".to_string());
        };
        let mut m = Merger::new(a);
        hot.scan(&schema, &plan, w, u64::MAX, 65_536, &mut |b| {
            m.add_owned(b).map_err(crate::hot::HotError::from)
        })
        .map_err(|e| e.to_string())?;
        by_bucket(&schema, &plan, m)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(format!("hot store: {e}")))
}

/// Live cold counts over `w`; the error as text (the map says unknown).
async fn cold_counts(
    st: &AppState,
    schema: &TableSchema,
    spec: QuerySpec,
    plan: &Plan,
    w: Window,
) -> Result<BTreeMap<i64, u64>, String> {
    let Some(a) = &plan.agg else {
        return Err("count plan without aggregation".into());
    };
    let q = ColdQuery {
        schema: schema.clone(),
        window: w,
        limit: u64::MAX,
        spec,
        max_bytes: None,
        max_groups: Some(a.max_groups),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RowBatch>(4);
    let mut m = Merger::new(a);
    let asking = st.cold.query(q, &plan.output, tx);
    let reading = async {
        let mut err = None;
        while let Some(b) = rx.recv().await {
            if let Err(e) = m.add_owned(b) {
                err.get_or_insert(e.to_string());
            }
        }
        err
    };
    let (asked, read) = tokio::join!(asking, reading);
    asked.map_err(|e| e.to_string())?;
    if let Some(e) = read {
        return Err(e);
    }
    by_bucket(schema, plan, m)
}

/// The merged counts, bucket start to rows.
fn by_bucket(schema: &TableSchema, plan: &Plan, m: Merger) -> Result<BTreeMap<i64, u64>, String> {
    let (merged, _) = m
        .finish(&plan.output, false, u64::MAX)
        .map_err(|e| e.to_string())?;
    let fin = plan.finish_owned(merged);
    let names = plan.final_schema();
    let col = |name: &str| {
        names
            .columns
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| fin.columns.get(i))
    };
    let (Some(ts), Some(n)) = (col(&schema.time_column), col("count")) else {
        return Err("count answer lacks its bucket or count column".into());
    };
    let mut out = BTreeMap::new();
    for i in 0..fin.len() {
        if let (Some(hotcold_core::Value::I64(t)), Some(c)) = (ts.get(i), n.get(i)) {
            let c = match c {
                hotcold_core::Value::U64(c) => c,
                hotcold_core::Value::I64(c) => c.max(0) as u64,
                _ => 0,
            };
            out.insert(t, c);
        }
    }
    Ok(out)
}

/// The latest batch of each window, as the map reads it.
fn latest_batches(recs: Vec<crate::archive::BatchRecord>) -> Vec<BatchView> {
    let mut by_window: BTreeMap<(i64, i64), BatchView> = BTreeMap::new();
    for r in recs {
        let phase = match r.state {
            BatchState::Purged => BatchPhase::Archived,
            BatchState::Failed => BatchPhase::Failed,
            _ => BatchPhase::Archiving,
        };
        by_window.insert(
            (r.window.start, r.window.end),
            BatchView {
                batch_id: r.batch_id,
                window: r.window,
                phase,
                rows: r.hot.map(|h| h.rows),
            },
        );
    }
    by_window.into_values().collect()
}

/// `2026-11-20` for a day, `2026-11-20T13` for an hour (UTC).
fn label(start: i64, bucket: i64) -> String {
    let t = hotcold_core::time::format_timestamp_ms(start);
    let n = if bucket == DAY_MS { 10 } else { 13 };
    t.get(..n).unwrap_or(&t).to_string()
}

/// The answer as the CLI prints it: one line per bucket, and what is
/// wrong spelled out after the state.
pub fn text(body: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let wm = body["watermark"]
        .as_i64()
        .map(hotcold_core::time::format_timestamp_ms)
        .unwrap_or_else(|| "none".into());
    let _ = writeln!(
        out,
        "{} by {}: watermark {wm}, typical {} rows a bucket",
        body["table"].as_str().unwrap_or("?"),
        body["by"].as_str().unwrap_or("?"),
        body["typical_rows"]
    );
    if let Some(e) = body["cold_error"].as_str() {
        let _ = writeln!(out, "cold store not asked: {e}");
    }
    let _ = writeln!(
        out,
        "{:<14} {:>12} {:>12}  state",
        "bucket", "hot rows", "cold rows"
    );
    for b in body["buckets"].as_array().into_iter().flatten() {
        let cold = b["cold_rows"]
            .as_u64()
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into());
        let note = match b["state"].as_str() {
            Some("gap") => "  (cold holds another count than was archived: run nas-gateway scrub)",
            Some("failed") => "  (archive failed: rows stay hot; see status)",
            _ if b["suspected_gap"] == true => {
                "  (no rows where the table has them: collector gap?)"
            }
            _ => "",
        };
        let _ = writeln!(
            out,
            "{:<14} {:>12} {:>12}  {}{note}",
            b["label"].as_str().unwrap_or("?"),
            b["hot_rows"].as_u64().unwrap_or(0),
            cold,
            b["state"].as_str().unwrap_or("?"),
        );
    }
    out
}
