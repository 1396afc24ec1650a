//! Wire frames of the link, sans-IO: bytes in, frames out.
//!
//! A frame is `[u32 BE length][u8 kind][payload]`, the length counting kind
//! and payload. Control frames carry JSON; chunk and row frames carry raw
//! bytes. [`Frame::parse`] says `Ok(None)` until a whole frame is buffered,
//! and refuses any length over the caller's bound before buffering it.

use crate::content_hash::ContentHash;
use crate::manifest::Manifest;
use crate::schema::Window;
use serde::{Deserialize, Serialize};

pub use crate::snapshot::wire::{BackupNeed, BackupReply, ColdSnapshotReply, LedgerAfter};

/// Control frames (JSON) are small; chunk and row frames: the caller's `max_frame`.
pub const MAX_CONTROL_FRAME: usize = 16 << 20;
pub const HEADER_LEN: usize = 5;

/// The gateway's answer to a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReply {
    pub batch_id: String,
    /// The cold store's own count and content hash of the window, read back
    /// after the commit.
    pub cold: ContentHash,
    /// The rows were on disk before this answer (the cold store fsyncs its
    /// inserts). When false (ClickHouse 18.x, or an older gateway that does
    /// not say) the cloud holds its purge for `archive.purge-grace` and
    /// reads the window back once more first.
    #[serde(default)]
    pub durable: bool,
}

/// Cloud → gateway: read a committed window back again, now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recheck {
    pub batch_id: String,
    pub schema: crate::schema::TableSchema,
    pub window: Window,
}

/// A read of cold rows in a window, optionally of some columns only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdQuery {
    pub schema: crate::schema::TableSchema,
    pub window: Window,
    pub limit: u64,
    /// Filters, order and aggregation; absent from older clouds (all rows).
    #[serde(default)]
    pub spec: crate::query::QuerySpec,
    /// The most encoded bytes of rows to send; the answer is cut (and says
    /// so) beyond. Absent: no bound but `limit`.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// The most (bucket, groups) keys an aggregation may fold: the cloud's
    /// `query.max-buckets`. Absent (older clouds): the gateway's default.
    #[serde(default)]
    pub max_groups: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryEnd {
    pub rows: u64,
    /// True when the limit cut the answer short.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Cloud → gateway: a batch's manifest; the gateway answers `Need`.
    Offer(Box<Manifest>),
    /// Gateway → cloud: the chunk indices it lacks (empty: has them all).
    Need(Vec<u32>),
    /// Cloud → gateway: one chunk's bytes.
    Chunk {
        index: u32,
        data: Vec<u8>,
    },
    /// Cloud → gateway: every chunk asked for was sent; check and commit.
    Sent,
    /// Gateway → cloud: committed, with the cold store's read-back.
    Committed(CommitReply),
    /// Either way: the request failed; the message names why.
    Error(String),
    /// Cloud → gateway: read cold rows.
    Query(ColdQuery),
    /// Gateway → cloud: one framed segment of result rows.
    Rows(Vec<u8>),
    /// Gateway → cloud: the result is complete.
    End(QueryEnd),
    /// Gateway → cloud: every chunk is verified and staged, but the cold
    /// store could not take it now; it stays staged and the hot rows stay.
    Stored(StoredReply),
    /// Gateway → cloud: chunk `index` was verified and made durable (`ok`),
    /// or rejected. Bounds what is in flight: the cloud keeps at most a
    /// window of chunks unacknowledged.
    Ack {
        index: u32,
        ok: bool,
    },
    /// Cloud → gateway: what does your ledger say of these batches?
    LedgerQuery(Vec<String>),
    /// Gateway → cloud: the ledger entries it has (absent ones are left out).
    LedgerEntries(Vec<LedgerRecord>),
    /// Cloud → gateway: count and hash a committed window again; the
    /// gateway answers `Committed` with what its cold store holds now.
    Recheck(Recheck),
    /// Cloud → gateway: keep this snapshot of the hot tier; the gateway
    /// answers `BackupNeed` (the hot backup, `backup.rs` on both sides).
    BackupOffer(Box<crate::snapshot::SnapshotManifest>),
    /// Gateway → cloud: the snapshot's files it lacks, in the order the
    /// cloud sends them, with the bytes of each it already holds.
    BackupNeed(Vec<BackupNeed>),
    /// Cloud → gateway: bytes of needed file `index` from `offset`.
    BackupData {
        index: u32,
        offset: u64,
        data: Vec<u8>,
    },
    /// Cloud → gateway: every needed byte was sent; verify and keep.
    BackupSent,
    /// Gateway → cloud: the snapshot is kept, every file verified.
    BackupDone(BackupReply),
    /// Cloud → gateway: the ledger's entries of a table whose window ends
    /// after `after`, oldest first, at most `MAX_LEDGER_QUERY`; the gateway
    /// answers `LedgerEntries` (reconcile after a restore).
    LedgerAfter(LedgerAfter),
    /// Cloud → gateway: take a snapshot of the cold store now (with the
    /// cloud's own, for a snapshot of the whole pair); the gateway answers
    /// `ColdSnapshotDone`.
    ColdSnapshot,
    ColdSnapshotDone(ColdSnapshotReply),
}

