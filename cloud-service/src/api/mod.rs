//! The HTTP API: ingest, query, admin, health.

pub mod admin;
pub mod auth;
mod body;
mod columnar;
pub mod cost;
pub mod counters;
pub mod coverage;
pub mod encode;
pub mod error;
pub mod ingest;
pub mod limit;
pub mod metrics;
pub mod params;
pub mod query;
pub mod rehydrate;
mod respond;
pub mod snapshots;
mod state;
pub mod tables;
mod ui;

pub use state::AppState;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::sync::Arc;

pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.cfg.ingest.max_body.0 as usize;
    let admin = Router::new()
        .route("/v1/admin/archive", post(admin::archive))
        .route("/v1/admin/status", get(admin::status))
        .route("/v1/admin/rehydrate", post(rehydrate::rehydrate))
        .route("/v1/admin/verify", get(admin::verify))
        .route("/v1/admin/coverage", get(coverage::coverage))
        .route("/v1/admin/cost", get(cost::cost))
        .route(
            "/v1/admin/snapshots",
            get(snapshots::list).post(snapshots::create),
        )
        .route("/v1/admin/backup", post(snapshots::backup))
        .route("/v1/admin/reconcile", post(snapshots::reconcile))
        .route(
            "/v1/admin/bwlimit",
            get(admin::get_bwlimit).put(admin::put_bwlimit),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), auth::Role::Admin),
            auth::require,
        ));
    let ingest = Router::new()
        .route("/v1/ingest/{table}", post(ingest::ingest))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cluster::http::require_synced,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            limit::Limit::new(state.cfg.ingest.max_concurrent, "ingest.max-concurrent"),
            limit::limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), auth::Role::Ingest),
            auth::require,
        ));
    let read = Router::new()
        .route("/v1/query/{table}", get(query::query))
        .route("/v1/bars/{table}", get(query::bars))
        .route("/v1/aggregate/{table}", get(query::aggregate))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cluster::http::require_synced,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            limit::Limit::new(state.cfg.query.max_concurrent, "query.max-concurrent")
                .with_time(state.cfg.query.max_time.0, "query.max-time"),
            limit::limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), auth::Role::Read),
            auth::require,
        ));
    let tables = Router::new()
        .route("/v1/tables", get(tables::list))
        .route("/v1/tables/{table}", get(tables::one))
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), auth::Role::Read, auth::Role::Ingest),
            auth::require_either,
        ));
    Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/openapi.yaml", get(openapi_yaml))
        .route("/ui", get(ui::page))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/style.css", get(ui::style))
        .route("/health", get(admin::health))
        .route("/metrics", get(admin::metrics))
        .merge(admin)
        .merge(ingest)
        .merge(read)
        .merge(tables)
        .fallback(|| async { ApiError::not_found("no such endpoint: see README for the API") })
        // axum's own 405 has an empty body; every error here is JSON.
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                ApiError::new(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    format!(
                        "{method} is not allowed on {}: see the Allow header",
                        uri.path()
                    ),
                )
            },
        )
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// The OpenAPI description, written by hand beside the code it describes;
/// a test checks that every route here is in it.
pub(crate) const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

async fn openapi_yaml() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        OPENAPI_YAML,
    )
}

async fn openapi_json() -> Result<axum::Json<serde_json::Value>, ApiError> {
    static DOC: std::sync::OnceLock<Result<serde_json::Value, String>> = std::sync::OnceLock::new();
    DOC.get_or_init(|| serde_yaml::from_str(OPENAPI_YAML).map_err(|e| e.to_string()))
        .clone()
        .map(axum::Json)
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    /// Every `.route("...")` in this file is described in openapi.yaml,
    /// and the description names no route that is not here.
    #[test]
    fn openapi_lists_exactly_the_routes() {
        let doc: serde_json::Value =
            serde_yaml::from_str(super::OPENAPI_YAML).expect("openapi.yaml parses");
        let described: std::collections::BTreeSet<String> = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .cloned()
            .collect();
        let src = include_str!("mod.rs");
        let routed: std::collections::BTreeSet<String> = src
            .split(".route(")
            .skip(1)
            .filter_map(|s| s.trim_start().strip_prefix('"'))
            .filter_map(|s| s.split('"').next())
            .filter(|s| s.starts_with('/'))
            .map(String::from)
            .collect();
        assert!(routed.len() >= 10, "{routed:?}");
        assert_eq!(routed, described);
    }
}
