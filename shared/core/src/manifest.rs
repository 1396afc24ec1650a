//! A batch's manifest: what the spool holds and what the link must deliver.
//!
//! The batch's bytes (framed segments) are cut into fixed-size chunks; the
//! manifest lists the BLAKE3 hash of every chunk and of the whole, plus the
//! hot store's own row count and content hash of the window.

use crate::content_hash::ContentHash;
use crate::schema::{TableSchema, Window};
use serde::{Deserialize, Serialize};

pub const MIN_CHUNK_SIZE: u32 = 4 << 10;
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// More chunks than this would make the manifest itself too large to frame.
pub const MAX_CHUNKS: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub batch_id: String,
    pub schema: TableSchema,
    pub window: Window,
    /// The hot store's count and content hash of the window's rows.
    pub content: ContentHash,
    pub total_len: u64,
    /// BLAKE3 of all bytes, hex.
    pub total_hash: String,
    pub chunk_size: u32,
    /// BLAKE3 of each chunk, hex, in order.
    pub chunks: Vec<String>,
    /// Earlier batches of the same window whose cold copy this one may
    /// replace (they failed on the cloud). A window committed under any
    /// other batch is never cleared for this one.
    #[serde(default)]
    pub replaces: Vec<String>,
    /// The identity of the cloud that sent the batch (`check_cloud_id`):
    /// a gateway's cold store takes batches from one cloud only, since two
    /// would archive the same windows under the same batch ids. Empty from
    /// a cloud older than the field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cloud: String,
}

/// Checks a cloud identity: 1-64 characters of A-Z a-z 0-9 _ -, since it
/// is written into the gateway's ledger and error messages.
pub fn check_cloud_id(id: &str) -> Result<(), ManifestError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ManifestError::BadCloudId(id.chars().take(80).collect()))
    }
}

/// The most earlier batches one manifest may name in `replaces`.
pub const MAX_REPLACES: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    /// The batch id becomes a directory name on the gateway.
    #[error("batch id {0:?} must be 1-128 characters of A-Z a-z 0-9 . _ - and not start with '.'")]
    BadBatchId(String),
    #[error("{0} replaced batches named, at most {MAX_REPLACES}")]
    TooManyReplaced(usize),
    #[error("cloud id {0:?} must be 1-64 characters of A-Z a-z 0-9 _ -")]
    BadCloudId(String),
    #[error("chunk size {0} outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}")]
    BadChunkSize(u32),
    #[error("{chunks} chunk hashes listed, {expected} expected for {total_len} bytes")]
    ChunkCount {
        chunks: usize,
        expected: u64,
        total_len: u64,
    },
    #[error("hash {0:?} is not 64 hex digits")]
    BadHash(String),
    #[error("window {0} is empty")]
    EmptyWindow(Window),
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
}

pub fn check_batch_id(id: &str) -> Result<(), ManifestError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ManifestError::BadBatchId(id.to_string()))
    }
}

fn check_hash(h: &str) -> Result<(), ManifestError> {
    if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ManifestError::BadHash(h.chars().take(80).collect()))
    }
}

impl Manifest {
    /// Checks everything the gateway relies on before it touches its disk.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_batch_id(&self.batch_id)?;
        self.schema.validate()?;
        if self.window.is_empty() {
            return Err(ManifestError::EmptyWindow(self.window));
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return Err(ManifestError::BadChunkSize(self.chunk_size));
        }
        let expected = self.total_len.div_ceil(u64::from(self.chunk_size));
        if self.chunks.len() as u64 != expected || self.chunks.len() > MAX_CHUNKS {
            return Err(ManifestError::ChunkCount {
                chunks: self.chunks.len(),
                expected,
                total_len: self.total_len,
            });
        }
        check_hash(&self.total_hash)?;
        if self.replaces.len() > MAX_REPLACES {
            return Err(ManifestError::TooManyReplaced(self.replaces.len()));
        }
        self.replaces.iter().try_for_each(|id| check_batch_id(id))?;
        if !self.cloud.is_empty() {
            check_cloud_id(&self.cloud)?;
        }
        self.chunks.iter().try_for_each(|h| check_hash(h))
    }

    /// The byte length of chunk `i`.
    pub fn chunk_len(&self, i: usize) -> u64 {
        let start = i as u64 * u64::from(self.chunk_size);
        self.total_len
            .saturating_sub(start)
            .min(u64::from(self.chunk_size))
    }

    /// Does `data` match chunk `i`'s length and hash?
    pub fn chunk_matches(&self, i: usize, data: &[u8]) -> bool {
        self.chunks.get(i).is_some_and(|h| {
            data.len() as u64 == self.chunk_len(i)
                && blake3::hash(data).to_hex().as_str() == h.as_str()
        })
    }
}

