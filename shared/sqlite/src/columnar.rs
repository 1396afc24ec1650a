//! Rows straight into Arrow columns, for the columnar answers (Arrow IPC,
//! Parquet): each cell goes from SQLite's `ValueRef` into its column's
//! vector ([`Columns`]), with no `RowBatch` and no `String` per cell
//! between, and a few connections read the window at once, all inside one
//! snapshot (`together.rs`).
//!
//! The window is cut into time chunks of equal width over the rows it
//! holds; reader `r` of `n` reads chunks `r, r + n, ...`, each into a
//! channel of its own holding at most [`AHEAD`] chunks' worth of batches,
//! and the caller takes the chunks in answer order, so the rows come out
//! in exactly the order of one ordered scan while memory stays bounded.
//! Chunks are cut by time, not by rows (finding row boundaries would mean
//! walking the index first); a window whose rows crowd into a few chunks
//! reads with less parallelism, never with more memory.

use crate::sql::{chunk_sql, filter_sql};
use crate::SqliteError;
use hotcold_arrow::Columns;
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use rusqlite::types::{Value as Bind, ValueRef};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// Chunks per reader: enough that uneven chunks even out between readers,
/// few enough that the per-chunk statement (a few microseconds) is noise.
const CHUNKS_PER_READER: i128 = 32;

/// Batches a reader may have sent ahead of the caller.
const AHEAD: usize = 2;

/// What a columnar scan reads: a plain row plan (no aggregate) of `schema`,
/// the output columns `cols` (indices into `schema.columns`, in output
/// order), at most `limit` rows, in batches of `batch_rows`.
pub struct ColumnarScan<'a> {
    pub schema: &'a TableSchema,
    pub plan: &'a Plan,
    pub cols: &'a [usize],
    pub window: Window,
    pub limit: u64,
    pub batch_rows: usize,
    /// Whether hours with a whole, current columnar copy (`sealed.rs`)
    /// are read from it. Only an ascending scan with no filter can be.
    pub sealed: bool,
}

/// What one reader reads as one piece of the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    /// The rows of a time chunk, from the row table.
    Rows(Window),
    /// An hour (its start) from its columnar copy.
    Sealed(i64),
}

/// What columnar scans tell the pool they read through.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Hours read from the columnar copy.
    pub(crate) sealed_hours: std::sync::atomic::AtomicU64,
    /// Hours (table, start) whose copy had a damaged part: read from
    /// their rows, to be dropped and built again.
    pub(crate) damaged: std::sync::Mutex<Vec<(String, i64)>>,
}

enum Msg {
    Rows(Columns),
    /// The chunk's last batch went before this.
    End,
    Failed(SqliteError),
}

/// Reads the scan through `conns`, which must all be in one read
/// transaction of the same snapshot (or be a single connection), handing
/// `f` the batches in answer order; returns the rows handed over.
pub(crate) fn scan_columnar<E: From<SqliteError>>(
    conns: &mut [Connection],
    scan: &ColumnarScan<'_>,
    tally: &Tally,
    mut f: impl FnMut(Columns) -> Result<(), E>,
) -> Result<u64, E> {
    if scan.limit == 0 || scan.plan.agg.is_some() || conns.is_empty() {
        return Ok(0);
    }
    let Some((lo, hi)) = extent(&conns[0], scan)? else {
        return Ok(0);
    };
    let n = conns.len();
    let mut chunks = if scan.sealed && scan.plan.filters.is_empty() && !scan.plan.descending {
        let fresh = crate::sealed::fresh_hours(&conns[0], scan.schema, scan.window)?;
        around_sealed(lo, hi, n, &fresh)
    } else {
        cut(lo, hi, n).into_iter().map(Piece::Rows).collect()
    };
    let from_copy = chunks
        .iter()
        .filter(|p| matches!(p, Piece::Sealed(_)))
        .count();
    tally
        .sealed_hours
        .fetch_add(from_copy as u64, Ordering::Relaxed);
    // In answer order: latest first when descending.
    if scan.plan.descending {
        chunks.reverse();
    }
    let stop = AtomicBool::new(false);
    let mut total = 0u64;
    std::thread::scope(|threads| -> Result<(), E> {
        let mut rxs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for (r, conn) in conns.iter_mut().enumerate() {
            let (tx, rx) = mpsc::sync_channel(AHEAD);
            rxs.push(rx);
            let mine: Vec<Piece> = chunks.iter().copied().skip(r).step_by(n).collect();
            let stop = &stop;
            handles.push(threads.spawn(move || read_chunks(conn, scan, &mine, &tx, stop, tally)));
        }
        // The chunks in answer order: chunk j is reader j % n's. Small
        // ones (a window's thin edges, a small answer's many chunks) are
        // glued into batches of up to `batch_rows`.
        let mut result = Ok(());
        let mut pending: Option<Columns> = None;
        let batch = scan.batch_rows.max(1);
        'chunks: for j in 0..chunks.len() {
            loop {
                let Ok(msg) = rxs[j % n].recv() else {
                    result =
                        Err(SqliteError::Reader(format!("chunk {j} of {}", chunks.len())).into());
                    break 'chunks;
                };
                match msg {
                    Msg::Rows(mut c) => {
                        let left = scan.limit - total;
                        if c.len() as u64 > left {
                            c.truncate(left as usize);
                        }
                        total += c.len() as u64;
                        let full = match pending.take() {
                            Some(mut p) if p.len() + c.len() <= batch => match p.append(c) {
                                Ok(()) => Some(p),
                                Err(e) => {
                                    result = Err(SqliteError::from(e).into());
                                    break 'chunks;
                                }
                            },
                            Some(p) => {
                                if let Err(e) = f(p) {
                                    result = Err(e);
                                    break 'chunks;
                                }
                                Some(c)
                            }
                            None => Some(c),
                        };
                        pending = full;
                        if pending.as_ref().is_some_and(|p| p.len() >= batch) || total >= scan.limit
                        {
                            if let Some(p) = pending.take() {
                                if let Err(e) = f(p) {
                                    result = Err(e);
                                    break 'chunks;
                                }
                            }
                        }
                        if total >= scan.limit {
                            break 'chunks;
                        }
                    }
                    Msg::End => break,
                    Msg::Failed(e) => {
                        result = Err(e.into());
                        break 'chunks;
                    }
                }
            }
        }
        if let (Ok(()), Some(p)) = (&result, pending.take()) {
            result = f(p);
        }
        // Readers still going stop at their next batch: the flag, and a
        // send that fails once their channel is dropped.
        stop.store(true, Ordering::Relaxed);
        drop(rxs);
        // Joined here, so a reader that panicked is this error (named)
        // rather than the scope's own panic.
        for (r, h) in handles.into_iter().enumerate() {
            if h.join().is_err() && result.is_ok() {
                result = Err(SqliteError::Reader(format!("the end (reader {r} panicked)")).into());
            }
        }
        result
    })?;
    Ok(total)
}

