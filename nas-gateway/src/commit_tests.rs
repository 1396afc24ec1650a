//! Commits against the real SQLite cold store and real staging, both in a
//! tempdir: exactly once, guarded by the ledger, clearing only what a
//! crashed attempt left.

use super::*;
use crate::cold::sqlite::SqliteCold;
use crate::fixture::{day, garbage_segment, rows, staging, trades, Batch};
use crate::staging::Staging;
use hotcold_core::schema::Window;

struct Nas {
    _dir: tempfile::TempDir,
    staging: Staging,
    cold: SqliteCold,
}

fn nas() -> Nas {
    let dir = tempfile::tempdir().unwrap();
    Nas {
        staging: staging(&dir.path().join("staging"), 1 << 30),
        cold: SqliteCold::open(&dir.path().join("cold.db")).unwrap(),
        _dir: dir,
    }
}

impl Nas {
    /// Stages every chunk of the batch and commits it.
    async fn commit(&self, b: &Batch) -> Result<ContentHash, CommitError> {
        let staged = b.stage(&self.staging);
        commit(&self.cold, &staged, DecodeLimits::default()).await
    }

    /// The cold store's own count and hash of a window of `trades`.
    async fn cold(&self, w: Window) -> ContentHash {
        self.cold.content_hash(&trades(), w).await.unwrap()
    }

    async fn count(&self, w: Window) -> u64 {
        self.cold.window_count(&trades(), w).await.unwrap()
    }

    fn entry(b: &Batch) -> LedgerEntry {
        LedgerEntry {
            batch_id: b.manifest.batch_id.clone(),
            table: "trades".into(),
            window: b.manifest.window,
            content: b.manifest.content,
        }
    }
}

#[tokio::test]
async fn a_staged_batch_commits_and_enters_the_ledger() {
    let nas = nas();
    let b = Batch::new("trades-1", day(19_000), 1000, 1);
    let answer = nas.commit(&b).await.unwrap();
    assert_eq!(
        answer, b.manifest.content,
        "cold answer equals the hot hash"
    );
    assert_eq!(answer.rows, 1000);
    assert_eq!(nas.cold(day(19_000)).await, answer);
    assert_eq!(
        nas.cold.ledger_get("trades-1").await.unwrap(),
        Some(Nas::entry(&b))
    );
    assert_eq!(nas.cold.ledger_list().await.unwrap(), vec![Nas::entry(&b)]);
}

/// A batch staged by the previous version (HCS1 segments) before an
/// upgrade commits after it.
#[tokio::test]
async fn a_batch_staged_in_the_previous_format_commits() {
    let nas = nas();
    let b = Batch::encoded_by(
        hotcold_core::codec::hcs1::encode_segment,
        "trades-hcs1",
        day(19_000),
        1000,
        1,
    );
    assert_eq!(
        &b.data[4..8],
        &[0x28, 0xb5, 0x2f, 0xfd],
        "a zstd frame: HCS1"
    );
    assert_eq!(nas.commit(&b).await.unwrap(), b.manifest.content);
    assert_eq!(nas.cold(day(19_000)).await, b.manifest.content);
}

#[tokio::test]
async fn committing_again_answers_from_the_ledger_without_inserting() {
    let nas = nas();
    let b = Batch::new("trades-1", day(19_000), 1000, 1);
    let first = nas.commit(&b).await.unwrap();
    let second = nas.commit(&b).await.unwrap();
    assert_eq!(second, first);
    assert_eq!(nas.count(day(19_000)).await, 1000, "inserted once");
    assert_eq!(nas.cold.ledger_list().await.unwrap().len(), 1);

    // The ledger is what answers: even with the staged chunks gone.
    nas.staging.remove("trades-1").unwrap();
    let staged = nas.staging.batch(&b.manifest).unwrap();
    let third = commit(&nas.cold, &staged, DecodeLimits::default()).await;
    assert_eq!(third.unwrap(), first);
    assert_eq!(nas.count(day(19_000)).await, 1000);
}

