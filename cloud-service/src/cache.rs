//! A cache of cold answers. Cold data below the confirmed watermark does
//! not change, so an answer for the same table, range and query is reused
//! until the range is committed again (a re-sent batch) or rehydrated; both
//! call [`ColdCache::invalidate`]. Bounded in bytes; the least recently used
//! answers go first. An answer larger than an eighth of the budget is never
//! kept, so one big query cannot flush everything else.

use hotcold_core::schema::Window;
use hotcold_core::RowBatch;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub table: String,
    pub window: Window,
    /// The query spec as JSON, and the row limit.
    pub query: String,
    pub limit: u64,
}

struct Entry {
    batches: Arc<Vec<RowBatch>>,
    bytes: u64,
    used: u64,
    at: Instant,
    /// Put there by prefetch, not by a query: its hits are prefetch's.
    prefetched: bool,
}

#[derive(Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    pub invalidations: AtomicU64,
    /// Answers prefetch put in, and hits on them.
    pub prefetched: AtomicU64,
    pub prefetch_hits: AtomicU64,
}

pub struct ColdCache {
    budget: u64,
    ttl: Duration,
    inner: Mutex<Inner>,
    pub stats: CacheStats,
}

#[derive(Default)]
struct Inner {
    map: HashMap<CacheKey, Entry>,
    bytes: u64,
    clock: u64,
}

/// What a cached answer costs: its column data plus a fixed overhead.
pub(crate) fn batches_bytes(b: &[RowBatch]) -> u64 {
    b.iter().map(|x| x.heap_bytes() as u64 + 64).sum()
}

impl ColdCache {
    pub fn new(budget: u64, ttl: Duration) -> Self {
        Self {
            budget,
            ttl,
            inner: Mutex::new(Inner::default()),
            stats: CacheStats::default(),
        }
    }

    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }

    /// Whether `k` is held and fresh, without counting a hit or a miss.
    pub(crate) fn contains(&self, k: &CacheKey) -> bool {
        let g = self.lock();
        g.map.get(k).is_some_and(|e| e.at.elapsed() <= self.ttl)
    }

    /// The largest answer worth keeping.
    pub(crate) fn entry_limit(&self) -> u64 {
        self.budget / 8
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, k: &CacheKey) -> Option<Arc<Vec<RowBatch>>> {
        let mut g = self.lock();
        g.clock += 1;
        let now = g.clock;
        let ttl = self.ttl;
        if let Some(e) = g.map.get(k).filter(|e| e.at.elapsed() > ttl) {
            let bytes = e.bytes;
            g.map.remove(k);
            g.bytes -= bytes;
        }
        match g.map.get_mut(k) {
            Some(e) => {
                e.used = now;
                self.stats.hits.fetch_add(1, Relaxed);
                if e.prefetched {
                    self.stats.prefetch_hits.fetch_add(1, Relaxed);
                }
                Some(e.batches.clone())
            }
            None => {
                self.stats.misses.fetch_add(1, Relaxed);
                None
            }
        }
    }

    pub fn put(&self, k: CacheKey, batches: Vec<RowBatch>) {
        self.insert(k, batches, false);
    }

    /// `put` by prefetch (counted apart, see [`CacheStats::prefetched`]).
    pub(crate) fn put_prefetched(&self, k: CacheKey, batches: Vec<RowBatch>) {
        if self.insert(k, batches, true) {
            self.stats.prefetched.fetch_add(1, Relaxed);
        }
    }

    /// Whether the answer was kept (one over the entry limit is not).
    fn insert(&self, k: CacheKey, batches: Vec<RowBatch>, prefetched: bool) -> bool {
        let bytes = batches_bytes(&batches);
        if bytes > self.entry_limit() {
            return false;
        }
        let mut g = self.lock();
        g.clock += 1;
        let used = g.clock;
        if let Some(old) = g.map.insert(
            k,
            Entry {
                batches: Arc::new(batches),
                bytes,
                used,
                at: Instant::now(),
                prefetched,
            },
        ) {
            g.bytes -= old.bytes;
        }
        g.bytes += bytes;
        while g.bytes > self.budget {
            let Some(oldest) = g
                .map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = g.map.remove(&oldest) {
                g.bytes -= e.bytes;
                self.stats.evictions.fetch_add(1, Relaxed);
            }
        }
        true
    }

    /// Drops every answer of `table` that overlaps `w`.
    pub(crate) fn invalidate(&self, table: &str, w: Window) {
        let mut g = self.lock();
        let before = g.map.len();
        let mut freed = 0;
        g.map.retain(|k, e| {
            let hit = k.table == table && k.window.start < w.end && w.start < k.window.end;
            if hit {
                freed += e.bytes;
            }
            !hit
        });
        g.bytes -= freed;
        let n = (before - g.map.len()) as u64;
        self.stats.invalidations.fetch_add(n, Relaxed);
    }

    /// (entries, bytes) held now.
    pub fn size(&self) -> (u64, u64) {
        let g = self.lock();
        (g.map.len() as u64, g.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_core::schema::TableSchema;
    use hotcold_core::Value;

    fn batch(n: usize) -> Vec<RowBatch> {
        let s: TableSchema = serde_yaml::from_str(
            "name: t\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n",
        )
        .unwrap();
        let mut b = RowBatch::new(&s);
        for i in 0..n {
            b.push_row(vec![Value::I64(i as i64)]).unwrap();
        }
        vec![b]
    }

    fn key(t: &str, a: i64, b: i64) -> CacheKey {
        CacheKey {
            table: t.into(),
            window: Window::new(a, b),
            query: "{}".into(),
            limit: 10,
        }
    }

    #[test]
    fn bounded_lru_with_invalidation() {
        let one = batches_bytes(&batch(100));
        let c = ColdCache::new(one * 8 * 2, Duration::from_secs(3600));
        assert!(c.get(&key("t", 0, 10)).is_none());
        c.put(key("t", 0, 10), batch(100));
        assert!(c.get(&key("t", 0, 10)).is_some());
        // Too big for one entry: not kept.
        c.put(key("t", 50, 60), batch(100_000));
        assert!(c.get(&key("t", 50, 60)).is_none());
        for i in 0..40 {
            c.put(key("u", i * 10, i * 10 + 10), batch(100));
            assert!(c.size().1 <= one * 16);
        }
        assert!(c.stats.evictions.load(Relaxed) > 0);
        c.put(key("t", 0, 10), batch(100));
        c.put(key("t", 20, 30), batch(100));
        c.invalidate("t", Window::new(5, 21));
        assert!(c.get(&key("t", 0, 10)).is_none());
        assert!(c.get(&key("t", 20, 30)).is_none());
        assert_eq!(c.stats.invalidations.load(Relaxed), 2);
        assert!(c.stats.hits.load(Relaxed) >= 1);
        let c = ColdCache::new(1 << 20, Duration::ZERO);
        c.put(key("t", 0, 10), batch(10));
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.get(&key("t", 0, 10)).is_none(), "expired");
        assert_eq!(c.size(), (0, 0));
    }
}
