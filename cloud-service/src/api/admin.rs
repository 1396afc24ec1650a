//! Admin endpoints: trigger an archive run, show status.

use super::error::ApiError;
use super::state::AppState;
use crate::archive::ArchiveError;
use crate::clock::now_ms;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;

/// Reads the journal on a blocking thread (it is SQLite behind a mutex);
/// any failure comes back as text for the answer or the health detail.
pub(super) async fn read_journal<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&crate::archive::Journal) -> Result<T, crate::archive::JournalError> + Send + 'static,
) -> Result<T, String> {
    let j = st.archiver.journal.clone();
    tokio::task::spawn_blocking(move || {
        let j = j.lock().map_err(|_| "journal mutex poisoned".to_string())?;
        f(&j).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// `POST /v1/admin/archive[?dry_run=true]`: run now, or only show what a
/// run would do.
pub async fn archive(
    State(st): State<Arc<AppState>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if matches!(
        q.get("dry_run").map(String::as_str),
        Some("true") | Some("1")
    ) {
        return st
            .archiver
            .preview(now_ms())
            .await
            .map(Json)
            .map_err(ApiError::internal);
    }
    match st.archiver.run(now_ms()).await {
        Ok(r) => Ok(Json(serde_json::to_value(r).map_err(ApiError::internal)?)),
        Err(ArchiveError::AlreadyRunning) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "an archive run is already in progress",
        )),
        Err(e @ ArchiveError::NotLeader(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `GET /v1/admin/verify`: every batch the journal counts as confirmed is in
/// the gateway's ledger with the same count and content hash.
pub async fn verify(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let recs = read_journal(&st, |j| j.confirmed())
        .await
        .map_err(ApiError::internal)?;
    let ids: Vec<String> = recs.iter().map(|r| r.batch_id.clone()).collect();
    let entries = st.cold.ledger(&ids).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the gateway's ledger: {e}"),
        )
    })?;
    let by_id: std::collections::HashMap<&str, &hotcold_core::frame::LedgerRecord> =
        entries.iter().map(|e| (e.batch_id.as_str(), e)).collect();
    let (mut missing, mut mismatched) = (Vec::new(), Vec::new());
    for r in &recs {
        match by_id.get(r.batch_id.as_str()) {
            None => missing.push(
                serde_json::json!({ "batch_id": r.batch_id, "table": r.table, "window": r.window }),
            ),
            Some(e) if Some(e.cold) != r.hot || e.window != r.window => {
                mismatched.push(serde_json::json!({
                    "batch_id": r.batch_id, "table": r.table, "window": r.window,
                    "journal": r.hot.map(|h| h.to_string()), "ledger": e.cold.to_string(),
                }))
            }
            Some(_) => {}
        }
    }
    let ok = missing.is_empty() && mismatched.is_empty();
    Ok(Json(
        serde_json::json!({ "checked": recs.len(), "ok": ok, "missing": missing, "mismatched": mismatched }),
    ))
}

pub async fn status(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let watermarks = st.watermarks.read().await.clone();
    let (recent, backlog) = read_journal(&st, |j| Ok((j.recent(20)?, j.backlog()?)))
        .await
        .map_err(ApiError::internal)?;
    let (eta, link) = match &st.link {
        Some(link) => {
            let rate = link.meter.rate();
            // The ETA uses the measured rate, or the limit when nothing
            // moved lately.
            let basis = if rate > 0.0 {
                Some(rate)
            } else {
                link.pacer.rate_now().map(|r| r as f64)
            };
            let eta = basis
                .filter(|r| *r > 0.0)
                .map(|r| (backlog.1 as f64 / r).ceil() as u64);
            let down = link.down_since().map(|(since, reason)| {
                serde_json::json!({
                    "since": hotcold_core::time::format_timestamp_ms(since),
                    "reason": reason,
                })
            });
            // The last hour by minute: the rate sent, and the limit the
            // timetable set then (a limit changed at run time shows as the
            // timetable in force now).
            let limit = link.pacer.limit();
            let history: Vec<serde_json::Value> = link
                .meter
                .history(now_ms())
                .into_iter()
                .map(|(at, rate)| serde_json::json!({ "at": at, "rate": rate, "limit": limit.rate_at(at) }))
                .collect();
            let status = serde_json::json!({
                "connected": link.connected().await,
                "direction": link.direction(),
                "chunk_size_now": link.last_chunk_size(),
                "loss": link.recent_loss(),
                "rtt_spread_ms": link.rtt_spread().map(|d| d.as_secs_f64() * 1000.0),
                "recent_cuts": link.recent_cuts(),
                "deferred": link.deferred().map(|(since, reason)| serde_json::json!({
                    "since": hotcold_core::time::format_timestamp_ms(since),
                    "reason": reason,
                })),
                "unreachable": down,
                "bytes_sent": link.meter.total(),
                "rate_bytes_per_s": rate,
                "bwlimit": link.pacer.limit().to_string(),
                "rate_limit_now": link.pacer.rate_now(),
                "history": history,
            });
            (eta, status)
        }
        None => (None, serde_json::json!({ "in_process": true })),
    };
    Ok(Json(serde_json::json!({
        "watermarks": watermarks,
        "spool_bytes": st.archiver.spool.bytes(),
        "backlog": { "batches": backlog.0, "bytes": backlog.1, "eta_s": eta },
        "edition": if st.link.is_some() { "pair" } else { "standalone" },
        "link": link,
        "recent_batches": recent,
        "cluster": st.cluster.as_ref().map(|c| c.status()),
        "backup": backup_status(&st),
        "prefetch": st.router.demand.last.lock().ok().and_then(|l| l.clone()).map(|(at, r)| {
            serde_json::json!({ "at": hotcold_core::time::format_timestamp_ms(at), "report": r })
        }),
    })))
}

/// `GET /v1/admin/bwlimit`: the limit in force, as configured text.
pub(crate) async fn get_bwlimit(
    State(st): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let link = the_link(&st)?;
    Ok(Json(
        serde_json::json!({ "bwlimit": link.pacer.limit().to_string(), "rate_now": link.pacer.rate_now() }),
    ))
}

/// The link, or a 409 in the standalone edition (the cold tier is in this
/// process: there is no line to limit).
fn the_link(st: &AppState) -> Result<&Arc<crate::link::LinkClient>, ApiError> {
    st.link.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "standalone edition: the cold tier is in this process, so there is no link and no bandwidth limit",
        )
    })
}

