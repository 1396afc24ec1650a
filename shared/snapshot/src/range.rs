//! One range file: a table's rows over one window, as framed segments
//! (the spool's format), written under a temporary name and renamed to the
//! name its content gives once it is durable.

use crate::store::{io_err, StoreError};
use hotcold_core::codec::{decode_segment, segment_len, DecodeLimits};
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::snapshot::{range_file_name, RangeEntry};
use hotcold_core::{ContentHash, RowBatch};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Streams segments into the pool; `finish` names the file.
pub struct RangeWriter {
    pool: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    hash: blake3::Hasher,
    bytes: u64,
    table: String,
    window: Window,
}

impl RangeWriter {
    pub(crate) fn create(pool: &Path, table: &str, window: Window) -> Result<Self, StoreError> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = pool.join(format!(".tmp-{}-{n}-{table}", std::process::id()));
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        Ok(Self {
            pool: pool.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, f),
            tmp,
            hash: blake3::Hasher::new(),
            bytes: 0,
            table: table.to_string(),
            window,
        })
    }

    /// One framed segment (`encode_segment`'s output).
    pub fn write(&mut self, segment: &[u8]) -> Result<(), StoreError> {
        self.hash.update(segment);
        self.bytes += segment.len() as u64;
        self.out.write_all(segment).map_err(io_err(&self.tmp))
    }

    /// Makes the file durable under the name `content` gives it.
    pub fn finish(self, content: ContentHash) -> Result<RangeEntry, StoreError> {
        let f = self
            .out
            .into_inner()
            .map_err(|e| io_err(&self.tmp)(e.into_error()))?;
        f.sync_all().map_err(io_err(&self.tmp))?;
        let file = range_file_name(&self.table, self.window, &content);
        let dest = self.pool.join(&file);
        fs::rename(&self.tmp, &dest).map_err(io_err(&dest))?;
        crate::store::sync_dir(&self.pool)?;
        Ok(RangeEntry {
            table: self.table,
            window: self.window,
            content,
            file,
            bytes: self.bytes,
            blake3: self.hash.finalize().to_hex().to_string(),
            batch_id: String::new(),
        })
    }

    /// Drops the unfinished file (the range was found in the pool after all).
    pub fn abandon(self) {
        drop(self.out);
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Reads a range file back, checking everything the manifest says of it:
/// its length, each segment's bounds and decode, its BLAKE3 hash, and the
/// rows' count and content hash. `f` sees each batch as it is decoded, so
/// a caller that must not act on a bad file reads it once to verify first.
pub fn read_range<E: From<StoreError>>(
    path: &Path,
    entry: &RangeEntry,
    schema: &TableSchema,
    limits: &DecodeLimits,
    mut f: impl FnMut(RowBatch) -> Result<(), E>,
) -> Result<(), E> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len != entry.bytes {
        return Err(corrupt(format!("{len} bytes, the manifest says {}", entry.bytes)).into());
    }
    let mut r = BufReader::with_capacity(1 << 20, file);
    let (mut hash, mut content, mut left) = (blake3::Hasher::new(), ContentHash::default(), len);
    let mut body = Vec::new();
    while left > 0 {
        let mut header = [0u8; 4];
        r.read_exact(&mut header)
            .map_err(|e| corrupt(format!("segment header: {e}")))?;
        let n = segment_len(header, limits).map_err(|e| corrupt(e.to_string()))?;
        if n as u64 + 4 > left {
            return Err(corrupt(format!("a segment of {n} bytes runs past the file's end")).into());
        }
        body.resize(n, 0);
        r.read_exact(&mut body)
            .map_err(|e| corrupt(format!("segment: {e}")))?;
        hash.update(&header);
        hash.update(&body);
        left -= n as u64 + 4;
        let batch = decode_segment(schema, &body, limits).map_err(|e| corrupt(e.to_string()))?;
        content.add_batch(&batch);
        f(batch)?;
    }
    let got = hash.finalize().to_hex().to_string();
    if got != entry.blake3 {
        return Err(corrupt(format!("BLAKE3 {got}, the manifest says {}", entry.blake3)).into());
    }
    if content != entry.content {
        return Err(corrupt(format!(
            "rows {content}, the manifest says {}",
            entry.content
        ))
        .into());
    }
    Ok(())
}
