//! Staging against a real directory in a tempdir: chunks verified on the
//! way in, read back as the batch, kept across a restart, bounded by the
//! budget and removed when abandoned.

use super::*;
use crate::fixture::{day, staging, Batch};
use hotcold_core::codec::decode_segment;
use std::time::{Duration, SystemTime};

const BIG: u64 = 1 << 30;

fn all_chunks(b: &Batch) -> Vec<u32> {
    (0..b.manifest.chunks.len() as u32).collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Makes a batch directory look untouched for `by` (its files first: the
/// directory's own time moves when they are written).
fn age(dir: &Path, by: Duration) {
    let then = SystemTime::now() - by;
    for e in fs::read_dir(dir).unwrap().flatten() {
        File::open(e.path()).unwrap().set_modified(then).unwrap();
    }
    File::open(dir).unwrap().set_modified(then).unwrap();
}

#[test]
fn the_fixture_batch_spans_several_chunks_and_segments() {
    let b = Batch::new("b-1", day(19_000), 1000, 1);
    assert!(
        b.manifest.chunks.len() >= 3,
        "{} chunks",
        b.manifest.chunks.len()
    );
    assert_eq!(b.segments.len(), 3);
    assert_eq!(b.rows(), 1000);
}

#[test]
fn chunks_written_in_any_order_read_back_as_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let b = Batch::new("b-1", day(19_000), 1000, 1);
    let staged = s.batch(&b.manifest).unwrap();
    for i in all_chunks(&b).into_iter().rev() {
        staged.write_chunk(i, b.chunk(i)).unwrap();
    }
    assert_eq!(staged.missing().unwrap(), Vec::<u32>::new());
    staged.verify_whole().unwrap();

    let mut back = Vec::new();
    staged.reader().read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), b.data.len());
    assert!(back == b.data, "staged bytes differ from the batch");

    let limits = DecodeLimits::default();
    let mut r = staged.reader();
    let mut segments = Vec::new();
    while let Some(body) = next_segment(&mut r, &limits).unwrap() {
        segments.push(decode_segment(&b.manifest.schema, &body, &limits).unwrap());
    }
    assert_eq!(segments, b.segments);
}

#[test]
fn missing_lists_the_chunks_not_yet_written() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let b = Batch::new("b-1", day(19_000), 1000, 1);
    let staged = s.batch(&b.manifest).unwrap();
    assert_eq!(staged.missing().unwrap(), all_chunks(&b));
    staged.write_chunk(0, b.chunk(0)).unwrap();
    staged.write_chunk(2, b.chunk(2)).unwrap();
    let rest: Vec<u32> = all_chunks(&b)
        .into_iter()
        .filter(|i| ![0, 2].contains(i))
        .collect();
    assert_eq!(staged.missing().unwrap(), rest);
    assert!(matches!(
        staged.verify_whole(),
        Err(StagingError::Io { .. })
    ));
}

#[test]
fn a_chunk_with_wrong_bytes_or_length_is_refused_and_stays_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let b = Batch::new("b-1", day(19_000), 1000, 1);
    let staged = s.batch(&b.manifest).unwrap();
    let good = b.chunk(1);
    let mut flipped = good.to_vec();
    flipped[100] ^= 0x01;
    let short = &good[..good.len() - 1];
    let mut long = good.to_vec();
    long.push(0);
    for bad in [&flipped[..], short, &long[..], &[][..]] {
        match staged.write_chunk(1, bad) {
            Err(StagingError::BadChunk { index: 1 }) => {}
            other => panic!("a damaged chunk of {} bytes got {other:?}", bad.len()),
        }
    }
    // A chunk that is right, but for another index, is damaged too.
    assert!(matches!(
        staged.write_chunk(1, b.chunk(0)),
        Err(StagingError::BadChunk { index: 1 })
    ));
    assert!(!staged.chunk_path(1).exists(), "nothing written for it");
    assert_eq!(staged.missing().unwrap(), all_chunks(&b));

    let count = b.manifest.chunks.len();
    match staged.write_chunk(count as u32, good) {
        Err(StagingError::NoSuchChunk { index, count: c }) => {
            assert_eq!((index, c), (count as u32, count));
        }
        other => panic!("an index past the end got {other:?}"),
    }
    staged.write_chunk(1, good).unwrap();
    assert!(!staged.missing().unwrap().contains(&1));
}

