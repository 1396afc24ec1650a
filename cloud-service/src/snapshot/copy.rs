//! Copying what the point's reads see: the hot store hour by hour into
//! the pool (an hour already there under the same content is shared, not
//! written), and the journal whole by SQLite's online backup.
//!
//! Why hours: ingest keeps changing the newest hours only, so a snapshot
//! after the last one rewrites those and shares the rest; by day, every
//! snapshot would rewrite today whole.

use super::SnapshotFail;
use hotcold_core::codec::encode_segment;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::snapshot::{range_file_name, FileEntry, RangeEntry, SnapshotManifest};
use hotcold_core::ContentHash;
use hotcold_snapshot::SnapshotStore;
use rusqlite::Connection;
use std::path::Path;

const RANGE_MS: i64 = 3_600_000;

/// What one table's copy did.
#[derive(Default)]
pub(crate) struct Copied {
    pub ranges: Vec<RangeEntry>,
    pub bytes_written: u64,
}

/// Every hour of every table that holds rows, oldest first, through the
/// one read transaction `conn` has open. `progress` gets rows read.
pub(crate) fn hot_ranges(
    conn: &Connection,
    schemas: &[TableSchema],
    store: &SnapshotStore,
    base: Option<&SnapshotManifest>,
    zstd_level: i32,
    segment_rows: usize,
    progress: &dyn Fn(u64),
) -> Result<Copied, SnapshotFail> {
    let mut out = Copied::default();
    for s in schemas {
        let mut from = i64::MIN;
        while let Some(t) = hotcold_sqlite::min_time(conn, s, from)? {
            let start = t.div_euclid(RANGE_MS) * RANGE_MS;
            let w = Window::new(start, start.saturating_add(RANGE_MS));
            let content = hotcold_sqlite::content_hash(conn, s, w)?;
            let name = range_file_name(&s.name, w, &content);
            let shared = base
                .and_then(|b| b.ranges.iter().find(|r| r.file == name))
                .filter(|r| {
                    std::fs::metadata(store.pool_path(&r.file)).is_ok_and(|m| m.len() == r.bytes)
                });
            let entry = match shared {
                Some(r) => r.clone(),
                None => {
                    let e = write_range(conn, s, w, store, zstd_level, segment_rows)?;
                    out.bytes_written += e.bytes;
                    e
                }
            };
            if entry.content != content {
                return Err(SnapshotFail::Changed {
                    table: s.name.clone(),
                    window: w,
                });
            }
            progress(content.rows);
            out.ranges.push(entry);
            if w.end <= from || w.end == i64::MAX {
                break;
            }
            from = w.end;
        }
    }
    Ok(out)
}

fn write_range(
    conn: &Connection,
    s: &TableSchema,
    w: Window,
    store: &SnapshotStore,
    zstd_level: i32,
    segment_rows: usize,
) -> Result<RangeEntry, SnapshotFail> {
    let mut wr = store.range_writer(&s.name, w)?;
    let mut h = ContentHash::default();
    hotcold_sqlite::scan::<SnapshotFail>(conn, s, w, u64::MAX, segment_rows, |b| {
        h.add_batch(&b);
        Ok(wr.write(&encode_segment(&b, zstd_level))?)
    })?;
    Ok(wr.finish(h)?)
}

/// The journal as the point's read transaction sees it, into `dir`.
pub(crate) fn journal(conn: &Connection, dir: &Path) -> Result<FileEntry, SnapshotFail> {
    let path = dir.join("journal.db");
    let _ = std::fs::remove_file(&path);
    {
        let mut dst = Connection::open(&path)?;
        let b = rusqlite::backup::Backup::new(conn, &mut dst)?;
        b.run_to_completion(1 << 30, std::time::Duration::ZERO, None)?;
    }
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(|e| SnapshotFail::Io(format!("{}: {e}", path.display())))?;
    let (bytes, blake3) = hotcold_snapshot::hash_file(&path)?;
    Ok(FileEntry {
        name: "journal.db".into(),
        bytes,
        blake3,
    })
}

/// The same hours through the hot store's own reads, for a store without a
/// read transaction to hold (ClickHouse): each hour is read once, written
/// to a temporary range file while it is hashed, and dropped again if the
/// base already holds those rows. The caller holds what keeps the store
/// still (`mod.rs`: ingest for strict, the journal's mutex always).
pub(crate) fn store_ranges(
    hot: &dyn crate::hot::HotStore,
    schemas: &[TableSchema],
    store: &SnapshotStore,
    base: Option<&SnapshotManifest>,
    zstd_level: i32,
    segment_rows: usize,
) -> Result<Copied, SnapshotFail> {
    use hotcold_core::query::Plan;
    let mut out = Copied::default();
    for s in schemas {
        let mut from = i64::MIN;
        while let Some(t) = hot.min_time(s, from)? {
            let start = t.div_euclid(RANGE_MS) * RANGE_MS;
            let w = Window::new(start, start.saturating_add(RANGE_MS));
            hot.settle(s, w)?;
            let mut wr = store.range_writer(&s.name, w)?;
            let mut h = ContentHash::default();
            let mut failed = None;
            hot.scan(s, &Plan::rows(s), w, u64::MAX, segment_rows, &mut |b| {
                h.add_batch(&b);
                if failed.is_none() {
                    failed = wr.write(&encode_segment(&b, zstd_level)).err();
                }
                Ok(())
            })?;
            if let Some(e) = failed {
                wr.abandon();
                return Err(e.into());
            }
            let name = range_file_name(&s.name, w, &h);
            let shared = base
                .and_then(|b| b.ranges.iter().find(|r| r.file == name))
                .filter(|r| {
                    std::fs::metadata(store.pool_path(&r.file)).is_ok_and(|m| m.len() == r.bytes)
                });
            let entry = match shared {
                Some(r) => {
                    wr.abandon();
                    r.clone()
                }
                None => {
                    let e = wr.finish(h)?;
                    out.bytes_written += e.bytes;
                    e
                }
            };
            out.ranges.push(entry);
            if w.end <= from || w.end == i64::MAX {
                break;
            }
            from = w.end;
        }
    }
    Ok(out)
}
