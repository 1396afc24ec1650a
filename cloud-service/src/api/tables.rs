//! The tables this service takes and answers, with their columns: what a
//! client needs to check a frame before it sends it (the Python client's
//! `ingest` does) and to write RowBinary in schema order.

use super::error::ApiError;
use super::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// Every configured table, by name.
pub async fn list(State(st): State<Arc<AppState>>) -> Json<Value> {
    let mut names: Vec<&String> = st.tables.keys().collect();
    names.sort_unstable();
    let tables: Vec<Value> = names
        .into_iter()
        .filter_map(|n| st.tables.get(n))
        .map(describe)
        .collect();
    Json(json!({ "tables": tables }))
}

/// One table; a 404 naming the known ones otherwise.
pub async fn one(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(describe(st.table(&table)?)))
}

fn describe(s: &hotcold_core::schema::TableSchema) -> Value {
    let columns: Vec<Value> = s
        .columns
        .iter()
        .map(|c| json!({ "name": c.name, "type": c.ty.to_string() }))
        .collect();
    json!({ "name": s.name, "time_column": s.time_column, "columns": columns })
}
