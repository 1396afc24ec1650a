//! A snapshot's manifest: what one point-in-time copy of a tier holds.
//!
//! A snapshot is a directory of range files (one table's rows over one
//! window, framed segments as the spool holds them) and, on the cloud, a
//! copy of the journal. Range files are named by their table, window and
//! content hash, and kept in one pool shared by every snapshot, so a
//! snapshot whose day did not change since the last one points at the
//! same file: that is what makes snapshots incremental, and every one
//! still complete on its own (a restore never needs a chain).
//!
//! The manifest is read back from disk and, for the NAS's copy of the hot
//! tier, from the link, so it is decoded under a byte bound and checked
//! before any name in it becomes a path.

mod names;
#[cfg(test)]
mod tests;
pub mod wire;

pub use names::{check_file_name, check_snapshot_id, range_file_name};

use crate::content_hash::ContentHash;
use crate::schema::{TableSchema, Window};
use serde::{Deserialize, Serialize};

/// The only manifest format this code writes and reads.
pub const FORMAT: u32 = 1;
/// A manifest longer than this is refused before it is parsed: a year of
/// hourly ranges of a dozen tables is about 30 MB of JSON.
pub const MAX_MANIFEST_BYTES: usize = 64 << 20;
/// Ranges (or cold windows) one manifest may list.
pub const MAX_ENTRIES: usize = 200_000;
/// The files a snapshot may copy whole, by name.
pub const FILES: &[&str] = &["journal.db"];

/// How the stores were brought to one point (see docs/ARCHITECTURE.md,
/// "Snapshots").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Ingest held (after the requests in flight commit) while the
    /// stores' reads are fixed, with the archive's steps held too.
    Strict,
    /// Ingest not held; the time between fixing the first store's read
    /// and the last's bounded by a configured limit.
    Bounded,
    /// Ingest not held, no bound; restore reconciles the tiers.
    Eventual,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "strict" => Ok(Level::Strict),
            "bounded" => Ok(Level::Bounded),
            "eventual" => Ok(Level::Eventual),
            _ => Err(format!(
                "unknown snapshot level {s:?}: strict, bounded or eventual"
            )),
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Strict => "strict",
            Level::Bounded => "bounded",
            Level::Eventual => "eventual",
        })
    }
}

/// Which program's tier the snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The hot store and the journal (with floors and watermarks).
    Cloud,
    /// The cold store's committed windows and their ledger records.
    Nas,
}

/// One table's rows over one window, in a range file of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeEntry {
    pub table: String,
    pub window: Window,
    /// Count and content hash of the rows, as read from the store.
    pub content: ContentHash,
    /// The file's name in the pool (`range_file_name`).
    pub file: String,
    pub bytes: u64,
    /// BLAKE3 of the file, hex.
    pub blake3: String,
    /// On the NAS: the ledger's batch the window was committed under.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub batch_id: String,
}

/// A file copied whole (the journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub blake3: String,
}

/// One snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotManifest {
    pub format: u32,
    pub id: String,
    pub side: Side,
    pub level: Level,
    /// When the point was fixed (wall clock, ms since the epoch).
    pub point_ms: i64,
    /// Strict: how long ingest and archive were held, microseconds.
    #[serde(default)]
    pub pause_us: u64,
    /// Bounded and eventual: the time between fixing the first store's
    /// read and the last's, microseconds.
    #[serde(default)]
    pub skew_us: u64,
    /// The snapshot the unchanged ranges were found in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    pub schemas: Vec<TableSchema>,
    pub ranges: Vec<RangeEntry>,
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Bytes this snapshot wrote to the pool (the rest it shared).
    #[serde(default)]
    pub bytes_written: u64,
    /// The cloud's snapshot of the whole pair: the NAS's snapshot of its
    /// cold store taken with it (right after the cloud's point), by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<wire::ColdSnapshotReply>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SnapshotError {
    #[error("snapshot manifest of {0} bytes is over the {MAX_MANIFEST_BYTES}-byte bound")]
    TooLarge(usize),
    #[error("snapshot manifest is not valid JSON of the expected shape: {0}")]
    Parse(String),
    #[error("snapshot manifest format {0}; this build reads format {FORMAT}")]
    Format(u32),
    #[error(
        "snapshot id {0:?} must be 1-64 characters of A-Z a-z 0-9 . _ - and not start with '.'"
    )]
    BadId(String),
    #[error(
        "file name {0:?} must be 1-200 characters of A-Z a-z 0-9 . _ - and not start with '.'"
    )]
    BadFileName(String),
    #[error("hash {0:?} is not 64 hex digits")]
    BadHash(String),
    #[error("batch id {0:?} of a NAS snapshot's window is not a batch id")]
    BadBatch(String),
    #[error("{0} entries listed, at most {MAX_ENTRIES}")]
    TooMany(usize),
    #[error("range of table {table} names no schema in the manifest")]
    NoSchema { table: String },
    #[error("table {table}: window {window} is empty or overlaps the one before it")]
    BadWindow { table: String, window: Window },
    #[error(
        "table {table} window {window}: file {file} is not the name its content gives ({expected})"
    )]
    WrongName {
        table: String,
        window: Window,
        file: String,
        expected: String,
    },
    #[error("file {0} is listed twice")]
    Duplicate(String),
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
}

