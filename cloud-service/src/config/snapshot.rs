//! `snapshot:`: where snapshots of the hot tier and the journal are kept
//! and the skew a bounded snapshot may have (`cloud-service snapshot`).

use hotcold_core::units::Span;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SnapshotConfig {
    /// The snapshot directory. Put it on another disk than `data-dir`:
    /// a snapshot on the disk that died is lost with it.
    pub dir: PathBuf,
    /// A bounded snapshot fixes the journal's read and then the hot
    /// store's without pausing anything; the time between them must stay
    /// under this, or the snapshot fails.
    pub bounded_skew: Span,
    /// zstd level of the range files.
    pub zstd_level: i32,
    /// How often a strict snapshot is taken and sent to the NAS (the hot
    /// backup): losing the cloud's disk loses at most this much. `0s`
    /// turns it off. Only with a link (the pair), not standalone.
    pub backup_every: Span,
    /// Snapshots kept in `dir`; older ones are deleted after each backup.
    pub keep: usize,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            dir: "data/snapshots".into(),
            bounded_skew: Span(Duration::from_millis(10)),
            zstd_level: 3,
            backup_every: Span(Duration::from_secs(3600)),
            keep: 24,
        }
    }
}

impl SnapshotConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=19).contains(&self.zstd_level) {
            return Err(format!(
                "snapshot.zstd-level: {} is outside 1..=19",
                self.zstd_level
            ));
        }
        if self.keep == 0 {
            return Err(
                "snapshot.keep: must be 1 or more (the newest is the next one's base)".into(),
            );
        }
        if self.bounded_skew.0.is_zero() {
            return Err("snapshot.bounded-skew: must be more than 0".into());
        }
        Ok(())
    }
}
