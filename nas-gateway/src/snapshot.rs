//! Snapshots of the cold store, on the NAS: every committed window the
//! ledger lists, as range files in `snapshot-dir`, and the restore into an
//! empty cold store that rebuilds the ledger.
//!
//! Cold windows never change after their commit, so the ledger read once
//! is the snapshot's point and its manifest: each window's range file is
//! checked against the ledger's count and content hash as it is written,
//! and a window already in the pool (an earlier snapshot) is shared, so
//! each snapshot writes only what was committed since.

use crate::cold::{ColdError, ColdStore, LedgerEntry};
use hotcold_core::codec::{encode_segment, DecodeLimits};
use hotcold_core::query::Plan;
use hotcold_core::snapshot::{range_file_name, Level, RangeEntry, Side, SnapshotManifest, FORMAT};
use hotcold_core::ContentHash;
use hotcold_snapshot::{read_range, SnapshotStore, StoreError};
use std::collections::BTreeMap;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum ColdSnapshotError {
    #[error(transparent)]
    Cold(#[from] ColdError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("table {0}: no schema recorded in the cold store")]
    NoSchema(String),
    /// The cold store does not hold what its ledger says: scrub first.
    #[error("table {table} window {window} (batch {batch}) reads back as {got}; the ledger says {want} (nas-gateway scrub names every such window)")]
    Differs {
        table: String,
        window: hotcold_core::Window,
        batch: String,
        got: ContentHash,
        want: ContentHash,
    },
    #[error("snapshot {0} is the cloud's (cloud-service restore takes it)")]
    WrongSide(String),
    /// The cold store holds a window of the snapshot under another batch:
    /// it is not the empty store a restore goes into.
    #[error("the cold store already holds table {table} window {window} under batch {existing} ({more} more such windows); restore goes into an empty cold store (drop the database or move the file aside first)")]
    Occupied {
        table: String,
        window: hotcold_core::Window,
        existing: String,
        more: usize,
    },
    #[error("snapshot task failed: {0}")]
    Task(String),
}

/// What a restore did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ColdRestored {
    pub id: String,
    pub windows: u64,
    /// Windows the ledger already held with the same content (a restore
    /// run again after it stopped part-way).
    pub already: u64,
    pub rows: u64,
    pub seconds: f64,
}

/// A snapshot of every committed, unexpired window. `progress` gets
/// (windows done, windows in all).
pub async fn create<S: ColdStore>(
    store: &S,
    snaps: &SnapshotStore,
    progress: impl Fn(u64, u64),
) -> Result<SnapshotManifest, ColdSnapshotError> {
    let _lock = snaps.try_lock()?;
    let base = snaps.latest()?;
    let point_ms = crate::retention::now_ms();
    let expired = store.expired_batches().await?;
    // One window per (table, start): a later commit of the same window
    // (a replaced batch) is the one that holds it now.
    let mut live: BTreeMap<(String, i64), LedgerEntry> = BTreeMap::new();
    for e in store.ledger_list().await? {
        if !expired.contains(&e.batch_id) {
            live.insert((e.table.clone(), e.window.start), e);
        }
    }
    let id = format!("{}-nas", stamp(point_ms));
    snaps.begin(&id)?;
    let (mut schemas, mut ranges, mut written) = (Vec::new(), Vec::new(), 0u64);
    let total = live.len() as u64;
    for (i, e) in live.into_values().enumerate() {
        let schema = match schemas
            .iter()
            .find(|s: &&hotcold_core::TableSchema| s.name == e.table)
        {
            Some(s) => s.clone(),
            None => {
                let s = store
                    .schema_of(&e.table)
                    .await?
                    .ok_or_else(|| ColdSnapshotError::NoSchema(e.table.clone()))?;
                schemas.push(s.clone());
                s
            }
        };
        let name = range_file_name(&e.table, e.window, &e.content);
        let shared = base
            .as_ref()
            .and_then(|b| b.ranges.iter().find(|r| r.file == name))
            .filter(|r| {
                std::fs::metadata(snaps.pool_path(&r.file)).is_ok_and(|m| m.len() == r.bytes)
            })
            .cloned();
        let mut entry = match shared {
            Some(r) => r,
            None => {
                let r = write_window(store, snaps, &schema, &e).await?;
                written += r.bytes;
                r
            }
        };
        entry.batch_id = e.batch_id.clone();
        ranges.push(entry);
        progress(i as u64 + 1, total);
    }
    let m = SnapshotManifest {
        format: FORMAT,
        id,
        side: Side::Nas,
        // The ledger read once is the point; committed windows cannot change.
        level: Level::Strict,
        point_ms,
        pause_us: 0,
        skew_us: 0,
        base: base.map(|b| b.id),
        schemas,
        ranges,
        files: Vec::new(),
        bytes_written: written,
        cold: None,
    };
    snaps.commit(&m)?;
    Ok(m)
}

