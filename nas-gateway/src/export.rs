//! Export: the cold store's committed days of a table as a tree of Parquet
//! files, `DIR/TABLE/date=YYYY-MM-DD/part.parquet` (the Hive layout that
//! DuckDB, polars and pyarrow read with one glob), so a researcher reads
//! years of history straight from the NAS without the cloud.
//!
//! Each day is checked while it is written: the rows streamed into the file
//! are hashed on the way, and the file takes its place only if that count
//! and content hash equal the ledger's, which the cloud checked against the
//! hot rows before it purged them. A file is written under a temporary name
//! outside the tree, synced, and renamed into place, so a reader never sees
//! half a day, and a day that fails leaves no file (an older, verified file
//! of that day stays as it was). An export killed mid-file leaves only its
//! temporary file, which the next export into the same tree removes.

use crate::cold::{ColdError, ColdStore, LedgerEntry};
use hotcold_arrow::{arrow_schema, BatchConverter, EncodeError, ParquetFile};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::time::format_timestamp_ms;
use hotcold_core::{ContentHash, RowBatch};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Keys of the verification in each file's footer: a reader (or a later
/// check) can tell which committed batch a file holds.
pub mod meta {
    pub const TABLE: &str = "hotcold.table";
    pub const WINDOW: &str = "hotcold.window";
    pub const BATCH: &str = "hotcold.batch_id";
    pub const ROWS: &str = "hotcold.rows";
    pub const CONTENT_HASH: &str = "hotcold.content_hash";
}

/// Where temporary files are written: inside `DIR` (same file system, so
/// the rename is atomic) but outside every table's tree.
pub const TMP_DIR: &str = ".hotcold-export-tmp";

/// Why the export as a whole stopped (a day that does not match the ledger
/// is not one: it is refused in the report and the export goes on).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The cold store could not list the ledger or the table's schema.
    #[error(transparent)]
    Cold(#[from] ColdError),
    #[error("table {0}: no schema recorded in the cold store (nothing committed, or committed by an older gateway)")]
    NoSchema(String),
    #[error("table {0}: no committed day lies in the range")]
    Nothing(String),
    /// The export's own disk (full, read-only, gone): every later day
    /// would fail the same way, so the export stops.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored value the Parquet types cannot hold (the store holds
    /// something ingest would have refused).
    #[error("parquet: {0}")]
    Encode(#[from] EncodeError),
}

/// A day that was not written, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub day: String,
    pub batch_id: String,
    pub reason: String,
}

#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    pub days: u64,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Days committed with no rows: no file (a reader's glob finds none).
    pub empty: u64,
    /// Days dropped by cold retention: nothing left to export.
    pub expired: u64,
    /// Temporary files of earlier exports that died mid-file, removed.
    pub stale_removed: u64,
    pub refused: Vec<Refused>,
}

impl ExportReport {
    pub fn is_clean(&self) -> bool {
        self.refused.is_empty()
    }
}

/// The file a day of `table` goes to.
pub fn day_path(out: &Path, table: &str, window: Window) -> PathBuf {
    let day = format_timestamp_ms(window.start);
    let date = day.get(..10).unwrap_or(&day);
    out.join(table)
        .join(format!("date={date}"))
        .join("part.parquet")
}

