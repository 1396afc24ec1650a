//! Starts archive runs by themselves: at the cron times (UTC), or every
//! `schedule.every` in continuous mode. Never two at once (the archiver
//! refuses a second), and never longer than `schedule.run-timeout`: a run
//! stopped at its limit is like a crash, and the journal resumes it next time.

use crate::archive::{ArchiveError, Archiver};
use crate::clock::now_ms;
use crate::config::ScheduleConfig;
use std::sync::Arc;
use std::time::Duration;

/// The next start after `now`: `every` after now in continuous mode, else
/// the cron's next minute.
pub(crate) fn next_run(cfg: &ScheduleConfig, now: i64) -> Option<i64> {
    match cfg.every {
        Some(every) => Some(now + every.0.as_millis() as i64),
        None => cfg.cron.next_after(now),
    }
}

pub async fn run(archiver: Arc<Archiver>, cfg: ScheduleConfig) {
    if !cfg.enabled {
        tracing::info!("scheduled archive runs are disabled");
        return;
    }
    loop {
        let now = now_ms();
        let Some(next) = next_run(&cfg, now) else {
            tracing::error!(cron = %cfg.cron, "the schedule never fires; no scheduled runs");
            return;
        };
        archiver.set_next_run(Some(next));
        tracing::info!(next = %hotcold_core::time::format_timestamp_ms(next), "next archive run");
        tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)).await;
        match tokio::time::timeout(cfg.run_timeout.0, archiver.run(now_ms())).await {
            Ok(Ok(_)) => {}
            Ok(Err(ArchiveError::AlreadyRunning)) => {
                tracing::warn!("a run is still in progress; this one is skipped")
            }
            // Cluster edition: only the lease holder archives.
            Ok(Err(ArchiveError::NotLeader(_))) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "scheduled archive run failed"),
            Err(_) => {
                tracing::error!(limit = %cfg.run_timeout, "archive run stopped at its time limit; it resumes next time")
            }
        }
    }
}
