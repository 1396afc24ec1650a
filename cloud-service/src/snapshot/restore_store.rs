//! Restore into a hot store without files of our own to rename (a
//! ClickHouse server): every file of the snapshot is read back against the
//! manifest first, the store's tables must be empty, each range is
//! inserted and read back against its count and hash, and the journal goes
//! into place last, under a temporary name until then. A failure part-way
//! says how far it came: the tables then hold part of the snapshot, and
//! the journal is not there, so the service does not start on them.

use super::restore::Restored;
use super::SnapshotFail;
use crate::config::{CloudConfig, HotConfig};
use crate::hot::HotStore;
use hotcold_core::codec::DecodeLimits;
use hotcold_core::query::Plan;
use hotcold_core::snapshot::Side;
use hotcold_core::ContentHash;
use hotcold_snapshot::{read_range, SnapshotStore};
use std::sync::Arc;

/// Gets ("verify", bytes) and ("rows", rows) as the restore goes.
pub type Progress = Arc<dyn Fn(&str, u64) + Send + Sync>;

pub async fn restore(
    cfg: &CloudConfig,
    store: &SnapshotStore,
    id: &str,
    progress: Progress,
) -> Result<Restored, SnapshotFail> {
    let HotConfig::Clickhouse(c) = &cfg.hot else {
        return Err(SnapshotFail::Unsupported(
            "not a ClickHouse hot store".into(),
        ));
    };
    let started = std::time::Instant::now();
    let journal = cfg.data_dir.join("journal.db");
    super::restore::refuse_existing(&[&journal])?;
    let m = store.load(id)?;
    if m.side != Side::Cloud {
        return Err(SnapshotFail::Io(format!(
            "snapshot {id} is the NAS's (nas-gateway restore takes it)"
        )));
    }
    store.verify(id, &|b| progress("verify", b))?;
    let nodes = hotcold_clickhouse::Nodes::connect(c, crate::config::DEFAULT_HOT_DATABASE)
        .await
        .map_err(|e| SnapshotFail::Io(format!("hot store ClickHouse at {}: {e}", c.url)))?;
    let hot: Arc<dyn HotStore> = Arc::new(crate::hot::clickhouse::ClickHouseHot::new(nodes));
    let (s, m2, p) = (store.clone(), m.clone(), progress.clone());
    let inserted = tokio::task::spawn_blocking(move || -> Result<u64, SnapshotFail> {
        for schema in &m2.schemas {
            hot.ensure_table(schema)?;
            if let Some(t) = hot.min_time(schema, i64::MIN)? {
                return Err(SnapshotFail::Io(format!(
                    "the hot ClickHouse table {} already holds rows (from {}): restore goes into empty tables",
                    schema.name,
                    hotcold_core::time::format_timestamp_ms(t)
                )));
            }
        }
        let limits = DecodeLimits::default();
        let mut done = 0u64;
        for r in &m2.ranges {
            let Some(schema) = m2.schemas.iter().find(|x| x.name == r.table) else {
                continue; // validate() guarantees one
            };
            let step = read_range::<SnapshotFail>(&s.pool_path(&r.file), r, schema, &limits, |b| {
                hot.insert(schema, &b)?;
                p("rows", b.len() as u64);
                Ok(())
            })
            .and_then(|()| {
                hot.settle(schema, r.window)?;
                let mut h = ContentHash::default();
                hot.scan(schema, &Plan::rows(schema), r.window, u64::MAX, 65_536, &mut |b| {
                    h.add_batch(&b);
                    Ok(())
                })?;
                if h != r.content {
                    return Err(SnapshotFail::Io(format!(
                        "restored table {} window {} reads back as {h}, the snapshot holds {}",
                        r.table, r.window, r.content
                    )));
                }
                Ok(())
            });
            if let Err(e) = step {
                return Err(SnapshotFail::Io(format!(
                    "restore stopped after {done} of {} ranges; the hot tables hold part of the snapshot (truncate them and restore again): {e}",
                    m2.ranges.len()
                )));
            }
            done += 1;
        }
        Ok(done)
    })
    .await
    .map_err(|e| SnapshotFail::Task(e.to_string()))??;
    let journal = super::restore::place_journal(cfg, store, &m)?;
    Ok(Restored {
        id: m.id.clone(),
        ranges: inserted,
        rows: m.rows(),
        bytes: m.bytes(),
        seconds: started.elapsed().as_secs_f64(),
        hot: c.url.clone().into(),
        journal,
    })
}
