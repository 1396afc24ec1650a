//! `GET /v1/admin/cost`: what the pair stores where, what crossed the
//! link, and with the configured prices (`cost:`) what a month costs, set
//! against keeping everything on the cloud disk.
//!
//! The measures, and what they are not:
//! - hot bytes: the hot store's own size on disk (the SQLite file and its
//!   WAL; ClickHouse's active parts, this node's);
//! - NAS bytes: the archived batches' segments (zstd columns) as sent, not
//!   the cold store's own files, which the cloud cannot see;
//! - link bytes: each batch's bytes sent (retries included) on the day the
//!   gateway committed it, from the journal, so they survive a restart;
//! - all in the cloud: the archived rows at the hot store's bytes per row,
//!   on the cloud disk, with no egress and no NAS.

use super::admin::read_journal;
use super::error::ApiError;
use super::state::AppState;
use crate::archive::BatchState;
use axum::extract::State;
use axum::Json;
use hotcold_core::schema::{Window, DAY_MS};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

const GB: f64 = 1e9;

pub async fn cost(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let (hot_bytes, hot_rows) = hot_size(&st).await?;
    let batches = read_journal(&st, |j| j.every_batch())
        .await
        .map_err(ApiError::internal)?;
    let (mut nas_rows, mut nas_bytes) = (0u64, 0u64);
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    let since = crate::clock::now_ms() - 30 * DAY_MS;
    let mut last_30 = 0u64;
    for b in &batches {
        if b.state == BatchState::Purged {
            nas_rows += b.hot.map(|h| h.rows).unwrap_or(0);
            nas_bytes += b.bytes;
        }
        if let Some(at) = b.committed_ms {
            let day = hotcold_core::time::format_timestamp_ms(Window::day_of(at).start);
            *per_day.entry(day[..10].to_string()).or_default() += b.sent_bytes;
            if at >= since {
                last_30 += b.sent_bytes;
            }
        }
    }
    let mut per_month: BTreeMap<String, u64> = BTreeMap::new();
    for (day, n) in &per_day {
        *per_month.entry(day[..7].to_string()).or_default() += n;
    }
    let per_row = (hot_rows > 0).then(|| hot_bytes as f64 / hot_rows as f64);
    // Archived rows as the hot store would keep them; with no hot rows to
    // measure by, the segments' own size (an underestimate: compressed).
    let cold_in_cloud = match per_row {
        Some(r) => (nas_rows as f64 * r).round() as u64,
        None => nas_bytes,
    };
    let all_bytes = hot_bytes + cold_in_cloud;
    let p = &st.cfg.cost;
    let disk = p.cloud_disk_per_gb_month;
    let monthly = match (disk, p.egress_per_gb, p.nas_per_month) {
        (None, None, None) => serde_json::Value::Null,
        (d, e, n) => {
            let disk = d.unwrap_or(0.0) * hot_bytes as f64 / GB;
            let egress = e.unwrap_or(0.0) * last_30 as f64 / GB;
            let nas = n.unwrap_or(0.0);
            json!({ "cloud_disk": disk, "egress": egress, "nas": nas, "total": disk + egress + nas })
        }
    };
    Ok(Json(json!({
        "currency": p.currency,
        "prices": {
            "cloud_disk_per_gb_month": disk,
            "egress_per_gb": p.egress_per_gb,
            "nas_per_month": p.nas_per_month,
        },
        "hot": { "bytes": hot_bytes, "rows": hot_rows, "bytes_per_row": per_row },
        "nas": { "bytes": nas_bytes, "rows": nas_rows, "basis": "archived segments as sent (zstd)" },
        "link": {
            "last_30_days_bytes": last_30,
            "per_day": per_day.iter().map(|(d, n)| json!({ "day": d, "bytes": n })).collect::<Vec<_>>(),
            "per_month": per_month.iter().map(|(m, n)| json!({ "month": m, "bytes": n })).collect::<Vec<_>>(),
        },
        "monthly": monthly,
        "all_in_cloud": {
            "bytes": all_bytes,
            "monthly": disk.map(|d| d * all_bytes as f64 / GB),
        },
    })))
}

/// The hot store's bytes on disk and its rows, over every table.
async fn hot_size(st: &AppState) -> Result<(u64, u64), ApiError> {
    let hot = st.hot.clone();
    let tables: Vec<_> = st.tables.values().cloned().collect();
    tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        let bytes = hot.disk_bytes(&names)?.unwrap_or(0);
        let mut rows = 0;
        for t in &tables {
            rows += hot.count(t, Window::new(i64::MIN, i64::MAX))?;
        }
        Ok::<_, crate::hot::HotError>((bytes, rows))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(format!("hot store: {e}")))
}

/// The report as the CLI prints it.
pub fn text(v: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mb = |n: &serde_json::Value| format!("{:.1} MB", n.as_f64().unwrap_or(0.0) / 1e6);
    let cur = v["currency"].as_str().unwrap_or("");
    let money = |n: &serde_json::Value| match n.as_f64() {
        Some(x) => format!("{x:.2} {cur}"),
        None => "-".into(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hot (cloud disk)   {:>12}  {} rows",
        mb(&v["hot"]["bytes"]),
        v["hot"]["rows"]
    );
    let _ = writeln!(
        out,
        "NAS (archived)     {:>12}  {} rows",
        mb(&v["nas"]["bytes"]),
        v["nas"]["rows"]
    );
    let _ = writeln!(
        out,
        "link, last 30 days {:>12}",
        mb(&v["link"]["last_30_days_bytes"])
    );
    for m in v["link"]["per_month"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}          {:>12}",
            m["month"].as_str().unwrap_or("?"),
            mb(&m["bytes"])
        );
    }
    let m = &v["monthly"];
    if m.is_null() {
        let _ = writeln!(out, "no prices configured (cost: in the config)");
    } else {
        let _ = writeln!(
            out,
            "per month: cloud disk {}, egress {}, NAS {}: {}",
            money(&m["cloud_disk"]),
            money(&m["egress"]),
            money(&m["nas"]),
            money(&m["total"])
        );
    }
    let _ = writeln!(
        out,
        "all in the cloud: {} on the cloud disk, {} per month",
        mb(&v["all_in_cloud"]["bytes"]),
        money(&v["all_in_cloud"]["monthly"])
    );
    out
}
