use crate::{read_range, SnapshotStore, StoreError};
use hotcold_core::codec::{encode_segment, DecodeLimits};
use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::snapshot::{Level, RangeEntry, Side, SnapshotManifest, FORMAT};
use hotcold_core::{ContentHash, RowBatch, Value};

fn schema() -> TableSchema {
    TableSchema::new(
        "trades",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("qty", LogicalType::Int64),
        ],
    )
}

fn rows(start: i64, n: i64) -> RowBatch {
    let s = schema();
    let mut b = RowBatch::new(&s);
    for i in 0..n {
        b.push_row(vec![Value::I64(start + i), Value::I64(i * 7)])
            .expect("row");
    }
    b
}

fn write(store: &SnapshotStore, w: Window, n: i64) -> RangeEntry {
    let mut wr = store.range_writer("trades", w).expect("writer");
    let b = rows(w.start, n);
    wr.write(&encode_segment(&b, 1)).expect("write");
    wr.finish(ContentHash::of_batch(&b)).expect("finish")
}

fn manifest(id: &str, ranges: Vec<RangeEntry>) -> SnapshotManifest {
    SnapshotManifest {
        format: FORMAT,
        id: id.into(),
        side: Side::Cloud,
        level: Level::Eventual,
        point_ms: id.len() as i64,
        pause_us: 0,
        skew_us: 0,
        base: None,
        schemas: vec![schema()],
        ranges,
        files: vec![],
        bytes_written: 0,
        cold: None,
    }
}

#[test]
fn a_damaged_or_short_file_is_named_and_a_delete_sweeps_only_its_own() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SnapshotStore::open(dir.path()).expect("open");
    let (a, b) = (Window::new(0, 1000), Window::new(1000, 2000));
    let ra = write(&store, a, 100);
    let rb = write(&store, b, 50);
    store.begin("s1").expect("begin");
    store
        .commit(&manifest("s1", vec![ra.clone(), rb.clone()]))
        .expect("commit");
    // The second snapshot shares day a and has a new day b.
    let rb2 = write(&store, b, 60);
    store.begin("s22").expect("begin");
    store
        .commit(&manifest("s22", vec![ra.clone(), rb2.clone()]))
        .expect("commit");
    let v = store.verify("s1", &|_| {}).expect("verify");
    assert_eq!((v.ranges, v.rows), (2, 150));
    assert!(matches!(store.begin("s1"), Err(StoreError::Exists(_))));

    // One flipped byte in the middle of b's file.
    let p = store.pool_path(&rb.file);
    let mut bytes = std::fs::read(&p).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&p, &bytes).expect("write");
    let e = store.verify("s1", &|_| {}).expect_err("damaged");
    assert!(e.to_string().contains(&rb.file), "{e}");
    // Truncated.
    std::fs::write(&p, &bytes[..mid]).expect("write");
    let e = store.verify("s1", &|_| {}).expect_err("short");
    assert!(e.to_string().contains("bytes, the manifest says"), "{e}");
    // s22 does not use that file and still verifies.
    assert_eq!(store.verify("s22", &|_| {}).expect("s22").rows, 160);

    let freed = store.delete("s1").expect("delete");
    assert!(freed > 0);
    assert!(!p.exists(), "only s1 named it");
    assert!(store.pool_path(&ra.file).exists(), "s22 still names a");
    assert!(matches!(store.load("s1"), Err(StoreError::NotFound(_))));
    let ids: Vec<_> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids, ["s22"]);
}

#[test]
fn a_manifest_that_was_edited_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SnapshotStore::open(dir.path()).expect("open");
    let r = write(&store, Window::new(0, 1000), 10);
    store.begin("s1").expect("begin");
    store
        .commit(&manifest("s1", vec![r.clone()]))
        .expect("commit");
    let p = store.snapshot_path("s1").join("manifest.json");
    let text = std::fs::read_to_string(&p).expect("read");
    std::fs::write(&p, text.replace("\"rows\": 10", "\"rows\": 11")).expect("write");
    let e = store.load("s1").expect_err("renamed content");
    assert!(e.to_string().contains("manifest.json"), "{e}");
    std::fs::write(&p, "{").expect("write");
    assert!(store.load("s1").is_err());
    // A range read with rows that differ from the entry is refused.
    let mut wrong = r.clone();
    wrong.content.rows = 9;
    let e = read_range::<StoreError>(
        &store.pool_path(&r.file),
        &wrong,
        &schema(),
        &DecodeLimits::default(),
        |_| Ok(()),
    )
    .expect_err("rows differ");
    assert!(e.to_string().contains("rows 10:"), "{e}");
}
