//! The cloud's hot backups, kept on the NAS: a snapshot of the hot tier
//! arrives over the link (`BackupOffer`), the gateway says which of its
//! files it lacks and how much of each it kept from a cut transfer
//! (`BackupNeed`), the bytes come (`BackupData`, paced by the cloud's
//! bandwidth limit), and once every file is whole and reads back against
//! the manifest the snapshot is written (`BackupDone`).
//!
//! Files arrive as `<name>.part` beside their final place and are renamed
//! only when verified, so a kept snapshot never names a partial file, and
//! a transfer cut half-way resumes from the part's length next time.

use crate::gateway::RequestError;
use hotcold_core::codec::DecodeLimits;
use hotcold_core::frame::{BackupNeed, BackupReply, Frame};
use hotcold_core::snapshot::{RangeEntry, Side, SnapshotManifest};
use hotcold_link::FramedStream;
use hotcold_snapshot::{hash_file, read_range, SnapshotStore, StoreError};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Backups {
    /// The cloud's hot backups: `snapshot-dir/cloud`.
    store: SnapshotStore,
    keep: usize,
    /// The NAS's own snapshots of the cold store: `snapshot-dir/nas`.
    nas: SnapshotStore,
}

impl Backups {
    /// Both stores under the config's `snapshot-dir`.
    pub fn open(snapshot_dir: &Path, keep: usize) -> Result<Self, StoreError> {
        Ok(Self {
            store: SnapshotStore::open(&snapshot_dir.join("cloud"))?,
            keep: keep.max(1),
            nas: SnapshotStore::open(&snapshot_dir.join("nas"))?,
        })
    }

    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    pub fn nas(&self) -> &SnapshotStore {
        &self.nas
    }
}

/// One file the cloud will send.
struct Wanted {
    /// Where it goes once verified.
    dest: PathBuf,
    part: PathBuf,
    bytes: u64,
    blake3: String,
    /// A range file is decoded and its rows hashed too.
    range: Option<RangeEntry>,
}

fn refuse(e: impl std::fmt::Display) -> RequestError {
    RequestError::Refused(e.to_string())
}

fn part_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

fn sync_dir(p: &Path) -> std::io::Result<()> {
    File::open(p)?.sync_all()
}

pub(crate) async fn offer(
    s: &mut FramedStream,
    backups: &Backups,
    m: SnapshotManifest,
) -> Result<(), RequestError> {
    if m.side != Side::Cloud {
        return Err(refuse("only the cloud's snapshots are kept as hot backups"));
    }
    let store = &backups.store;
    // Not the blocking lock: a task of the server must not wait on a
    // CLI's delete in another process (the cloud tries again next time).
    let _lock = store.try_lock().map_err(refuse)?;
    if store.load(&m.id).is_ok() {
        // Kept already (the answer to an earlier offer was lost).
        s.write_frame(&Frame::BackupNeed(Vec::new())).await?;
        return finish(s, backups, &m, 0).await;
    }
    let dir = store.begin(&m.id).map_err(refuse)?;
    let mut wanted = Vec::new();
    for r in &m.ranges {
        let dest = store.pool_path(&r.file);
        if fs::metadata(&dest).is_ok_and(|md| md.len() == r.bytes) {
            continue; // verified when it arrived for an earlier snapshot
        }
        wanted.push(Wanted {
            part: part_of(&dest),
            dest,
            bytes: r.bytes,
            blake3: r.blake3.clone(),
            range: Some(r.clone()),
        });
    }
    for f in &m.files {
        let dest = dir.join(&f.name);
        wanted.push(Wanted {
            part: part_of(&dest),
            dest,
            bytes: f.bytes,
            blake3: f.blake3.clone(),
            range: None,
        });
    }
    let need: Vec<BackupNeed> = wanted
        .iter()
        .map(|w| {
            let have = fs::metadata(&w.part).map_or(0, |md| md.len());
            // A part longer than the file cannot be a prefix of it.
            let have = if have > w.bytes {
                let _ = fs::remove_file(&w.part);
                0
            } else {
                have
            };
            BackupNeed {
                file: w
                    .dest
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                have,
            }
        })
        .collect();
    s.write_frame(&Frame::BackupNeed(need)).await?;
    let mut received = 0u64;
    let mut open: Option<(u32, File, u64)> = None;
    loop {
        match s.expect_frame().await? {
            Frame::BackupData {
                index,
                offset,
                data,
            } => {
                let w = wanted.get(index as usize).ok_or_else(|| {
                    refuse(format!("backup data for file {index} of {}", wanted.len()))
                })?;
                if open.as_ref().is_none_or(|(i, _, _)| *i != index) {
                    let f = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&w.part)
                        .map_err(|e| refuse(format!("{}: {e}", w.part.display())))?;
                    let len = f.metadata().map_or(0, |md| md.len());
                    open = Some((index, f, len));
                }
                let Some((_, f, len)) = open.as_mut() else {
                    continue;
                };
                if offset != *len || *len + data.len() as u64 > w.bytes {
                    return Err(refuse(format!(
                        "backup data for {} at {offset} (+{}), the gateway holds {} of {} bytes",
                        w.dest.display(),
                        data.len(),
                        len,
                        w.bytes
                    )));
                }
                f.write_all(&data)
                    .map_err(|e| refuse(format!("{}: {e}", w.part.display())))?;
                *len += data.len() as u64;
                received += data.len() as u64;
            }
            Frame::BackupSent => break,
            other => {
                return Err(refuse(format!(
                    "unexpected {} frame in a backup",
                    other.name()
                )))
            }
        }
    }
    drop(open);
    let check = tokio::task::spawn_blocking(move || {
        for w in &wanted {
            keep_file(w, &m.schemas)?;
        }
        Ok::<_, RequestError>(m)
    });
    let m = check
        .await
        .map_err(|e| refuse(format!("backup check: {e}")))??;
    finish(s, backups, &m, received).await
}