/// `PUT /v1/admin/bwlimit` with a body like `4MiB`, `off` or
/// `08:00,2MiB 23:00,off`: replaces the limit at once, no restart. Not
/// persisted: a restart goes back to the config file's value.
pub(crate) async fn put_bwlimit(
    State(st): State<Arc<AppState>>,
    body: String,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit: hotcold_core::bwlimit::BwLimit = body
        .trim()
        .parse()
        .map_err(|e: hotcold_core::bwlimit::BwLimitError| ApiError::bad_request(e.to_string()))?;
    let link = the_link(&st)?;
    tracing::info!(bwlimit = %limit, "bandwidth limit changed");
    link.pacer.set_limit(limit);
    get_bwlimit(State(st)).await
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Healthy => "healthy",
            Level::Degraded => "degraded",
            Level::Unhealthy => "unhealthy",
        }
    }
}

/// One stuck batch as /health and the alert show it.
pub(crate) fn stuck_detail(r: &crate::archive::BatchRecord) -> serde_json::Value {
    serde_json::json!({
        "batch_id": r.batch_id, "table": r.table, "window": r.window,
        "state": r.state, "error": r.error,
        "why": if r.state == crate::archive::BatchState::Failed {
            "failed for good: its rows stay hot; see the error, then archive again (a new batch replaces it)"
        } else {
            "its last attempt failed; retried, but not getting on"
        },
    })
}

