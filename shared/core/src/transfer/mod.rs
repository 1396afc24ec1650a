//! The batch transfer protocol as two state machines, one per side, with
//! no I/O: frames in, actions out, time passed in as milliseconds. The
//! cloud's link client and the gateway's server each drive one with a thin
//! async loop over a QUIC stream; the tests here drive them against each
//! other in memory, with chunks damaged, reordered, duplicated, lost and
//! either side restarted.
//!
//! One transfer, as frames on one stream:
//!
//! ```text
//! cloud (Sender)                      gateway (Receiver)
//!   Offer(manifest)          ->
//!                            <-       Need([missing chunk indices])
//!   Chunk{i, bytes} ...      ->       (store, verify BLAKE3)
//!                            <-       Ack{i, ok} ...
//!   Sent                     ->
//!                            <-       Need([still missing]) ... or
//!                            <-       Committed(count, hash) | Stored(why)
//! ```
//!
//! Resuming is not a separate path: after a cut both sides start over, and
//! the gateway's `Need` lists only what its staging still lacks.

pub mod adapt;
mod receiver;
pub mod rtt_spread;
mod sender;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use receiver::{Receiver, RecvAction};
pub use sender::{Outcome, SendAction, Sender, Step};

/// Milliseconds on the driver's clock (any origin; only differences count).
pub type Millis = u64;

/// Rounds of `Need` one transfer may take: a chunk damaged on every try
/// means a line or a peer that cannot deliver it.
pub const MAX_ROUNDS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The peer broke the protocol (or lied): the message says how.
    #[error("{0}")]
    Protocol(String),
    /// The peer said no, with its reason.
    #[error("refused: {0}")]
    Refused(String),
    /// Nothing came from the peer for this long.
    #[error("no frame from the peer for {0} ms")]
    Silent(Millis),
}
