//! `POST /v1/admin/snapshots?level=strict|bounded|eventual` takes a
//! snapshot of the hot store and the journal; `GET` lists them.

use super::{ApiError, AppState};
use crate::snapshot::{self, SnapshotFail};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use hotcold_core::snapshot::Level;
use std::collections::HashMap;
use std::sync::Arc;

pub async fn create(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(k) = q.keys().find(|k| *k != "level") {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {k:?}: only level is taken"
        )));
    }
    let level: Level = q
        .get("level")
        .map_or(Ok(Level::Strict), |l| l.parse())
        .map_err(ApiError::bad_request)?;
    match snapshot::create(st, level).await {
        Ok(m) => Ok(Json(snapshot::summary(&m))),
        Err(e @ SnapshotFail::Unsupported(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e @ SnapshotFail::Point(snapshot::PointError::Skew { .. })) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

pub async fn list(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let dir = st.cfg.snapshot.dir.clone();
    let all = tokio::task::spawn_blocking(move || {
        hotcold_snapshot::SnapshotStore::open(&dir).and_then(|s| s.list())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let v: Vec<_> = all
        .iter()
        .map(|l| match &l.manifest {
            Ok(m) => snapshot::summary(m),
            Err(e) => serde_json::json!({ "id": l.id, "error": e }),
        })
        .collect();
    Ok(Json(serde_json::json!({ "snapshots": v })))
}
