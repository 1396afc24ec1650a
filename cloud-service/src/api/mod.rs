//! The HTTP API: ingest, query, admin, health.

pub mod admin;
pub mod error;
pub mod ingest;
pub mod query;

use crate::archive::Archiver;
use crate::config::CloudConfig;
use crate::gate::IngestGate;
use crate::hot::HotStore;
use crate::link::LinkClient;
use crate::watermarks::Watermarks;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use hotcold_core::schema::TableSchema;
use std::collections::HashMap;
use std::sync::Arc;

pub struct AppState {
    pub cfg: CloudConfig,
    pub tables: HashMap<String, TableSchema>,
    pub hot: Arc<dyn HotStore>,
    pub gate: Arc<IngestGate>,
    pub watermarks: Arc<Watermarks>,
    pub link: Arc<LinkClient>,
    pub archiver: Arc<Archiver>,
    pub counters: crate::metrics::HttpCounters,
}

impl AppState {
    pub fn table(&self, name: &str) -> Result<&TableSchema, ApiError> {
        self.tables.get(name).ok_or_else(|| {
            let mut known: Vec<_> = self.tables.keys().map(String::as_str).collect();
            known.sort_unstable();
            ApiError::not_found(format!(
                "unknown table {name:?} (known: {})",
                known.join(", ")
            ))
        })
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.cfg.ingest.max_body.0 as usize;
    Router::new()
        .route("/health", get(admin::health))
        .route("/metrics", get(admin::metrics))
        .route("/v1/ingest/{table}", post(ingest::ingest))
        .route("/v1/query/{table}", get(query::query))
        .route("/v1/admin/archive", post(admin::archive))
        .route("/v1/admin/status", get(admin::status))
        .route(
            "/v1/admin/bwlimit",
            get(admin::get_bwlimit).put(admin::put_bwlimit),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint: see README for the API") })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}
