//! Cold retention: whole partitions older than `cold-retention` (default five
//! years) are dropped, never single rows, so a window is either all there
//! or all gone. The ledger entries inside a dropped partition are marked
//! expired first, so scrub tells an expired window from a lost one.
//! `nas-gateway retention --dry-run` lists what would go.

use crate::cold::{ColdError, ColdStore};
use hotcold_core::schema::Window;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Expired {
    pub table: String,
    pub partition: String,
    pub window: Window,
}

/// Partitions that end at or before `cutoff_ms`.
pub async fn expired<S: ColdStore>(store: &S, cutoff_ms: i64) -> Result<Vec<Expired>, ColdError> {
    Ok(store
        .partitions()
        .await?
        .into_iter()
        .filter(|(_, _, w)| w.end <= cutoff_ms)
        .map(|(table, partition, window)| Expired {
            table,
            partition,
            window,
        })
        .collect())
}

/// Drops the expired partitions (or only lists them with `dry_run`).
pub async fn enforce<S: ColdStore>(
    store: &S,
    cutoff_ms: i64,
    dry_run: bool,
) -> Result<Vec<Expired>, ColdError> {
    let list = expired(store, cutoff_ms).await?;
    if !dry_run {
        for e in &list {
            // The ledger first: a crash between the two leaves a window
            // marked expired that is still there (dropped on the next pass),
            // never a dropped one that scrub would report as lost.
            let entries = store.ledger_expire(&e.table, e.window).await?;
            tracing::info!(table = %e.table, partition = %e.partition, entries, "ledger entries marked expired");
            store
                .drop_partition(&e.table, &e.partition, e.window)
                .await?;
            tracing::info!(table = %e.table, partition = %e.partition, "cold retention dropped a partition");
        }
    }
    Ok(list)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Enforces retention every `every`, starting one `every` after start.
pub async fn run<S: ColdStore>(
    store: std::sync::Arc<crate::gateway::Gateway<S>>,
    retention: std::time::Duration,
    every: std::time::Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let cutoff = now_ms() - retention.as_millis() as i64;
        match enforce(&store.store, cutoff, false).await {
            Ok(v) if !v.is_empty() => tracing::info!(dropped = v.len(), "cold retention pass"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cold retention failed"),
        }
    }
}
