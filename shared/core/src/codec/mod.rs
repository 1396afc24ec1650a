//! The batch codec: rows are cut into segments, each segment is encoded
//! column by column (delta+zigzag varints for integers, byte-shuffled floats,
//! dictionary strings) and compressed with zstd.
//!
//! A batch on disk and on the wire is a sequence of framed segments:
//! `[u32 LE length][zstd frame]`, so both sides stream it a segment at a time
//! and memory stays bounded by the segment size, not the batch size.
//!
//! `columns.rs` holds the per-column encodings, `varint.rs` the integer
//! primitives under them, `error.rs` what a decoder refuses.

mod columns;
mod error;
#[cfg(test)]
pub(crate) mod tests;
mod varint;

pub use error::DecodeError;

use crate::batch::RowBatch;
use crate::schema::TableSchema;
use columns::{decode_raw, encode_column, kind_tag};
use std::io::Read;
use varint::put_u64;

const MAGIC: &[u8; 4] = b"HCS1";

/// Bounds on what a decoder accepts; inputs beyond them are errors.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Compressed bytes of one segment.
    pub max_segment_bytes: usize,
    /// Decompressed bytes of one segment.
    pub max_decoded_bytes: usize,
    pub max_rows: usize,
    pub max_string_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_segment_bytes: 64 << 20,
            max_decoded_bytes: 256 << 20,
            max_rows: 1 << 20,
            max_string_bytes: 16 << 20,
        }
    }
}

/// Encodes and compresses one segment, framed with its length.
pub fn encode_segment(batch: &RowBatch, zstd_level: i32) -> Vec<u8> {
    let mut raw = Vec::with_capacity(batch.heap_bytes() / 2 + 16);
    raw.extend_from_slice(MAGIC);
    put_u64(&mut raw, batch.len() as u64);
    put_u64(&mut raw, batch.columns.len() as u64);
    let mut col = Vec::new();
    for c in &batch.columns {
        col.clear();
        encode_column(c, &mut col);
        raw.push(kind_tag(c.kind()));
        put_u64(&mut raw, col.len() as u64);
        raw.extend_from_slice(&col);
    }
    // Compressing an in-memory buffer into a Vec cannot fail for a valid
    // level; zstd clamps levels, so the fallback is never taken in practice.
    let compressed = zstd::bulk::compress(&raw, zstd_level).unwrap_or_else(|_| raw.clone());
    let mut out = Vec::with_capacity(compressed.len() + 4);
    out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    out.extend_from_slice(&compressed);
    out
}

/// Reads the length of the next segment from its 4-byte frame header.
pub fn segment_len(header: [u8; 4], limits: &DecodeLimits) -> Result<usize, DecodeError> {
    let n = u32::from_le_bytes(header) as usize;
    if n > limits.max_segment_bytes {
        return Err(DecodeError::TooLarge {
            what: "segment length",
            value: n as u64,
            max: limits.max_segment_bytes as u64,
        });
    }
    Ok(n)
}

/// Decompresses and decodes one segment body (without its length frame).
pub fn decode_segment(
    schema: &TableSchema,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<RowBatch, DecodeError> {
    let mut raw = Vec::new();
    let decoder =
        zstd::stream::read::Decoder::new(body).map_err(|e| DecodeError::Zstd(e.to_string()))?;
    decoder
        .take(limits.max_decoded_bytes as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| DecodeError::Zstd(e.to_string()))?;
    if raw.len() > limits.max_decoded_bytes {
        return Err(DecodeError::TooLarge {
            what: "decoded segment",
            value: raw.len() as u64,
            max: limits.max_decoded_bytes as u64,
        });
    }
    decode_raw(schema, &raw, limits)
}

/// Splits a buffer holding whole framed segments into their bodies.
pub fn split_segments<'a>(
    mut buf: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Vec<&'a [u8]>, DecodeError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let header: [u8; 4] = buf
            .get(..4)
            .ok_or(DecodeError::Truncated)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        let n = segment_len(header, limits)?;
        let body = buf.get(4..4 + n).ok_or(DecodeError::Truncated)?;
        out.push(body);
        buf = &buf[4 + n..];
    }
    Ok(out)
}
