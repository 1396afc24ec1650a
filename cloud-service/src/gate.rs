//! The ingest gate: rows older than a table's floor are refused.
//!
//! The floor is the end of the newest window planned for archive. Raising it
//! takes the write lock, which waits for every ingest in flight (each holds
//! the read lock from its check to its commit), so once a window is planned
//! no row can enter it behind the exporter's back, and the rows that the
//! gateway confirms are all the rows the window will ever hold in hot.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

#[derive(Default)]
pub struct IngestGate {
    floors: RwLock<HashMap<String, i64>>,
}

impl IngestGate {
    pub fn new(floors: HashMap<String, i64>) -> Self {
        Self {
            floors: RwLock::new(floors),
        }
    }

    /// Held while checking and inserting one ingest request.
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<String, i64>> {
        self.floors.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds every ingest back (a strict snapshot fixes its point under
    /// it): waits for the requests in flight, and new ones wait on it.
    pub fn hold(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, i64>> {
        self.floors.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn raise(&self, table: &str, floor: i64) {
        let mut f = self.floors.write().unwrap_or_else(|p| p.into_inner());
        let e = f.entry(table.to_string()).or_insert(floor);
        *e = (*e).max(floor);
    }
}
