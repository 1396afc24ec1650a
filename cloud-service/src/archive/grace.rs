//! The purge grace: a commit the gateway answered before its rows were on
//! disk (ClickHouse 18.x cannot fsync an insert) keeps its window in hot for
//! `archive.purge-grace`, then the window is read back from cold once more;
//! only an unchanged answer lets it be confirmed and purged (invariant 9).

use super::journal::BatchRecord;
use super::{ArchiveError, Archiver, RunState};
use crate::clock::now_ms;
use hotcold_core::schema::TableSchema;

/// What reading a not-yet-durable commit back again found.
pub(super) enum Recheck {
    /// The grace period has not passed yet.
    Held(String),
    /// The gateway could not be asked; try again later.
    Unreachable(String),
    /// The cold store no longer holds what hot exported.
    Differs(String),
    /// Unchanged: go on to confirm and purge.
    Same,
}

impl Archiver {
    /// For a commit the gateway answered before its rows were on disk: holds
    /// it until `purge_grace` has passed since, then reads the window back
    /// from the cold store once more. Only a read-back equal to what hot
    /// exported lets it go on to confirm and purge.
    pub(super) async fn recheck_after_grace(
        &self,
        schema: &TableSchema,
        rec: &BatchRecord,
        run: &mut RunState,
    ) -> Result<Recheck, ArchiveError> {
        let due = rec.committed_ms.unwrap_or(0) + self.settings.purge_grace.as_millis() as i64;
        if now_ms() < due {
            return Ok(Recheck::Held(format!(
                "held until {}: the NAS's cold store does not fsync inserts, so hot keeps the rows for archive.purge-grace",
                hotcold_core::time::format_timestamp_ms(due)
            )));
        }
        if let Some(why) = &run.offline {
            return Ok(Recheck::Unreachable(why.clone()));
        }
        match self.read_back(schema, rec).await {
            Ok(now) if Some(now) == rec.hot => {
                tracing::info!(batch = %rec.batch_id, cold = %now, "cold read back again after the purge grace: unchanged");
                Ok(Recheck::Same)
            }
            Ok(now) => Ok(Recheck::Differs(format!(
                "after the purge grace the cold store holds {now} but hot exported {}; nothing deleted",
                rec.hot.map_or("nothing".into(), |c| c.to_string())
            ))),
            Err(e) => {
                let (i, m) = (rec.batch_id.clone(), e.to_string());
                self.journal(move |j| j.note_error(&i, &m)).await?;
                if e.is_offline() {
                    run.offline = Some(e.to_string());
                }
                Ok(Recheck::Unreachable(format!("read-back before purge: {e}")))
            }
        }
    }
}