/// Builds a manifest while the batch's bytes stream past, one pass.
pub struct ManifestBuilder {
    chunk_size: u32,
    total: blake3::Hasher,
    current: blake3::Hasher,
    current_len: u64,
    total_len: u64,
    chunks: Vec<String>,
}

impl ManifestBuilder {
    pub fn new(chunk_size: u32) -> Self {
        Self {
            chunk_size: chunk_size.clamp(MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
            total: blake3::Hasher::new(),
            current: blake3::Hasher::new(),
            current_len: 0,
            total_len: 0,
            chunks: Vec::new(),
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total.update(data);
        self.total_len += data.len() as u64;
        while !data.is_empty() {
            let room = (u64::from(self.chunk_size) - self.current_len) as usize;
            let (now, rest) = data.split_at(room.min(data.len()));
            self.current.update(now);
            self.current_len += now.len() as u64;
            if self.current_len == u64::from(self.chunk_size) {
                self.chunks
                    .push(self.current.finalize().to_hex().to_string());
                self.current.reset();
                self.current_len = 0;
            }
            data = rest;
        }
    }

    pub fn finish(
        mut self,
        batch_id: String,
        schema: TableSchema,
        window: Window,
        content: ContentHash,
    ) -> Manifest {
        if self.current_len > 0 {
            self.chunks
                .push(self.current.finalize().to_hex().to_string());
        }
        Manifest {
            batch_id,
            schema,
            window,
            content,
            total_len: self.total_len,
            total_hash: self.total.finalize().to_hex().to_string(),
            chunk_size: self.chunk_size,
            chunks: self.chunks,
            replaces: Vec::new(),
            cloud: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::LogicalType;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        TableSchema::new("t", "ts", &[("ts", LogicalType::TimestampMs)])
    }

    proptest! {
        #[test]
        fn chunks_cover_the_bytes(data in proptest::collection::vec(any::<u8>(), 0..40_000), cuts in proptest::collection::vec(0usize..5000, 0..10)) {
            let mut b = ManifestBuilder::new(MIN_CHUNK_SIZE);
            let mut rest: &[u8] = &data;
            for c in cuts {
                let (a, r) = rest.split_at(c.min(rest.len()));
                b.update(a);
                rest = r;
            }
            b.update(rest);
            let m = b.finish("b-1".into(), schema(), Window::new(0, 1), ContentHash::default());
            prop_assert!(m.validate().is_ok());
            for (i, chunk) in data.chunks(MIN_CHUNK_SIZE as usize).enumerate() {
                prop_assert!(m.chunk_matches(i, chunk));
            }
            prop_assert_eq!(m.total_hash, blake3::hash(&data).to_hex().to_string());
        }
    }

    #[test]
    fn rejects_unsafe_batch_ids_and_bad_counts() {
        assert!(check_batch_id("../etc").is_err());
        assert!(check_batch_id("trades-1700000000000-1").is_ok());
        let mut b = ManifestBuilder::new(MIN_CHUNK_SIZE);
        b.update(&[1; 5000]);
        let mut m = b.finish(
            "x".into(),
            schema(),
            Window::new(0, 1),
            ContentHash::default(),
        );
        m.chunks.pop();
        assert!(matches!(
            m.validate(),
            Err(ManifestError::ChunkCount { .. })
        ));
    }

    #[test]
    fn cloud_ids_are_checked_and_optional_on_the_wire() {
        let mut m = ManifestBuilder::new(MIN_CHUNK_SIZE).finish(
            "x".into(),
            schema(),
            Window::new(0, 1),
            ContentHash::default(),
        );
        assert!(m.validate().is_ok(), "no cloud id: an older cloud");
        let old = serde_json::to_string(&m).expect("json");
        assert!(!old.contains("cloud"), "left out when empty: {old}");
        m.cloud = "c-0123456789abcdef".into();
        assert!(m.validate().is_ok());
        let back: Manifest =
            serde_json::from_str(&serde_json::to_string(&m).expect("json")).expect("back");
        assert_eq!(back.cloud, m.cloud);
        for bad in ["", "a b", "../x", "é", &"x".repeat(65)] {
            assert!(check_cloud_id(bad).is_err(), "{bad:?}");
        }
        m.cloud = "a'b".into();
        assert!(matches!(m.validate(), Err(ManifestError::BadCloudId(_))));
    }
}
