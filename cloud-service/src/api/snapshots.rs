//! `POST /v1/admin/snapshots?level=strict|bounded|eventual` takes a
//! snapshot of the hot store and the journal; `GET` lists them.
//! `POST /v1/admin/backup` takes one and sends it to the NAS now.

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
    if let Some(k) = q.keys().find(|k| *k != "level" && *k != "cold") {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {k:?}: level and cold are taken"
        )));
    }
    // Both tiers by default: the NAS's over the link, or the standalone
    // edition's cold tier in this process.
    let cold = match q.get("cold").map(String::as_str) {
        None => true,
        Some("true") => true,
        Some("false") => false,
        Some(v) => return Err(ApiError::bad_request(format!("cold={v:?}: true or false"))),
    };
    let level: Level = q
        .get("level")
        .map_or(Ok(Level::Strict), |l| l.parse())
        .map_err(ApiError::bad_request)?;
    match snapshot::create(st, level, cold).await {
        Ok((m, cold_error)) => {
            let mut v = snapshot::summary(&m);
            if let Some(e) = cold_error {
                v["cold_error"] = e.into();
            }
            Ok(Json(v))
        }
        Err(
            e @ (SnapshotFail::Unsupported(_)
            | SnapshotFail::Point(snapshot::PointError::NoReadTransaction)),
        ) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
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

pub async fn backup(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    match snapshot::backup::run_once(st).await {
        Ok(v) => Ok(Json(v)),
        Err(e @ SnapshotFail::Unsupported(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        // The NAS away or refusing: the operator's to see, not a bug here.
        Err(e @ SnapshotFail::Io(_)) => Err(ApiError::new(StatusCode::BAD_GATEWAY, e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `POST /v1/admin/reconcile[?dry_run=true]`: the journal against the cold
/// ledger, with what was (or would be) repaired.
pub async fn reconcile(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let dry_run = match q.get("dry_run").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "dry_run={v:?}: true or false"
            )))
        }
    };
    use crate::snapshot::reconcile::{reconcile, ReconcileError};
    match reconcile(&st, dry_run).await {
        Ok(r) => Ok(Json(
            serde_json::json!({ "dry_run": dry_run, "repairs": r }),
        )),
        Err(e @ ReconcileError::Busy) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
        Err(e @ ReconcileError::Cold(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}
