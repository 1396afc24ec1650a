//! Reconcile: after a restore, the journal and the cold ledger may have
//! been copied at different moments (the cloud's snapshot, the NAS's
//! snapshot, or a cold store that went on archiving after the cloud's
//! point). This compares them and repairs what can be repaired without
//! ever deleting a row:
//!
//! - a batch the journal says is committed or confirmed but the ledger
//!   lacks is sent again (`redeliver`): its rows are still hot;
//! - a purged batch the ledger lacks is reported `lost`: its rows are in
//!   neither tier (restore the NAS from a newer snapshot);
//! - a ledger batch the journal does not know (committed after the cloud's
//!   point) is `adopted` as committed if the restored hot window holds the
//!   same count and hash, so the next run confirms and purges it instead of
//!   planning the window again under a new id that the gateway would refuse;
//!   otherwise it is reported (`differs`, `overlaps`) and left alone.
//!
//! The service runs it once by itself after a restore (the marker file
//! `restore.json` that `cloud-service restore` leaves in the data dir), and
//! on demand: `POST /v1/admin/reconcile[?dry_run=true]`.

use crate::api::AppState;
use crate::archive::{BatchRecord, BatchState};
use hotcold_core::frame::{LedgerRecord, MAX_LEDGER_QUERY};
use hotcold_core::query::Plan;
use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;

/// The marker `restore` leaves for the first start.
pub const MARKER: &str = "restore.json";

#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    /// `redeliver`, `lost`, `adopted`, `differs` or `overlaps`.
    pub action: &'static str,
    pub batch_id: String,
    pub table: String,
    pub window: Window,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("an archive run is going on; reconcile after it")]
    Busy,
    #[error("the gateway's ledger cannot be read: {0}")]
    Cold(String),
    #[error("{0}")]
    Local(String),
}

fn local(e: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Local(e.to_string())
}

pub async fn reconcile(st: &AppState, dry_run: bool) -> Result<Vec<Repair>, ReconcileError> {
    let _held = st.archiver.exclusive().map_err(|_| ReconcileError::Busy)?;
    let j = st.archiver.journal.clone();
    let recs: Vec<BatchRecord> =
        tokio::task::spawn_blocking(move || j.lock().map_err(local)?.every_batch().map_err(local))
            .await
            .map_err(local)??;
    let mut out = Vec::new();

    // Batches the journal says cold holds.
    let should: Vec<&BatchRecord> = recs
        .iter()
        .filter(|r| {
            matches!(
                r.state,
                BatchState::Committed | BatchState::Confirmed | BatchState::Purged
            )
        })
        .collect();
    let ids: Vec<String> = should.iter().map(|r| r.batch_id.clone()).collect();
    let held: HashSet<String> = st
        .cold
        .ledger(&ids)
        .await
        .map_err(|e| ReconcileError::Cold(e.to_string()))?
        .into_iter()
        .map(|e| e.batch_id)
        .collect();
    for r in should.iter().filter(|r| !held.contains(&r.batch_id)) {
        // Sending again is only right while hot still holds what was
        // exported; otherwise its rows are in neither tier.
        let still_hot =
            r.state != BatchState::Purged && Some(hot_hash(st, &r.table, r.window).await?) == r.hot;
        let (action, detail) = if !still_hot {
            (
                "lost",
                format!(
                    "{}, and the restored cold store does not hold it: restore the NAS from a snapshot taken after this batch",
                    if r.state == BatchState::Purged {
                        "purged from hot".to_string()
                    } else {
                        format!("{}, but hot no longer holds the rows it exported", r.state)
                    }
                ),
            )
        } else {
            (
                "redeliver",
                format!(
                    "was {}; the cold store lacks it, so it is sent again",
                    r.state
                ),
            )
        };
        if action == "redeliver" && !dry_run {
            let (j, id) = (st.archiver.journal.clone(), r.batch_id.clone());
            tokio::task::spawn_blocking(move || {
                j.lock().map_err(local)?.redeliver(&id).map_err(local)
            })
            .await
            .map_err(local)??;
        }
        out.push(Repair {
            action,
            batch_id: r.batch_id.clone(),
            table: r.table.clone(),
            window: r.window,
            detail,
        });
    }

    // Ledger batches the journal does not know.
    let known: HashSet<&str> = recs.iter().map(|r| r.batch_id.as_str()).collect();
    for schema in &st.cfg.tables {
        let mut after = i64::MIN;
        loop {
            let page = st
                .cold
                .ledger_after(&schema.name, after)
                .await
                .map_err(|e| ReconcileError::Cold(e.to_string()))?;
            let full = page.len() >= MAX_LEDGER_QUERY;
            for e in &page {
                after = after.max(e.window.end);
                if known.contains(e.batch_id.as_str()) || e.expired {
                    continue;
                }
                out.push(adopt_one(st, &recs, e, dry_run).await?);
            }
            if !full || page.is_empty() {
                break;
            }
        }
    }
    for r in &out {
        tracing::warn!(action = r.action, batch = %r.batch_id, table = %r.table, window = %r.window, detail = %r.detail, dry_run, "reconcile");
    }
    Ok(out)
}

