//! Scrub: re-read every committed window of the cold store and check it
//! against the ledger, which recorded the content hash each batch had when
//! it was committed (and which the cloud checked against the hot rows).
//! A mismatch means the cold data changed since: a disk fault, a manual
//! edit, a bad restore. Nothing is repaired here; the report names the
//! windows, so the operator can re-send them from a backup or the cloud.

use crate::cold::{ColdError, ColdStore};
use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub table: String,
    pub window: Window,
    pub batch_id: String,
    pub ledger: ContentHash,
    /// What the cold store holds now (None: the window could not be read).
    pub found: Option<ContentHash>,
    pub reason: String,
}

#[derive(Debug, Default, Serialize)]
pub struct ScrubReport {
    pub windows: u64,
    pub rows: u64,
    pub ok: u64,
    /// Windows cold retention dropped on purpose: not checked, not lost.
    pub expired: u64,
    pub mismatched: Vec<Mismatch>,
}

impl ScrubReport {
    pub fn is_clean(&self) -> bool {
        self.mismatched.is_empty()
    }
}

/// Checks every window in the ledger (of one table, if given). A window
/// committed more than once (a batch re-sent after a failure) is checked
/// against its latest entry. `progress(done, total)` after each window.
pub async fn scrub<S: ColdStore>(
    store: &S,
    table: Option<&str>,
    mut progress: impl FnMut(u64, u64),
) -> Result<ScrubReport, ColdError> {
    let mut latest = BTreeMap::new();
    for e in store.ledger_list().await? {
        if table.is_none_or(|t| t == e.table) {
            latest.insert((e.table.clone(), e.window.start, e.window.end), e);
        }
    }
    let expired = store.expired_batches().await?;
    let mut report = ScrubReport::default();
    latest.retain(|_, e| {
        let gone = expired.contains(&e.batch_id);
        report.expired += u64::from(gone);
        !gone
    });
    let total = latest.len() as u64;
    let mut schemas = BTreeMap::new();
    for (i, e) in latest.into_values().enumerate() {
        report.windows += 1;
        if !schemas.contains_key(&e.table) {
            let s = store.schema_of(&e.table).await?;
            schemas.insert(e.table.clone(), s);
        }
        let mismatch = |found: Option<ContentHash>, reason: String| Mismatch {
            table: e.table.clone(),
            window: e.window,
            batch_id: e.batch_id.clone(),
            ledger: e.content,
            found,
            reason,
        };
        match schemas.get(&e.table).and_then(Option::as_ref) {
            None => report.mismatched.push(mismatch(
                None,
                "no schema recorded for the table (committed by an older gateway?)".into(),
            )),
            Some(schema) => match store.content_hash(schema, e.window).await {
                Ok(h) if h == e.content => {
                    report.ok += 1;
                    report.rows += h.rows;
                }
                Ok(h) => {
                    let reason = if h.rows == e.content.rows {
                        format!("{} rows as committed, but their content differs", h.rows)
                    } else {
                        format!("{} rows, {} were committed", h.rows, e.content.rows)
                    };
                    report.mismatched.push(mismatch(Some(h), reason));
                }
                Err(err) => report
                    .mismatched
                    .push(mismatch(None, format!("cannot read the window: {err}"))),
            },
        }
        progress(i as u64 + 1, total);
    }
    Ok(report)
}
