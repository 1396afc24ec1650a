//! Tests of frame.rs: every frame round-trips, and no input panics.

use super::*;
use proptest::prelude::*;

#[test]
fn round_trips_and_incomplete() {
    let frames = vec![
        Frame::Need(vec![1, 5, 9]),
        Frame::Chunk {
            index: 7,
            data: vec![1, 2, 3],
        },
        Frame::Sent,
        Frame::Error("boom".into()),
        Frame::Rows(vec![9; 10]),
        Frame::End(QueryEnd {
            rows: 3,
            truncated: false,
        }),
        Frame::Committed(CommitReply {
            batch_id: "b".into(),
            cold: ContentHash { rows: 2, sum: 77 },
            durable: true,
        }),
        Frame::Recheck(Recheck {
            batch_id: "b".into(),
            schema: crate::schema::TableSchema::new(
                "t",
                "ts",
                &[("ts", crate::schema::LogicalType::TimestampMs)],
            ),
            window: Window::new(0, 1),
        }),
        Frame::Stored(StoredReply {
            batch_id: "b".into(),
            reason: "cold store down".into(),
        }),
        Frame::LedgerQuery(vec!["a".into(), "b".into()]),
        Frame::BackupNeed(vec![BackupNeed {
            file: "journal.db".into(),
            have: 4096,
        }]),
        Frame::BackupData {
            index: 2,
            offset: 1 << 40,
            data: vec![7; 33],
        },
        Frame::BackupSent,
        Frame::ColdSnapshot,
        Frame::ColdSnapshotDone(ColdSnapshotReply {
            id: "n1".into(),
            windows: 3,
            rows: 30,
            bytes: 300,
            bytes_written: 100,
        }),
        Frame::LedgerAfter(LedgerAfter {
            table: "trades".into(),
            after: -5,
        }),
        Frame::BackupDone(BackupReply {
            id: "s1".into(),
            bytes_received: 12,
            removed: vec!["s0".into()],
        }),
        Frame::LedgerEntries(vec![LedgerRecord {
            batch_id: "a".into(),
            table: "t".into(),
            window: Window::new(0, 1),
            cold: ContentHash { rows: 1, sum: 2 },
            expired: true,
        }]),
        Frame::Ack {
            index: 9,
            ok: false,
        },
    ];
    for f in frames {
        let bytes = f.to_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(Frame::parse(&bytes[..cut], 1 << 20), Ok(None));
        }
        assert_eq!(Frame::parse(&bytes, 1 << 20), Ok(Some((f, bytes.len()))));
    }
}

#[test]
fn length_bound_is_checked_before_buffering() {
    let mut b = vec![0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        Frame::parse(&b, 1 << 20),
        Err(FrameError::TooLarge { .. })
    ));
    b = vec![0, 0, 0, 1, 42];
    assert_eq!(Frame::parse(&b, 1 << 20), Err(FrameError::UnknownKind(42)));
}

#[test]
fn an_older_gateway_is_not_durable() {
    let old = br#"{"batch_id":"b","cold":{"rows":1,"sum":"2"}}"#;
    let r: CommitReply = serde_json::from_slice(old).unwrap();
    assert!(!r.durable);
}

proptest! {
    #[test]
    fn junk_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Frame::parse(&junk, 1 << 16);
    }
}