/// Exports every committed day of `table` inside `range`, each checked
/// against the ledger. `progress(done, total, rows)` after each day.
pub async fn export<S: ColdStore>(
    store: &S,
    table: &str,
    range: Window,
    out: &Path,
    mut progress: impl FnMut(u64, u64, u64),
) -> Result<ExportReport, ExportError> {
    let schema = store
        .schema_of(table)
        .await?
        .ok_or_else(|| ExportError::NoSchema(table.to_string()))?;
    // The latest commit of each window: a batch re-sent after a failure
    // replaced the earlier one.
    let mut latest: BTreeMap<i64, LedgerEntry> = BTreeMap::new();
    for e in store.ledger_list().await? {
        if e.table == table && range.covers(&e.window) {
            latest.insert(e.window.start, e);
        }
    }
    if latest.is_empty() {
        return Err(ExportError::Nothing(table.to_string()));
    }
    let expired = store.expired_batches().await?;
    let tmp = out.join(TMP_DIR);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let mut report = ExportReport {
        stale_removed: clear_stale(&tmp)?,
        ..Default::default()
    };
    let total = latest.len() as u64;
    for (i, e) in latest.into_values().enumerate() {
        report.days += 1;
        if expired.contains(&e.batch_id) {
            report.expired += 1;
        } else if e.content.rows == 0 {
            report.empty += 1;
        } else {
            // Unique, and not `*.parquet`: a recursive glob over DIR never
            // reads a file being written, and two exports never share one.
            let part = tmp.join(format!(
                "{table}.{}.{}.{:016x}.tmp",
                e.window.start,
                std::process::id(),
                rand::random::<u64>()
            ));
            match export_day(store, &schema, &e, &part).await {
                Err(DayError::Local(err)) => {
                    let _ = std::fs::remove_file(&part);
                    return Err(err);
                }
                Ok(bytes) => {
                    let dest = day_path(out, table, e.window);
                    place(&part, &dest)?;
                    report.files += 1;
                    report.rows += e.content.rows;
                    report.bytes += bytes;
                }
                Err(DayError::Refused(reason)) => {
                    let _ = std::fs::remove_file(&part);
                    report.refused.push(Refused {
                        day: format_timestamp_ms(e.window.start),
                        batch_id: e.batch_id.clone(),
                        reason,
                    });
                }
            }
        }
        progress(i as u64 + 1, total, report.rows);
    }
    let _ = std::fs::remove_dir(&tmp);
    Ok(report)
}

