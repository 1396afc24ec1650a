//! The columnar scan against the row scan over the same real file, and
//! its readers' one snapshot against a writer moving rows underneath.

use super::*;
use crate::fixtures::schema;
use crate::{create_table, delete_window, insert, open, scan_snapshot, Readers};
use hotcold_arrow::{arrow_schema, BatchConverter, RecordBatch};
use hotcold_core::query::{Filter, QuerySpec};
use hotcold_core::{RowBatch, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) fn rows(n: i64, from: i64) -> RowBatch {
    let s = schema("decimal(4)");
    let mut b = RowBatch::new(&s);
    let mut x = 11u64;
    for i in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        b.push_row(vec![
            // Clustered times with ties, as trades come.
            Value::I64(from + i / 3 * 7 + (x >> 62) as i64),
            Value::I64((x >> 20) as i64 % 1_000_000 - 500_000),
            Value::U64(x),
            Value::F64((x >> 40) as f64 / 3.0),
            Value::Bool(x.is_multiple_of(2)),
            Value::Str(["a", "bb", "ccc", "é"][(x >> 50) as usize % 4].into()),
        ])
        .unwrap();
    }
    b
}

/// Every row of a sequence of batches, as one-row slices.
fn each_row(b: &[RecordBatch]) -> Vec<RecordBatch> {
    b.iter()
        .flat_map(|rb| (0..rb.num_rows()).map(move |i| rb.slice(i, 1)))
        .collect()
}

/// Same rows, same values, in the same order (dictionaries compare by
/// value, whatever their keys).
pub(crate) fn assert_same(got: &[RecordBatch], want: &[RecordBatch], case: &str) {
    let (got, want) = (each_row(got), each_row(want));
    assert_eq!(got.len(), want.len(), "{case}: rows");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        for c in 0..w.num_columns() {
            assert!(
                g.column(c).as_ref() == w.column(c).as_ref(),
                "{case}: row {i} column {c}: {:?} vs {:?}",
                g.column(c),
                w.column(c)
            );
        }
    }
}

#[test]
fn columnar_scans_answer_what_the_row_scan_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = schema("decimal(4)");
    let conn = open(&path).unwrap();
    create_table(&conn, &s).unwrap();
    insert(&conn, &s, &rows(5_000, 1_000)).unwrap();
    // Later rows with earlier times: insertion order is not time order.
    insert(&conn, &s, &rows(700, 3_000)).unwrap();
    let readers = Readers::new(&path);
    let all: Vec<usize> = (0..s.columns.len()).collect();
    for (case, (cols, desc, filter, window, limit, batch)) in [
        (
            all.clone(),
            false,
            false,
            Window::new(0, 100_000),
            u64::MAX,
            333,
        ),
        (
            vec![5, 0, 2],
            true,
            false,
            Window::new(0, 100_000),
            u64::MAX,
            1000,
        ),
        (
            all.clone(),
            false,
            true,
            Window::new(2_000, 9_000),
            u64::MAX,
            64,
        ),
        (
            vec![1, 3, 4],
            true,
            true,
            Window::new(2_000, 9_000),
            777,
            100,
        ),
        (all.clone(), false, false, Window::new(5_000, 5_001), 10, 7),
        (
            all.clone(),
            false,
            false,
            Window::new(200_000, 300_000),
            10,
            7,
        ),
        (all.clone(), false, false, Window::new(0, 100_000), 0, 7),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = QuerySpec {
            filters: if filter {
                vec![Filter {
                    column: "s".into(),
                    values: vec![serde_json::json!("é"), serde_json::json!("a")],
                }]
            } else {
                vec![]
            },
            descending: desc,
            aggregate: None,
        };
        let plan = spec.plan(&s).unwrap();
        let arrow = Arc::new(arrow_schema(&s, &cols, HashMap::new()));
        let mut conv = BatchConverter::new(s.clone(), cols.clone(), arrow.clone());
        let mut want = Vec::new();
        scan_snapshot::<SqliteError>(&path, &s, &plan, window, limit, 500, |b| {
            want.push(conv.convert(&b).unwrap());
            Ok(())
        })
        .unwrap();
        for n in [1, 2, 3] {
            let scan = ColumnarScan {
                schema: &s,
                plan: &plan,
                cols: &cols,
                window,
                limit,
                batch_rows: batch,
                sealed: false,
            };
            let mut conv = BatchConverter::new(s.clone(), cols.clone(), arrow.clone());
            let mut got = Vec::new();
            let total = readers
                .scan_columnar::<SqliteError>(&scan, n, |c| {
                    assert!(c.len() <= batch, "a batch past batch_rows");
                    got.push(conv.adopt(c).unwrap());
                    Ok(())
                })
                .unwrap();
            let rows: usize = got.iter().map(|b| b.num_rows()).sum();
            assert_eq!(total as usize, rows, "case {case}, {n} readers");
            assert_same(&got, &want, &format!("case {case}, {n} readers"));
        }
    }
}

