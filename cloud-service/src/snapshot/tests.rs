//! The point's reads are fixed before anything is copied: rows written
//! after `fix_point` returns are in neither copy.

use super::point::fix_point;
use crate::archive::Journal;
use crate::gate::IngestGate;
use hotcold_core::snapshot::Level;
use std::sync::Mutex;
use std::time::Duration;

#[test]
fn writes_after_the_point_are_not_in_the_copies() {
    let dir = tempfile::tempdir().expect("dir");
    let (hot, jp) = (dir.path().join("hot.db"), dir.path().join("journal.db"));
    let writer = hotcold_sqlite::open(&hot).expect("hot");
    writer
        .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)")
        .expect("create");
    let journal = Mutex::new(Journal::open(&jp).expect("journal"));
    let gate = IngestGate::default();
    for level in [Level::Strict, Level::Bounded, Level::Eventual] {
        let p =
            fix_point(level, &hot, &jp, &gate, &journal, Duration::from_secs(1)).expect("point");
        writer
            .execute_batch("INSERT INTO t VALUES (2)")
            .expect("insert");
        // A journal write after the point, of a table of this level's own.
        let table = format!("t_{level}");
        journal
            .lock()
            .expect("lock")
            .raise_floor(&table, 1_000)
            .expect("floor");
        let n: i64 = p
            .hot
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        let before: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(
            n,
            before - 1,
            "{level}: the row after the point is not seen"
        );
        let out = dir.path().join(format!("copy-{level}"));
        std::fs::create_dir_all(&out).expect("dir");
        super::copy::journal(&p.journal, &out).expect("backup");
        let copy = Journal::open(&out.join("journal.db")).expect("open copy");
        let floors = copy.floors().expect("floors");
        let live = journal.lock().expect("lock").floors().expect("floors");
        assert!(live.contains_key(&table));
        assert!(
            !floors.contains_key(&table),
            "{level}: floor raised after the point"
        );
        assert_eq!(
            p.pause_us > 0,
            level == Level::Strict,
            "{level}: only strict pauses ingest"
        );
    }
}

#[test]
fn a_bound_that_cannot_be_met_fails_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    let (hot, jp) = (dir.path().join("hot.db"), dir.path().join("journal.db"));
    hotcold_sqlite::open(&hot).expect("hot");
    let journal = Mutex::new(Journal::open(&jp).expect("journal"));
    let e = fix_point(
        Level::Bounded,
        &hot,
        &jp,
        &IngestGate::default(),
        &journal,
        Duration::from_nanos(1),
    )
    .err()
    .expect("a 1 ns bound");
    assert!(e.to_string().contains("within 0 µs"), "{e}");
}