#[tokio::test]
async fn a_window_committed_under_another_batch_is_refused_and_left_alone() {
    let nas = nas();
    let old = Batch::new("trades-1", day(19_000), 1000, 1);
    nas.commit(&old).await.unwrap();
    let new = Batch::new("trades-2", day(19_000), 500, 2);
    match nas.commit(&new).await {
        Err(CommitError::Conflict {
            batch,
            table,
            window,
            existing,
        }) => {
            assert_eq!(
                (batch.as_str(), table.as_str(), window, existing.as_str()),
                ("trades-2", "trades", day(19_000), "trades-1")
            );
        }
        other => panic!("a second batch for a committed window got {other:?}"),
    }
    assert_eq!(nas.cold(day(19_000)).await, old.manifest.content);
    assert_eq!(
        nas.cold.ledger_list().await.unwrap(),
        vec![Nas::entry(&old)]
    );
}

#[tokio::test]
async fn a_batch_naming_the_old_one_in_replaces_replaces_it() {
    let nas = nas();
    let old = Batch::new("trades-1", day(19_000), 1000, 1);
    nas.commit(&old).await.unwrap();
    let new = Batch::new("trades-2", day(19_000), 500, 2).replacing(&["trades-1"]);
    assert_ne!(new.manifest.content, old.manifest.content);
    let answer = nas.commit(&new).await.unwrap();
    assert_eq!(answer, new.manifest.content);
    assert_eq!(nas.cold(day(19_000)).await, new.manifest.content);
    assert_eq!(
        nas.cold.ledger_get("trades-2").await.unwrap(),
        Some(Nas::entry(&new))
    );
}

#[tokio::test]
async fn neighbouring_days_and_other_tables_are_no_conflict() {
    let nas = nas();
    let monday = Batch::new("trades-1", day(19_000), 1000, 1);
    let tuesday = Batch::new("trades-2", day(19_001), 800, 2);
    nas.commit(&monday).await.unwrap();
    assert_eq!(
        nas.commit(&tuesday).await.unwrap(),
        tuesday.manifest.content
    );
    assert_eq!(nas.cold(day(19_000)).await, monday.manifest.content);

    // Same day, another table: its own rows, the trades untouched.
    let mut quotes = Batch::new("quotes-1", day(19_000), 300, 3);
    quotes.manifest.schema.name = "quotes".into();
    let answer = nas.commit(&quotes).await.unwrap();
    assert_eq!(answer, quotes.manifest.content);
    assert_eq!(nas.cold(day(19_000)).await, monday.manifest.content);
    assert_eq!(nas.cold.ledger_list().await.unwrap().len(), 3);
}

#[tokio::test]
async fn bytes_that_are_not_segments_give_decode_and_commit_nothing() {
    let nas = nas();
    let b = Batch::of_bytes(
        "trades-1",
        day(19_000),
        ContentHash::default(),
        garbage_segment(),
    );
    match nas.commit(&b).await {
        Err(CommitError::Decode { batch, reason }) => {
            assert_eq!(batch, "trades-1");
            assert!(!reason.is_empty());
        }
        other => panic!("garbage segments got {other:?}"),
    }
    assert_eq!(nas.cold.ledger_get("trades-1").await.unwrap(), None);
    assert_eq!(nas.count(day(19_000)).await, 0);
}

#[tokio::test]
async fn a_batch_undecodable_after_its_first_segment_inserts_none_of_it() {
    let nas = nas();
    let w = day(19_000);
    let good = Batch::new("trades-0", w, 400, 1);
    let mut data = good.data.clone();
    data.extend_from_slice(&garbage_segment());
    let b = Batch::of_bytes("trades-1", w, good.manifest.content, data);
    let got = nas.commit(&b).await;
    assert!(matches!(got, Err(CommitError::Decode { .. })), "{got:?}");
    assert_eq!(nas.cold.ledger_get("trades-1").await.unwrap(), None);
    assert_eq!(nas.count(w).await, 0, "rows of a batch that did not commit");
}