/// `GET /health`: overall and per component (hot store, journal, spool,
/// link, last archive run), each `healthy`, `degraded` or `unhealthy` with
/// a reason. 200 unless unhealthy (503), so a load balancer can use it.
pub async fn health(State(st): State<Arc<AppState>>) -> (StatusCode, Json<serde_json::Value>) {
    let mut parts = serde_json::Map::new();
    let mut worst = Level::Healthy;
    let mut put = |name: &str, level: Level, detail: serde_json::Value| {
        worst = worst.max(level);
        parts.insert(
            name.into(),
            serde_json::json!({ "status": level.name(), "detail": detail }),
        );
    };

    let (h, t) = (st.hot.clone(), st.cfg.tables.first().cloned());
    let hot = tokio::task::spawn_blocking(move || {
        t.map_or(Ok(0), |t| {
            h.count(&t, hotcold_core::Window::new(0, 1))
                .map_err(|e| e.to_string())
        })
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match hot {
        Ok(_) => put("hot_store", Level::Healthy, "answers".into()),
        Err(e) => put("hot_store", Level::Unhealthy, e.into()),
    }
    if let Some(c) = &st.cluster {
        let level = if c.synced() {
            Level::Healthy
        } else {
            Level::Unhealthy
        };
        put("cluster", level, c.status());
    }
    let backlog = read_journal(&st, |j| j.backlog()).await;
    match &backlog {
        Ok((n, bytes)) => put(
            "journal",
            Level::Healthy,
            serde_json::json!({ "backlog_batches": n, "backlog_bytes": bytes }),
        ),
        Err(e) => put("journal", Level::Unhealthy, e.clone().into()),
    }
    // From the journal, so a restart does not forget them (the last run's
    // report is in memory only).
    let stuck = read_journal(&st, |j| j.stuck()).await;
    match stuck {
        Ok(v) if v.is_empty() => put("batches", Level::Healthy, "none stuck".into()),
        Ok(v) => put(
            "batches",
            Level::Degraded,
            serde_json::json!({ "stuck": v.iter().map(stuck_detail).collect::<Vec<_>>() }),
        ),
        Err(e) => put("batches", Level::Unhealthy, e.into()),
    }
    let (spool, budget) = (st.archiver.spool.bytes(), st.archiver.settings.spool_budget);
    let level = if spool >= budget {
        Level::Degraded
    } else {
        Level::Healthy
    };
    put(
        "spool",
        level,
        serde_json::json!({ "bytes": spool, "budget": budget }),
    );
    match st.link.as_ref().map(|l| (l, l.down_since())) {
        None => put(
            "link",
            Level::Healthy,
            serde_json::json!({ "in_process": true }),
        ),
        Some((link, None)) => put(
            "link",
            Level::Healthy,
            serde_json::json!({ "connected": link.connected().await }),
        ),
        Some((_, Some((since, reason)))) => put(
            "link",
            Level::Degraded,
            serde_json::json!({ "unreachable_since": hotcold_core::time::format_timestamp_ms(since), "reason": reason }),
        ),
    }
    match st.archiver.last_run() {
        None => put(
            "last_archive_run",
            Level::Healthy,
            "none since start".into(),
        ),
        Some((at, r)) => {
            let level = if r.failed > 0 || r.spool_full {
                Level::Degraded
            } else {
                Level::Healthy
            };
            put(
                "last_archive_run",
                level,
                serde_json::json!({
                    "ended": hotcold_core::time::format_timestamp_ms(at),
                    "rows_archived": r.rows_archived, "failed": r.failed, "pending": r.pending,
                    "spool_full": r.spool_full, "offline": r.offline,
                }),
            )
        }
    }
    let code = if worst == Level::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        Json(
            serde_json::json!({ "status": worst.name(), "components": parts, "next_archive_run": st.archiver.next_run().map(hotcold_core::time::format_timestamp_ms) }),
        ),
    )
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(
    State(st): State<Arc<AppState>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        super::metrics::render(&st).await,
    )
}

/// The hot backup's last outcome, with its age (status, the status page).
fn backup_status(st: &AppState) -> serde_json::Value {
    let b = st.backup.get();
    let age = b
        .last_ok_ms
        .map(|t| ((crate::clock::now_ms() - t).max(0) as f64) / 1000.0);
    let mut v = serde_json::to_value(&b).unwrap_or_default();
    v["age_s"] = serde_json::json!(age);
    v["every_s"] = serde_json::json!(st.cfg.snapshot.backup_every.0.as_secs());
    v
}
