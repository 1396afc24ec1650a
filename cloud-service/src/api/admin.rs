//! Admin endpoints: trigger an archive run, show status.

use super::error::ApiError;
use super::AppState;
use crate::archive::ArchiveError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;

pub async fn archive(
    State(st): State<Arc<AppState>>,
) -> Result<Json<crate::archive::ArchiveReport>, ApiError> {
    match st.archiver.run(now_ms()).await {
        Ok(r) => Ok(Json(r)),
        Err(ArchiveError::AlreadyRunning) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "an archive run is already in progress",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

pub async fn status(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let watermarks = st.watermarks.read().await.clone();
    let j = st.archiver.journal.clone();
    let (recent, backlog) = tokio::task::spawn_blocking(move || {
        let j = j.lock().map_err(|_| "journal mutex poisoned".to_string())?;
        Ok::<_, String>((
            j.recent(20).map_err(|e| e.to_string())?,
            j.backlog().map_err(|e| e.to_string())?,
        ))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let link = &st.link;
    let rate = link.meter.rate();
    // The ETA uses the measured rate, or the limit when nothing moved lately.
    let basis = if rate > 0.0 {
        Some(rate)
    } else {
        link.pacer.rate_now().map(|r| r as f64)
    };
    let eta = basis
        .filter(|r| *r > 0.0)
        .map(|r| (backlog.1 as f64 / r).ceil() as u64);
    Ok(Json(serde_json::json!({
        "watermarks": watermarks,
        "spool_bytes": st.archiver.spool.bytes(),
        "backlog": { "batches": backlog.0, "bytes": backlog.1, "eta_s": eta },
        "link": {
            "connected": link.connected().await,
            "bytes_sent": link.meter.total(),
            "rate_bytes_per_s": rate,
            "bwlimit": link.pacer.limit().to_string(),
            "rate_limit_now": link.pacer.rate_now(),
        },
        "recent_batches": recent,
    })))
}

/// `GET /v1/admin/bwlimit`: the limit in force, as configured text.
pub async fn get_bwlimit(State(st): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(
        serde_json::json!({ "bwlimit": st.link.pacer.limit().to_string(), "rate_now": st.link.pacer.rate_now() }),
    )
}

/// `PUT /v1/admin/bwlimit` with a body like `4MiB`, `off` or
/// `08:00,2MiB 23:00,off`: replaces the limit at once, no restart. Not
/// persisted: a restart goes back to the config file's value.
pub async fn put_bwlimit(
    State(st): State<Arc<AppState>>,
    body: String,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit: hotcold_core::bwlimit::BwLimit = body
        .trim()
        .parse()
        .map_err(|e: hotcold_core::bwlimit::BwLimitError| ApiError::bad_request(e.to_string()))?;
    tracing::info!(bwlimit = %limit, "bandwidth limit changed");
    st.link.pacer.set_limit(limit);
    Ok(get_bwlimit(State(st)).await)
}

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "healthy" }))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
