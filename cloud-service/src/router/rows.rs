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

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_arrow::Columns;
    use hotcold_core::query::{Plan, QuerySpec};
    use hotcold_core::schema::{LogicalType, TableSchema, Window};
    use hotcold_core::{RowBatch, Value};

    fn schema() -> TableSchema {
        TableSchema::new(
            "t",
            "ts",
            &[
                ("ts", LogicalType::TimestampMs),
                ("sym", LogicalType::LcString),
            ],
        )
    }

    fn rows(from: i64, n: i64) -> Batch {
        let mut b = RowBatch::new(&schema());
        for t in from..from + n {
            b.push_row(vec![Value::I64(t), Value::Str("x".into())])
                .unwrap();
        }
        Batch::Rows(b)
    }

    fn columns(from: i64, n: i64) -> Batch {
        let mut c = Columns::new(&schema(), &[0, 1], 4);
        for t in from..from + n {
            c.int(0, t).unwrap();
            c.text(1, b"y").unwrap();
            c.end_row();
        }
        Batch::Columns(c)
    }

    fn part(batches: Vec<Batch>) -> Part {
        let (tx, rx) = mpsc::channel(batches.len().max(1));
        for b in batches {
            tx.try_send(b).unwrap();
        }
        Part {
            rx,
            done: tokio::spawn(async { Ok(false) }),
        }
    }

    async fn answer(limit: u64, descending: bool) -> (Vec<(bool, usize)>, Tail) {
        let s = schema();
        let mut plan = Plan::rows(&s);
        plan.descending = descending;
        let req = Arc::new(Request {
            plan,
            schema: s,
            spec: QuerySpec::default(),
            window: Window::new(0, 100),
            limit,
            max_cold_bytes: None,
            stall: std::time::Duration::from_secs(5),
            columns: Some(vec![0, 1]),
        });
        let cold = part(vec![rows(0, 5), rows(5, 5)]);
        let hot = part(vec![columns(10, 4), columns(14, 4), columns(18, 4)]);
        let (tx, mut items) = mpsc::channel(16);
        stream_rows(req, None, cold, hot, tx, false).await;
        let mut got = Vec::new();
        while let Some(item) = items.recv().await {
            match item {
                Item::Rows(b) => got.push((false, b.len())),
                Item::Columns(c) => got.push((true, c.len())),
                Item::Done(t) => return (got, t),
                Item::Failed { error, .. } => panic!("{error}"),
            }
        }
        panic!("no Done");
    }

    /// The hot part's columns pass through in order, are cut at the limit
    /// like rows, and count as hot rows.
    #[tokio::test]
    async fn columns_are_cut_at_the_limit_and_counted_like_rows() {
        let (got, tail) = answer(12, false).await;
        assert_eq!(got, [(false, 5), (false, 5), (true, 2)]);
        assert!(tail.truncated);
        assert_eq!((tail.cold_rows, tail.hot_rows), (10, 2));
        let (got, tail) = answer(100, false).await;
        assert_eq!(
            got,
            [(false, 5), (false, 5), (true, 4), (true, 4), (true, 4)]
        );
        assert!(!tail.truncated);
        assert_eq!((tail.cold_rows, tail.hot_rows), (10, 12));
        // Descending: hot first (its store already reads newest first).
        let (got, tail) = answer(6, true).await;
        assert_eq!(got, [(true, 4), (true, 2)]);
        assert!(tail.truncated);
        assert_eq!((tail.cold_rows, tail.hot_rows), (0, 6));
    }
}