#[test]
fn a_chunk_damaged_on_disk_is_dropped_and_asked_for_again() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let b = Batch::new("b-1", day(19_000), 1000, 1);
    let staged = b.stage(&s);
    let path = staged.chunk_path(1);
    let mut on_disk = fs::read(&path).unwrap();
    on_disk[0] ^= 0xFF;
    fs::write(&path, &on_disk).unwrap();
    fs::write(staged.chunk_path(2), &b.chunk(2)[..10]).unwrap();

    assert_eq!(staged.missing().unwrap(), vec![1, 2]);
    assert!(!path.exists(), "the damaged chunk is deleted");
    staged.write_chunk(1, b.chunk(1)).unwrap();
    staged.write_chunk(2, b.chunk(2)).unwrap();
    assert_eq!(staged.missing().unwrap(), Vec::<u32>::new());
    staged.verify_whole().unwrap();
}

#[test]
fn a_restart_finds_the_chunks_already_written() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Batch::new("b-1", day(19_000), 1000, 1);
    let n = b.manifest.chunks.len() as u32;
    {
        let s = staging(tmp.path(), BIG);
        let staged = s.batch(&b.manifest).unwrap();
        for i in 0..n / 2 {
            staged.write_chunk(i, b.chunk(i)).unwrap();
        }
    }
    let s = staging(tmp.path(), BIG);
    assert_eq!(s.manifests().unwrap(), vec![b.manifest.clone()]);
    let staged = s.batch(&b.manifest).unwrap();
    assert_eq!(staged.missing().unwrap(), (n / 2..n).collect::<Vec<_>>());
    for i in n / 2..n {
        staged.write_chunk(i, b.chunk(i)).unwrap();
    }
    staged.verify_whole().unwrap();
    let mut back = Vec::new();
    staged.reader().read_to_end(&mut back).unwrap();
    assert!(back == b.data, "resumed batch differs from the original");
}

#[test]
fn a_different_manifest_under_the_same_id_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let old = Batch::new("b-1", day(19_000), 1000, 1);
    old.stage(&s);
    let new = Batch::new("b-1", day(19_000), 1000, 2);
    let staged = s.batch(&new.manifest).unwrap();
    assert_eq!(staged.missing().unwrap(), all_chunks(&new));
    assert_eq!(s.manifests().unwrap(), vec![new.manifest.clone()]);
}

#[test]
fn a_batch_over_the_budget_is_refused_naming_the_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Batch::new("a-1", day(19_000), 1000, 1);
    let b = Batch::new("b-1", day(19_001), 1000, 2);
    let need = a.manifest.total_len;

    let s = staging(tmp.path(), need - 1);
    let e = s
        .batch(&a.manifest)
        .err()
        .expect("a batch over the budget is refused");
    assert!(e.to_string().contains("staging-budget"), "{e}");
    assert!(
        matches!(e, StagingError::Full { used: 0, need: n, budget } if n == need && budget == need - 1),
        "{e:?}"
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new(), "nothing staged");

    // Room for one batch: the second waits until the first is gone.
    let budget = need + b.manifest.total_len - 1;
    let s = staging(tmp.path(), budget);
    a.stage(&s);
    let used = s.bytes();
    assert!(used > need, "chunks and manifest: {used}");
    match s.batch(&b.manifest) {
        Err(StagingError::Full {
            used: u, need: n, ..
        }) => {
            assert_eq!((u, n), (used, b.manifest.total_len));
        }
        other => panic!("a batch past the budget got {:?}", other.err()),
    }
    // The staged batch itself is offered again (a resume): no new room needed.
    assert_eq!(
        s.batch(&a.manifest).unwrap().missing().unwrap(),
        Vec::<u32>::new()
    );
    s.remove("a-1").unwrap();
    assert_eq!(s.bytes(), 0);
    b.stage(&s);
    assert_eq!(entries(tmp.path()), vec!["b-1".to_string()]);
}