/// Removes the temporary files of exports whose process is gone (killed
/// or crashed mid-file: `{table}.{window}.{pid}.{random}.tmp`). A live
/// export's files stay, so two exports into one tree do not hurt each
/// other. Without `/proc` nothing can be told, and nothing is removed.
fn clear_stale(tmp: &Path) -> Result<u64, ExportError> {
    if !Path::new("/proc/self").exists() {
        return Ok(0);
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(tmp).map_err(io(tmp))? {
        let path = entry.map_err(io(tmp))?.path();
        let Some(pid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(writer_pid)
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The process id in a temporary file's name, if it is one of ours.
fn writer_pid(name: &str) -> Option<u32> {
    let mut parts = name.strip_suffix(".tmp")?.rsplitn(3, '.');
    let _random = parts.next()?;
    parts.next()?.parse().ok()
}

/// Why a day was not written.
enum DayError {
    /// The cold rows do not match the ledger, or cannot be read: this day
    /// is refused, the others go on.
    Refused(String),
    /// Writing here failed: the export stops.
    Local(ExportError),
}

/// Writes one committed window to `part`; its size.
async fn export_day<S: ColdStore>(
    store: &S,
    schema: &TableSchema,
    entry: &LedgerEntry,
    part: &Path,
) -> Result<u64, DayError> {
    let (tx, rx) = mpsc::channel(4);
    let writer = {
        let (schema, entry, part) = (schema.clone(), entry.clone(), part.to_path_buf());
        tokio::task::spawn_blocking(move || write_file(&schema, &entry, &part, rx))
    };
    let plan = Plan::rows(schema);
    let read = store.query(schema, &plan, entry.window, u64::MAX, tx).await;
    // The writer first: when it fails it drops its end of the channel, and
    // the read then fails too, which must not be blamed on the cold store.
    let (bytes, found) = writer
        .await
        .map_err(|e| DayError::Refused(format!("the writer stopped: {e}")))?
        .map_err(|e| match e {
            ExportError::Encode(e) => DayError::Refused(e.to_string()),
            other => DayError::Local(other),
        })?;
    read.map_err(|e| DayError::Refused(format!("cannot read the day from the cold store: {e}")))?;
    if found != entry.content {
        return Err(DayError::Refused(if found.rows == entry.content.rows {
            format!(
                "{} rows as committed, but their content differs from the ledger's hash (run nas-gateway scrub)",
                found.rows
            )
        } else {
            format!(
                "{} rows in the cold store, {} were committed (run nas-gateway scrub)",
                found.rows, entry.content.rows
            )
        }));
    }
    // What a reader will see: the file's own row count, from its footer.
    let in_file = parquet_rows(part).map_err(DayError::Local)?;
    if in_file != entry.content.rows {
        return Err(DayError::Refused(format!(
            "the written file holds {in_file} rows, {} were committed",
            entry.content.rows
        )));
    }
    Ok(bytes)
}

/// The row count a Parquet file's footer gives.
fn parquet_rows(path: &Path) -> Result<u64, ExportError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let reader =
        parquet::file::reader::SerializedFileReader::new(file).map_err(|e| ExportError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
    use parquet::file::reader::FileReader;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}

/// The blocking half: hashes each batch, converts it and writes the file,
/// then syncs it. Returns the file's size and the hash of what it holds.
fn write_file(
    schema: &TableSchema,
    entry: &LedgerEntry,
    part: &Path,
    mut rx: mpsc::Receiver<RowBatch>,
) -> Result<(u64, ContentHash), ExportError> {
    let cols: Vec<usize> = (0..schema.columns.len()).collect();
    let arrow = Arc::new(arrow_schema(schema, &cols, HashMap::new()));
    let mut conv = BatchConverter::new(schema.clone(), cols, arrow.clone());
    let mut file = std::fs::File::create_new(part).map_err(io(part))?;
    let mut buf = Vec::new();
    let mut pq = ParquetFile::new(arrow, &mut buf)?;
    let mut hash = ContentHash::default();
    let mut bytes = 0u64;
    let mut flush = |buf: &mut Vec<u8>| -> Result<(), ExportError> {
        file.write_all(buf).map_err(io(part))?;
        bytes += buf.len() as u64;
        buf.clear();
        Ok(())
    };
    while let Some(b) = rx.blocking_recv() {
        hash.add_batch(&b);
        pq.write(&conv.convert(&b)?, &mut buf)?;
        flush(&mut buf)?;
    }
    let footer = [
        (meta::TABLE, schema.name.clone()),
        (
            meta::WINDOW,
            format!("{}-{}", entry.window.start, entry.window.end),
        ),
        (meta::BATCH, entry.batch_id.clone()),
        (meta::ROWS, hash.rows.to_string()),
        (meta::CONTENT_HASH, hash.to_string()),
    ];
    pq.finish(footer.map(|(k, v)| (k.to_string(), v)), &mut buf)?;
    flush(&mut buf)?;
    // Fault tests: die with the day written but not synced, checked or in
    // its place (Parquet holds a small day in memory until the footer).
    crate::failpoint::abort_at("export-before-place");
    file.sync_all().map_err(io(part))?;
    Ok((bytes, hash))
}

/// Moves a finished file into the tree, replacing an older export of the
/// day, and syncs the directory so the rename survives a power cut (and,
/// when the day's directory is new, its parent, so the directory does).
fn place(part: &Path, dest: &Path) -> Result<(), ExportError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if let Some(parent) = dir.parent() {
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io(parent))?;
        }
    }
    std::fs::rename(part, dest).map_err(io(dest))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::writer_pid;

    #[test]
    fn temporary_names_give_their_writer() {
        assert_eq!(
            writer_pid("trades.1700000000000.4242.00ff00ff00ff00ff.tmp"),
            Some(4242)
        );
        assert_eq!(writer_pid("trades.-86400000.7.1.tmp"), Some(7));
        assert_eq!(writer_pid("part.parquet"), None);
        assert_eq!(writer_pid("x.tmp"), None);
        assert_eq!(writer_pid("a.b.notapid.c.tmp"), None);
    }
}
