//! Restore: a cloud snapshot back into a fresh data directory.
//!
//! Nothing is restored half-way: every file of the snapshot is read back
//! against its manifest first; the hot store and the journal are written
//! under temporary names, the restored hot store is counted and hashed
//! day by day against the manifest, and only then are both renamed into
//! place (the journal last: a hot store without a journal is refused by
//! the next restore's freshness check, never taken for a finished one).

use super::SnapshotFail;
use crate::config::CloudConfig;
use hotcold_core::codec::DecodeLimits;
use hotcold_core::snapshot::{Side, SnapshotManifest};
use hotcold_snapshot::{read_range, SnapshotStore};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// What a restore did.
#[derive(Debug, serde::Serialize)]
pub struct Restored {
    pub id: String,
    pub ranges: u64,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub hot: PathBuf,
    pub journal: PathBuf,
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> SnapshotFail + '_ {
    move |e| SnapshotFail::Io(format!("{}: {e}", p.display()))
}

/// Restores snapshot `id` of `store` into the config's data directory,
/// which must not hold a hot store or a journal. `progress` gets bytes
/// verified, then rows written.
pub fn restore(
    cfg: &CloudConfig,
    store: &SnapshotStore,
    id: &str,
    progress: &dyn Fn(&str, u64),
) -> Result<Restored, SnapshotFail> {
    let started = std::time::Instant::now();
    let hot = super::hot_path(cfg)?;
    let journal = cfg.data_dir.join("journal.db");
    refuse_existing(&[&hot, &journal])?;
    let m = store.load(id)?;
    if m.side != Side::Cloud {
        return Err(SnapshotFail::Io(format!(
            "snapshot {id} is the NAS's (nas-gateway restore takes it)"
        )));
    }
    store.verify(id, &|b| progress("verify", b))?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(io(&cfg.data_dir))?;
    let (hot_tmp, journal_tmp) = (tmp_name(&hot), tmp_name(&journal));
    let r = write_both(store, &m, &hot_tmp, &journal_tmp, progress);
    if let Err(e) = r {
        let _ = std::fs::remove_file(&hot_tmp);
        let _ = std::fs::remove_file(&journal_tmp);
        return Err(e);
    }
    // Read by the first start: reconcile with the cold ledger before any
    // archive run (`reconcile.rs`). Written before the renames, so a
    // restored store never starts without it.
    let marker = cfg.data_dir.join(super::reconcile::MARKER);
    let note = serde_json::json!({ "snapshot": m.id, "point_ms": m.point_ms, "restored_ms": crate::clock::now_ms() });
    std::fs::write(&marker, note.to_string()).map_err(io(&marker))?;
    std::fs::rename(&hot_tmp, &hot).map_err(io(&hot))?;
    std::fs::rename(&journal_tmp, &journal).map_err(io(&journal))?;
    std::fs::File::open(&cfg.data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&cfg.data_dir))?;
    Ok(Restored {
        id: m.id.clone(),
        ranges: m.ranges.len() as u64,
        rows: m.rows(),
        bytes: m.bytes(),
        seconds: started.elapsed().as_secs_f64(),
        hot,
        journal,
    })
}

/// Refuses to start on a restore that stopped between its renames: the
/// marker is there and the hot store or the journal is not, which would
/// otherwise start on an empty one (no floors, no watermarks).
pub fn check_finished(cfg: &CloudConfig) -> anyhow::Result<()> {
    let marker = cfg.data_dir.join(super::reconcile::MARKER);
    if !marker.exists() {
        return Ok(());
    }
    let journal = cfg.data_dir.join("journal.db");
    let hot = super::hot_path(cfg).ok();
    for p in std::iter::once(&journal).chain(hot.as_ref()) {
        if !p.exists() {
            anyhow::bail!(
                "{} is missing but {} says a restore put it there: the restore stopped half-way; move {} aside and run cloud-service restore again",
                p.display(),
                marker.display(),
                cfg.data_dir.display()
            );
        }
    }
    Ok(())
}

