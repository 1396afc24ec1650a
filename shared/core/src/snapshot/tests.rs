use super::*;
use crate::schema::LogicalType;
use proptest::prelude::*;

fn schema(name: &str) -> TableSchema {
    TableSchema::new(name, "ts", &[("ts", LogicalType::TimestampMs)])
}

fn range(table: &str, start: i64, end: i64, rows: u64, sum: u128) -> RangeEntry {
    let content = ContentHash { rows, sum };
    let window = Window::new(start, end);
    RangeEntry {
        table: table.into(),
        window,
        content,
        file: range_file_name(table, window, &content),
        bytes: rows * 10,
        blake3: "ab".repeat(32),
        batch_id: String::new(),
    }
}

fn manifest(ranges: Vec<RangeEntry>) -> SnapshotManifest {
    SnapshotManifest {
        format: FORMAT,
        id: "s-1".into(),
        side: Side::Cloud,
        level: Level::Strict,
        point_ms: 1,
        pause_us: 5,
        skew_us: 0,
        base: None,
        schemas: vec![schema("trades"), schema("funding")],
        ranges,
        files: vec![FileEntry {
            name: "journal.db".into(),
            bytes: 4096,
            blake3: "cd".repeat(32),
        }],
        bytes_written: 0,
        cold: None,
    }
}

proptest! {
    #[test]
    fn round_trips_and_counts(days in proptest::collection::vec((1u64..1000, any::<u128>()), 0..40)) {
        let ranges: Vec<_> = days
            .iter()
            .enumerate()
            .map(|(i, (rows, sum))| {
                let start = i as i64 * 86_400_000 - 5 * 86_400_000;
                range(if i % 2 == 0 { "trades" } else { "funding" }, start, start + 86_400_000, *rows, *sum)
            })
            .collect();
        let m = manifest(ranges);
        let back = SnapshotManifest::decode(&m.encode()).expect("decode");
        prop_assert_eq!(back.rows(), days.iter().map(|d| d.0).sum::<u64>());
        prop_assert_eq!(back, m);
    }

    /// Whatever bytes arrive, decode answers (an error or a checked manifest).
    #[test]
    fn hostile_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SnapshotManifest::decode(&data);
    }

    /// Any edit of a valid manifest's text either decodes to a manifest
    /// that validates or is refused; never a path outside the directory.
    #[test]
    fn edited_manifests_keep_names_plain(at in 0usize..2000, byte in any::<u8>()) {
        let mut text = manifest(vec![range("trades", 0, 10, 3, 7)]).encode();
        let i = at % text.len();
        text[i] = byte;
        if let Ok(m) = SnapshotManifest::decode(&text) {
            for f in m.ranges.iter().map(|r| &r.file).chain(m.files.iter().map(|f| &f.name)) {
                prop_assert!(!f.contains('/') && !f.starts_with('.'), "{}", f);
            }
        }
    }
}

#[test]
fn refuses_what_a_restore_cannot_trust() {
    let over = vec![b' '; MAX_MANIFEST_BYTES + 1];
    assert!(matches!(
        SnapshotManifest::decode(&over),
        Err(SnapshotError::TooLarge(_))
    ));
    let mut m = manifest(vec![range("trades", 0, 10, 3, 7)]);
    m.format = 2;
    assert_eq!(m.validate(), Err(SnapshotError::Format(2)));

    let mut m = manifest(vec![range("trades", 0, 10, 3, 7)]);
    m.files[0].name = "../hot.db".into();
    assert!(matches!(m.validate(), Err(SnapshotError::BadFileName(_))));

    let mut m = manifest(vec![range("trades", 0, 10, 3, 7)]);
    m.files[0].name = "manifest.json".into();
    assert!(matches!(m.validate(), Err(SnapshotError::BadFileName(_))));

    let mut m = manifest(vec![
        range("trades", 0, 10, 3, 7),
        range("trades", 20, 30, 1, 1),
    ]);
    m.side = Side::Nas;
    m.files.clear();
    assert!(matches!(m.validate(), Err(SnapshotError::BadBatch(_))));
    m.ranges[0].batch_id = "trades-0-10-1".into();
    m.ranges[1].batch_id = "trades-0-10-1".into();
    assert!(matches!(m.validate(), Err(SnapshotError::Duplicate(_))));
    m.ranges[1].batch_id = "trades-20-30-2".into();
    assert_eq!(m.validate(), Ok(()));

    let mut m = manifest(vec![range("trades", 0, 10, 3, 7)]);
    m.ranges[0].file = "other.seg".into();
    assert!(matches!(m.validate(), Err(SnapshotError::WrongName { .. })));

    let m = manifest(vec![
        range("trades", 0, 10, 3, 7),
        range("trades", 5, 20, 1, 1),
    ]);
    assert!(matches!(m.validate(), Err(SnapshotError::BadWindow { .. })));

    let m = manifest(vec![range("orders", 0, 10, 3, 7)]);
    assert!(matches!(m.validate(), Err(SnapshotError::NoSchema { .. })));

    let mut m = manifest(vec![]);
    m.id = "a/b".into();
    assert!(matches!(m.validate(), Err(SnapshotError::BadId(_))));
    assert!("fast".parse::<Level>().is_err());
    assert_eq!("bounded".parse::<Level>(), Ok(Level::Bounded));
}

#[test]
fn the_same_rows_give_the_same_pool_name() {
    let a = range("trades", -86_400_000, 0, 3, 0xabc);
    assert_eq!(
        a.file,
        "trades.-86400000.0.3.00000000000000000000000000000abc.seg"
    );
    assert!(check_file_name(&a.file).is_ok());
    assert_ne!(a.file, range("trades", -86_400_000, 0, 3, 0xabd).file);
}