#[tokio::test]
async fn stray_rows_of_a_crashed_attempt_are_cleared_before_the_insert() {
    let nas = nas();
    let w = day(19_000);
    let b = Batch::new("trades-1", w, 1000, 1);
    // What an attempt that died after its insert left: some of the batch's
    // rows, others, and a row of the next day that is not ours to clear.
    nas.cold.ensure_table(&trades()).await.unwrap();
    let (tx, rx) = mpsc::channel(4);
    tx.send(b.segments[0].clone()).await.unwrap();
    tx.send(rows(w, 7, 99)).await.unwrap();
    tx.send(rows(day(19_001), 1, 98)).await.unwrap();
    drop(tx);
    assert_eq!(nas.cold.insert_stream(&trades(), rx).await.unwrap(), 408);
    assert_eq!(nas.count(w).await, 407);

    let answer = nas.commit(&b).await.unwrap();
    assert_eq!(answer, b.manifest.content);
    assert_eq!(nas.cold(w).await, b.manifest.content, "exactly the batch");
    assert_eq!(nas.count(day(19_001)).await, 1, "next day untouched");
}

#[tokio::test]
async fn an_incomplete_batch_is_not_committed() {
    let nas = nas();
    let b = Batch::new("trades-1", day(19_000), 1000, 1);
    let staged = nas.staging.batch(&b.manifest).unwrap();
    staged.write_chunk(0, b.chunk(0)).unwrap();
    let got = commit(&nas.cold, &staged, DecodeLimits::default()).await;
    assert!(matches!(got, Err(CommitError::Staging(_))), "{got:?}");
    assert_eq!(nas.cold.ledger_get("trades-1").await.unwrap(), None);
    assert_eq!(nas.count(day(19_000)).await, 0);
}

#[tokio::test]
async fn rows_outside_the_batch_window_are_refused_and_none_kept() {
    let nas = nas();
    // The rows of a whole day under a manifest that says one hour of it:
    // before, they were inserted where no ledger entry covers them.
    let day_rows = Batch::new("trades-0", day(19_000), 1200, 3);
    let hour = Window::new(day(19_000).start, day(19_000).start + 3_600_000);
    let b = Batch::of_bytes(
        "trades-1",
        hour,
        day_rows.manifest.content,
        day_rows.data.clone(),
    );
    match nas.commit(&b).await {
        Err(CommitError::Decode { reason, .. }) => {
            assert!(reason.contains("outside the batch's window"), "{reason}")
        }
        other => panic!("rows outside the window got {other:?}"),
    }
    assert_eq!(nas.cold.ledger_get("trades-1").await.unwrap(), None);
    assert_eq!(
        nas.count(day(19_000)).await,
        0,
        "no row of it kept anywhere"
    );
}

#[tokio::test]
async fn the_first_cloud_owns_the_store_and_another_is_refused() {
    let nas = nas();
    // Two claims at the same instant: both clouds read the same owner.
    nas.cold.claim_owner("c-bbbb", 5).await.unwrap();
    nas.cold.claim_owner("c-aaaa", 5).await.unwrap();
    assert_eq!(nas.cold.owner().await.unwrap().as_deref(), Some("c-aaaa"));
    let mine = Batch::new("trades-a-1", day(1), 50, 1).sent_by("c-aaaa");
    assert_eq!(nas.commit(&mine).await.unwrap().rows, 50);
    let theirs = Batch::new("trades-b-1", day(2), 50, 2).sent_by("c-bbbb");
    let e = nas.commit(&theirs).await.unwrap_err();
    assert!(
        matches!(&e, CommitError::OtherCloud { owner, cloud, .. } if owner == "c-aaaa" && cloud == "c-bbbb"),
        "{e}"
    );
    assert_eq!(nas.count(day(2)).await, 0, "nothing of it stored");
    // A batch without an id (a cloud older than the check) goes in as before.
    let old = Batch::new("trades-c-1", day(3), 50, 3);
    assert_eq!(nas.commit(&old).await.unwrap().rows, 50);
}