/// The first and last time in the window (its rows' extent), if any.
fn extent(conn: &Connection, scan: &ColumnarScan<'_>) -> Result<Option<(i64, i64)>, SqliteError> {
    let edge = |dir: &str| -> Result<Option<i64>, SqliteError> {
        let sql = format!(
            "SELECT \"{ts}\" FROM \"{t}\" WHERE \"{ts}\" >= ?1 AND \"{ts}\" < ?2 ORDER BY \"{ts}\" {dir} LIMIT 1",
            ts = scan.schema.time_column,
            t = scan.schema.name
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([scan.window.start, scan.window.end])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    };
    Ok(match (edge("ASC")?, edge("DESC")?) {
        (Some(lo), Some(hi)) => Some((lo, hi)),
        _ => None,
    })
}

/// `[lo, hi]` cut into up to `CHUNKS_PER_READER * readers` windows of
/// equal width (at least 1 ms), in time order.
fn cut(lo: i64, hi: i64, readers: usize) -> Vec<Window> {
    if readers <= 1 {
        return vec![Window::new(lo, hi.saturating_add(1))];
    }
    let span = i128::from(hi) - i128::from(lo) + 1;
    let k = (CHUNKS_PER_READER * readers as i128).min(span).max(1);
    let width = (span + k - 1) / k;
    let at = |i: i128| -> i64 {
        let t = i128::from(lo) + i * width;
        // Past hi + 1 only on the last boundary, clamped to it.
        i64::try_from(t.min(i128::from(hi) + 1)).unwrap_or(i64::MAX)
    };
    (0..k)
        .map(|i| Window::new(at(i), at(i + 1)))
        .filter(|w| w.start < w.end)
        .collect()
}

/// The pieces of `[lo, hi]`: each hour of `fresh` (its start) that
/// holds rows of it from its copy, the time between them cut into chunks
/// as [`cut`] cuts a whole extent; in time order.
fn around_sealed(lo: i64, hi: i64, readers: usize, fresh: &[i64]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut at = lo;
    for &t0 in fresh {
        let end = t0.saturating_add(crate::sealed::HOUR_MS);
        if end <= lo || t0 > hi {
            continue;
        }
        if t0 > at {
            pieces.extend(cut(at, t0 - 1, readers).into_iter().map(Piece::Rows));
        }
        pieces.push(Piece::Sealed(t0));
        at = end;
    }
    if at <= hi {
        pieces.extend(cut(at, hi, readers).into_iter().map(Piece::Rows));
    }
    pieces
}

/// One reader: its chunks, in answer order, each into `tx` in batches
/// and then `End`.
fn read_chunks(
    conn: &mut Connection,
    scan: &ColumnarScan<'_>,
    mine: &[Piece],
    tx: &mpsc::SyncSender<Msg>,
    stop: &AtomicBool,
    tally: &Tally,
) {
    for &piece in mine {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let read = match piece {
            Piece::Rows(w) => read_chunk(conn, scan, w, tx),
            Piece::Sealed(t0) => read_sealed(conn, scan, t0, tx, tally),
        };
        match read {
            Ok(true) => {}
            // The caller is gone; nothing to tell it.
            Ok(false) => return,
            Err(e) => {
                let _ = tx.send(Msg::Failed(e));
                return;
            }
        }
        if tx.send(Msg::End).is_err() {
            return;
        }
    }
}

/// Reads one chunk into `tx`; false when the caller went away.
fn read_chunk(
    conn: &Connection,
    scan: &ColumnarScan<'_>,
    w: Window,
    tx: &mpsc::SyncSender<Msg>,
) -> Result<bool, SqliteError> {
    let mut binds = vec![Bind::Integer(w.start), Bind::Integer(w.end)];
    let filters = filter_sql(scan.plan, &mut binds);
    binds.push(Bind::Integer(i64::try_from(scan.limit).unwrap_or(i64::MAX)));
    let dir = if scan.plan.descending { "DESC" } else { "ASC" };
    let mut stmt = conn.prepare_cached(&chunk_sql(scan.schema, scan.cols, &filters, dir))?;
    let mut rows = stmt.query(rusqlite::params_from_iter(binds.iter()))?;
    let batch = scan.batch_rows.max(1);
    // Room for a few rows to begin with: a chunk may hold none, and the
    // answer's whole-or-streamed choice weighs arrays by their capacity.
    let fresh = || Columns::new(scan.schema, scan.cols, batch.min(1024));
    let mut c = fresh();
    while let Some(row) = rows.next()? {
        read_cells(row, &mut c)?;
        if c.len() >= batch
            && tx
                .send(Msg::Rows(std::mem::replace(&mut c, fresh())))
                .is_err()
        {
            return Ok(false);
        }
    }
    if !c.is_empty() && tx.send(Msg::Rows(c)).is_err() {
        return Ok(false);
    }
    Ok(true)
}

/// Hour `t0` from its columnar copy into `tx`, a part per batch; false
/// when the caller went away. Every part's hash is checked before any is
/// sent: a damaged one (a disk that rotted) sends the hour from its rows
/// instead and is reported in `tally` for the builder to drop and build
/// again.
fn read_sealed(
    conn: &Connection,
    scan: &ColumnarScan<'_>,
    t0: i64,
    tx: &mpsc::SyncSender<Msg>,
    tally: &Tally,
) -> Result<bool, SqliteError> {
    use hotcold_arrow::sealed_part::{check_part, decode_checked, PartLimits};
    let limits = PartLimits::default();
    let mut sound = true;
    crate::sealed::read_parts(conn, scan.schema, t0, &mut |bytes| {
        sound = check_part(bytes, &limits).is_ok();
        Ok(sound)
    })?;
    if !sound {
        tally
            .damaged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((scan.schema.name.clone(), t0));
        let hour = Window::new(t0, t0.saturating_add(crate::sealed::HOUR_MS));
        return read_chunk(conn, scan, hour, tx);
    }
    crate::sealed::read_parts(conn, scan.schema, t0, &mut |bytes| {
        let c = decode_checked(scan.schema, scan.cols, bytes, &limits).map_err(|error| {
            SqliteError::Part {
                table: scan.schema.name.clone(),
                t0,
                error,
            }
        })?;
        Ok(c.is_empty() || tx.send(Msg::Rows(c)).is_ok())
    })
}

/// One result row's cells into `c`, then the row marked complete.
pub(crate) fn read_cells(row: &rusqlite::Row<'_>, c: &mut Columns) -> Result<(), SqliteError> {
    for k in 0..c.width() {
        match row.get_ref(k)? {
            ValueRef::Integer(v) => c.int(k, v)?,
            ValueRef::Real(v) => c.real(k, v)?,
            ValueRef::Text(v) => c.text(k, v)?,
            // Columns are declared NOT NULL and never hold blobs.
            ValueRef::Null | ValueRef::Blob(_) => {
                return Err(hotcold_arrow::EncodeError::Kind(c.name(k)).into());
            }
        }
    }
    c.end_row();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_extent_once_in_order() {
        for (lo, hi, n) in [
            (0, 0, 2),
            (0, 10, 2),
            (-5, 1_000_003, 3),
            (i64::MIN, i64::MAX - 1, 2),
            (7, 9, 1),
        ] {
            let c = cut(lo, hi, n);
            assert_eq!(c.first().map(|w| w.start), Some(lo));
            assert_eq!(c.last().map(|w| w.end), Some(hi + 1));
            assert!(c.windows(2).all(|p| p[0].end == p[1].start));
            assert!(c.len() as i128 <= CHUNKS_PER_READER * n as i128);
        }
    }
}

#[cfg(test)]
#[path = "columnar_tests.rs"]
pub(crate) mod scan_tests;
