//! Idempotency keys in the ClickHouse hot store: a ReplacingMergeTree
//! table beside the data, so every cloud replica on the same server sees
//! them. ClickHouse has no transaction, so the key is written right after
//! the rows: a crash between the two can let one retry store them again,
//! and keyed inserts of one process take turns so a racing retry waits for
//! its original.
//! Keys are checked to a quote-free alphabet (`keys::check_key`) before
//! they reach SQL.

use super::clickhouse::ClickHouseHot;
use super::keys::{check_key, KeyRecord, Once};
use super::{HotError, HotStore};
use hotcold_clickhouse::ChError;

const KEYS: &str = "_hotcold_ingest_keys";

fn ch(e: impl Into<ChError>) -> HotError {
    HotError::ClickHouse(e.into())
}

impl ClickHouseHot {
    async fn ensure_keys(&self) -> Result<(), HotError> {
        self.tables()
            .client
            .query(&format!(
                "CREATE TABLE IF NOT EXISTS {}.{KEYS} (key String, table_name String, rows UInt64, \
                 body_hash String, at_ms Int64) ENGINE = ReplacingMergeTree() ORDER BY key",
                self.tables().db
            ))
            .execute()
            .await
            .map_err(ch)
    }

    pub(super) fn keys_find(&self, key: &str) -> Result<Option<KeyRecord>, HotError> {
        check_key(key).map_err(HotError::Other)?;
        self.rt.block_on(async {
            self.ensure_keys().await?;
            let t = self
                .tables()
                .text(&format!(
                    "SELECT key, table_name, rows, body_hash, at_ms FROM {}.{KEYS} FINAL WHERE key = '{key}' LIMIT 1",
                    self.tables().db
                ))
                .await
                .map_err(ch)?;
            let Some(line) = t.lines().next() else {
                return Ok(None);
            };
            let f: Vec<&str> = line.split('\t').collect();
            let bad = || HotError::Other(format!("unreadable idempotency key row {line:?}"));
            if f.len() != 5 {
                return Err(bad());
            }
            Ok(Some(KeyRecord {
                key: f[0].to_string(),
                table: f[1].to_string(),
                rows: f[2].parse().map_err(|_| bad())?,
                body_hash: f[3].to_string(),
                at_ms: f[4].parse().map_err(|_| bad())?,
            }))
        })
    }

    pub(super) fn keys_insert_once(
        &self,
        schema: &hotcold_core::schema::TableSchema,
        key: &KeyRecord,
        next: &mut dyn FnMut() -> Result<Option<hotcold_core::RowBatch>, HotError>,
    ) -> Result<Once, HotError> {
        // Without a transaction, check-then-insert races a retry sent while
        // its original is still being written: keyed inserts of this
        // process take turns. (Two cloud replicas can still race; see the
        // cluster edition's notes.)
        static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = TURN
            .lock()
            .map_err(|_| HotError::Other("idempotency lock poisoned".into()))?;
        if let Some(r) = self.keys_find(&key.key)? {
            return Ok(Once::Replayed(r));
        }
        let n = self.insert_pieces(schema, next)?;
        self.rt.block_on(async {
            self.tables()
                .client
                .query(&format!(
                    "INSERT INTO {}.{KEYS} (key, table_name, rows, body_hash, at_ms) VALUES ('{}', '{}', {n}, '{}', {})",
                    self.tables().db, key.key, schema.name, key.body_hash, key.at_ms
                ))
                .execute()
                .await
                .map_err(ch)
        })?;
        Ok(Once::Stored(n))
    }

    pub(super) fn keys_prune(&self, before_ms: i64) -> Result<u64, HotError> {
        self.rt.block_on(async {
            self.ensure_keys().await?;
            self.tables()
                .client
                .query(&format!(
                    "ALTER TABLE {}.{KEYS} DELETE WHERE at_ms < {before_ms}",
                    self.tables().db
                ))
                .execute()
                .await
                .map_err(ch)
        })?;
        Ok(0)
    }
}
