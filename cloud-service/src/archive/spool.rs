//! The spool: exported batches on the cloud's disk until their purge.
//!
//! It is what lets export go on while the NAS is unreachable (the offline
//! queue) and a delivery resume after a cut without reading hot again: the
//! link sends chunks straight from here. `<batch_id>.batch` holds the
//! framed segments; `<batch_id>.manifest.json` is written last, durably, so
//! a manifest on disk means a whole batch, and a batch file without one is
//! a crashed export that the next export overwrites.

use hotcold_core::manifest::Manifest;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

#[derive(Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn batch_path(&self, batch_id: &str) -> PathBuf {
        self.dir.join(format!("{batch_id}.batch"))
    }

    fn manifest_path(&self, batch_id: &str) -> PathBuf {
        self.dir.join(format!("{batch_id}.manifest.json"))
    }

    pub fn create(&self, batch_id: &str) -> io::Result<File> {
        File::create(self.batch_path(batch_id))
    }

    /// Makes the batch file durable, then writes its manifest durably.
    pub fn seal(&self, file: File, manifest: &Manifest) -> io::Result<()> {
        file.sync_all()?;
        let tmp = self.dir.join(format!("{}.manifest.tmp", manifest.batch_id));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(manifest).map_err(io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, self.manifest_path(&manifest.batch_id))?;
        File::open(&self.dir)?.sync_all()
    }

    /// The manifest of a sealed batch, if the spool holds one.
    pub(crate) fn manifest(&self, batch_id: &str) -> io::Result<Option<Manifest>> {
        match fs::read(self.manifest_path(batch_id)) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(io::Error::other)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads chunk `i` of a sealed batch.
    pub(crate) fn read_chunk(&self, manifest: &Manifest, i: usize) -> io::Result<Vec<u8>> {
        let f = File::open(self.batch_path(&manifest.batch_id))?;
        let mut buf = vec![0u8; manifest.chunk_len(i) as usize];
        f.read_exact_at(&mut buf, i as u64 * u64::from(manifest.chunk_size))?;
        Ok(buf)
    }

    pub fn remove(&self, batch_id: &str) -> io::Result<()> {
        for p in [self.manifest_path(batch_id), self.batch_path(batch_id)] {
            match fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Bytes the spool holds now.
    pub(crate) fn bytes(&self) -> u64 {
        fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

impl crate::link::ChunkSource for Spool {
    fn read_chunk(&self, manifest: &Manifest, index: usize) -> io::Result<Vec<u8>> {
        Spool::read_chunk(self, manifest, index)
    }
}
