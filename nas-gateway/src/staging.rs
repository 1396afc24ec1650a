//! The staging area: chunks of batches in transfer, on disk, verified.
//!
//! `staging/<batch_id>/manifest.json` and one file per chunk. A chunk is
//! written only after its BLAKE3 hash matched the manifest, to a temporary
//! name, fsynced, then renamed, so a crash leaves either the whole verified
//! chunk or nothing. Chunks survive restarts; on every offer they are hashed
//! again, so a chunk damaged on disk is dropped and asked for again.

use hotcold_core::codec::{segment_len, DecodeLimits};
use hotcold_core::manifest::Manifest;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("staging {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("chunk {index} does not match the manifest's hash or length")]
    BadChunk { index: u32 },
    #[error("chunk index {index} is outside the manifest's {count} chunks")]
    NoSuchChunk { index: u32, count: usize },
    #[error("staged bytes do not match the manifest's whole-batch hash")]
    BadWhole,
    #[error("batch is incomplete: {0} chunks missing")]
    Incomplete(usize),
    /// Taking the batch would put staging over its disk budget.
    #[error("staging holds {used} bytes; a batch of {need} more would pass staging-budget ({budget} bytes); it waits until staged batches are committed or expire")]
    Full { used: u64, need: u64, budget: u64 },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StagingError + '_ {
    move |source| StagingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Staging {
    root: PathBuf,
    budget: u64,
    expiry: std::time::Duration,
}

/// One batch's staging directory.
pub struct StagedBatch {
    dir: PathBuf,
    pub manifest: Manifest,
}

/// Total bytes of a batch directory's files, and when one was last written.
fn dir_stats(dir: &Path) -> (u64, Option<std::time::SystemTime>) {
    let mut bytes = 0;
    let mut newest = fs::metadata(dir).and_then(|m| m.modified()).ok();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(m) = e.metadata() {
            bytes += m.len();
            newest = newest.max(m.modified().ok());
        }
    }
    (bytes, newest)
}

fn sync_dir(dir: &Path) -> Result<(), StagingError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

