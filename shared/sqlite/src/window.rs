//! What archiving asks of one window of a table: how many rows, their
//! content hash (read back the way any scan reads, so it compares with the
//! other store's), deleting them after a confirmed archive, and where the
//! table starts (the oldest window still to archive).

use crate::{scan, Result, SqliteError};
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::ContentHash;
use rusqlite::{params, Connection};

pub fn count(conn: &Connection, schema: &TableSchema, window: Window) -> Result<u64> {
    let n: i64 = conn.query_row(
        &format!(
            "SELECT count(*) FROM \"{}\" WHERE \"{ts}\" >= ?1 AND \"{ts}\" < ?2",
            schema.name,
            ts = schema.time_column
        ),
        params![window.start, window.end],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// The store's own content hash of the window, from its rows as read back.
pub fn content_hash(
    conn: &Connection,
    schema: &TableSchema,
    window: Window,
) -> Result<ContentHash> {
    let mut h = ContentHash::default();
    scan::<SqliteError>(conn, schema, window, u64::MAX, 8192, |b| {
        h.add_batch(&b);
        Ok(())
    })?;
    Ok(h)
}

/// Deletes the window's rows inside the caller's transaction (and what
/// the columnar copy held of them: `sealed.rs`).
pub fn delete_window(conn: &Connection, schema: &TableSchema, window: Window) -> Result<usize> {
    crate::sealed::touch_window(conn, schema, window)?;
    Ok(conn.execute(
        &format!(
            "DELETE FROM \"{}\" WHERE \"{ts}\" >= ?1 AND \"{ts}\" < ?2",
            schema.name,
            ts = schema.time_column
        ),
        params![window.start, window.end],
    )?)
}

/// The oldest timestamp in the table, if any row exists.
/// The first time at or after `from` (an index seek, not a scan): the
/// planner steps from one day holding rows to the next with it, so a
/// stray row decades back costs one query, not one per empty day.
pub fn min_time(conn: &Connection, schema: &TableSchema, from: i64) -> Result<Option<i64>> {
    Ok(conn.query_row(
        &format!(
            "SELECT min(\"{ts}\") FROM \"{}\" WHERE \"{ts}\" >= ?1",
            schema.name,
            ts = schema.time_column
        ),
        [from],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::schema;
    use crate::{create_table, insert, open};
    use hotcold_core::{RowBatch, Value};

    #[test]
    fn round_trip_and_hash_through_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db")).unwrap();
        let s = schema("decimal(8)");
        create_table(&conn, &s).unwrap();
        let mut b = RowBatch::new(&s);
        for i in 0..1000i64 {
            b.push_row(vec![
                Value::I64(i * 1000),
                Value::I64(i64::MAX - i),
                Value::U64(u64::MAX - i as u64),
                Value::F64(i as f64 * 0.5),
                Value::Bool(i % 2 == 0),
                Value::Str(if i % 3 == 0 {
                    String::new()
                } else {
                    format!("ü{i}")
                }),
            ])
            .unwrap();
        }
        insert(&conn, &s, &b).unwrap();
        let w = Window::new(0, 1_000_000);
        assert_eq!(
            content_hash(&conn, &s, w).unwrap(),
            ContentHash::of_batch(&b)
        );
        let mut back = Vec::new();
        scan::<SqliteError>(&conn, &s, w, u64::MAX, 300, |x| {
            back.push(x);
            Ok(())
        })
        .unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back[0].row(7), b.row(7));
        assert_eq!(count(&conn, &s, Window::new(0, 500_000)).unwrap(), 500);
        assert_eq!(
            delete_window(&conn, &s, Window::new(0, 500_000)).unwrap(),
            500
        );
        assert_eq!(min_time(&conn, &s, i64::MIN).unwrap(), Some(500_000));
        assert_eq!(min_time(&conn, &s, 500_001).unwrap(), Some(501_000));
        assert_eq!(min_time(&conn, &s, 999_001).unwrap(), None);
    }
}
