//! The query router: splits a range at the table's confirmed watermark W,
//! reads `[from, W)` from cold over the link and `[W, to)` from hot at the
//! same time, and merges them in time order (cold rows all precede hot).
//! Never by wall-clock age, so a row is returned exactly once even while an
//! archive confirms and purges windows (see `watermarks.rs`).
//!
//! Rows are streamed: at most a few batches of each part are in memory,
//! whatever the range. Aggregates (bars, statistics) are computed by each
//! store as partial rows, which are small, and merged here.

use crate::cache::{CacheKey, ColdCache};
use crate::cold::ColdQueries;
use crate::hot::{HotError, HotStore};
use crate::link::ClientError;
use crate::watermarks::Watermarks;
use hotcold_arrow::Columns;
use hotcold_core::frame::ColdQuery;
use hotcold_core::query::{Merger, Plan, QuerySpec, SumOverflow, TooManyGroups};
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod batch;
mod prefetch;
mod rows;

pub use prefetch::{Demand, PrefetchReport};

use batch::Batch;
use rows::{send, stream_rows};

/// Batches buffered per part: the memory a query holds is about this many
/// batches of `SEGMENT_ROWS` rows for each of hot and cold.
const BUFFERED: usize = 4;
const SEGMENT_ROWS: usize = 8192;

pub struct Request {
    pub schema: TableSchema,
    pub spec: QuerySpec,
    pub plan: Plan,
    pub window: Window,
    pub limit: u64,
    /// Bound on the cold answer's encoded bytes (query.max-cold-bytes).
    pub max_cold_bytes: Option<u64>,
    /// How long the answer may wait for its reader (query.stall-timeout):
    /// a client that stops reading loses its query, and with it the hot
    /// store's read snapshot and the cold stream.
    pub stall: std::time::Duration,
    /// `Some(cols)` for a columnar answer (Arrow, Parquet) of rows: the
    /// hot store may read its part straight into these output columns
    /// (indices into `schema.columns`), skipping the RowBatch.
    pub columns: Option<Vec<usize>>,
}

/// What is known before the first row goes out.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Head {
    pub watermark: Option<i64>,
    /// Ranges the answer lacks because the gateway could not be asked.
    pub missing: Vec<Window>,
    pub missing_reason: Option<String>,
    /// The cold part came from the cache.
    pub cold_cached: bool,
}

/// What is known once the last row went out.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tail {
    pub hot_rows: u64,
    pub cold_rows: u64,
    /// True when `limit` (or the cold byte bound) cut the answer short.
    pub truncated: bool,
}

#[derive(Debug)]
pub enum Item {
    /// Rows in the plan's final schema.
    Rows(RowBatch),
    /// Rows the hot store read straight into the answer's columns (only
    /// when the request asked for `columns`).
    Columns(Columns),
    /// A part failed after rows were sent: the answer is incomplete and
    /// must not end as if it were whole.
    Failed {
        cold: bool,
        error: String,
    },
    Done(Tail),
}

pub struct Answer {
    pub head: Head,
    pub items: mpsc::Receiver<Item>,
}

/// The cache's key for the cold part `w` of a query (asking `ask` rows).
fn cache_key(req: &Request, w: Window, ask: u64) -> CacheKey {
    CacheKey {
        table: req.schema.name.clone(),
        window: w,
        query: serde_json::to_string(&req.spec).unwrap_or_default(),
        limit: ask,
    }
}

/// What the gateway is asked for the cold part `w` of a query.
fn cold_query(req: &Request, w: Window, ask: u64) -> ColdQuery {
    ColdQuery {
        schema: req.schema.clone(),
        window: w,
        limit: ask,
        spec: req.spec.clone(),
        max_bytes: req.max_cold_bytes,
        max_groups: req.plan.agg.as_ref().map(|a| a.max_groups),
    }
}

/// The part of `w` below `wm` and the part from `wm` on.
pub fn split(w: Window, wm: Option<i64>) -> (Option<Window>, Option<Window>) {
    let Some(wm) = wm else { return (None, Some(w)) };
    let cold = Window::new(w.start, w.end.min(wm));
    let hot = Window::new(w.start.max(wm), w.end);
    (
        (!cold.is_empty()).then_some(cold),
        (!hot.is_empty()).then_some(hot),
    )
}

