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
    let recent = tokio::task::spawn_blocking(move || {
        j.lock()
            .map_err(|_| "journal mutex poisoned".to_string())?
            .recent(20)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({
        "watermarks": watermarks,
        "spool_bytes": st.archiver.spool.bytes(),
        "recent_batches": recent,
    })))
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
