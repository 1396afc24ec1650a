//! What every handler shares: the config, the stores, the link, the
//! archiver, the router and the counters. Built once at start (`lib.rs`).

use super::error::ApiError;
use crate::archive::Archiver;
use crate::config::CloudConfig;
use crate::gate::IngestGate;
use crate::hot::HotStore;
use crate::link::LinkClient;
use crate::watermarks::Watermarks;
use hotcold_core::schema::TableSchema;
use std::collections::HashMap;
use std::sync::Arc;

pub struct AppState {
    pub cfg: CloudConfig,
    pub tables: HashMap<String, TableSchema>,
    pub hot: Arc<dyn HotStore>,
    pub gate: Arc<IngestGate>,
    pub watermarks: Arc<Watermarks>,
    /// The QUIC link to the NAS; none in the standalone edition.
    pub link: Option<Arc<LinkClient>>,
    /// Cold reads: over the link, or the gateway in this process.
    pub cold: Arc<dyn crate::cold::ColdQueries>,
    pub archiver: Arc<Archiver>,
    pub router: crate::router::Router,
    pub counters: super::counters::HttpCounters,
    /// The bearer tokens per role.
    pub tokens: crate::config::ResolvedTokens,
    /// The cluster edition's view (role, leader, replicas); None alone.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The last hot backup to the NAS (`snapshot/backup.rs`).
    pub backup: crate::snapshot::backup::BackupState,
}

impl AppState {
    /// A table to query: a configured one, or `T__rehydrated` (see
    /// `rehydrate.rs`).
    pub(crate) fn query_table(&self, name: &str) -> Result<TableSchema, ApiError> {
        match self.rehydrated_schema(name) {
            Some(s) => Ok(s),
            None => self.table(name).cloned(),
        }
    }

    pub fn table(&self, name: &str) -> Result<&TableSchema, ApiError> {
        self.tables.get(name).ok_or_else(|| {
            let mut known: Vec<_> = self.tables.keys().map(String::as_str).collect();
            known.sort_unstable();
            ApiError::not_found(format!(
                "unknown table {name:?} (known: {})",
                known.join(", ")
            ))
        })
    }
}

/// The suffix of a rehydrated copy's table (`rehydrate.rs`).
pub(crate) use crate::config::REHYDRATED_SUFFIX;

impl AppState {
    /// The schema of `T__rehydrated`, if `name` is one and `T` is configured.
    fn rehydrated_schema(&self, name: &str) -> Option<TableSchema> {
        let base = name.strip_suffix(REHYDRATED_SUFFIX)?;
        let mut s = self.tables.get(base)?.clone();
        s.name = name.to_string();
        Some(s)
    }
}