fn check_hash(h: &str) -> Result<(), SnapshotError> {
    if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(SnapshotError::BadHash(h.chars().take(80).collect()))
    }
}

impl SnapshotManifest {
    /// Parses and checks a manifest read from disk or the network.
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(SnapshotError::TooLarge(bytes.len()));
        }
        let m: Self = serde_json::from_slice(bytes).map_err(|e| {
            let mut s = e.to_string();
            s.truncate(300);
            SnapshotError::Parse(s)
        })?;
        m.validate()?;
        Ok(m)
    }

    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings and numbers always serializes.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Everything a restore relies on before it opens a file: names that
    /// stay inside the snapshot's directory, windows in order without
    /// overlap per table, a schema for every table, the pool names that
    /// the content gives.
    pub fn validate(&self) -> Result<(), SnapshotError> {
        if self.format != FORMAT {
            return Err(SnapshotError::Format(self.format));
        }
        check_snapshot_id(&self.id)?;
        if let Some(b) = &self.base {
            check_snapshot_id(b)?;
        }
        if let Some(c) = &self.cold {
            check_snapshot_id(&c.id)?;
        }
        if self.ranges.len() > MAX_ENTRIES || self.schemas.len() > MAX_ENTRIES {
            return Err(SnapshotError::TooMany(
                self.ranges.len().max(self.schemas.len()),
            ));
        }
        for s in &self.schemas {
            s.validate()?;
        }
        let mut last: std::collections::HashMap<&str, i64> = Default::default();
        let mut seen = std::collections::HashSet::new();
        for r in &self.ranges {
            if !self.schemas.iter().any(|s| s.name == r.table) {
                return Err(SnapshotError::NoSchema {
                    table: r.table.clone(),
                });
            }
            let prev = last.get(r.table.as_str()).copied().unwrap_or(i64::MIN);
            if r.window.is_empty() || r.window.start < prev {
                return Err(SnapshotError::BadWindow {
                    table: r.table.clone(),
                    window: r.window,
                });
            }
            last.insert(&r.table, r.window.end);
            check_hash(&r.blake3)?;
            let expected = range_file_name(&r.table, r.window, &r.content);
            if r.file != expected {
                return Err(SnapshotError::WrongName {
                    table: r.table.clone(),
                    window: r.window,
                    file: r.file.clone(),
                    expected,
                });
            }
            if !seen.insert(r.file.as_str()) {
                return Err(SnapshotError::Duplicate(r.file.clone()));
            }
        }
        if self.side == Side::Nas {
            let mut ids = std::collections::HashSet::new();
            for r in &self.ranges {
                crate::manifest::check_batch_id(&r.batch_id)
                    .map_err(|_| SnapshotError::BadBatch(r.batch_id.chars().take(80).collect()))?;
                if !ids.insert(r.batch_id.as_str()) {
                    return Err(SnapshotError::Duplicate(r.batch_id.clone()));
                }
            }
        }
        for f in &self.files {
            check_file_name(&f.name)?;
            // The one file copied whole; any other name could take the
            // place of the manifest or the lock in the snapshot's folder.
            if !FILES.contains(&f.name.as_str()) {
                return Err(SnapshotError::BadFileName(f.name.clone()));
            }
            check_hash(&f.blake3)?;
            if !seen.insert(f.name.as_str()) {
                return Err(SnapshotError::Duplicate(f.name.clone()));
            }
        }
        Ok(())
    }

    /// Rows over every range.
    pub fn rows(&self) -> u64 {
        self.ranges.iter().map(|r| r.content.rows).sum()
    }

    /// Bytes of every file the snapshot needs (shared or not).
    pub fn bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.bytes).sum::<u64>()
            + self.files.iter().map(|f| f.bytes).sum::<u64>()
    }

    /// The range of `table` over exactly `window`, if listed.
    pub fn range(&self, table: &str, window: Window) -> Option<&RangeEntry> {
        self.ranges
            .iter()
            .find(|r| r.table == table && r.window == window)
    }
}