/// A committed batch as the gateway's ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    pub batch_id: String,
    pub table: String,
    pub window: Window,
    pub cold: ContentHash,
    /// Cold retention dropped the window (its rows are gone on purpose).
    /// Absent from older gateways: false.
    #[serde(default)]
    pub expired: bool,
}

/// The most batch ids one ledger query may ask about.
pub const MAX_LEDGER_QUERY: usize = 10_000;

/// Staged but not committed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReply {
    pub batch_id: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("empty frame")]
    Empty,
    #[error("bad {kind} frame: {reason}")]
    Bad { kind: &'static str, reason: String },
}

fn json<T: for<'de> Deserialize<'de>>(kind: &'static str, p: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(p).map_err(|e| FrameError::Bad {
        kind,
        reason: e.to_string(),
    })
}

impl Frame {
    fn kind(&self) -> u8 {
        match self {
            Frame::Offer(_) => 1,
            Frame::Need(_) => 2,
            Frame::Chunk { .. } => 3,
            Frame::Sent => 4,
            Frame::Committed(_) => 5,
            Frame::Error(_) => 6,
            Frame::Query(_) => 7,
            Frame::Rows(_) => 8,
            Frame::End(_) => 9,
            Frame::Stored(_) => 10,
            Frame::Ack { .. } => 11,
            Frame::LedgerQuery(_) => 12,
            Frame::LedgerEntries(_) => 13,
            Frame::Recheck(_) => 14,
            Frame::BackupOffer(_) => 15,
            Frame::BackupNeed(_) => 16,
            Frame::BackupData { .. } => 17,
            Frame::BackupSent => 18,
            Frame::BackupDone(_) => 19,
            Frame::LedgerAfter(_) => 20,
            Frame::ColdSnapshot => 21,
            Frame::ColdSnapshotDone(_) => 22,
        }
    }