/// Checks a received file against the manifest and moves it into place;
/// a file that does not match is dropped (the next offer asks for it whole).
fn keep_file(w: &Wanted, schemas: &[hotcold_core::TableSchema]) -> Result<(), RequestError> {
    File::open(&w.part)
        .and_then(|f| f.sync_all())
        .map_err(|e| refuse(format!("{}: {e}", w.part.display())))?;
    let ok = match &w.range {
        Some(r) => {
            let schema = schemas.iter().find(|s| s.name == r.table);
            match schema {
                Some(s) => {
                    read_range::<StoreError>(&w.part, r, s, &DecodeLimits::default(), |_| Ok(()))
                        .map_err(|e| e.to_string())
                }
                None => Err(format!("no schema for {}", r.table)),
            }
        }
        None => match hash_file(&w.part) {
            Ok((n, h)) if n == w.bytes && h == w.blake3 => Ok(()),
            Ok((n, h)) => Err(format!(
                "{n} bytes with BLAKE3 {h}; the manifest says {} bytes, {}",
                w.bytes, w.blake3
            )),
            Err(e) => Err(e.to_string()),
        },
    };
    if let Err(e) = ok {
        let _ = fs::remove_file(&w.part);
        return Err(refuse(format!("{} arrived damaged: {e}", w.dest.display())));
    }
    fs::rename(&w.part, &w.dest).map_err(|e| refuse(format!("{}: {e}", w.dest.display())))?;
    if let Some(d) = w.dest.parent() {
        sync_dir(d).map_err(|e| refuse(format!("{}: {e}", d.display())))?;
    }
    Ok(())
}

async fn finish(
    s: &mut FramedStream,
    backups: &Backups,
    m: &SnapshotManifest,
    received: u64,
) -> Result<(), RequestError> {
    let store = &backups.store;
    if store.load(&m.id).is_err() {
        store.commit(m).map_err(refuse)?;
    }
    // Folders of offers cut before their end, now superseded: their pool
    // parts stay and resume under the next snapshot that needs them.
    for l in store.list().map_err(refuse)? {
        let d = store.snapshot_path(&l.id);
        if l.id != m.id && !d.join(hotcold_snapshot::MANIFEST).exists() {
            let _ = fs::remove_dir_all(&d);
        }
    }
    // Retention: the newest `keep`, by point.
    let mut removed = Vec::new();
    let kept: Vec<String> = store
        .list()
        .map_err(refuse)?
        .into_iter()
        .filter(|l| l.manifest.is_ok())
        .map(|l| l.id)
        .collect();
    for id in kept.iter().take(kept.len().saturating_sub(backups.keep)) {
        if store.delete_locked(id).is_ok() {
            removed.push(id.clone());
        }
    }
    tracing::info!(id = %m.id, rows = m.rows(), received, removed = removed.len(), "hot backup kept");
    s.write_frame(&Frame::BackupDone(BackupReply {
        id: m.id.clone(),
        bytes_received: received,
        removed,
    }))
    .await?;
    Ok(())
}
