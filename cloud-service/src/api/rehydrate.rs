//! `POST /v1/admin/rehydrate?table=T&from=..&to=..`: copies cold rows back
//! into the hot store for re-processing, into a table of their own,
//! `T__rehydrated`.
//!
//! Why a table of their own: rows below the watermark are served from cold;
//! putting copies into `T` itself would either be hidden by the router (hot
//! is read from the watermark on) or, if the watermark were lowered, return
//! every such row twice until the copy was purged again. A separate table
//! keeps invariant 3 (each row once) for `T`, is never archived (it is not
//! in the configuration), and is queried like any table:
//! `GET /v1/query/T__rehydrated`. Rehydrating a range again replaces it.

use super::error::ApiError;
use super::state::AppState;
use hotcold_core::frame::ColdQuery;
use hotcold_core::query::Plan;
use hotcold_core::schema::Window;
use std::sync::Arc;

pub async fn rehydrate(
    axum::extract::State(st): axum::extract::State<Arc<AppState>>,
    axum::extract::Query(p): axum::extract::Query<Vec<(String, String)>>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let p = super::params::merge_pairs(None, p)?;
    let table = p
        .get("table")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"table\""))?;
    let schema = st.table(table)?.clone();
    let (from, to) = (
        super::params::time_param(&p, "from")?,
        super::params::time_param(&p, "to")?,
    );
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "empty or reversed range: from={from} must be before to={to}"
        )));
    }
    // Bounded like a query: the range, the rows and the bytes over the
    // link, so one request cannot pull years of history into hot.
    let max_range = st.cfg.query.max_range.0.as_millis() as i64;
    if to.saturating_sub(from) > max_range {
        return Err(ApiError::bad_request(format!(
            "range {from}..{to} is wider than query.max-range ({}); rehydrate in parts",
            st.cfg.query.max_range
        )));
    }
    let (max_rows, max_bytes) = (st.cfg.query.max_rows, st.cfg.query.max_cold_bytes.0);
    let wm = st.watermarks.read().await.get(table).copied();
    let Some(wm) = wm.filter(|w| *w > from) else {
        return Err(ApiError::bad_request(format!(
            "nothing of {table} in {from}..{to} is cold (watermark {}): hot rows need no rehydrating",
            wm.map_or("none".into(), |w| w.to_string())
        )));
    };
    let w = Window::new(from, to.min(wm));
    let mut target = schema.clone();
    target.name = format!("{table}{}", super::state::REHYDRATED_SUFFIX);
    let hot = st.hot.clone();
    let t = target.clone();
    tokio::task::spawn_blocking(move || -> Result<(), crate::hot::HotError> {
        hot.ensure_table(&t)?;
        // Replace what an earlier rehydration left in the range.
        let n = hot.count(&t, w)?;
        if n > 0 {
            hot.purge(&t, w, n)?;
        }
        Ok(())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;

    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let q = ColdQuery {
        schema: schema.clone(),
        window: w,
        limit: max_rows,
        spec: Default::default(),
        max_bytes: Some(max_bytes),
        max_groups: None,
    };
    let output = Plan::rows(&schema).output;
    let cold = st.cold.clone();
    let asking = tokio::spawn(async move { cold.query(q, &output, tx).await });
    let mut rows = 0u64;
    let mut hash = hotcold_core::ContentHash::default();
    while let Some(b) = rx.recv().await {
        hash.add_batch(&b);
        rows += b.len() as u64;
        let (hot, t) = (st.hot.clone(), target.clone());
        tokio::task::spawn_blocking(move || hot.insert(&t, &b))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
    }
    let end = asking.await.map_err(ApiError::internal)?.map_err(|e| {
        tracing::warn!(table, error = %e, "rehydrate: cold read failed");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cold read failed: {}; the range in {} may be partial, rehydrate again",
                e.public(),
                target.name
            ),
        )
    })?;
    if end.truncated {
        // Over a bound: take back what was copied, and say which bound.
        let (hot, t) = (st.hot.clone(), target.clone());
        tokio::task::spawn_blocking(move || {
            let n = hot.count(&t, w)?;
            hot.purge(&t, w, n)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{table} in {w} holds more than query.max-rows ({max_rows}) or query.max-cold-bytes ({}) allow; nothing was rehydrated, narrow the range",
                st.cfg.query.max_cold_bytes
            ),
        ));
    }
    st.router.cache.invalidate(table, w);
    Ok(axum::Json(serde_json::json!({
        "table": target.name,
        "window": w,
        "rows": rows,
        "content": hash.to_string(),
    })))
}
