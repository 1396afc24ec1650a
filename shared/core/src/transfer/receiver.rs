//! The gateway's side of one batch transfer.
//!
//! Answer the offer with the chunks still missing (after a restart, only
//! those staging lacks: that is the resume); store each chunk that arrives
//! and acknowledge it (rejected if damaged, so it stays missing); on
//! `Sent`, ask again for what is still missing or, with nothing missing,
//! commit. The cloud is not trusted either: a chunk index past the
//! manifest, a frame out of turn or endless rounds end the transfer; a
//! chunk of the wrong length is rejected without being stored.

use super::{Millis, TransferError, MAX_ROUNDS};
use crate::frame::Frame;
use crate::manifest::Manifest;
use std::collections::BTreeSet;

// Short-lived, a few at a time: not worth a box per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RecvAction {
    /// Write this frame.
    Frame(Frame),
    /// Verify and store the chunk, then report with [`Receiver::stored`].
    Store { index: u32, data: Vec<u8> },
    /// Every chunk is there: commit the batch and answer `Committed` or
    /// `Stored`. The transfer is over.
    Commit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Receiving,
    /// A `Store` is out; nothing else until it is reported.
    Storing(u32),
    Committing,
}

pub struct Receiver {
    chunks: u32,
    chunk_size: u64,
    total_len: u64,
    missing: BTreeSet<u32>,
    state: State,
    rounds: u32,
    silence: Millis,
    last_heard: Millis,
    /// Chunks that arrived and were stored.
    pub chunks_stored: u64,
    /// Chunks rejected: damaged, or not the manifest's length.
    pub chunks_rejected: u64,
    /// Chunks that arrived again after being stored (ignored).
    pub chunks_duplicate: u64,
}

impl Receiver {
    /// A transfer of `manifest` (already validated) when `missing` are the
    /// chunks staging lacks; the first action is the `Need`.
    pub fn new(
        manifest: &Manifest,
        missing: impl IntoIterator<Item = u32>,
        silence: Millis,
        now: Millis,
    ) -> (Self, RecvAction) {
        let chunks = manifest.chunks.len() as u32;
        let missing: BTreeSet<u32> = missing.into_iter().filter(|i| *i < chunks).collect();
        let first = RecvAction::Frame(Frame::Need(missing.iter().copied().collect()));
        let r = Self {
            chunks,
            chunk_size: u64::from(manifest.chunk_size),
            total_len: manifest.total_len,
            missing,
            state: State::Receiving,
            rounds: 1,
            silence,
            last_heard: now,
            chunks_stored: 0,
            chunks_rejected: 0,
            chunks_duplicate: 0,
        };
        (r, first)
    }

    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        self.missing.iter().copied()
    }

    pub fn deadline(&self) -> Millis {
        self.last_heard.saturating_add(self.silence)
    }

    pub fn tick(&mut self, now: Millis) -> Result<(), TransferError> {
        if self.state == State::Receiving && now >= self.deadline() {
            return Err(TransferError::Silent(self.silence));
        }
        Ok(())
    }

    fn chunk_len(&self, i: u32) -> u64 {
        let start = u64::from(i) * self.chunk_size;
        self.total_len.saturating_sub(start).min(self.chunk_size)
    }

    pub fn on_frame(&mut self, frame: Frame, now: Millis) -> Result<RecvAction, TransferError> {
        self.last_heard = now;
        let protocol = |m: String| Err(TransferError::Protocol(m));
        if self.state != State::Receiving {
            return protocol(format!("{} out of turn", frame.name()));
        }
        match frame {
            Frame::Chunk { index, data } => {
                if index >= self.chunks {
                    return protocol(format!("chunk {index} of {}", self.chunks));
                }
                if !self.missing.contains(&index) {
                    self.chunks_duplicate += 1;
                    return Ok(RecvAction::Frame(Frame::Ack { index, ok: true }));
                }
                if data.len() as u64 != self.chunk_len(index) {
                    self.chunks_rejected += 1;
                    return Ok(RecvAction::Frame(Frame::Ack { index, ok: false }));
                }
                self.state = State::Storing(index);
                Ok(RecvAction::Store { index, data })
            }
            Frame::Sent if self.missing.is_empty() => {
                self.state = State::Committing;
                Ok(RecvAction::Commit)
            }
            Frame::Sent => {
                self.rounds += 1;
                if self.rounds > MAX_ROUNDS {
                    return protocol(format!(
                        "{} chunks still missing after {MAX_ROUNDS} rounds",
                        self.missing.len()
                    ));
                }
                Ok(RecvAction::Frame(Frame::Need(self.missing().collect())))
            }
            Frame::Error(m) => Err(TransferError::Refused(m)),
            f => protocol(format!("unexpected {} during the transfer", f.name())),
        }
    }

    /// The driver stored chunk `index` (`ok`), or found it damaged.
    pub fn stored(&mut self, index: u32, ok: bool) -> Result<RecvAction, TransferError> {
        if self.state != State::Storing(index) {
            return Err(TransferError::Protocol(format!(
                "chunk {index} reported stored, but it was not being stored"
            )));
        }
        self.state = State::Receiving;
        if ok {
            self.missing.remove(&index);
            self.chunks_stored += 1;
        } else {
            self.chunks_rejected += 1;
        }
        Ok(RecvAction::Frame(Frame::Ack { index, ok }))
    }
}
