//! The columnar copy of sealed hours: a derived store beside each row
//! table, so a columnar answer (Arrow, Parquet) over past hours reads a
//! few BLOBs of whole columns instead of stepping SQLite through every row
//! and cell. The row table stays the truth; the copy is only ever served
//! when it is known to equal it.
//!
//! - `_hotcold_changes (tbl, t0, version)`: every write of a table's rows
//!   ([`insert`](crate::insert), [`delete_window`](crate::delete_window))
//!   gives each hour it touches a new random version in the same
//!   transaction (a random one, so a version is never reused after an
//!   hour is emptied and filled again), and drops that hour's copy.
//! - `_hotcold_columns (tbl, t0, part, parts, version, layout, rows,
//!   data)`: an hour's rows in parts of [`PART_ROWS`] rows
//!   (`hotcold_arrow::sealed_part`), built by a background builder from
//!   one read snapshot, each part stored only if the hour's version is
//!   still the one it read ([`store_part`]).
//!
//! A read serves an hour from the copy only when, in the reader's own
//! snapshot, every part is there with the hour's current version and the
//! table's current layout (its columns' names and types); anything else is
//! read from the row table. An older binary that writes rows without
//! versions would break this, so the copy is only for files this one
//! writes (`hot.columnar-copy`).

use crate::columnar::read_cells;
use crate::sql::chunk_sql;
use crate::{Result, SqliteError};
use hotcold_arrow::sealed_part::{encode_part, PART_ROWS};
use hotcold_arrow::Columns;
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::schema::{TableSchema, Window};
use rusqlite::{params, Connection, OptionalExtension};

pub const HOUR_MS: i64 = 3_600_000;

/// The hour `ts` falls in (its start).
pub fn hour_of(ts: i64) -> i64 {
    // Saturates only below any time ingest takes.
    ts.div_euclid(HOUR_MS).saturating_mul(HOUR_MS)
}

pub(crate) fn create(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _hotcold_changes (
             tbl TEXT NOT NULL, t0 INTEGER NOT NULL, version INTEGER NOT NULL,
             PRIMARY KEY (tbl, t0)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS _hotcold_columns (
             tbl TEXT NOT NULL, t0 INTEGER NOT NULL, part INTEGER NOT NULL,
             parts INTEGER NOT NULL, version INTEGER NOT NULL, layout TEXT NOT NULL,
             rows INTEGER NOT NULL, data BLOB NOT NULL,
             PRIMARY KEY (tbl, t0, part));",
    )?;
    Ok(())
}

/// What a table's columns are, as a copy must have been built for: a
/// column added, renamed or retyped makes every older part stale.
pub fn layout(schema: &TableSchema) -> String {
    let mut h = blake3::Hasher::new();
    for c in &schema.columns {
        h.update(c.name.as_bytes());
        h.update(b"\0");
        h.update(c.ty.to_string().as_bytes());
        h.update(b"\0");
    }
    h.finalize().to_hex()[..16].to_string()
}

/// Inside a write of `batch`: the hours its rows fall in get new
/// versions, and their copies go.
pub(crate) fn touch_batch(conn: &Connection, schema: &TableSchema, batch: &RowBatch) -> Result<()> {
    // Without its times no hour could be bumped: refused, never written
    // behind the copy's back.
    let missing = || SqliteError::MissingColumn {
        table: schema.name.clone(),
        column: schema.time_column.clone(),
    };
    let k = schema
        .columns
        .iter()
        .position(|c| c.name == schema.time_column)
        .ok_or_else(missing)?;
    let Some(Column::I64(ts)) = batch.columns.get(k) else {
        return Err(missing());
    };
    // Batches are mostly in time order: runs of one hour cost one lookup.
    let mut hours: Vec<i64> = Vec::new();
    for &t in ts {
        let h = hour_of(t);
        if hours.last() != Some(&h) {
            hours.push(h);
        }
    }
    hours.sort_unstable();
    hours.dedup();
    let mut bump = conn.prepare_cached(
        "INSERT INTO _hotcold_changes (tbl, t0, version) VALUES (?1, ?2, random())
         ON CONFLICT (tbl, t0) DO UPDATE SET version = random()",
    )?;
    let mut drop_copy =
        conn.prepare_cached("DELETE FROM _hotcold_columns WHERE tbl = ?1 AND t0 = ?2")?;
    for h in hours {
        bump.execute(params![schema.name, h])?;
        drop_copy.execute(params![schema.name, h])?;
    }
    Ok(())
}

