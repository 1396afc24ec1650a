//! The snapshot directory: create, commit, list, load, verify, delete.
//!
//! One lock file serializes the writers (a create, a delete and its sweep
//! of the pool) across processes, so a delete never sweeps a range file
//! that a create in another process wrote and has not yet listed.

use crate::range::{read_range, RangeWriter};
use hotcold_core::codec::DecodeLimits;
use hotcold_core::schema::Window;
use hotcold_core::snapshot::{
    check_snapshot_id, SnapshotError, SnapshotManifest, MAX_MANIFEST_BYTES,
};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A file of the snapshot is not what its manifest says.
    #[error("{path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Manifest {
        path: PathBuf,
        source: SnapshotError,
    },
    #[error("snapshot {0} does not exist (or was never finished: no manifest.json)")]
    NotFound(String),
    #[error("snapshot {0} already exists")]
    Exists(String),
    /// Another writer (a create or delete, maybe in another process) holds
    /// the directory now.
    #[error(
        "{0}: another snapshot is being written or deleted there now; try again when it is done"
    )]
    Busy(PathBuf),
    #[error(transparent)]
    Id(#[from] SnapshotError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// A snapshot as `list` finds it: its manifest, or why it cannot be read.
#[derive(Debug)]
pub struct Listed {
    pub id: String,
    pub manifest: Result<SnapshotManifest, String>,
}

/// What `verify` read back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ranges: u64,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    limits: DecodeLimits,
}

