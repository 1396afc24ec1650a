//! A table's run as two stages: an exporter that plans and exports the
//! next window into the spool while a deliverer takes the current batch
//! through the link, confirm and purge (see `run_table`).

use super::journal::BatchRecord;
use super::{plan, ArchiveError, Archiver, Batch, BatchOutcome, BatchState, RunState};
use hotcold_core::schema::TableSchema;

/// What the exporter of a table did ahead of delivery, for the report.
#[derive(Default)]
pub(super) struct Ahead {
    bytes_exported: u64,
    spool_full: bool,
}

impl Archiver {
    /// A table's batches, oldest window first. Export runs ahead of
    /// delivery: while one batch crosses the link, is committed, read back
    /// and purged, the next is read from hot into the spool on a blocking
    /// thread, so on two cores the two overlap. Each batch still takes its
    /// steps in order and the journal records each before the next; only
    /// the export of the next window no longer waits for the purge of this
    /// one (the ingest floor already froze both windows).
    pub(super) async fn run_table(
        &self,
        schema: &TableSchema,
        cutoff: Option<i64>,
        run: &mut RunState,
    ) -> Result<(), ArchiveError> {
        let work = self.work(schema, cutoff).await?;
        // One batch waiting in the channel, one being exported: at most two
        // ahead of delivery (the spool budget bounds them as before).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<BatchRecord, ArchiveError>>(1);
        let mut ahead = Ahead::default();
        let exporter = async {
            for item in work {
                let rec = match self.export_ahead(schema, item, &mut ahead).await {
                    Ok(Some(rec)) => Ok(rec),
                    Ok(None) if ahead.spool_full => break,
                    Ok(None) => continue,
                    Err(e) => Err(e),
                };
                let stop = rec.is_err();
                // The deliverer hung up: the table stops for this run.
                if tx.send(rec).await.is_err() || stop {
                    break;
                }
            }
            drop(tx);
        };
        let deliverer = async {
            while let Some(rec) = rx.recv().await {
                // A failed or blocked batch stops this table; while offline
                // we keep exporting into the spool instead.
                if !self.drive(schema, rec?, run).await? && run.offline.is_none() {
                    break;
                }
            }
            drop(rx);
            Ok::<(), ArchiveError>(())
        };
        let ((), delivered) = tokio::join!(exporter, deliverer);
        run.report.bytes_exported += ahead.bytes_exported;
        run.report.spool_full |= ahead.spool_full;
        delivered
    }

    /// Plans a new window (if it is one) and exports a planned batch, so
    /// the deliverer gets it `Exported`. `None`: nothing to deliver (an
    /// empty window, or the spool is full).
    async fn export_ahead(
        &self,
        schema: &TableSchema,
        item: plan::Work,
        ahead: &mut Ahead,
    ) -> Result<Option<BatchRecord>, ArchiveError> {
        let rec = match item {
            plan::Work::Existing(rec) => *rec,
            plan::Work::New(window) => match self.plan_batch(schema, window).await? {
                plan::Planned::Batch(rec) => *rec,
                plan::Planned::Empty => return Ok(None),
                plan::Planned::SpoolFull => {
                    ahead.spool_full = true;
                    return Ok(None);
                }
            },
        };
        if rec.state != BatchState::Planned {
            return Ok(Some(rec));
        }
        let b = Batch {
            schema,
            outcome: BatchOutcome::starting(&rec),
            rec,
        };
        let manifest = self.export_to_spool(&b).await?;
        ahead.bytes_exported += manifest.total_len;
        Ok(Some(self.reload(&b.rec.batch_id).await?))
    }
}
