//! `POST /v1/ingest/{table}`: NDJSON rows, all or nothing.

use super::error::ApiError;
use super::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hotcold_core::schema::TableSchema;
use hotcold_core::{RowBatch, Value};
use std::sync::Arc;

/// Parses NDJSON into a batch; the error names the line and the column.
pub fn parse_ndjson(schema: &TableSchema, body: &[u8]) -> Result<RowBatch, String> {
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("body is not UTF-8 (byte {})", e.valid_up_to()))?;
    let mut batch = RowBatch::new(schema);
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        let obj = serde_json::from_str::<Row>(line)
            .map_err(|e| format!("line {n}: not a JSON object: {e}"))?
            .0;
        if let Some(k) = obj.keys().find(|k| schema.column(k).is_none()) {
            return Err(format!(
                "line {n}: unknown column {k:?} (table {} has {})",
                schema.name,
                column_list(schema)
            ));
        }
        let mut row = Vec::with_capacity(schema.columns.len());
        for c in &schema.columns {
            let v = obj
                .get(&c.name)
                .ok_or_else(|| format!("line {n}: missing column {:?}", c.name))?;
            row.push(
                Value::from_json(c.ty, v)
                    .map_err(|e| format!("line {n}: column {:?} ({}): {e}", c.name, c.ty))?,
            );
        }
        batch
            .push_row(row)
            .map_err(|i| format!("line {n}: column {i} has the wrong kind"))?;
    }
    if batch.is_empty() {
        return Err("body holds no rows: send one JSON object per line".into());
    }
    Ok(batch)
}

/// One JSON object whose keys are each given once: serde_json's own map
/// keeps the last of two equal keys without a word, and a collector that
/// sends `{"price": 1, "price": 2}` has a bug we must not hide.
struct Row(serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for Row {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Row;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Row, A::Error> {
                let mut m = serde_json::Map::new();
                while let Some((k, v)) = a.next_entry::<String, serde_json::Value>()? {
                    if m.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "key {k:?} is given twice"
                        )));
                    }
                    m.insert(k, v);
                }
                Ok(Row(m))
            }
        }
        d.deserialize_map(V)
    }
}

fn column_list(schema: &TableSchema) -> String {
    schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The body, read within `ingest.max-time` and `ingest.max-body`. Only
/// the reading is timed: once the insert begins it is waited for, so an
/// answer never says "failed" for rows that land.
async fn read_body(st: &AppState, body: Body) -> Result<Bytes, ApiError> {
    let (max_time, max_body) = (st.cfg.ingest.max_time.0, st.cfg.ingest.max_body);
    let deadline = super::limit::deadline_after(max_time);
    match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, max_body.0 as usize)).await {
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{}; nothing of this request was stored",
                super::limit::too_slow(max_time, "ingest.max-time")
            ),
        )),
        Ok(Err(e)) => {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if too_big {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is over ingest.max-body ({max_body}); send smaller requests"),
                )
            } else {
                ApiError::bad_request(format!("the body could not be read: {e}"))
            })
        }
        Ok(Ok(b)) => Ok(b),
    }
}

async fn ingest_inner(
    State(st): State<Arc<AppState>>,
    Path(table): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let schema = st.table(&table)?.clone();
    let body = read_body(&st, body).await?;
    let batch = parse_ndjson(&schema, &body).map_err(ApiError::bad_request)?;
    let st2 = st.clone();
    let rows = tokio::task::spawn_blocking(move || -> Result<usize, ApiError> {
        // Hold the gate from the check to the commit (see gate.rs).
        let floors = st2.gate.read();
        if let Some(&floor) = floors.get(&schema.name) {
            let ts = batch.i64_column(schema.time_index()).unwrap_or(&[]);
            if let Some((i, t)) = ts.iter().enumerate().find(|(_, t)| **t < floor) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "row {}: {} {} is older than {} ({}), the start of the hot range of table {}: that range is archived or being archived; no row of this request was stored",
                        i + 1,
                        schema.time_column,
                        hotcold_core::time::format_timestamp_ms(*t),
                        hotcold_core::time::format_timestamp_ms(floor),
                        floor,
                        schema.name
                    ),
                ));
            }
        }
        st2.hot.insert(&schema, &batch).map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "table": table, "rows": rows })),
    ))
}

/// Counts what was stored and what was refused, for /metrics.
pub async fn ingest(
    st: State<Arc<AppState>>,
    table: Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let counters = st.0.clone();
    let name = table.0.clone();
    let r = ingest_inner(st, table, body).await;
    match &r {
        Ok((_, j)) => counters
            .counters
            .ingested(&name, j["rows"].as_u64().unwrap_or(0)),
        Err(_) => {
            counters
                .counters
                .ingest_rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        TableSchema::new(
            "trades",
            "ts",
            &[
                ("ts", "timestamp_ms".parse().unwrap()),
                ("price", "decimal(8)".parse().unwrap()),
            ],
        )
    }

    #[test]
    fn a_key_given_twice_is_refused_naming_it() {
        let e = parse_ndjson(
            &schema(),
            b"{\"ts\": 1, \"price\": \"1\"}\n{\"ts\": 2, \"price\": \"1\", \"price\": \"2\"}\n",
        )
        .unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("\"price\" is given twice"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let s = schema();
        assert!(parse_ndjson(
            &s,
            b"{\"ts\":1,\"price\":\"1.5\"}\n{\"ts\":2,\"price\":2}\n"
        )
        .is_ok());
        let e = parse_ndjson(&s, b"{\"ts\":1,\"price\":\"1.5\"}\n{\"ts\":2}\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("price"), "{e}");
        let e = parse_ndjson(&s, b"{\"ts\":1,\"price\":\"abc\"}").unwrap_err();
        assert!(e.contains("decimal"), "{e}");
        let e = parse_ndjson(&s, b"{\"ts\":1,\"price\":1,\"qty\":3}").unwrap_err();
        assert!(e.contains("unknown column \"qty\""), "{e}");
        assert!(parse_ndjson(&s, b"[1,2]").unwrap_err().contains("line 1"));
        assert!(parse_ndjson(&s, b"").is_err());
    }

    proptest! {
        #[test]
        fn junk_bodies_are_errors_not_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_ndjson(&schema(), &body);
        }
    }
}
