//! The batch codec: rows are cut into segments (`archive.segment-rows`,
//! 65,536 by default) and each segment is encoded column by column.
//!
//! A batch on disk and on the wire is a sequence of framed segments,
//! `[u32 LE length][segment]`, so both sides stream it a segment at a time
//! and memory stays bounded by the segment size, not the batch size.
//!
//! The segment format is HCS2 (`segment.rs`; the layout and the reasons
//! for it are in docs/ARCHITECTURE.md, "Wire format of a segment"). Every
//! column is cut into homogeneous streams, each stored raw or as its own
//! zstd frame at the archive's level (`stream.rs`), so each gets its own
//! entropy tables and incompressible bytes skip zstd:
//!
//! - integers, float bits, string lengths and dictionary ids (`ints.rs`):
//!   the cheapest of five transforms on a sample (values, deltas, deltas of
//!   deltas, distance from a line, delta within a group), divided by their
//!   common tick, cut into byte planes, narrow planes packed 2 to 8 a byte;
//! - strings (`strings.rs`): low-cardinality columns become dictionaries,
//!   whose ids also group the rows (exchange x symbol); other strings are
//!   edits of the previous string of their group (`edits.rs`: order-book
//!   depth JSON), or bytes stored group by group;
//! - bools: packed 8 a byte.
//!
//! Segments written before HCS2 (a zstd frame of an HCS1 encoding,
//! `hcs1.rs`, which keeps the previous encoder too) still decode: spool and
//! staging files of the previous version can be on disk during an upgrade.
//!
//! Every decoder here takes untrusted bytes: lengths and counts are bounded
//! by `DecodeLimits` and charged to a per-segment budget before anything
//! is allocated for them (`limits.rs`); errors are `DecodeError`s
//! (`error.rs`), never panics. Sizes and speeds against zstd of the same
//! rows as CSV: `bench_codec` (`tests/src/bin/bench_codec.rs`, a section
//! of `scripts/bench.sh`; figures in BENCHMARKS.md).

mod edits;
mod error;
pub mod hcs1;
#[cfg(test)]
mod hcs1_tests;
#[cfg(test)]
mod hostile_tests;
mod ints;
mod limits;
mod segment;
mod stream;
mod strings;
#[cfg(test)]
pub(crate) mod tests;
mod varint;

pub use error::DecodeError;
pub use limits::DecodeLimits;

use crate::batch::RowBatch;
use crate::schema::TableSchema;

/// Encodes one segment in the current format (HCS2), framed with its length.
pub fn encode_segment(batch: &RowBatch, zstd_level: i32) -> Vec<u8> {
    let body = segment::encode(batch, zstd_level);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
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

/// Decodes one segment body (without its length frame): HCS2, or a zstd
/// frame holding HCS1 as the previous version wrote.
pub fn decode_segment(
    schema: &TableSchema,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<RowBatch, DecodeError> {
    if body.starts_with(segment::MAGIC) {
        segment::decode(schema, body, limits)
    } else {
        hcs1::decode_body(schema, body, limits)
    }
}

/// Bytes each column takes in a segment body (HCS2), in schema order: for
/// benchmarks and diagnostics.
pub fn column_bytes(body: &[u8]) -> Result<Vec<usize>, DecodeError> {
    segment::column_bytes(body)
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
