//! Step 4 of the archive: verify the whole batch, write it to the cold store
//! exactly once, read the window back and answer with the cold store's own
//! count and content hash.
//!
//! Idempotency without transactions (ClickHouse 18.16 has neither those nor
//! insert deduplication tokens): a batch in the ledger is never inserted
//! again; a batch not in the ledger first clears its window (only a crashed
//! earlier attempt can have left rows there, since windows never overlap),
//! then inserts, then enters the ledger. A crash at any point leaves either a
//! ledger entry with the whole window, or no entry and a window the next
//! attempt clears.

use crate::cold::{ColdError, ColdStore, LedgerEntry};
use crate::failpoint;
use crate::staging::{next_segment, StagedBatch, StagingError};
use hotcold_core::codec::{decode_segment, DecodeLimits};
use hotcold_core::manifest::Manifest;
use hotcold_core::ContentHash;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error(transparent)]
    Cold(#[from] ColdError),
    #[error("batch {batch}: {reason}")]
    Decode { batch: String, reason: String },
    /// The window is already committed under another batch that this one
    /// does not say it replaces: its cold rows are never cleared for it.
    #[error("batch {batch}: window {window} of {table} is already committed under batch {existing}, which the manifest does not name in `replaces`; nothing cleared")]
    Conflict {
        batch: String,
        table: String,
        window: hotcold_core::schema::Window,
        existing: String,
    },
    /// The cold store takes batches from one cloud only (see `check_owner`).
    #[error("batch {batch}: this gateway's cold store belongs to cloud {owner}, and this batch comes from cloud {cloud}; two clouds archiving into one cold store would commit the same windows under the same batch ids. Give the second cloud its own gateway (or its own cold database), or, if this cloud replaces the old one, see 'Moving a cloud' in the README; nothing stored")]
    OtherCloud {
        batch: String,
        owner: String,
        cloud: String,
    },
}

/// The first cloud whose batch reaches a cold store owns it; a batch from
/// any other is refused before anything of it is stored. A batch without
/// a cloud id (a cloud older than the check) is let through as before.
pub async fn check_owner<S: ColdStore>(store: &S, m: &Manifest) -> Result<(), CommitError> {
    if m.cloud.is_empty() {
        return Ok(());
    }
    // One gateway per store: claims of this process take turns, so two
    // clouds' first batches cannot both read "no owner yet".
    static CLAIMS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = CLAIMS.lock().await;
    let owner = match store.owner().await? {
        Some(o) => o,
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            store.claim_owner(&m.cloud, now).await?;
            // Read again: of two clouds claiming at once, one wins here.
            store.owner().await?.unwrap_or_else(|| m.cloud.clone())
        }
    };
    if owner == m.cloud {
        return Ok(());
    }
    Err(CommitError::OtherCloud {
        batch: m.batch_id.clone(),
        owner,
        cloud: m.cloud.clone(),
    })
}

pub async fn commit<S: ColdStore>(
    store: &S,
    staged: &StagedBatch,
    limits: DecodeLimits,
) -> Result<ContentHash, CommitError> {
    let m = &staged.manifest;
    check_owner(store, m).await?;
    store.ensure_table(&m.schema).await?;
    if store.ledger_get(&m.batch_id).await?.is_some() {
        tracing::info!(batch = %m.batch_id, "already committed; reading back");
        return Ok(store.content_hash(&m.schema, m.window).await?);
    }
    let check = {
        let s = staged.clone_handle();
        tokio::task::spawn_blocking(move || s.verify_whole())
    };
    check.await.map_err(|e| ColdError::Task(e.to_string()))??;

    // A window committed under another batch is cleared only for a batch
    // that names it: a new batch id for an old window (a peer that should
    // not be there, or a bug) must not wipe archived rows.
    let overlapping = |e: &LedgerEntry| {
        e.table == m.schema.name
            && e.batch_id != m.batch_id
            && e.window.start < m.window.end
            && m.window.start < e.window.end
    };
    if let Some(e) = store
        .ledger_list()
        .await?
        .into_iter()
        .filter(overlapping)
        .find(|e| !m.replaces.contains(&e.batch_id))
    {
        return Err(CommitError::Conflict {
            batch: m.batch_id.clone(),
            table: m.schema.name.clone(),
            window: m.window,
            existing: e.batch_id,
        });
    }
    if store.window_count(&m.schema, m.window).await? > 0 {
        tracing::warn!(batch = %m.batch_id, window = %m.window, "clearing rows of an interrupted earlier commit");
        store.delete_window(&m.schema, m.window).await?;
    }
    failpoint::hit("before-insert", store).await;

    let (tx, rx) = mpsc::channel(2);
    let reader = {
        let s = staged.clone_handle();
        let schema = m.schema.clone();
        let batch = m.batch_id.clone();
        let window = m.window;
        tokio::task::spawn_blocking(move || -> Result<(), CommitError> {
            let mut r = s.reader();
            while let Some(body) =
                next_segment(&mut r, &limits).map_err(|reason| CommitError::Decode {
                    batch: batch.clone(),
                    reason,
                })?
            {
                let rows =
                    decode_segment(&schema, &body, &limits).map_err(|e| CommitError::Decode {
                        batch: batch.clone(),
                        reason: e.to_string(),
                    })?;
                // A row outside the batch's window would land where no
                // ledger entry covers it (and a re-commit's clear would not
                // reach it): checked before the store sees the segment.
                outside_window(&schema, &rows, window).map_err(|reason| CommitError::Decode {
                    batch: batch.clone(),
                    reason,
                })?;
                if tx.blocking_send(rows).is_err() {
                    break;
                }
            }
            Ok(())
        })
    };
    let inserted = store.insert_stream(&m.schema, rx).await;
    let read = reader
        .await
        .map_err(|e| CommitError::from(ColdError::Task(e.to_string())))
        .and_then(|r| r);
    if let Err(e) = read {
        // The store may have taken the segments before the bad one (SQLite
        // commits what its stream delivered; ClickHouse has no transaction):
        // take them out again, so a failed batch leaves its window empty.
        // If this fails too, the window has no ledger entry and the next
        // attempt clears it first.
        if let Err(d) = store.delete_window(&m.schema, m.window).await {
            tracing::error!(batch = %m.batch_id, error = %d, "cannot clear the rows of a batch that failed to decode");
        }
        return Err(e);
    }
    let inserted = inserted?;
    tracing::info!(batch = %m.batch_id, rows = inserted, "inserted into cold store");
    failpoint::hit("after-insert", store).await;

    let cold = store.content_hash(&m.schema, m.window).await?;
    store
        .ledger_put(&LedgerEntry {
            batch_id: m.batch_id.clone(),
            table: m.schema.name.clone(),
            window: m.window,
            content: cold,
        })
        .await?;
    failpoint::hit("after-ledger", store).await;
    Ok(cold)
}

/// The first row of `rows` whose time lies outside `window`, as an error.
fn outside_window(
    schema: &hotcold_core::schema::TableSchema,
    rows: &hotcold_core::RowBatch,
    window: hotcold_core::schema::Window,
) -> Result<(), String> {
    let times = rows
        .i64_column(schema.time_index())
        .ok_or_else(|| format!("time column {} is not a timestamp", schema.time_column))?;
    match times.iter().position(|t| !window.contains(*t)) {
        None => Ok(()),
        Some(i) => Err(format!(
            "a row at {} ({}) lies outside the batch's window {window}; nothing of it is kept",
            times[i],
            hotcold_core::time::format_timestamp_ms(times[i])
        )),
    }
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