async fn adopt_one(
    st: &AppState,
    recs: &[BatchRecord],
    e: &LedgerRecord,
    dry_run: bool,
) -> Result<Repair, ReconcileError> {
    let repair = |action, detail: String| Repair {
        action,
        batch_id: e.batch_id.clone(),
        table: e.table.clone(),
        window: e.window,
        detail,
    };
    if let Some(o) = recs.iter().find(|r| {
        r.table == e.table
            && r.state != BatchState::Failed
            && r.window.start < e.window.end
            && e.window.start < r.window.end
    }) {
        return Ok(repair(
            "overlaps",
            format!(
                "the journal's batch {} ({}) covers the window; left alone",
                o.batch_id, o.state
            ),
        ));
    }
    let w = e.window;
    if !dry_run {
        // As planning does, before the count: no row may enter the window
        // between this read and the adoption (a collector replaying after
        // the outage), or the purge would find more than cold holds.
        let (j, t) = (st.archiver.journal.clone(), e.table.clone());
        tokio::task::spawn_blocking(move || {
            j.lock()
                .map_err(local)?
                .raise_floor(&t, w.end)
                .map_err(local)
        })
        .await
        .map_err(local)??;
        st.gate.raise(&e.table, w.end);
    }
    let here = hot_hash(st, &e.table, w).await?;
    if here != e.cold {
        return Ok(repair(
            "differs",
            format!(
                "the cold store holds {} and the restored hot store {here}; left alone (nothing is deleted)",
                e.cold
            ),
        ));
    }
    if !dry_run {
        let (j, id, t, c) = (
            st.archiver.journal.clone(),
            e.batch_id.clone(),
            e.table.clone(),
            e.cold,
        );
        tokio::task::spawn_blocking(move || {
            j.lock()
                .map_err(local)?
                .adopt(&id, &t, w, &c)
                .map_err(local)
        })
        .await
        .map_err(local)??;
    }
    Ok(repair(
        "adopted",
        format!("committed after the restored point; hot holds the same {here}, so the next run confirms and purges it"),
    ))
}

/// The hot store's count and content hash of a table's window.
async fn hot_hash(st: &AppState, table: &str, w: Window) -> Result<ContentHash, ReconcileError> {
    let Some(s) = st.cfg.tables.iter().find(|t| t.name == table).cloned() else {
        return Err(local(format!("table {table} is not configured")));
    };
    let hot = st.hot.clone();
    tokio::task::spawn_blocking(move || {
        hot.settle(&s, w)?;
        let mut h = ContentHash::default();
        hot.scan(&s, &Plan::rows(&s), w, u64::MAX, 65_536, &mut |b| {
            h.add_batch(&b);
            Ok(())
        })?;
        Ok::<_, crate::hot::HotError>(h)
    })
    .await
    .map_err(local)?
    .map_err(local)
}

/// After a restore: once, as soon as the gateway answers, then the marker
/// goes (its result stays in the log and in `restore.json.done`) and the
/// archive may run (`start` held it if the marker was there).
pub async fn after_restore(st: Arc<AppState>) {
    let marker = st.cfg.data_dir.join(MARKER);
    if !marker.exists() {
        return;
    }
    loop {
        match reconcile(&st, false).await {
            Ok(repairs) => {
                tracing::info!(repairs = repairs.len(), "reconciled after the restore");
                let done = serde_json::to_vec_pretty(&repairs).unwrap_or_default();
                let _ = std::fs::write(st.cfg.data_dir.join("restore.json.done"), done);
                let _ = std::fs::remove_file(&marker);
                st.archiver.hold_for_restore(false);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reconcile after the restore: trying again in 5 s");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    }
}