/// Refuses a data dir that holds any of `files`, or the SQLite sidecars
/// beside them: a WAL left beside a moved-aside store would be replayed
/// onto the restored one.
pub(super) fn refuse_existing(files: &[&Path]) -> Result<(), SnapshotFail> {
    for f in files {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut n = f.as_os_str().to_owned();
            n.push(suffix);
            let p = PathBuf::from(n);
            if p.exists() {
                return Err(SnapshotFail::Io(format!(
                    "{} exists: restore goes into a fresh data directory (move the old one aside first)",
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

/// The journal's copy into the data dir (a hot store restored elsewhere
/// already): checked, then the marker, then renamed into place last.
pub(super) fn place_journal(
    cfg: &CloudConfig,
    store: &SnapshotStore,
    m: &SnapshotManifest,
) -> Result<PathBuf, SnapshotFail> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(io(&cfg.data_dir))?;
    let journal = cfg.data_dir.join("journal.db");
    let tmp = tmp_name(&journal);
    copy_journal(store, m, &tmp)?;
    let marker = cfg.data_dir.join(super::reconcile::MARKER);
    let note = serde_json::json!({ "snapshot": m.id, "point_ms": m.point_ms, "restored_ms": crate::clock::now_ms() });
    std::fs::write(&marker, note.to_string()).map_err(io(&marker))?;
    std::fs::rename(&tmp, &journal).map_err(io(&journal))?;
    std::fs::File::open(&cfg.data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&cfg.data_dir))?;
    Ok(journal)
}

fn tmp_name(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".restoring");
    PathBuf::from(s)
}

fn write_both(
    store: &SnapshotStore,
    m: &SnapshotManifest,
    hot_tmp: &Path,
    journal_tmp: &Path,
    progress: &dyn Fn(&str, u64),
) -> Result<(), SnapshotFail> {
    for p in [hot_tmp, journal_tmp] {
        let _ = std::fs::remove_file(p);
    }
    // One file, no WAL beside it, so the rename moves all of it; the
    // service turns WAL on when it opens the store.
    let mut conn = Connection::open(hot_tmp)?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    for s in &m.schemas {
        hotcold_sqlite::create_table(&conn, s)?;
    }
    let limits = DecodeLimits::default();
    for r in &m.ranges {
        let Some(s) = m.schemas.iter().find(|s| s.name == r.table) else {
            continue; // validate() guarantees one
        };
        let tx = conn.transaction()?;
        read_range::<SnapshotFail>(&store.pool_path(&r.file), r, s, &limits, |b| {
            hotcold_sqlite::insert(&tx, s, &b)?;
            progress("rows", b.len() as u64);
            Ok(())
        })?;
        tx.commit()?;
    }
    // Read back what was written, day by day, the way the archive hashes.
    for r in &m.ranges {
        if let Some(s) = m.schemas.iter().find(|s| s.name == r.table) {
            let got = hotcold_sqlite::content_hash(&conn, s, r.window)?;
            if got != r.content {
                return Err(SnapshotFail::Io(format!(
                    "restored table {} window {} reads back as {got}, the snapshot holds {}",
                    r.table, r.window, r.content
                )));
            }
        }
    }
    drop(conn);
    std::fs::File::open(hot_tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(hot_tmp))?;
    copy_journal(store, m, journal_tmp)
}

/// The snapshot's journal into `dest`, checked against the manifest.
fn copy_journal(
    store: &SnapshotStore,
    m: &SnapshotManifest,
    journal_tmp: &Path,
) -> Result<(), SnapshotFail> {
    let _ = std::fs::remove_file(journal_tmp);
    let src = store.snapshot_path(&m.id).join("journal.db");
    std::fs::copy(&src, journal_tmp).map_err(io(&src))?;
    let (bytes, hash) = hotcold_snapshot::hash_file(journal_tmp)?;
    let want = m.files.iter().find(|f| f.name == "journal.db");
    if want.is_none_or(|f| f.bytes != bytes || f.blake3 != hash) {
        return Err(SnapshotFail::Io(format!(
            "{} does not match the manifest after copying",
            journal_tmp.display()
        )));
    }
    std::fs::File::open(journal_tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(journal_tmp))
}