    /// The frame's kind for messages (never its contents: megabytes, or the peer's text).
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Offer(_) => "Offer",
            Frame::Need(_) => "Need",
            Frame::Chunk { .. } => "Chunk",
            Frame::Sent => "Sent",
            Frame::Committed(_) => "Committed",
            Frame::Error(_) => "Error",
            Frame::Query(_) => "Query",
            Frame::Rows(_) => "Rows",
            Frame::End(_) => "End",
            Frame::Stored(_) => "Stored",
            Frame::Ack { .. } => "Ack",
            Frame::LedgerQuery(_) => "LedgerQuery",
            Frame::LedgerEntries(_) => "LedgerEntries",
            Frame::Recheck(_) => "Recheck",
            Frame::BackupOffer(_) => "BackupOffer",
            Frame::BackupNeed(_) => "BackupNeed",
            Frame::BackupData { .. } => "BackupData",
            Frame::BackupSent => "BackupSent",
            Frame::BackupDone(_) => "BackupDone",
            Frame::LedgerAfter(_) => "LedgerAfter",
            Frame::ColdSnapshot => "ColdSnapshot",
            Frame::ColdSnapshotDone(_) => "ColdSnapshotDone",
        }
    }

    /// Appends the encoded frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.push(self.kind());
        // Serializing these plain structs to JSON cannot fail.
        let to_json = |out: &mut Vec<u8>, v: &dyn erased::Json| v.write(out);
        match self {
            Frame::Offer(m) => to_json(out, m.as_ref()),
            Frame::Need(v) => to_json(out, v),
            Frame::Chunk { index, data } => {
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(data);
            }
            Frame::Sent => {}
            Frame::Committed(c) => to_json(out, c),
            Frame::Error(m) => out.extend_from_slice(m.as_bytes()),
            Frame::Query(q) => to_json(out, q),
            Frame::Rows(b) => out.extend_from_slice(b),
            Frame::End(e) => to_json(out, e),
            Frame::Stored(r) => to_json(out, r),
            Frame::LedgerQuery(ids) => to_json(out, ids),
            Frame::LedgerEntries(e) => to_json(out, e),
            Frame::Recheck(r) => to_json(out, r),
            Frame::Ack { index, ok } => {
                out.extend_from_slice(&index.to_be_bytes());
                out.push(u8::from(*ok));
            }
            Frame::BackupOffer(m) => to_json(out, m.as_ref()),
            Frame::BackupNeed(n) => to_json(out, n),
            Frame::BackupData {
                index,
                offset,
                data,
            } => {
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&offset.to_be_bytes());
                out.extend_from_slice(data);
            }
            Frame::BackupSent => {}
            Frame::BackupDone(r) => to_json(out, r),
            Frame::LedgerAfter(q) => to_json(out, q),
            Frame::ColdSnapshot => {}
            Frame::ColdSnapshotDone(r) => to_json(out, r),
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// The length of the frame starting at `buf`, once its header is there.
    pub fn peek_len(buf: &[u8], max_frame: usize) -> Result<Option<usize>, FrameError> {
        let Some(h) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > max_frame {
            return Err(FrameError::TooLarge {
                len,
                max: max_frame,
            });
        }
        Ok(Some(len + 4))
    }

    /// Parses one frame from the front of `buf`: `Ok(None)` if more bytes
    /// are needed, else the frame and how many bytes it took.
    pub fn parse(buf: &[u8], max_frame: usize) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some(total) = Self::peek_len(buf, max_frame)? else {
            return Ok(None);
        };
        if buf.len() < total {
            return Ok(None);
        }
        let kind = buf[4];
        let p = &buf[5..total];
        if kind != 3 && kind != 8 && kind != 17 && p.len() > MAX_CONTROL_FRAME {
            return Err(FrameError::TooLarge {
                len: p.len(),
                max: MAX_CONTROL_FRAME,
            });
        }
        let frame = match kind {
            1 => Frame::Offer(Box::new(json("offer", p)?)),
            2 => Frame::Need(json("need", p)?),
            3 => {
                let idx = p.get(..4).ok_or(FrameError::Bad {
                    kind: "chunk",
                    reason: "no index".into(),
                })?;
                Frame::Chunk {
                    index: u32::from_be_bytes([idx[0], idx[1], idx[2], idx[3]]),
                    data: p[4..].to_vec(),
                }
            }
            4 => Frame::Sent,
            5 => Frame::Committed(json("committed", p)?),
            6 => Frame::Error(String::from_utf8_lossy(p).into_owned()),
            7 => Frame::Query(json("query", p)?),
            8 => Frame::Rows(p.to_vec()),
            9 => Frame::End(json("end", p)?),
            10 => Frame::Stored(json("stored", p)?),
            12 => {
                let ids: Vec<String> = json("ledger query", p)?;
                if ids.len() > MAX_LEDGER_QUERY {
                    return Err(FrameError::Bad {
                        kind: "ledger query",
                        reason: format!("{} ids, at most {MAX_LEDGER_QUERY}", ids.len()),
                    });
                }
                Frame::LedgerQuery(ids)
            }
            13 => Frame::LedgerEntries(json("ledger entries", p)?),
            14 => Frame::Recheck(json("recheck", p)?),
            11 => match p {
                [a, b, c, d, ok @ (0 | 1)] => Frame::Ack {
                    index: u32::from_be_bytes([*a, *b, *c, *d]),
                    ok: *ok == 1,
                },
                _ => {
                    return Err(FrameError::Bad {
                        kind: "ack",
                        reason: "expected 4-byte index and 0/1".into(),
                    })
                }
            },
            15 => {
                let m: crate::snapshot::SnapshotManifest = json("backup offer", p)?;
                m.validate().map_err(|e| FrameError::Bad {
                    kind: "backup offer",
                    reason: e.to_string(),
                })?;
                Frame::BackupOffer(Box::new(m))
            }
            16 => Frame::BackupNeed(json("backup need", p)?),
            17 => match (p.get(..4), p.get(4..12)) {
                (Some(i), Some(o)) => Frame::BackupData {
                    index: u32::from_be_bytes([i[0], i[1], i[2], i[3]]),
                    offset: u64::from_be_bytes([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]]),
                    data: p[12..].to_vec(),
                },
                _ => {
                    return Err(FrameError::Bad {
                        kind: "backup data",
                        reason: "no index and offset".into(),
                    })
                }
            },
            18 => Frame::BackupSent,
            19 => Frame::BackupDone(json("backup done", p)?),
            20 => Frame::LedgerAfter(json("ledger after", p)?),
            21 => Frame::ColdSnapshot,
            22 => Frame::ColdSnapshotDone(json("cold snapshot done", p)?),
            k => return Err(FrameError::UnknownKind(k)),
        };
        Ok(Some((frame, total)))
    }
}

/// Lets `encode` write any of the JSON payloads through one closure.
mod erased {
    pub trait Json {
        fn write(&self, out: &mut Vec<u8>);
    }
    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) {
            // Plain data structs with string keys always serialize.
            let _ = serde_json::to_writer(out, self);
        }
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
