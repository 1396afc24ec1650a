//! The confirmed watermarks, as the query router sees them.
//!
//! A query holds the read lock from reading a table's watermark until the hot
//! store has fixed what it reads (see `HotStore::scan`). Advancing takes the write lock, so it waits for those
//! queries; purge runs only after the advance. A query therefore never looks
//! for rows in hot that were purged under it (invariant 3).

use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedRwLockReadGuard, RwLock, RwLockReadGuard};

#[derive(Default)]
pub struct Watermarks {
    map: Arc<RwLock<HashMap<String, i64>>>,
}

impl Watermarks {
    pub fn new(map: HashMap<String, i64>) -> Self {
        Self {
            map: Arc::new(RwLock::new(map)),
        }
    }

    pub async fn read(&self) -> RwLockReadGuard<'_, HashMap<String, i64>> {
        self.map.read().await
    }

    /// The same, as a guard a spawned task can own.
    pub(crate) async fn read_owned(&self) -> OwnedRwLockReadGuard<HashMap<String, i64>> {
        self.map.clone().read_owned().await
    }

    pub(crate) async fn advance(&self, table: &str, to: i64) {
        let mut m = self.map.write().await;
        let e = m.entry(table.to_string()).or_insert(to);
        *e = (*e).max(to);
    }
}