pub struct Router {
    pub hot: Arc<dyn HotStore>,
    pub cold: Arc<dyn ColdQueries>,
    pub watermarks: Arc<Watermarks>,
    pub cache: Arc<ColdCache>,
    /// The queries asked, for prefetch.
    pub demand: Arc<Demand>,
}

/// One part's batches, and how the part ended.
struct Part {
    rx: mpsc::Receiver<Batch>,
    done: JoinHandle<Result<bool, HotError>>,
}

impl Part {
    fn empty() -> Part {
        let (_, rx) = mpsc::channel(1);
        Part {
            rx,
            done: tokio::spawn(async { Ok(false) }),
        }
    }

    async fn finish(self) -> Result<bool, HotError> {
        drop(self.rx);
        self.done.await.map_err(|e| HotError::Task(e.to_string()))?
    }
}

impl Router {
    pub async fn query(&self, req: Request) -> Result<Answer, HotError> {
        let req = Arc::new(req);
        // Held until the hot part has fixed what it reads: purge waits.
        let marks = self.watermarks.read_owned().await;
        let wm = marks.get(&req.schema.name).copied();
        let (cold_w, hot_w) = split(req.window, wm);
        // Remembered for prefetch: any query may reach cold once the
        // watermark moves past its start.
        self.demand.record(&req);
        let mut head = Head {
            watermark: wm,
            ..Default::default()
        };
        // Each store is asked for one row more than the limit: seeing it is
        // how the answer knows it was cut.
        let ask = req.limit.saturating_add(1);
        let mut cold = match cold_w {
            None => Part::empty(),
            Some(w) => self.cold_part(&req, w, ask, &mut head.cold_cached),
        };
        let mut hot = match hot_w {
            None => {
                drop(marks);
                Part::empty()
            }
            Some(w) => self.hot_part(&req, w, ask, marks),
        };
        // The head waits for cold's first answer: a gateway that cannot be
        // asked is reported before any row, in headers and status.
        let first = cold.rx.recv().await;
        if first.is_none() {
            let done = std::mem::replace(&mut cold, Part::empty());
            match done.finish().await {
                Err(e) if e.is_limit() => return Err(e),
                Err(e) => {
                    head.missing = cold_w.into_iter().collect();
                    head.missing_reason = Some(e.to_string());
                }
                Ok(_) => {}
            }
        }
        let (tx, items) = mpsc::channel(BUFFERED);
        let missing = !head.missing.is_empty();
        match &req.plan.agg {
            None => {
                tokio::spawn(stream_rows(req.clone(), first, cold, hot, tx, missing));
            }
            Some(a) => {
                let mut m = Merger::new(a);
                let mut tail = Tail::default();
                let mut failed = None;
                if let Some(b) = first {
                    tail.cold_rows += b.len() as u64;
                    m.add_owned(b.into_rows()?)?;
                }
                while let Some(b) = cold.rx.recv().await {
                    tail.cold_rows += b.len() as u64;
                    m.add_owned(b.into_rows()?)?;
                }
                match cold.finish().await {
                    Err(e) if e.is_limit() => return Err(e),
                    Err(e) => failed = Some(format!("cold part failed: {e}")),
                    Ok(_) => {}
                }
                while let Some(b) = hot.rx.recv().await {
                    tail.hot_rows += b.len() as u64;
                    m.add_owned(b.into_rows()?)?;
                }
                hot.finish().await.map_err(|e| match e {
                    e if e.is_limit() => e,
                    e => HotError::Other(format!("hot part failed: {e}")),
                })?;
                if let Some(e) = failed {
                    if !missing {
                        head.missing = cold_w.into_iter().collect();
                        head.missing_reason = Some(e);
                    }
                }
                let (merged, cut) = m.finish(&req.plan.output, req.plan.descending, req.limit)?;
                tail.truncated = cut;
                let fin = req.plan.finish_owned(merged);
                // Answered in the background: the merge is done, and a
                // stalled reader must not hold this task either.
                let stall = req.stall;
                tokio::spawn(async move {
                    if send(&tx, Item::Rows(fin), stall).await {
                        send(&tx, Item::Done(tail), stall).await;
                    }
                });
            }
        }
        Ok(Answer { head, items })
    }