/// Held while writing: `SnapshotStore::lock`.
pub struct StoreLock(#[allow(dead_code)] File);

impl SnapshotStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let pool = dir.join("pool");
        fs::create_dir_all(&pool).map_err(io_err(&pool))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            limits: DecodeLimits::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pool_path(&self, file: &str) -> PathBuf {
        self.dir.join("pool").join(file)
    }

    pub fn snapshot_path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Waits for any other writer of this directory, in any process.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let p = self.dir.join("lock");
        let f = File::create(&p).map_err(io_err(&p))?;
        f.lock().map_err(io_err(&p))?;
        Ok(StoreLock(f))
    }

    /// The lock if no other writer holds it, else `Busy`: for a server
    /// task, which must not block its thread on another process's create.
    pub fn try_lock(&self) -> Result<StoreLock, StoreError> {
        let p = self.dir.join("lock");
        let f = File::create(&p).map_err(io_err(&p))?;
        match f.try_lock() {
            Ok(()) => Ok(StoreLock(f)),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Busy(self.dir.clone())),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err(&p)(e)),
        }
    }

    /// A new snapshot's folder, for the files it copies whole.
    pub fn begin(&self, id: &str) -> Result<PathBuf, StoreError> {
        check_snapshot_id(id)?;
        let d = self.snapshot_path(id);
        if d.join(MANIFEST).exists() {
            return Err(StoreError::Exists(id.to_string()));
        }
        fs::create_dir_all(&d).map_err(io_err(&d))?;
        Ok(d)
    }

    pub fn range_writer(&self, table: &str, window: Window) -> Result<RangeWriter, StoreError> {
        RangeWriter::create(&self.dir.join("pool"), table, window)
    }

    /// Writes the manifest last and durably: from here on the snapshot exists.
    pub fn commit(&self, m: &SnapshotManifest) -> Result<(), StoreError> {
        let d = self.snapshot_path(&m.id);
        // What `load` would refuse is never written: a snapshot that
        // cannot be read back is no snapshot.
        let bytes = m.encode();
        let invalid = |source| StoreError::Manifest {
            path: d.join(MANIFEST),
            source,
        };
        m.validate().map_err(invalid)?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(invalid(SnapshotError::TooLarge(bytes.len())));
        }
        let tmp = d.join("manifest.tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        let dest = d.join(MANIFEST);
        fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        sync_dir(&d)
    }

    pub fn load(&self, id: &str) -> Result<SnapshotManifest, StoreError> {
        check_snapshot_id(id)?;
        let p = self.snapshot_path(id).join(MANIFEST);
        let f = match File::open(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(id.to_string()))
            }
            r => r.map_err(io_err(&p))?,
        };
        let mut bytes = Vec::new();
        f.take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(&p))?;
        let m = SnapshotManifest::decode(&bytes).map_err(|source| StoreError::Manifest {
            path: p.clone(),
            source,
        })?;
        if m.id != id {
            return Err(StoreError::Corrupt {
                path: p,
                reason: format!("it names snapshot {:?}", m.id),
            });
        }
        Ok(m)
    }

    /// Every snapshot folder, oldest point first; unfinished ones (no
    /// manifest) are listed with the reason.
    pub fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let e = e.map_err(io_err(&self.dir))?;
            let name = e.file_name().to_string_lossy().to_string();
            if name == "pool" || name == "lock" || !e.path().is_dir() {
                continue;
            }
            let manifest = self.load(&name).map_err(|e| e.to_string());
            out.push(Listed { id: name, manifest });
        }
        out.sort_by_key(|l| {
            (
                l.manifest.as_ref().map_or(i64::MAX, |m| m.point_ms),
                l.id.clone(),
            )
        });
        Ok(out)
    }

    /// The newest finished snapshot, if any: the base of the next one.
    pub fn latest(&self) -> Result<Option<SnapshotManifest>, StoreError> {
        Ok(self
            .list()?
            .into_iter()
            .filter_map(|l| l.manifest.ok())
            .next_back())
    }

    /// Reads every file of a snapshot back against its manifest; the first
    /// file that differs is the error, named. `progress` gets bytes read.
    pub fn verify(&self, id: &str, progress: &dyn Fn(u64)) -> Result<Verified, StoreError> {
        let m = self.load(id)?;
        let mut v = Verified::default();
        for r in &m.ranges {
            let schema = m
                .schemas
                .iter()
                .find(|s| s.name == r.table)
                .ok_or_else(|| StoreError::Corrupt {
                    path: self.snapshot_path(id).join(MANIFEST),
                    reason: format!("no schema for table {}", r.table),
                })?;
            read_range::<StoreError>(
                &self.pool_path(&r.file),
                r,
                schema,
                &self.limits,
                |_| Ok(()),
            )?;
            v.ranges += 1;
            v.rows += r.content.rows;
            v.bytes += r.bytes;
            progress(r.bytes);
        }
        for f in &m.files {
            let p = self.snapshot_path(id).join(&f.name);
            let (bytes, hash) = hash_file(&p)?;
            if bytes != f.bytes || hash != f.blake3 {
                return Err(StoreError::Corrupt {
                    path: p,
                    reason: format!(
                        "{bytes} bytes with BLAKE3 {hash}; the manifest says {} bytes, {}",
                        f.bytes, f.blake3
                    ),
                });
            }
            v.bytes += bytes;
            progress(bytes);
        }
        Ok(v)
    }

    /// Removes a snapshot, then every pool file no remaining snapshot
    /// names. Returns the bytes freed.
    pub fn delete(&self, id: &str) -> Result<u64, StoreError> {
        let _lock = self.lock()?;
        self.delete_locked(id)
    }

    /// `delete`, for a caller that holds the lock already.
    pub fn delete_locked(&self, id: &str) -> Result<u64, StoreError> {
        check_snapshot_id(id)?;
        let d = self.snapshot_path(id);
        if !d.is_dir() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        let mut freed = dir_bytes(&d);
        fs::remove_dir_all(&d).map_err(io_err(&d))?;
        freed += self.sweep()?;
        Ok(freed)
    }

    /// Pool files no finished snapshot names, and the folders of snapshots
    /// that never finished (no manifest: with the lock held, no writer is
    /// at work on one). Call with the lock held.
    fn sweep(&self) -> Result<u64, StoreError> {
        let mut keep = HashSet::new();
        let mut freed = 0;
        for l in self.list()? {
            match l.manifest {
                Ok(m) => keep.extend(m.ranges.into_iter().map(|r| r.file)),
                Err(_) if !self.snapshot_path(&l.id).join(MANIFEST).exists() => {
                    let d = self.snapshot_path(&l.id);
                    freed += dir_bytes(&d);
                    fs::remove_dir_all(&d).map_err(io_err(&d))?;
                }
                // A damaged manifest might still name files: keep all.
                Err(_) => return Ok(freed),
            }
        }
        let pool = self.dir.join("pool");
        for e in fs::read_dir(&pool).map_err(io_err(&pool))? {
            let e = e.map_err(io_err(&pool))?;
            let name = e.file_name().to_string_lossy().to_string();
            // Parts of a cut transfer are resumed, not swept.
            if !keep.contains(&name) && !name.ends_with(".part") {
                freed += e.metadata().map_or(0, |m| m.len());
                fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
            }
        }
        Ok(freed)
    }
}

fn dir_bytes(d: &Path) -> u64 {
    fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A file's length and BLAKE3 hash, read in 1 MiB pieces.
pub fn hash_file(p: &Path) -> Result<(u64, String), StoreError> {
    let mut f = File::open(p).map_err(io_err(p))?;
    let (mut h, mut buf, mut n) = (blake3::Hasher::new(), vec![0u8; 1 << 20], 0u64);
    loop {
        let k = f.read(&mut buf).map_err(io_err(p))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, h.finalize().to_hex().to_string()))
}