/// A writer moves 100 rows from one end of the window to the other in
/// each transaction, so every snapshot holds exactly 2,000 rows. Scans
/// through three readers must always count 2,000: readers that took
/// their snapshots on either side of a commit would see the moved rows
/// twice or not at all.
#[test]
fn readers_share_one_snapshot_while_the_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = schema("decimal(4)");
    let conn = open(&path).unwrap();
    create_table(&conn, &s).unwrap();
    insert(&conn, &s, &rows(2_000, 1_000_000)).unwrap();
    let readers = Readers::new(&path);
    let commits = readers.commits();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let plan = hotcold_core::query::Plan::rows(&s);
    let cols: Vec<usize> = (0..s.columns.len()).collect();
    std::thread::scope(|t| {
        t.spawn(|| {
            let mut w = open(&path).unwrap();
            let mut lo = 1_000_000i64;
            let mut hi = 2_000_000i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let tx = w.transaction().unwrap();
                // The oldest 100 rows out, 100 new ones at the far end.
                let cut: i64 = tx
                    .query_row(
                        "SELECT ts FROM trades WHERE ts >= ?1 ORDER BY ts LIMIT 1 OFFSET 99",
                        [lo],
                        |r| r.get(0),
                    )
                    .unwrap();
                let gone = delete_window(&tx, &s, Window::new(lo, cut + 1)).unwrap();
                insert(&tx, &s, &rows(gone as i64, hi)).unwrap();
                commits.around(|| tx.commit()).unwrap();
                lo = cut + 1;
                hi += 10_000;
            }
        });
        let mut counts = Vec::new();
        for _ in 0..60 {
            let scan = ColumnarScan {
                schema: &s,
                plan: &plan,
                cols: &cols,
                window: Window::new(i64::MIN, i64::MAX),
                limit: u64::MAX,
                batch_rows: 128,
                sealed: false,
            };
            let n = readers
                .scan_columnar::<SqliteError>(&scan, 3, |_| Ok(()))
                .unwrap();
            counts.push(n);
        }
        // Before any assertion: a failing one must not leave the writer
        // running, holding the scope open.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let off: Vec<_> = counts.iter().filter(|&&n| n != 2_000).collect();
        assert!(off.is_empty(), "readers saw different snapshots: {off:?}");
        // Or the test proves nothing: most scans read through all three.
        assert!(
            readers.scans_alone() < 30,
            "{} of 60 scans fell back to one connection",
            readers.scans_alone()
        );
    });
}

/// A caller that stops taking batches (its reader went away) ends the
/// scan with its error, readers blocked on full channels included; so does
/// a limit reached while readers are still ahead.
#[test]
fn a_callback_error_or_the_limit_ends_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = schema("decimal(4)");
    let conn = open(&path).unwrap();
    create_table(&conn, &s).unwrap();
    insert(&conn, &s, &rows(20_000, 0)).unwrap();
    let readers = Readers::new(&path);
    let plan = hotcold_core::query::Plan::rows(&s);
    let cols: Vec<usize> = (0..s.columns.len()).collect();
    let scan = |limit| ColumnarScan {
        schema: &s,
        plan: &plan,
        cols: &cols,
        window: Window::new(i64::MIN, i64::MAX),
        limit,
        batch_rows: 50,
        sealed: false,
    };
    let mut calls = 0;
    let e = readers
        .scan_columnar::<SqliteError>(&scan(u64::MAX), 3, |_| {
            calls += 1;
            if calls == 3 {
                return Err(SqliteError::Reader("the test's third batch".into()));
            }
            Ok(())
        })
        .unwrap_err();
    assert!(e.to_string().contains("third batch"), "{e}");
    assert_eq!(calls, 3, "no batch after the error");
    let n = readers
        .scan_columnar::<SqliteError>(&scan(120), 3, |_| Ok(()))
        .unwrap();
    assert_eq!(n, 120);
    // The pool still works: every connection came back out of its
    // transaction.
    let n = readers
        .scan_columnar::<SqliteError>(&scan(u64::MAX), 2, |_| Ok(()))
        .unwrap();
    assert_eq!(n, 20_000);
}
