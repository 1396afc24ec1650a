//! What a decoder of untrusted segment bytes may take and produce.

use super::DecodeError;

/// Bounds on what a decoder accepts; inputs beyond them are errors.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Bytes of one segment as framed (compressed).
    pub max_segment_bytes: usize,
    /// What one segment may decode to. HCS2: its values (8 bytes an
    /// integer or float, 1 a bool, a string its length plus 24), its
    /// dictionaries and the decompressed streams of the column being
    /// decoded (see `Budget`). HCS1: its decompressed bytes, and separately
    /// the strings they expand to.
    pub max_decoded_bytes: usize,
    /// Rows of one segment.
    pub max_rows: usize,
    /// Bytes of one string.
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

/// What a segment's decoding may still allocate. HCS1 charges the strings
/// it expands; HCS2 charges every value it produces (8 bytes an integer or
/// float, 1 a bool, a string its length), its dictionaries, and, while a
/// column decodes, the streams it decompressed (released when the column is
/// done, see `mark`/`release_to`). A dictionary entry repeated for every row
/// costs its length each time, so a few KB of compressed bytes cannot claim
/// terabytes.
pub(super) struct Budget {
    left: usize,
    max: usize,
    what: &'static str,
}

impl Budget {
    pub(super) fn new(max: usize, what: &'static str) -> Self {
        Self {
            left: max,
            max,
            what,
        }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<(), DecodeError> {
        self.left = self.left.checked_sub(n).ok_or(DecodeError::TooLarge {
            what: self.what,
            value: (self.max - self.left).saturating_add(n) as u64,
            max: self.max as u64,
        })?;
        Ok(())
    }

    /// `take` for `count` items of `size` bytes each.
    pub(super) fn take_each(&mut self, count: usize, size: usize) -> Result<(), DecodeError> {
        self.take(count.saturating_mul(size))
    }

    /// Where the budget stands, to release a column's transient bytes later.
    pub(super) fn mark(&self) -> usize {
        self.left
    }

    /// Back to `mark` less the `kept` bytes the column's values hold.
    pub(super) fn release_to(&mut self, mark: usize, kept: usize) {
        self.left = self.left.max(mark.saturating_sub(kept));
    }
}
