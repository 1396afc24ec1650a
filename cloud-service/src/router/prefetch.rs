//! Cold prefetch. The router remembers the queries that reach below the
//! watermark, or may once it moves (the same table, range, spec and limit
//! asked again counts again); after an archive run, and when the bandwidth
//! timetable enters an unlimited period, the most asked ones have their
//! cold part fetched into the cache, so asking again is answered without
//! waiting on the home line.
//!
//! Bounds: at most [`REMEMBERED`] queries are remembered (the least asked
//! go first); a run warms at most `top` of them and stops once it has put
//! the cache's budget in; an answer over the cache's entry limit is
//! dropped as it arrives. Every answer frame waits for the link's
//! bandwidth limiter (`LinkClient::query_paced`), so prefetch never sends
//! the line more than the limit allows.

use super::{cache_key, cold_query, split, Request, Router};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Queries remembered at once.
pub const REMEMBERED: usize = 256;

#[derive(Default)]
pub struct Demand {
    inner: Mutex<Inner>,
    /// When the last prefetch run ended (epoch ms), and what it did.
    pub last: Mutex<Option<(i64, PrefetchReport)>>,
}

#[derive(Default)]
struct Inner {
    asked: HashMap<(String, i64, i64, String, u64), Asked>,
    clock: u64,
}

type Key = (String, i64, i64, String, u64);

fn key_of(req: &Request) -> Key {
    (
        req.schema.name.clone(),
        req.window.start,
        req.window.end,
        serde_json::to_string(&req.spec).unwrap_or_default(),
        req.limit,
    )
}

struct Asked {
    req: Arc<Request>,
    count: u64,
    last: u64,
    /// Its answer was too big for the cache: not fetched again (asking it
    /// again brings it back).
    too_big: bool,
}

impl Demand {
    pub fn record(&self, req: &Arc<Request>) {
        let key = key_of(req);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.clock += 1;
        let now = g.clock;
        if !g.asked.contains_key(&key) && g.asked.len() >= REMEMBERED {
            // The least asked, the oldest of those, makes room.
            if let Some(k) = g
                .asked
                .iter()
                .min_by_key(|(_, a)| (a.count, a.last))
                .map(|(k, _)| k.clone())
            {
                g.asked.remove(&k);
            }
        }
        let a = g.asked.entry(key).or_insert_with(|| Asked {
            req: req.clone(),
            count: 0,
            last: now,
            too_big: false,
        });
        a.count += 1;
        a.last = now;
        a.too_big = false;
    }

    fn mark_too_big(&self, req: &Request) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = g.asked.get_mut(&key_of(req)) {
            a.too_big = true;
        }
    }

    /// The `n` most asked, most asked first (ties: most recent first).
    pub fn most_asked(&self, n: usize) -> Vec<(Arc<Request>, u64)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<&Asked> = g.asked.values().filter(|a| !a.too_big).collect();
        all.sort_by_key(|a| std::cmp::Reverse((a.count, a.last)));
        all.into_iter()
            .take(n)
            .map(|a| (a.req.clone(), a.count))
            .collect()
    }
}

/// What one prefetch run did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PrefetchReport {
    /// Queries looked at (the most asked, up to `top`).
    pub considered: u64,
    /// Cold answers fetched into the cache.
    pub warmed: u64,
    /// Already in the cache, or with no cold part under the watermark.
    pub skipped: u64,
    /// Larger than the cache keeps, or the gateway failed.
    pub dropped: u64,
    /// Rows of the answers warmed.
    pub rows: u64,
    /// How long the run took.
    pub secs: f64,
}

impl Router {
    /// Warms the cache with the cold parts of the `top` most asked
    /// queries, under the watermarks as they are now.
    pub async fn prefetch(&self, top: usize) -> PrefetchReport {
        let started = std::time::Instant::now();
        let mut r = PrefetchReport::default();
        let mut put = 0u64;
        for (req, _) in self.demand.most_asked(top) {
            r.considered += 1;
            let wm = self.watermarks.read().await.get(&req.schema.name).copied();
            let Some(w) = split(req.window, wm).0 else {
                r.skipped += 1;
                continue;
            };
            let ask = req.limit.saturating_add(1);
            let key = cache_key(&req, w, ask);
            if self.cache.contains(&key) {
                r.skipped += 1;
                continue;
            }
            if put >= self.cache.budget() {
                break;
            }
            let (tx, mut rx) = tokio::sync::mpsc::channel(4);
            let asking = self
                .cold
                .query_paced(cold_query(&req, w, ask), &req.plan.output, tx);
            let limit = self.cache.entry_limit();
            let mut bytes = 0u64;
            let collecting = async {
                let mut copy = Vec::new();
                while let Some(b) = rx.recv().await {
                    bytes += crate::cache::batches_bytes(std::slice::from_ref(&b));
                    if bytes > limit {
                        // Too big to keep: stop reading, which stops the gateway.
                        return None;
                    }
                    copy.push(b);
                }
                Some(copy)
            };
            let (end, copy) = tokio::join!(asking, collecting);
            // What was fetched counts against the budget, kept or not.
            put += bytes;
            if copy.is_none() {
                self.demand.mark_too_big(&req);
            }
            match (end, copy) {
                // A cut by bytes depends on the bound, not only the data.
                (Ok(end), Some(copy)) if !(end.truncated && end.rows < ask) => {
                    r.rows += end.rows;
                    r.warmed += 1;
                    self.cache.put_prefetched(key, copy);
                }
                (Err(e), _) => {
                    tracing::info!(table = %req.schema.name, error = %e, "prefetch of a cold answer failed");
                    r.dropped += 1;
                }
                _ => r.dropped += 1,
            }
        }
        r.secs = started.elapsed().as_secs_f64();
        *self.demand.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((crate::clock::now_ms(), r.clone()));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_core::query::{Plan, QuerySpec};
    use hotcold_core::schema::{LogicalType, TableSchema, Window};

    fn req(start: i64) -> Arc<Request> {
        let schema = TableSchema::new("t", "ts", &[("ts", LogicalType::TimestampMs)]);
        Arc::new(Request {
            plan: Plan::rows(&schema),
            schema,
            spec: QuerySpec::default(),
            window: Window::new(start, start + 10),
            limit: 100,
            max_cold_bytes: None,
            stall: std::time::Duration::from_secs(1),
            columns: None,
        })
    }

    #[test]
    fn the_most_asked_come_first_and_memory_is_bounded() {
        let d = Demand::default();
        for _ in 0..3 {
            d.record(&req(0));
        }
        d.record(&req(100));
        d.record(&req(200));
        d.record(&req(200));
        let top: Vec<(i64, u64)> = d
            .most_asked(2)
            .iter()
            .map(|(r, n)| (r.window.start, *n))
            .collect();
        assert_eq!(top, [(0, 3), (200, 2)]);
        for k in 0..(REMEMBERED as i64 + 50) {
            d.record(&req(1000 + k * 10));
        }
        let all = d.most_asked(usize::MAX);
        assert_eq!(all.len(), REMEMBERED);
        assert_eq!(all[0].0.window.start, 0, "the most asked stays");
    }
}
