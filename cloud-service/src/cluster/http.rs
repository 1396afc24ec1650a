//! What the API refuses in the cluster edition: ingest and queries on a
//! replica that is not synced with ZooKeeper (503: it cannot know the
//! floor or the watermark in force), and archive runs on a follower (409,
//! naming the leader).

use crate::api::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn require_synced(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match &st.cluster {
        Some(c) if !c.synced() => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": "this replica is not connected to ZooKeeper, so it cannot know the ingest floor or the watermark in force; retry, or use another replica",
                "cluster": c.status(),
            })),
        )
            .into_response(),
        _ => next.run(req).await,
    }
}
