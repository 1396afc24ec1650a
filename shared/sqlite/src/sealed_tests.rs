//! The columnar copy against the row table in a real file: served only
//! while current, dropped by every write that touches its hour, never
//! stored from a snapshot a write has overtaken, and a damaged part is a
//! named error.

use super::*;
use crate::columnar::scan_tests::{assert_same, rows};
use crate::fixtures::schema;
use crate::{create_table, delete_window, insert, open, scan_snapshot, ColumnarScan, Readers};
use hotcold_arrow::{arrow_schema, BatchConverter, RecordBatch};
use hotcold_core::query::Plan;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Rows in hours 0..5 (hour 4 the "open" one), a batch per hour plus a
/// late batch into hour 1.
fn filled(path: &Path) -> (TableSchema, Connection) {
    let s = schema("decimal(4)");
    let conn = open(path).unwrap();
    create_table(&conn, &s).unwrap();
    for h in 0..5 {
        insert(&conn, &s, &rows(3_000, h * HOUR_MS + 10)).unwrap();
    }
    insert(&conn, &s, &rows(500, HOUR_MS + 20_000)).unwrap();
    (s, conn)
}

/// Builds every pending hour sealed before `before`; the hours stored.
fn build(path: &Path, s: &TableSchema, writer: &Connection, before: i64) -> Vec<i64> {
    let reader = open(path).unwrap();
    let mut done = Vec::new();
    for (t0, v) in pending(&reader, s, before).unwrap() {
        let whole = build_hour(&reader, s, t0, v, &mut |p| store_part(writer, s, &p)).unwrap();
        if whole {
            done.push(t0);
        }
    }
    done
}

/// The columnar scan with the copy against the row scan, for several
/// windows and limits and reader counts.
/// [`answers_match`]'s hours read from the copy.
fn assert_answers_match(path: &Path, s: &TableSchema) -> u64 {
    answers_match(path, s).0
}

/// Asserts the scans equal the row scan; how many hours they read from
/// the copy, and the damaged ones they reported.
fn answers_match(path: &Path, s: &TableSchema) -> (u64, Vec<(String, i64)>) {
    let readers = Readers::new(path);
    let plan = Plan::rows(s);
    let all: Vec<usize> = (0..s.columns.len()).collect();
    for (window, limit, cols) in [
        (Window::new(i64::MIN, i64::MAX), u64::MAX, all.clone()),
        (Window::new(HOUR_MS, 3 * HOUR_MS), u64::MAX, vec![5, 0, 5]),
        (
            Window::new(HOUR_MS / 2, 3 * HOUR_MS + 99),
            4_321,
            all.clone(),
        ),
        (Window::new(0, 2 * HOUR_MS), 10, vec![2, 1]),
    ] {
        let arrow = Arc::new(arrow_schema(s, &cols, HashMap::new()));
        let mut conv = BatchConverter::new(s.clone(), cols.clone(), arrow.clone());
        let mut want: Vec<RecordBatch> = Vec::new();
        scan_snapshot::<SqliteError>(path, s, &plan, window, limit, 700, |b| {
            want.push(conv.convert(&b).unwrap());
            Ok(())
        })
        .unwrap();
        for n in [1, 2, 3] {
            let scan = ColumnarScan {
                schema: s,
                plan: &plan,
                cols: &cols,
                window,
                limit,
                batch_rows: 1_000,
                sealed: true,
            };
            let mut conv = BatchConverter::new(s.clone(), cols.clone(), arrow.clone());
            let mut got = Vec::new();
            readers
                .scan_columnar::<SqliteError>(&scan, n, |c| {
                    got.push(conv.adopt(c).unwrap());
                    Ok(())
                })
                .unwrap();
            assert_same(
                &got,
                &want,
                &format!("{window:?} limit {limit}, {n} readers"),
            );
        }
    }
    (readers.sealed_hours_read(), readers.take_damaged())
}

#[test]
fn the_copy_answers_what_the_rows_answer_and_follows_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (s, w) = filled(&path);
    // Hours 0..4 are sealed at 4h; the open hour is not copied.
    assert_eq!(
        build(&path, &s, &w, 4 * HOUR_MS),
        [0, HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS]
    );
    assert!(
        build(&path, &s, &w, 4 * HOUR_MS).is_empty(),
        "nothing left to build"
    );
    assert!(assert_answers_match(&path, &s) > 0, "no scan read the copy");

    // A late row into hour 2 drops its copy (and only its).
    insert(&w, &s, &rows(7, 2 * HOUR_MS + 5)).unwrap();
    let reader = open(&path).unwrap();
    let left: Vec<i64> = pending(&reader, &s, 4 * HOUR_MS)
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(left, [2 * HOUR_MS]);
    assert_answers_match(&path, &s);
    // A purge through hour 1's middle: hour 0 goes with its copy, hour 1
    // is cut and must be read from its rows.
    delete_window(&w, &s, Window::new(0, HOUR_MS + 30_000)).unwrap();
    assert_answers_match(&path, &s);
    assert_eq!(build(&path, &s, &w, 4 * HOUR_MS), [HOUR_MS, 2 * HOUR_MS]);
    assert_answers_match(&path, &s);
}

