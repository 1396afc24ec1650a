//! One HCS2 stream: a homogeneous run of bytes (a byte plane of integers,
//! packed bools, string bytes) stored raw or as its own zstd frame, so each
//! gets its own entropy tables and incompressible planes skip zstd.
//!
//! `[u8 mode: 0 raw | 1 zstd][varint raw length][varint stored length, if zstd][bytes]`

use super::limits::Budget;
use super::varint::{put_u64, Reader};
use super::DecodeError;
use std::borrow::Cow;
use std::cell::RefCell;

/// Streams shorter than this are stored raw: a zstd frame's header and
/// block header would eat what it saves.
const MIN_ZSTD: usize = 64;

/// A zstd frame of `n` bytes decodes to at most `n * MAX_RATIO` bytes: the
/// densest block is RLE, 4 bytes (3 of header, 1 of value) for 128 KiB.
const MAX_RATIO: usize = 32 * 1024;

/// The encoder's zstd context and scratch buffers, reused across the
/// streams of a segment and, per thread, across segments: a fresh level-3
/// context costs about a megabyte of tables to fault in, more than
/// encoding a small segment. A thread that encoded keeps one context (a
/// few MB at most) and at most KEEP_SCRATCH of each buffer.
pub(super) struct Packer {
    level: i32,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
    /// For `ints::encode`: residuals, one byte plane, the plane packed.
    pub(super) residuals: Vec<u64>,
    pub(super) plane: Vec<u8>,
    pub(super) packed: Vec<u8>,
}

thread_local! {
    static PACKER: RefCell<Option<Packer>> = const { RefCell::new(None) };
}

/// Scratch kept between segments, per buffer (a 65,536-row segment's
/// residuals take 512 KiB).
const KEEP_SCRATCH: usize = 4 << 20;

impl Packer {
    fn new(level: i32) -> Self {
        // Creating a context fails only when zstd cannot allocate one; the
        // streams are then stored raw, still a valid segment.
        Self {
            level,
            zstd: zstd::bulk::Compressor::new(level).ok(),
            scratch: Vec::new(),
            residuals: Vec::new(),
            plane: Vec::new(),
            packed: Vec::new(),
        }
    }

    /// Runs `f` with this thread's packer at `level`.
    pub(super) fn with<R>(level: i32, f: impl FnOnce(&mut Packer) -> R) -> R {
        PACKER.with(|cell| {
            let Ok(mut slot) = cell.try_borrow_mut() else {
                return f(&mut Packer::new(level));
            };
            let p = match slot.take() {
                Some(p) if p.level == level => slot.insert(p),
                _ => slot.insert(Packer::new(level)),
            };
            let r = f(p);
            p.trim();
            r
        })
    }

    /// Lets go of scratch grown past KEEP_SCRATCH by a big segment (a
    /// string stream of tens of MB), so an idle thread does not hold it.
    fn trim(&mut self) {
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
        if self.residuals.capacity() * 8 > KEEP_SCRATCH {
            self.residuals = Vec::new();
        }
        if self.plane.capacity() > KEEP_SCRATCH {
            self.plane = Vec::new();
        }
        if self.packed.capacity() > KEEP_SCRATCH {
            self.packed = Vec::new();
        }
    }

    /// Appends `data` as a stream: zstd when `try_zstd` and it is smaller.
    pub(super) fn put(&mut self, out: &mut Vec<u8>, data: &[u8], try_zstd: bool) {
        if try_zstd && data.len() >= MIN_ZSTD {
            if let Some(z) = self.zstd.as_mut() {
                self.scratch.clear();
                self.scratch
                    .reserve(zstd::zstd_safe::compress_bound(data.len()));
                if z.compress_to_buffer(data, &mut self.scratch).is_ok()
                    && self.scratch.len() < data.len()
                {
                    out.push(1);
                    put_u64(out, data.len() as u64);
                    put_u64(out, self.scratch.len() as u64);
                    out.extend_from_slice(&self.scratch);
                    return;
                }
            }
        }
        out.push(0);
        put_u64(out, data.len() as u64);
        out.extend_from_slice(data);
    }
}

/// The decoder's side: a zstd context reused across the streams of a
/// segment.
pub(super) struct Unpacker {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl Unpacker {
    pub(super) fn new() -> Self {
        Self { zstd: None }
    }

    /// Reads one stream of exactly `len` bytes. Raw streams are borrowed;
    /// a zstd stream's length is charged to `budget` first and must be one
    /// its frame could hold, so a small input never allocates much.
    pub(super) fn get<'a>(
        &mut self,
        r: &mut Reader<'a>,
        len: usize,
        budget: &mut Budget,
    ) -> Result<Cow<'a, [u8]>, DecodeError> {
        let mode = r.u8()?;
        let raw_len = r.varint()?;
        if raw_len != len as u64 {
            return Err(DecodeError::Corrupt(
                "stream length differs from its column's",
            ));
        }
        match mode {
            0 => Ok(Cow::Borrowed(r.bytes(len)?)),
            1 => {
                let stored = r.len(r.remaining(), "zstd stream length")?;
                let frame = r.bytes(stored)?;
                if len > stored.saturating_mul(MAX_RATIO) {
                    return Err(DecodeError::Corrupt(
                        "stream longer than its zstd frame can hold",
                    ));
                }
                budget.take(len)?;
                let z = match self.zstd.as_mut() {
                    Some(z) => z,
                    None => self.zstd.insert(
                        zstd::bulk::Decompressor::new()
                            .map_err(|e| DecodeError::Zstd(e.to_string()))?,
                    ),
                };
                let mut out = Vec::with_capacity(len);
                z.decompress_to_buffer(frame, &mut out)
                    .map_err(|e| DecodeError::Zstd(e.to_string()))?;
                if out.len() != len {
                    return Err(DecodeError::Corrupt("zstd stream shorter than declared"));
                }
                Ok(Cow::Owned(out))
            }
            _ => Err(DecodeError::Corrupt("unknown stream mode")),
        }
    }
}