    fn cold_part(&self, req: &Arc<Request>, w: Window, ask: u64, cached: &mut bool) -> Part {
        let key = cache_key(req, w, ask);
        let (tx, rx) = mpsc::channel(BUFFERED);
        if let Some(hit) = self.cache.get(&key) {
            *cached = true;
            let done = tokio::spawn(async move {
                for b in hit.iter() {
                    if tx.send(Batch::Rows(b.clone())).await.is_err() {
                        break;
                    }
                }
                Ok(false)
            });
            return Part { rx, done };
        }
        let (cold, cache, req) = (self.cold.clone(), self.cache.clone(), req.clone());
        let done = tokio::spawn(async move {
            let (inner_tx, mut inner_rx) = mpsc::channel(BUFFERED);
            let asking = cold.query(cold_query(&req, w, ask), &req.plan.output, inner_tx);
            // Forward while keeping a copy for the cache, up to its bound.
            let forwarding = async {
                let mut copy = Some(Vec::new());
                let mut bytes = 0u64;
                while let Some(b) = inner_rx.recv().await {
                    if let Some(c) = &mut copy {
                        bytes += crate::cache::batches_bytes(std::slice::from_ref(&b));
                        if bytes > cache.entry_limit() {
                            copy = None;
                        } else {
                            c.push(b.clone());
                        }
                    }
                    if tx.send(Batch::Rows(b)).await.is_err() {
                        return None;
                    }
                }
                copy
            };
            let (end, copy) = tokio::join!(asking, forwarding);
            let end = end.map_err(|e| {
                // The NAS's fold met the same bound, or a sum of its rows
                // alone left its type: the client's to fix, as in hot.
                if let (ClientError::Refused(m), Some(a)) = (&e, req.plan.agg.as_ref()) {
                    if TooManyGroups::is_message(m) {
                        return HotError::TooManyGroups(TooManyGroups { max: a.max_groups });
                    }
                    if let Some(o) = SumOverflow::from_message(m) {
                        return HotError::Overflow(o);
                    }
                }
                tracing::warn!(table = %req.schema.name, error = %e, "cold part of a query failed");
                HotError::Other(e.public())
            })?;
            // A cut by bytes depends on the bound, not only on the data.
            let by_bytes = end.truncated && end.rows < ask;
            if let (Some(copy), false) = (copy, by_bytes) {
                cache.put(key, copy);
            }
            Ok(by_bytes)
        });
        Part { rx, done }
    }

    fn hot_part(
        &self,
        req: &Arc<Request>,
        w: Window,
        ask: u64,
        marks: tokio::sync::OwnedRwLockReadGuard<std::collections::HashMap<String, i64>>,
    ) -> Part {
        let (tx, rx) = mpsc::channel(BUFFERED);
        let (hot, req) = (self.hot.clone(), req.clone());
        let done = tokio::task::spawn_blocking(move || {
            let mut marks = Some(marks);
            let gone = |_| HotError::Other("query reader went away".into());
            if let (Some(cols), None) = (&req.columns, &req.plan.agg) {
                let read = hot.scan_columns(
                    &req.schema,
                    &req.plan,
                    cols,
                    w,
                    ask,
                    SEGMENT_ROWS,
                    &mut |c| {
                        // The store has fixed its snapshot: purge may go ahead.
                        marks.take();
                        tx.blocking_send(Batch::Columns(c)).map_err(gone)
                    },
                );
                if let Some(read) = read {
                    return read.map(|_| false);
                }
            }
            hot.scan(&req.schema, &req.plan, w, ask, SEGMENT_ROWS, &mut |b| {
                // The store has fixed its snapshot: purge may go ahead.
                marks.take();
                tx.blocking_send(Batch::Rows(b)).map_err(gone)
            })
            .map(|_| false)
        });
        Part { rx, done }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_covers_the_range_once(a in -1000i64..1000, len in 1i64..1000, wm in proptest::option::of(-2000i64..2000)) {
            let w = Window::new(a, a + len);
            let (c, h) = split(w, wm);
            let covered: i64 = c.map_or(0, |x| x.end - x.start) + h.map_or(0, |x| x.end - x.start);
            prop_assert_eq!(covered, len);
            if let (Some(c), Some(h)) = (c, h) { prop_assert_eq!(c.end, h.start); }
            if let (Some(c), Some(wm)) = (c, wm) { prop_assert!(c.end <= wm); }
            if let (Some(h), Some(wm)) = (h, wm) { prop_assert!(h.start >= wm); }
        }
    }
}
