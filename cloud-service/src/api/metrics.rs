//! `/metrics` in the Prometheus text format, from the HTTP counters
//! (`counters.rs`) and the archiver's own (`archive::Counters`).

use super::state::AppState;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

fn one(v: impl Into<f64>) -> Vec<(String, f64)> {
    vec![(String::new(), v.into())]
}

pub async fn render(st: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    let a = &st.archiver;
    let c = &a.counters;
    metric(
        &mut out,
        "hotcold_archive_runs_total",
        "counter",
        "Archive runs finished.",
        &one(c.runs.load(Relaxed) as f64),
    );
    metric(
        &mut out,
        "hotcold_archive_rows_total",
        "counter",
        "Rows moved to cold and purged from hot.",
        &one(c.rows.load(Relaxed) as f64),
    );
    metric(
        &mut out,
        "hotcold_archive_bytes_exported_total",
        "counter",
        "Encoded, compressed bytes written to the spool.",
        &one(c.bytes_exported.load(Relaxed) as f64),
    );
    metric(
        &mut out,
        "hotcold_archive_batches_purged_total",
        "counter",
        "Batches confirmed and purged.",
        &one(c.batches_purged.load(Relaxed) as f64),
    );
    metric(
        &mut out,
        "hotcold_archive_batches_failed_total",
        "counter",
        "Batches whose cold count or hash did not match.",
        &one(c.batches_failed.load(Relaxed) as f64),
    );
    if let Some((at, r)) = a.last_run() {
        metric(
            &mut out,
            "hotcold_archive_last_run_timestamp_seconds",
            "gauge",
            "When the last run ended.",
            &one(at as f64 / 1000.0),
        );
        metric(
            &mut out,
            "hotcold_archive_last_run_duration_seconds",
            "gauge",
            "How long the last run took.",
            &one(r.duration_ms as f64 / 1000.0),
        );
        let ratio = if r.bytes_exported > 0 {
            r.rows_archived as f64 / r.bytes_exported as f64
        } else {
            0.0
        };
        metric(
            &mut out,
            "hotcold_archive_last_rows_per_byte",
            "gauge",
            "Rows per exported byte in the last run (compression).",
            &one(ratio),
        );
    }
    metric(
        &mut out,
        "hotcold_spool_bytes",
        "gauge",
        "Bytes in the spool (the offline queue).",
        &one(a.spool.bytes() as f64),
    );
    metric(
        &mut out,
        "hotcold_spool_budget_bytes",
        "gauge",
        "The spool's budget.",
        &one(a.settings.spool_budget as f64),
    );
    let j = a.journal.clone();
    let backlog = tokio::task::spawn_blocking(move || j.lock().ok().and_then(|j| j.backlog().ok()))
        .await
        .ok()
        .flatten();
    if let Some((n, bytes)) = backlog {
        metric(
            &mut out,
            "hotcold_backlog_batches",
            "gauge",
            "Batches waiting for delivery.",
            &one(n as f64),
        );
        metric(
            &mut out,
            "hotcold_backlog_bytes",
            "gauge",
            "Bytes waiting for delivery.",
            &one(bytes as f64),
        );
    }
    // The standalone edition has no link, so no link figures.
    if let Some(link) = &st.link {
        metric(
            &mut out,
            "hotcold_link_bytes_sent_total",
            "counter",
            "Chunk bytes sent to the gateway.",
            &one(link.meter.total() as f64),
        );
        metric(
            &mut out,
            "hotcold_link_rate_bytes_per_second",
            "gauge",
            "Send rate over the last ten seconds.",
            &one(link.meter.rate()),
        );
        metric(
            &mut out,
            "hotcold_link_up",
            "gauge",
            "1 unless the last attempt to reach the gateway failed.",
            &one(if link.down_since().is_none() {
                1.0
            } else {
                0.0
            }),
        );
        metric(
            &mut out,
            "hotcold_link_chunk_bytes",
            "gauge",
            "The chunk size the last export was given (adaptive within link.chunk-min..=link.chunk-size).",
            &one(f64::from(link.last_chunk_size())),
        );
        metric(
            &mut out,
            "hotcold_link_loss_ratio",
            "gauge",
            "Share of packets QUIC lost over the last seconds of sending.",
            &one(link.recent_loss()),
        );
        metric(
            &mut out,
            "hotcold_link_deferred",
            "gauge",
            "1 while archive runs defer because the line loses more than link.defer-loss or its round trip swings more than link.defer-rtt-spread.",
            &one(if link.deferred().is_some() { 1.0 } else { 0.0 }),
        );
        if let Some(sd) = link.rtt_spread() {
            metric(
                &mut out,
                "hotcold_link_rtt_spread_seconds",
                "gauge",
                "Standard deviation of the round trip over the last seconds of sending.",
                &one(sd.as_secs_f64()),
            );
        }
        if let Some(rtt) = link.rtt().await {
            metric(
                &mut out,
                "hotcold_link_rtt_seconds",
                "gauge",
                "QUIC round-trip time to the gateway.",
                &one(rtt.as_secs_f64()),
            );
        }
    }
    if let Some(c) = st.hot.copy_stats() {
        metric(
            &mut out,
            "hotcold_hot_copy_parts_built_total",
            "counter",
            "Parts of the SQLite hot store's columnar copy of sealed hours built (hot.columnar-copy).",
            &one(c.parts_built as f64),
        );
        metric(
            &mut out,
            "hotcold_hot_copy_pending_hours",
            "gauge",
            "Sealed hot hours whose columnar copy is missing or stale after the builder's last pass (their Arrow answers read rows).",
            &one(c.pending_hours as f64),
        );
        metric(
            &mut out,
            "hotcold_hot_copy_hours_read_total",
            "counter",
            "Hot hours Arrow and Parquet answers read from the columnar copy instead of the rows.",
            &one(c.hours_read as f64),
        );
    }
    let (hot, tables) = (st.hot.clone(), st.cfg.tables.clone());
    let counts = tokio::task::spawn_blocking(move || {
        tables
            .iter()
            .filter_map(|t| {
                hot.count(t, hotcold_core::Window::new(i64::MIN, i64::MAX))
                    .ok()
                    .map(|n| (format!("{{table=\"{}\"}}", t.name), n as f64))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    metric(
        &mut out,
        "hotcold_hot_rows",
        "gauge",
        "Rows in the hot store per table.",
        &counts,
    );
    if let Some(r) = st.link.as_ref().and_then(|l| l.pacer.rate_now()) {
        metric(
            &mut out,
            "hotcold_link_limit_bytes_per_second",
            "gauge",
            "The bandwidth limit in force.",
            &one(r as f64),
        );
    }
    let wm: Vec<(String, f64)> = st
        .watermarks
        .read()
        .await
        .iter()
        .map(|(t, w)| (format!("{{table=\"{t}\"}}"), *w as f64 / 1000.0))
        .collect();
    metric(
        &mut out,
        "hotcold_watermark_seconds",
        "gauge",
        "Confirmed watermark per table: older rows are read from cold.",
        &wm,
    );
    let h = &st.counters;
    let ingest: Vec<(String, f64)> = h
        .ingest_rows
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(t, n)| (format!("{{table=\"{t}\"}}"), *n as f64))
        .collect();
    metric(
        &mut out,
        "hotcold_ingest_rows_total",
        "counter",
        "Rows ingested per table.",
        &ingest,
    );
    metric(
        &mut out,
        "hotcold_ingest_rejected_total",
        "counter",
        "Ingest requests refused (bad input, archived range).",
        &one(h.ingest_rejected.load(Relaxed) as f64),
    );
    metric(
        &mut out,
        "hotcold_queries_total",
        "counter",
        "Queries answered.",
        &one(h.queries.load(Relaxed) as f64),
    );
    metric(
        &mut out,
        "hotcold_queries_partial_total",
        "counter",
        "Queries answered without a cold range (NAS unreachable).",
        &one(h.queries_partial.load(Relaxed) as f64),
    );
    metric(
        &mut out,
        "hotcold_query_seconds_total",
        "counter",
        "Time spent answering queries.",
        &one(h.query_micros.load(Relaxed) as f64 / 1e6),
    );
    metric(
        &mut out,
        "hotcold_queries_streamed_total",
        "counter",
        "Answers too large to send whole, streamed as read.",
        &one(h.queries_streamed.load(Relaxed) as f64),
    );
    let cache = &st.router.cache;
    // Counters: the cache's, and the link's cold-answer bytes when there
    // is a link.
    let mut counters: Vec<(&str, &str, &std::sync::atomic::AtomicU64)> = vec![
        (
            "hotcold_cold_cache_hits_total",
            "Cold answers served from the cache.",
            &cache.stats.hits,
        ),
        (
            "hotcold_cold_cache_misses_total",
            "Cold answers asked of the gateway.",
            &cache.stats.misses,
        ),
        (
            "hotcold_cold_cache_evictions_total",
            "Cached cold answers dropped for room.",
            &cache.stats.evictions,
        ),
        (
            "hotcold_cold_cache_invalidations_total",
            "Cached cold answers dropped because their range was committed again.",
            &cache.stats.invalidations,
        ),
        (
            "hotcold_cold_prefetched_total",
            "Cold answers prefetch put in the cache.",
            &cache.stats.prefetched,
        ),
        (
            "hotcold_cold_prefetch_hits_total",
            "Cache hits on answers prefetch put there.",
            &cache.stats.prefetch_hits,
        ),
    ];
    if let Some(link) = &st.link {
        counters.extend([
            (
                "hotcold_link_query_bytes_total",
                "Bytes of cold answers received over the link.",
                &link.query_bytes,
            ),
            (
                "hotcold_link_prefetch_bytes_total",
                "Of those, the bytes prefetch asked for (paced by the bandwidth limit).",
                &link.prefetch_bytes,
            ),
            (
                "hotcold_backup_bytes_total",
                "Bytes of hot backups sent to the NAS.",
                &link.backup_bytes,
            ),
        ]);
    }
    for (name, help, v) in counters {
        metric(
            &mut out,
            name,
            "counter",
            help,
            &one(v.load(Relaxed) as f64),
        );
    }
    if let Some(at) = st.backup.get().last_ok_ms {
        metric(
            &mut out,
            "hotcold_backup_age_seconds",
            "gauge",
            "Seconds since the NAS last confirmed a hot backup (absent before the first).",
            &one(((crate::clock::now_ms() - at).max(0) as f64) / 1000.0),
        );
    }
    let (hits, misses) = (
        cache.stats.hits.load(Relaxed),
        cache.stats.misses.load(Relaxed),
    );
    metric(
        &mut out,
        "hotcold_cold_cache_hit_ratio",
        "gauge",
        "Cache hits over cold answers asked for, since start (0 before any).",
        &one(if hits + misses == 0 {
            0.0
        } else {
            hits as f64 / (hits + misses) as f64
        }),
    );
    let (entries, bytes) = cache.size();
    metric(
        &mut out,
        "hotcold_cold_cache_bytes",
        "gauge",
        "Memory held by cached cold answers.",
        &one(bytes as f64),
    );
    metric(
        &mut out,
        "hotcold_cold_cache_entries",
        "gauge",
        "Cached cold answers.",
        &one(entries as f64),
    );
    out
}
