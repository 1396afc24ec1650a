//! The gateway's small HTTP side: `/health` and `/metrics`, for Docker or
//! systemd health checks and Prometheus. The link itself is QUIC only.

use crate::cold::ColdStore;
use crate::gateway::Gateway;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub fn router<S: ColdStore>(gw: Arc<Gateway<S>>) -> Router {
    Router::new()
        .route("/health", get(health::<S>))
        .route("/metrics", get(metrics::<S>))
        .with_state(gw)
}

/// Healthy when the cold store answers; degraded while batches wait in
/// staging or a replica of a replicated cold store does not answer (the
/// others take the commits); unhealthy (503) when the cold store does not
/// answer.
async fn health<S: ColdStore>(
    State(gw): State<Arc<Gateway<S>>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let cold = gw.store.ledger_get("health-check").await;
    let staged = gw.staging.manifests().map(|m| m.len()).unwrap_or(0);
    let replicas = gw.store.replicas().await;
    let down = replicas.iter().filter(|(_, e)| e.is_some()).count();
    let (status, code) = match (&cold, staged) {
        (Err(_), _) => ("unhealthy", StatusCode::SERVICE_UNAVAILABLE),
        (Ok(_), n) if n > 0 || down > 0 => ("degraded", StatusCode::OK),
        _ => ("healthy", StatusCode::OK),
    };
    let mut components = serde_json::json!({
        "cold_store": match &cold { Ok(_) => serde_json::json!({"status": "healthy"}), Err(e) => serde_json::json!({"status": "unhealthy", "detail": e.to_string()}) },
        "staging": { "status": if staged > 0 { "degraded" } else { "healthy" }, "batches": staged },
    });
    if !replicas.is_empty() {
        let each: Vec<serde_json::Value> = replicas
            .iter()
            .map(|(url, e)| match e {
                None => serde_json::json!({"url": url, "status": "healthy"}),
                Some(e) => serde_json::json!({"url": url, "status": "unhealthy", "detail": e}),
            })
            .collect();
        components["cold_replicas"] = serde_json::json!({
            "status": if down > 0 { "degraded" } else { "healthy" },
            "down": down,
            "replicas": each,
        });
    }
    let body = serde_json::json!({ "status": status, "components": components });
    (code, Json(body))
}

async fn metrics<S: ColdStore>(State(gw): State<Arc<Gateway<S>>>) -> String {
    let c = &gw.counters;
    let mut out = String::new();
    let mut m = |name: &str, kind: &str, help: &str, v: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    m(
        "hotcold_gateway_batches_committed_total",
        "counter",
        "Batches committed to the cold store.",
        c.batches_committed.load(Relaxed) as f64,
    );
    m(
        "hotcold_gateway_rows_committed_total",
        "counter",
        "Rows the cold store reported after commits.",
        c.rows_committed.load(Relaxed) as f64,
    );
    m(
        "hotcold_gateway_chunk_bytes_received_total",
        "counter",
        "Verified chunk bytes written to staging.",
        c.chunk_bytes_received.load(Relaxed) as f64,
    );
    m(
        "hotcold_gateway_chunks_rejected_total",
        "counter",
        "Chunks whose hash did not match.",
        c.chunks_rejected.load(Relaxed) as f64,
    );
    m(
        "hotcold_gateway_stored_not_committed_total",
        "counter",
        "Batches staged while the cold store was down.",
        c.batches_stored_not_committed.load(Relaxed) as f64,
    );
    m(
        "hotcold_gateway_queries_total",
        "counter",
        "Cold queries answered.",
        c.queries.load(Relaxed) as f64,
    );
    let staged = gw.staging.manifests().map(|v| v.len()).unwrap_or(0);
    m(
        "hotcold_gateway_staged_batches",
        "gauge",
        "Batches in staging.",
        staged as f64,
    );
    let up = gw.store.ledger_get("health-check").await.is_ok();
    m(
        "hotcold_gateway_cold_store_up",
        "gauge",
        "1 when the cold store answers.",
        if up { 1.0 } else { 0.0 },
    );
    let replicas = gw.store.replicas().await;
    if !replicas.is_empty() {
        m(
            "hotcold_gateway_cold_replicas_down",
            "gauge",
            "Replicas of the replicated cold store that do not answer.",
            replicas.iter().filter(|(_, e)| e.is_some()).count() as f64,
        );
    }
    out
}