/// Inside a delete of `window`: hours wholly inside lose their version
/// and copy (nothing is left to copy), hours it cuts get new versions.
pub(crate) fn touch_window(conn: &Connection, schema: &TableSchema, w: Window) -> Result<()> {
    conn.execute(
        "DELETE FROM _hotcold_columns WHERE tbl = ?1 AND t0 > ?2 - 3600000 AND t0 < ?3",
        params![schema.name, w.start, w.end],
    )?;
    conn.execute(
        "DELETE FROM _hotcold_changes WHERE tbl = ?1 AND t0 >= ?2 AND t0 <= ?3 - 3600000",
        params![schema.name, w.start, w.end],
    )?;
    conn.execute(
        "UPDATE _hotcold_changes SET version = random()
         WHERE tbl = ?1 AND t0 > ?2 - 3600000 AND t0 < ?3",
        params![schema.name, w.start, w.end],
    )?;
    Ok(())
}

/// The hours `schema`'s table holds rows in (a scan of its time index):
/// with [`adopt_hours`], how the rows of a file written before versions
/// existed (an older release) get versions, so the builder sees them.
pub fn hours_with_rows(reader: &Connection, schema: &TableSchema) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT DISTINCT (\"{ts}\" - ((\"{ts}\" % {HOUR_MS}) + {HOUR_MS}) % {HOUR_MS}) FROM \"{t}\"",
        ts = schema.time_column,
        t = schema.name
    );
    let hours = reader
        .prepare(&sql)?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(hours)
}

/// Gives each of `hours` a version unless it has one (inside the
/// writer's transaction); how many were new.
pub fn adopt_hours(writer: &Connection, schema: &TableSchema, hours: &[i64]) -> Result<usize> {
    let mut add = writer.prepare_cached(
        "INSERT OR IGNORE INTO _hotcold_changes (tbl, t0, version) VALUES (?1, ?2, random())",
    )?;
    let mut n = 0;
    for h in hours {
        n += add.execute(params![schema.name, h])?;
    }
    Ok(n)
}

/// Hours whose copy holds another number of rows than the row table:
/// rows written by a binary that did not keep versions (an older release
/// run on this file). Checked once at start, before the copy is served;
/// the caller drops them with [`drop_copies`].
pub fn miscounted(reader: &Connection, schema: &TableSchema) -> Result<Vec<i64>> {
    let copied: Vec<(i64, i64)> = reader
        .prepare_cached("SELECT t0, sum(rows) FROM _hotcold_columns WHERE tbl = ?1 GROUP BY t0")?
        .query_map([&schema.name], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut off = Vec::new();
    for (t0, rows) in copied {
        let n = crate::count(reader, schema, Window::new(t0, t0.saturating_add(HOUR_MS)))?;
        if n as i64 != rows {
            off.push(t0);
        }
    }
    Ok(off)
}

/// Drops the copies of `hours` (inside the writer's transaction).
pub fn drop_copies(writer: &Connection, schema: &TableSchema, hours: &[i64]) -> Result<()> {
    let mut stmt =
        writer.prepare_cached("DELETE FROM _hotcold_columns WHERE tbl = ?1 AND t0 = ?2")?;
    for h in hours {
        stmt.execute(params![schema.name, h])?;
    }
    Ok(())
}

/// Hours ending at or before `sealed_before` whose copy is missing,
/// stale or short of parts (a build that failed half-way), oldest first,
/// with their versions: the builder's work.
pub fn pending(
    conn: &Connection,
    schema: &TableSchema,
    sealed_before: i64,
) -> Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.t0, g.version FROM _hotcold_changes g
         WHERE g.tbl = ?1 AND g.t0 <= ?2 - 3600000
           AND coalesce((SELECT count(*) = max(c.parts) FROM _hotcold_columns c
                         WHERE c.tbl = g.tbl AND c.t0 = g.t0
                           AND c.version = g.version AND c.layout = ?3), 0) = 0
         ORDER BY g.t0",
    )?;
    let rows = stmt
        .query_map(params![schema.name, sealed_before, layout(schema)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// One part of an hour's copy, ready to store.
#[derive(Debug)]
pub struct Part {
    pub t0: i64,
    pub version: i64,
    pub part: u32,
    pub parts: u32,
    pub rows: usize,
    pub data: Vec<u8>,
}

/// Builds the copy of hour `t0` at `version` through `reader` (a
/// connection of its own; it opens and ends its read transaction here),
/// handing `store` each part in order. Stops early, false, when the hour
/// has another version in the snapshot or `store` says it went stale.
pub fn build_hour(
    reader: &Connection,
    schema: &TableSchema,
    t0: i64,
    version: i64,
    store: &mut dyn FnMut(Part) -> Result<bool>,
) -> Result<bool> {
    crate::together::begin_read(reader)?;
    let r = build_in_snapshot(reader, schema, t0, version, store);
    reader.execute_batch("ROLLBACK")?;
    r
}

fn build_in_snapshot(
    conn: &Connection,
    schema: &TableSchema,
    t0: i64,
    version: i64,
    store: &mut dyn FnMut(Part) -> Result<bool>,
) -> Result<bool> {
    if version_now(conn, schema, t0)? != Some(version) {
        return Ok(false);
    }
    let w = Window::new(t0, t0 + HOUR_MS);
    let rows = crate::count(conn, schema, w)? as usize;
    let parts = u32::try_from(rows.div_ceil(PART_ROWS).max(1))
        .map_err(|_| SqliteError::Reader(format!("hour {t0}: {rows} rows")))?;
    let all: Vec<usize> = (0..schema.columns.len()).collect();
    let mut stmt = conn.prepare_cached(&chunk_sql(schema, &all, "", "ASC"))?;
    let mut cursor = stmt.query(params![w.start, w.end, i64::MAX])?;
    for part in 0..parts {
        let mut c = Columns::new(schema, &all, PART_ROWS.min(rows));
        while c.len() < PART_ROWS {
            let Some(row) = cursor.next()? else { break };
            read_cells(row, &mut c)?;
        }
        let data = encode_part(schema, &c).ok_or_else(|| {
            SqliteError::Reader(format!("hour {t0}: a part that does not encode"))
        })?;
        let p = Part {
            t0,
            version,
            part,
            parts,
            rows: c.len(),
            data,
        };
        if !store(p)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Hour `t0`'s version as `conn` sees it (none: no rows were written
/// there since its last purge).
fn version_now(conn: &Connection, schema: &TableSchema, t0: i64) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT version FROM _hotcold_changes WHERE tbl = ?1 AND t0 = ?2",
            params![schema.name, t0],
            |r| r.get(0),
        )
        .optional()?)
}

/// Stores `p` inside the writer's transaction, if its hour still has the
/// version it was built from; false (nothing stored) when it went stale.
/// The first part clears whatever copy the hour had.
pub fn store_part(conn: &Connection, schema: &TableSchema, p: &Part) -> Result<bool> {
    if version_now(conn, schema, p.t0)? != Some(p.version) {
        return Ok(false);
    }
    if p.part == 0 {
        conn.execute(
            "DELETE FROM _hotcold_columns WHERE tbl = ?1 AND t0 = ?2",
            params![schema.name, p.t0],
        )?;
    }
    conn.execute(
        "INSERT OR REPLACE INTO _hotcold_columns (tbl, t0, part, parts, version, layout, rows, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            schema.name,
            p.t0,
            p.part,
            p.parts,
            p.version,
            layout(schema),
            p.rows as i64,
            p.data
        ],
    )?;
    Ok(true)
}

