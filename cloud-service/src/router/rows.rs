//! Rows (not aggregates) of both parts, sent in time order as they come:
//! cold then hot, or hot then cold when descending, cut at the limit; and
//! the one way an item reaches the answer's reader, bounded by the stall
//! timeout.

use super::{Batch, Item, Part, Request, Tail};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Sends the rows of both parts in time order (cold then hot, or hot then
/// cold when descending), at most `limit`.
pub(super) async fn stream_rows(
    req: Arc<Request>,
    first: Option<Batch>,
    mut cold: Part,
    mut hot: Part,
    tx: mpsc::Sender<Item>,
    cold_missing: bool,
) {
    let mut tail = Tail::default();
    let mut left = req.limit;
    let mut first = first;
    let order = if req.plan.descending {
        [false, true]
    } else {
        [true, false]
    };
    'parts: for is_cold in order {
        let part = if is_cold { &mut cold } else { &mut hot };
        loop {
            let pending = if is_cold { first.take() } else { None };
            let b = match pending {
                Some(b) => Some(b),
                None => part.rx.recv().await,
            };
            let Some(mut b) = b else { break };
            if b.is_empty() {
                continue;
            }
            if left == 0 {
                tail.truncated = true;
                break 'parts;
            }
            if b.len() as u64 > left {
                b.truncate(left as usize);
                tail.truncated = true;
            }
            left -= b.len() as u64;
            if is_cold {
                tail.cold_rows += b.len() as u64;
            } else {
                tail.hot_rows += b.len() as u64;
            }
            if !send(&tx, b.into_item(), req.stall).await {
                return;
            }
            if tail.truncated {
                break 'parts;
            }
        }
        let part = std::mem::replace(part, Part::empty());
        match part.finish().await {
            Ok(cut) => tail.truncated |= cut,
            // Before any row, a cold failure is already in the head.
            Err(_) if is_cold && cold_missing => {}
            Err(e) => {
                let which = if is_cold { "cold" } else { "hot" };
                send(
                    &tx,
                    Item::Failed {
                        cold: is_cold,
                        error: format!("{which} part failed: {e}"),
                    },
                    req.stall,
                )
                .await;
                return;
            }
        }
    }
    send(&tx, Item::Done(tail), req.stall).await;
}

/// Hands an item to the answer's reader, waiting at most `stall`. False:
/// the reader is gone or stalled; the caller drops its parts, which ends
/// the hot scan (its snapshot released) and the cold stream.
pub(super) async fn send(tx: &mpsc::Sender<Item>, item: Item, stall: std::time::Duration) -> bool {
    match tx.send_timeout(item, stall).await {
        Ok(()) => true,
        Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
            tracing::warn!(
                stall_ms = stall.as_millis() as u64,
                "query reader stalled; the query is dropped"
            );
            false
        }
        Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
    }
}
