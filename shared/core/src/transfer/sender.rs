//! The cloud's side of one batch transfer.
//!
//! Offer the manifest; send the chunks the gateway says it lacks, keeping
//! at most `window` of them unacknowledged (after a cut, at most that much
//! was sent in vain); say `Sent`; repeat for chunks it rejected; end with
//! its commit answer. The gateway is not trusted: an index it cannot have,
//! an acknowledgement of a chunk not in flight, an answer for another batch
//! or one out of turn ends the transfer as a protocol error.

use super::{Millis, TransferError, MAX_ROUNDS};
use crate::frame::{CommitReply, Frame, StoredReply};
use crate::manifest::Manifest;
use std::collections::{BTreeSet, VecDeque};

/// What the driver must do next, in order.
// Short-lived, a few at a time: not worth a box per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SendAction {
    /// Write this frame.
    Frame(Frame),
    /// Read chunk `index` from the chunk source and write it as a `Chunk`.
    Chunk(u32),
}

/// How the transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed; the cold store's read-back.
    Committed(CommitReply),
    /// Every chunk verified and staged, but not committed (cold store down).
    Stored(StoredReply),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Offer (or `Sent`) written; waiting for `Need` or the answer.
    Waiting {
        sent: bool,
    },
    /// Sending the chunks of a `Need`.
    Sending,
    Done,
}

pub struct Sender {
    batch_id: String,
    chunks: u32,
    window: usize,
    silence: Millis,
    state: State,
    queue: VecDeque<u32>,
    in_flight: BTreeSet<u32>,
    /// Every chunk sent so far: an ack for one of these that is no longer
    /// in flight is a duplicate (ignored); for any other, a lie.
    ever_sent: BTreeSet<u32>,
    rounds: u32,
    last_heard: Millis,
    /// Chunks handed to the driver to send, over every round.
    pub chunks_sent: u64,
    /// Chunks the gateway rejected (damaged on the way), to be sent again.
    pub chunks_rejected: u64,
}

impl Sender {
    /// A transfer of `manifest`, with at most `window` chunks in flight and
    /// at most `silence` between two frames from the gateway.
    pub fn new(manifest: &Manifest, window: usize, silence: Millis) -> Self {
        Self {
            batch_id: manifest.batch_id.clone(),
            chunks: manifest.chunks.len() as u32,
            window: window.max(1),
            silence,
            state: State::Waiting { sent: false },
            queue: VecDeque::new(),
            in_flight: BTreeSet::new(),
            ever_sent: BTreeSet::new(),
            rounds: 0,
            last_heard: 0,
            chunks_sent: 0,
            chunks_rejected: 0,
        }
    }

    /// The first action: the offer.
    pub fn start(&mut self, manifest: &Manifest, now: Millis) -> SendAction {
        self.last_heard = now;
        SendAction::Frame(Frame::Offer(Box::new(manifest.clone())))
    }

    /// When the driver must call [`Sender::tick`] if no frame came.
    pub fn deadline(&self) -> Millis {
        self.last_heard.saturating_add(self.silence)
    }

    /// Time passed without a frame: an error once past the deadline.
    pub fn tick(&mut self, now: Millis) -> Result<(), TransferError> {
        if self.state != State::Done && now >= self.deadline() {
            return Err(TransferError::Silent(self.silence));
        }
        Ok(())
    }

    /// A frame from the gateway: the actions it calls for, or the end.
    pub fn on_frame(&mut self, frame: Frame, now: Millis) -> Result<Step, TransferError> {
        self.last_heard = now;
        let protocol = |m: String| Err(TransferError::Protocol(m));
        match (self.state, frame) {
            (State::Done, f) => protocol(format!("{} after the transfer ended", f.name())),
            (_, Frame::Error(m)) => {
                self.state = State::Done;
                Err(TransferError::Refused(m))
            }
            (State::Waiting { .. }, Frame::Need(missing)) => {
                self.rounds += 1;
                if self.rounds > MAX_ROUNDS {
                    return protocol(format!(
                        "gateway still lacks chunks after {MAX_ROUNDS} rounds"
                    ));
                }
                let mut seen = BTreeSet::new();
                for i in missing {
                    if i >= self.chunks {
                        return protocol(format!("gateway asked for chunk {i} of {}", self.chunks));
                    }
                    if seen.insert(i) {
                        self.queue.push_back(i);
                    }
                }
                // The gateway answers `Need` only after every chunk before
                // `Sent`: none is in flight any more.
                self.in_flight.clear();
                self.state = State::Sending;
                Ok(Step::Act(self.fill()))
            }
            (State::Sending | State::Waiting { sent: true }, Frame::Ack { index, ok }) => {
                self.ack(index, ok)?;
                Ok(Step::Act(self.fill()))
            }
            (State::Waiting { sent: true }, Frame::Committed(r)) => {
                self.answer(&r.batch_id)?;
                Ok(Step::Done(Outcome::Committed(r)))
            }
            (State::Waiting { sent: true }, Frame::Stored(r)) => {
                self.answer(&r.batch_id)?;
                Ok(Step::Done(Outcome::Stored(r)))
            }
            (_, f) => protocol(format!("unexpected {} during the transfer", f.name())),
        }
    }

    fn ack(&mut self, index: u32, ok: bool) -> Result<(), TransferError> {
        if self.in_flight.remove(&index) {
            if !ok {
                self.chunks_rejected += 1;
            }
            return Ok(());
        }
        if self.ever_sent.contains(&index) {
            return Ok(());
        }
        Err(TransferError::Protocol(format!(
            "ack for chunk {index}, which was never sent"
        )))
    }

    fn answer(&mut self, batch: &str) -> Result<(), TransferError> {
        if batch != self.batch_id {
            return Err(TransferError::Protocol(format!(
                "answer for batch {batch}, not {}",
                self.batch_id
            )));
        }
        self.state = State::Done;
        Ok(())
    }

    /// Chunks up to the window; `Sent` once the round's queue is empty.
    fn fill(&mut self) -> Vec<SendAction> {
        let mut out = Vec::new();
        if self.state != State::Sending {
            return out;
        }
        while self.in_flight.len() < self.window {
            let Some(i) = self.queue.pop_front() else {
                break;
            };
            self.in_flight.insert(i);
            self.ever_sent.insert(i);
            self.chunks_sent += 1;
            out.push(SendAction::Chunk(i));
        }
        // `Sent` right after the round's last chunk, not after its ack.
        if self.queue.is_empty() {
            out.push(SendAction::Frame(Frame::Sent));
            self.state = State::Waiting { sent: true };
        }
        out
    }
}

/// What a frame led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Do these (possibly nothing) and read the next frame.
    Act(Vec<SendAction>),
    /// The transfer is over.
    Done(Outcome),
}