/// The builder read hour 1, then a write landed in it: the parts built
/// from the old snapshot are refused, nothing is stored, and the next
/// build takes the new rows.
#[test]
fn a_copy_built_from_an_overtaken_snapshot_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (s, w) = filled(&path);
    let reader = open(&path).unwrap();
    let (t0, v) = pending(&reader, &s, 4 * HOUR_MS).unwrap()[1];
    assert_eq!(t0, HOUR_MS);
    let mut parts = Vec::new();
    assert!(build_hour(&reader, &s, t0, v, &mut |p| {
        parts.push(p);
        Ok(true)
    })
    .unwrap());
    insert(&w, &s, &rows(3, HOUR_MS + 1)).unwrap();
    for p in &parts {
        assert!(!store_part(&w, &s, p).unwrap(), "a stale part was stored");
    }
    let n: i64 = w
        .query_row("SELECT count(*) FROM _hotcold_columns", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    // Building from the version read before the write stops at once.
    assert!(!build_hour(&reader, &s, t0, v, &mut |_| Ok(true)).unwrap());
    assert!(build(&path, &s, &w, 4 * HOUR_MS).contains(&HOUR_MS));
    assert_answers_match(&path, &s);
}

/// A part whose bytes rotted on disk: the answer reads that hour from
/// its rows instead (the same rows), and the hour is reported for the
/// builder to drop and build again.
#[test]
fn a_damaged_part_is_read_from_the_rows_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (s, w) = filled(&path);
    build(&path, &s, &w, 4 * HOUR_MS);
    w.execute(
        "UPDATE _hotcold_columns SET data = CAST(substr(data, 1, 40) || x'DEADBEEFDEADBEEF' || substr(data, 49) AS BLOB) WHERE t0 = ?1",
        [2 * HOUR_MS],
    )
    .unwrap();
    let (read, damaged) = answers_match(&path, &s);
    assert!(read > 0, "the sound hours came from the copy");
    assert!(!damaged.is_empty(), "the damage was not reported");
    assert!(
        damaged.iter().all(|d| *d == (s.name.clone(), 2 * HOUR_MS)),
        "{damaged:?}"
    );
    // What the builder does with the report: drop, then build again.
    drop_copies(&w, &s, &[2 * HOUR_MS]).unwrap();
    assert_eq!(build(&path, &s, &w, 4 * HOUR_MS), [2 * HOUR_MS]);
    assert!(answers_match(&path, &s).1.is_empty());
}

/// Rows an older binary wrote into a copied hour (no version bump): the
/// start-up check finds the hour and its copy goes.
#[test]
fn rows_written_without_versions_are_found_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (s, w) = filled(&path);
    build(&path, &s, &w, 4 * HOUR_MS);
    let reader = open(&path).unwrap();
    assert!(miscounted(&reader, &s).unwrap().is_empty());
    w.execute(
        "INSERT INTO trades SELECT * FROM trades WHERE ts < ?1 LIMIT 3",
        [HOUR_MS / 2],
    )
    .unwrap();
    let off = miscounted(&reader, &s).unwrap();
    assert_eq!(off, [0]);
    drop_copies(&w, &s, &off).unwrap();
    assert_answers_match(&path, &s);
}

/// Rows written before versions existed get them, and a copy.
#[test]
fn hours_of_an_older_file_are_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (s, w) = filled(&path);
    w.execute_batch("DELETE FROM _hotcold_changes").unwrap();
    let reader = open(&path).unwrap();
    assert!(pending(&reader, &s, 4 * HOUR_MS).unwrap().is_empty());
    let hours = hours_with_rows(&reader, &s).unwrap();
    assert_eq!(hours, (0..5).map(|h| h * HOUR_MS).collect::<Vec<_>>());
    assert_eq!(adopt_hours(&w, &s, &hours).unwrap(), 5);
    assert_eq!(adopt_hours(&w, &s, &hours).unwrap(), 0, "once");
    assert_eq!(build(&path, &s, &w, 4 * HOUR_MS).len(), 4);
    assert_answers_match(&path, &s);
}