/// The hours wholly inside `w` whose copy is whole and current in this
/// snapshot, in time order.
pub(crate) fn fresh_hours(conn: &Connection, schema: &TableSchema, w: Window) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.t0 FROM _hotcold_columns c
         JOIN _hotcold_changes g ON g.tbl = c.tbl AND g.t0 = c.t0 AND g.version = c.version
         WHERE c.tbl = ?1 AND c.t0 >= ?2 AND c.t0 <= ?3 - 3600000 AND c.layout = ?4
         GROUP BY c.t0
         HAVING count(*) = max(c.parts) AND min(c.parts) = max(c.parts)
         ORDER BY c.t0",
    )?;
    let rows = stmt
        .query_map(params![schema.name, w.start, w.end, layout(schema)], |r| {
            r.get(0)
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The parts of hour `t0`'s copy, in order (the caller checked, in this
/// snapshot, that they are whole and current).
pub(crate) fn read_parts(
    conn: &Connection,
    schema: &TableSchema,
    t0: i64,
    each: &mut dyn FnMut(&[u8]) -> Result<bool>,
) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.data FROM _hotcold_columns c
         JOIN _hotcold_changes g ON g.tbl = c.tbl AND g.t0 = c.t0 AND g.version = c.version
         WHERE c.tbl = ?1 AND c.t0 = ?2 AND c.layout = ?3 ORDER BY c.part",
    )?;
    let mut rows = stmt.query(params![schema.name, t0, layout(schema)])?;
    while let Some(r) = rows.next()? {
        let rusqlite::types::ValueRef::Blob(data) = r.get_ref(0)? else {
            return Err(SqliteError::Part {
                table: schema.name.clone(),
                t0,
                error: hotcold_arrow::sealed_part::PartError::Damaged("not a BLOB".into()),
            });
        };
        if !each(data)? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
#[path = "sealed_tests.rs"]
mod tests;
