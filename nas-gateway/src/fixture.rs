//! Batches for the gateway's unit tests, made the way the cloud's export
//! makes them: real rows, encoded into real segments, cut into chunks by
//! the real `ManifestBuilder`. Small chunks, so a batch has several.

use crate::staging::{StagedBatch, Staging};
use hotcold_core::codec::encode_segment;
use hotcold_core::manifest::{Manifest, ManifestBuilder, MIN_CHUNK_SIZE};
use hotcold_core::schema::{LogicalType, TableSchema, Window, DAY_MS};
use hotcold_core::{ContentHash, RowBatch, Value};
use std::path::Path;
use std::time::Duration;

/// Rows per segment: a batch of more rows has several segments.
pub(crate) const SEGMENT_ROWS: usize = 400;

pub(crate) fn trades() -> TableSchema {
    TableSchema::new(
        "trades",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("symbol", LogicalType::LcString),
            ("price", LogicalType::Float64),
            ("qty", LogicalType::UInt32),
        ],
    )
}

/// UTC day `d` since the epoch (19_000 is 2022-01-08).
pub(crate) fn day(d: i64) -> Window {
    Window::new(d * DAY_MS, (d + 1) * DAY_MS)
}

/// `n` trades spread over the window; `seed` makes them differ between
/// batches (prices barely compress, so the bytes span several chunks).
pub(crate) fn rows(window: Window, n: usize, seed: u64) -> RowBatch {
    let mut b = RowBatch::new(&trades());
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let step = (window.end - window.start) / (n as i64 + 1);
    for i in 0..n {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let ts = window.start + step * i as i64 + (x >> 60) as i64;
        let row = vec![
            Value::I64(ts),
            Value::Str(["BTCUSD", "ETHUSD", "SOLUSD"][(x >> 33) as usize % 3].into()),
            Value::F64(100.0 + (x >> 20) as f64 / 1e9),
            Value::U64((x >> 40) % 1000 + 1),
        ];
        b.push_row(row).expect("row fits the schema");
    }
    b
}

/// A batch as the cloud offers it: its manifest, its bytes (framed
/// segments) and the rows of each segment.
pub(crate) struct Batch {
    pub manifest: Manifest,
    pub data: Vec<u8>,
    pub segments: Vec<RowBatch>,
}

impl Batch {
    /// `n` rows of `window` in segments of [`SEGMENT_ROWS`].
    pub fn new(id: &str, window: Window, n: usize, seed: u64) -> Self {
        Self::encoded_by(encode_segment, id, window, n, seed)
    }

    /// The same, its segments written by `encode` (the previous version's
    /// encoder, `hcs1::encode_segment`, for the upgrade tests).
    pub fn encoded_by(
        encode: fn(&RowBatch, i32) -> Vec<u8>,
        id: &str,
        window: Window,
        n: usize,
        seed: u64,
    ) -> Self {
        let all = rows(window, n, seed);
        let segments: Vec<RowBatch> = (0..n.div_ceil(SEGMENT_ROWS))
            .map(|s| {
                let mut seg = RowBatch::new(&trades());
                for i in s * SEGMENT_ROWS..((s + 1) * SEGMENT_ROWS).min(n) {
                    seg.push_row(all.row(i)).expect("row fits the schema");
                }
                seg
            })
            .collect();
        let mut content = ContentHash::default();
        let mut data = Vec::new();
        for seg in &segments {
            content.add_batch(seg);
            data.extend_from_slice(&encode(seg, 3));
        }
        Self {
            manifest: manifest_of(id, window, content, &data),
            data,
            segments,
        }
    }

    /// Bytes that are not (all) valid segments, under a manifest whose
    /// hashes match them: only decoding can tell.
    pub fn of_bytes(id: &str, window: Window, content: ContentHash, data: Vec<u8>) -> Self {
        Self {
            manifest: manifest_of(id, window, content, &data),
            data,
            segments: Vec::new(),
        }
    }

    pub fn replacing(mut self, earlier: &[&str]) -> Self {
        self.manifest.replaces = earlier.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn sent_by(mut self, cloud: &str) -> Self {
        self.manifest.cloud = cloud.to_string();
        self
    }

    pub fn rows(&self) -> u64 {
        self.manifest.content.rows
    }

    pub fn chunk(&self, i: u32) -> &[u8] {
        let c = self.manifest.chunk_size as usize;
        let start = i as usize * c;
        &self.data[start..(start + c).min(self.data.len())]
    }

    /// Stages the batch with every chunk written.
    pub fn stage(&self, staging: &Staging) -> StagedBatch {
        let staged = staging
            .batch(&self.manifest)
            .expect("staging takes the batch");
        for i in 0..self.manifest.chunks.len() as u32 {
            staged.write_chunk(i, self.chunk(i)).expect("chunk matches");
        }
        staged
    }
}

fn manifest_of(id: &str, window: Window, content: ContentHash, data: &[u8]) -> Manifest {
    let mut b = ManifestBuilder::new(MIN_CHUNK_SIZE);
    b.update(data);
    let m = b.finish(id.into(), trades(), window, content);
    m.validate().expect("fixture manifest is valid");
    m
}

/// A framed segment whose body is not zstd.
pub(crate) fn garbage_segment() -> Vec<u8> {
    let body = [0xAB_u8; 64];
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Staging under `root` with an hour's expiry.
pub(crate) fn staging(root: &Path, budget: u64) -> Staging {
    Staging::open(root.to_path_buf(), budget, Duration::from_secs(3600)).expect("open staging")
}