/// Writes `data` to `path`: temp file, fsync, rename. Whole or absent after
/// a crash, never partial. The directory is synced by the caller when the
/// name must survive too (a lost chunk name only means fetching it again).
fn write_file(path: &Path, data: &[u8]) -> Result<(), StagingError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn write_durable(path: &Path, data: &[u8]) -> Result<(), StagingError> {
    write_file(path, data)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

impl Staging {
    /// `budget`: the most bytes staging may hold; `expiry`: how long a
    /// batch may sit untouched (a cloud that never came back for it).
    pub fn open(
        root: PathBuf,
        budget: u64,
        expiry: std::time::Duration,
    ) -> Result<Self, StagingError> {
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(Self {
            root,
            budget,
            expiry,
        })
    }

    /// Bytes of every file in staging.
    pub fn bytes(&self) -> u64 {
        self.batch_dirs().iter().map(|d| dir_stats(d).0).sum()
    }

    /// Bytes staged or promised by every batch but `except`: for each, its
    /// manifest's whole length or what its directory holds, the larger.
    fn reserved(&self, except: &str) -> u64 {
        self.batch_dirs()
            .iter()
            .filter(|d| d.file_name().is_none_or(|n| n != except))
            .map(|d| {
                // Only the length: a manifest's million chunk hashes are
                // skipped, not allocated, on every offer.
                #[derive(serde::Deserialize)]
                struct Size {
                    total_len: u64,
                }
                let promised = fs::read(d.join("manifest.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Size>(&b).ok())
                    .map_or(0, |m| m.total_len);
                dir_stats(d).0.max(promised)
            })
            .sum()
    }

    fn batch_dirs(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.root)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes batches nothing has written for `expiry`, but those `busy`
    /// names (a transfer or commit in progress); returns their ids.
    pub(crate) fn expire(&self, busy: impl Fn(&str) -> bool) -> Vec<String> {
        let now = std::time::SystemTime::now();
        let mut gone = Vec::new();
        for d in self.batch_dirs() {
            if d.file_name().is_some_and(|n| busy(&n.to_string_lossy())) {
                continue;
            }
            let (_, newest) = dir_stats(&d);
            let idle = newest.and_then(|t| now.duration_since(t).ok());
            if idle.is_some_and(|i| i > self.expiry) && fs::remove_dir_all(&d).is_ok() {
                gone.push(
                    d.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
            }
        }
        gone
    }

    /// Opens (or creates) the directory of a validated manifest's batch. A
    /// directory left by a different manifest under the same id is cleared.
    pub fn batch(&self, manifest: &Manifest) -> Result<StagedBatch, StagingError> {
        let dir = self.root.join(&manifest.batch_id);
        let mpath = dir.join("manifest.json");
        let same = fs::read(&mpath)
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .is_some_and(|m| &m == manifest);
        if !same {
            // What staging holds and has promised: every other batch counts
            // its whole size from its offer on, not only the chunks that
            // have arrived, or offers made before their chunks come would
            // together pass the budget. The old directory under this id is
            // about to go and does not count.
            let used = self.reserved(&manifest.batch_id);
            if used.saturating_add(manifest.total_len) > self.budget {
                return Err(StagingError::Full {
                    used,
                    need: manifest.total_len,
                    budget: self.budget,
                });
            }
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
            }
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let json = serde_json::to_vec(manifest).map_err(|e| StagingError::Io {
                path: mpath.clone(),
                source: e.into(),
            })?;
            write_durable(&mpath, &json)?;
        }
        Ok(StagedBatch {
            dir,
            manifest: manifest.clone(),
        })
    }

    /// The manifest staged under `batch_id`, if any.
    pub fn staged(&self, batch_id: &str) -> Option<Manifest> {
        let path = self.root.join(batch_id).join("manifest.json");
        fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Manifests of every staged batch (complete or not).
    pub fn manifests(&self) -> Result<Vec<Manifest>, StagingError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let Ok(e) = e else { continue };
            let p = e.path().join("manifest.json");
            if let Some(m) = fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            {
                if m.validate().is_ok() {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    pub fn remove(&self, batch_id: &str) -> Result<(), StagingError> {
        let dir = self.root.join(batch_id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }
}

impl StagedBatch {
    /// A second handle on the same directory, for a blocking task.
    pub(crate) fn clone_handle(&self) -> StagedBatch {
        StagedBatch {
            dir: self.dir.clone(),
            manifest: self.manifest.clone(),
        }
    }

    fn chunk_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{i:08}.chunk"))
    }

    /// Indices of chunks not on disk or damaged there (damaged ones are
    /// deleted, so they are fetched again).
    pub fn missing(&self) -> Result<Vec<u32>, StagingError> {
        let mut out = Vec::new();
        for i in 0..self.manifest.chunks.len() {
            let p = self.chunk_path(i);
            match fs::read(&p) {
                Ok(data) if self.manifest.chunk_matches(i, &data) => {}
                Ok(_) => {
                    tracing::warn!(batch = %self.manifest.batch_id, chunk = i, "staged chunk damaged on disk; fetching it again");
                    fs::remove_file(&p).map_err(io_err(&p))?;
                    out.push(i as u32);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => out.push(i as u32),
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
        Ok(out)
    }

    /// Verifies and durably stores one chunk.
    pub(crate) fn write_chunk(&self, index: u32, data: &[u8]) -> Result<(), StagingError> {
        let i = index as usize;
        if i >= self.manifest.chunks.len() {
            return Err(StagingError::NoSuchChunk {
                index,
                count: self.manifest.chunks.len(),
            });
        }
        if !self.manifest.chunk_matches(i, data) {
            return Err(StagingError::BadChunk { index });
        }
        write_file(&self.chunk_path(i), data)
    }

    /// A reader over the whole batch, chunk after chunk.
    pub fn reader(&self) -> ChunkReader {
        ChunkReader {
            paths: (0..self.manifest.chunks.len())
                .map(|i| self.chunk_path(i))
                .collect(),
            next: 0,
            cur: None,
        }
    }

    /// Checks the whole batch's hash over the staged chunks (and makes
    /// their names durable first: commit depends on them).
    pub(crate) fn verify_whole(&self) -> Result<(), StagingError> {
        sync_dir(&self.dir)?;
        let mut h = blake3::Hasher::new();
        let mut r = self.reader();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = r.read(&mut buf).map_err(io_err(&self.dir))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        if h.finalize().to_hex().as_str() == self.manifest.total_hash {
            Ok(())
        } else {
            Err(StagingError::BadWhole)
        }
    }
}

pub struct ChunkReader {
    paths: Vec<PathBuf>,
    next: usize,
    cur: Option<File>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(f) = &mut self.cur {
                let n = f.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.cur = None;
            }
            let Some(p) = self.paths.get(self.next) else {
                return Ok(0);
            };
            self.cur = Some(File::open(p)?);
            self.next += 1;
        }
    }
}

/// Reads the next framed segment body from a batch stream; `None` at a clean
/// end. The length is bounded before anything is allocated for it.
pub(crate) fn next_segment(
    r: &mut impl Read,
    limits: &DecodeLimits,
) -> Result<Option<Vec<u8>>, String> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut header[got..]).map_err(|e| e.to_string())?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err("batch ends inside a segment header".into())
            };
        }
        got += n;
    }
    let len = segment_len(header, limits).map_err(|e| e.to_string())?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)
        .map_err(|e| format!("batch ends inside a segment: {e}"))?;
    Ok(Some(body))
}

#[cfg(test)]
#[path = "staging_tests.rs"]
mod tests;