#[test]
fn the_budget_counts_batches_taken_but_not_yet_written() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Batch::new("a-1", day(19_000), 1000, 1);
    let b = Batch::new("b-1", day(19_001), 1000, 2);
    let budget = a.manifest.total_len + b.manifest.total_len - 1;
    let s = staging(tmp.path(), budget);
    let staged_a = s.batch(&a.manifest).unwrap();
    let taken_b = s.batch(&b.manifest);
    for i in all_chunks(&a) {
        staged_a.write_chunk(i, a.chunk(i)).unwrap();
    }
    if let Ok(staged_b) = &taken_b {
        for i in all_chunks(&b) {
            staged_b.write_chunk(i, b.chunk(i)).unwrap();
        }
    }
    assert!(
        s.bytes() <= budget,
        "staging holds {} bytes, budget {budget}",
        s.bytes()
    );
    assert!(matches!(taken_b, Err(StagingError::Full { .. })));
}

#[test]
fn expire_removes_idle_batches_but_not_busy_or_fresh_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    for (id, d) in [("idle-1", 19_000), ("busy-1", 19_001), ("fresh-1", 19_002)] {
        let b = Batch::new(id, day(d), 1000, d as u64);
        let staged = s.batch(&b.manifest).unwrap();
        staged.write_chunk(0, b.chunk(0)).unwrap();
    }
    let two_hours = Duration::from_secs(2 * 3600);
    age(&tmp.path().join("idle-1"), two_hours);
    age(&tmp.path().join("busy-1"), two_hours);

    assert_eq!(s.expire(|id| id == "busy-1"), vec!["idle-1".to_string()]);
    assert_eq!(entries(tmp.path()), vec!["busy-1", "fresh-1"]);
    // Once no longer busy, it goes too; the fresh one stays.
    assert_eq!(s.expire(|_| false), vec!["busy-1".to_string()]);
    assert_eq!(entries(tmp.path()), vec!["fresh-1"]);
}

#[test]
fn manifests_lists_every_staged_batch_complete_or_not() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let a = Batch::new("a-1", day(19_000), 1000, 1);
    let b = Batch::new("b-1", day(19_001), 1000, 2);
    a.stage(&s);
    s.batch(&b.manifest).unwrap();
    // Neither a directory without a manifest nor an unreadable one counts.
    fs::create_dir(tmp.path().join("stray")).unwrap();
    fs::create_dir(tmp.path().join("junk")).unwrap();
    fs::write(tmp.path().join("junk/manifest.json"), b"{not json").unwrap();

    let mut listed = s.manifests().unwrap();
    listed.sort_by(|x, y| x.batch_id.cmp(&y.batch_id));
    assert_eq!(listed, vec![a.manifest.clone(), b.manifest.clone()]);
    s.remove("a-1").unwrap();
    assert_eq!(s.manifests().unwrap(), vec![b.manifest.clone()]);
}

#[test]
fn remove_deletes_the_batch_and_its_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let a = Batch::new("a-1", day(19_000), 1000, 1);
    let b = Batch::new("b-1", day(19_001), 1000, 2);
    a.stage(&s);
    b.stage(&s);
    let before = s.bytes();
    s.remove("a-1").unwrap();
    assert_eq!(entries(tmp.path()), vec!["b-1"]);
    assert!(s.bytes() < before && s.bytes() > b.manifest.total_len);
    s.remove("never-staged").unwrap();
    // Offered again, it starts from nothing.
    let again = s.batch(&a.manifest).unwrap();
    assert_eq!(again.missing().unwrap(), all_chunks(&a));
}

#[test]
fn verify_whole_refuses_chunks_that_do_not_make_the_manifests_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let s = staging(tmp.path(), BIG);
    let mut b = Batch::new("b-1", day(19_000), 1000, 1);
    b.manifest.total_hash = blake3::hash(b"other bytes").to_hex().to_string();
    let staged = b.stage(&s);
    assert_eq!(staged.missing().unwrap(), Vec::<u32>::new());
    assert!(matches!(staged.verify_whole(), Err(StagingError::BadWhole)));
}