async fn write_window<S: ColdStore>(
    store: &S,
    snaps: &SnapshotStore,
    schema: &hotcold_core::TableSchema,
    e: &LedgerEntry,
) -> Result<RangeEntry, ColdSnapshotError> {
    let (tx, mut rx) = mpsc::channel(4);
    let mut w = snaps.range_writer(&e.table, e.window)?;
    let plan = Plan::rows(schema);
    let read = store.query(schema, &plan, e.window, u64::MAX, tx);
    let write = async {
        let mut h = ContentHash::default();
        while let Some(b) = rx.recv().await {
            h.add_batch(&b);
            w.write(&encode_segment(&b, 3))?;
        }
        Ok::<_, ColdSnapshotError>(h)
    };
    let (read, got) = tokio::join!(read, write);
    read?;
    let got = got?;
    if got != e.content {
        w.abandon();
        return Err(ColdSnapshotError::Differs {
            table: e.table.clone(),
            window: e.window,
            batch: e.batch_id.clone(),
            got,
            want: e.content,
        });
    }
    Ok(w.finish(got)?)
}

/// What the cloud records of a NAS snapshot.
pub fn reply(m: &SnapshotManifest) -> hotcold_core::frame::ColdSnapshotReply {
    hotcold_core::frame::ColdSnapshotReply {
        id: m.id.clone(),
        windows: m.ranges.len() as u64,
        rows: m.rows(),
        bytes: m.bytes(),
        bytes_written: m.bytes_written,
    }
}

fn stamp(ms: i64) -> String {
    hotcold_core::time::format_timestamp_ms(ms)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect()
}

/// Restores snapshot `id` into `store`: every file is read back against the
/// manifest first; then each window is inserted, read back against its
/// count and content hash, and entered in the ledger. A window the ledger
/// already holds with the same content is left as it is, and one with rows
/// but no ledger entry (a restore that stopped inside it) is cleared first,
/// so a restore run again finishes what the last one began.
pub async fn restore<S: ColdStore>(
    store: &S,
    snaps: &SnapshotStore,
    id: &str,
    progress: impl Fn(u64, u64),
) -> Result<ColdRestored, ColdSnapshotError> {
    let started = std::time::Instant::now();
    let m = snaps.load(id)?;
    if m.side != Side::Nas {
        return Err(ColdSnapshotError::WrongSide(id.to_string()));
    }
    snaps.verify(id, &|_| {})?;
    // Before any write: a window the ledger holds under another batch
    // (a live store, a newer commit) is refused, never cleared.
    let ledger = store.ledger_list().await?;
    let occupied: Vec<(&RangeEntry, &LedgerEntry)> = m
        .ranges
        .iter()
        .filter_map(|r| {
            ledger
                .iter()
                .find(|e| {
                    e.table == r.table
                        && e.batch_id != r.batch_id
                        && e.window.start < r.window.end
                        && r.window.start < e.window.end
                })
                .map(|e| (r, e))
        })
        .collect();
    if let Some((r, e)) = occupied.first() {
        return Err(ColdSnapshotError::Occupied {
            table: r.table.clone(),
            window: r.window,
            existing: e.batch_id.clone(),
            more: occupied.len() - 1,
        });
    }
    let mut out = ColdRestored {
        id: id.to_string(),
        ..Default::default()
    };
    let total = m.ranges.len() as u64;
    for (i, r) in m.ranges.iter().enumerate() {
        let Some(schema) = m.schemas.iter().find(|s| s.name == r.table) else {
            continue; // validate() guarantees one
        };
        store.ensure_table(schema).await?;
        if let Some(e) = store.ledger_get(&r.batch_id).await? {
            if e.content == r.content && e.window == r.window {
                out.already += 1;
                progress(i as u64 + 1, total);
                continue;
            }
        }
        if store.window_count(schema, r.window).await? > 0 {
            store.delete_window(schema, r.window).await?;
        }
        let (tx, rx) = mpsc::channel(4);
        let (path, entry, s2) = (snaps.pool_path(&r.file), r.clone(), schema.clone());
        let reader = tokio::task::spawn_blocking(move || {
            read_range::<StoreError>(&path, &entry, &s2, &DecodeLimits::default(), |b| {
                tx.blocking_send(b).map_err(|_| StoreError::Corrupt {
                    path: path.clone(),
                    reason: "the cold store stopped taking rows".into(),
                })
            })
        });
        let inserted = store.insert_stream(schema, rx).await;
        reader
            .await
            .map_err(|e| ColdSnapshotError::Task(e.to_string()))??;
        inserted?;
        let got = store.content_hash(schema, r.window).await?;
        if got != r.content {
            return Err(ColdSnapshotError::Differs {
                table: r.table.clone(),
                window: r.window,
                batch: r.batch_id.clone(),
                got,
                want: r.content,
            });
        }
        store
            .ledger_put(&LedgerEntry {
                batch_id: r.batch_id.clone(),
                table: r.table.clone(),
                window: r.window,
                content: r.content,
            })
            .await?;
        out.windows += 1;
        out.rows += r.content.rows;
        progress(i as u64 + 1, total);
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}
