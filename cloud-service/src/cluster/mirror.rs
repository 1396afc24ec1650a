//! The journal's write-through to ZooKeeper: each change is one multi of
//! `check(/epoch, my version)` and the writes, so a leader that has been
//! replaced (its session lapsed, another bumped `/epoch`) can never write
//! again, even if it has not noticed yet.

use super::registry::Applied;
use super::zk;
use super::Cluster;
use crate::archive::{JournalMirror, MirrorWrite};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use zookeeper_client::CheckWriteError;

struct ZkMirror(Arc<Cluster>);

impl Cluster {
    pub(super) fn mirror(self: &Arc<Self>) -> Arc<dyn JournalMirror> {
        Arc::new(ZkMirror(self.clone()))
    }

    async fn fenced(&self, w: &MirrorWrite) -> Result<(), String> {
        let epoch = (*self.epoch.lock().unwrap_or_else(|p| p.into_inner()))
            .ok_or("the archiver lease is not held")?;
        if !self.connected.load(Ordering::SeqCst) {
            return Err("ZooKeeper session not connected".into());
        }
        let c = self.client().ok_or("no ZooKeeper session")?;
        let e = |e: zookeeper_client::Error| e.to_string();
        let mut cw = c
            .new_check_writer(&self.path("epoch"), Some(epoch))
            .map_err(e)?;
        let known = |id: &str| {
            self.known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(id)
        };
        if let Some((id, json)) = &w.batch {
            let p = self.path(&format!("journal/{id}"));
            if known(id) {
                cw.add_set_data(&p, json, None).map_err(e)?;
            } else {
                cw.add_create(&p, json, &zk::persistent()).map_err(e)?;
            }
        }
        if let Some((t, v)) = &w.floor {
            let p = self.path(&format!("floors/{t}"));
            cw.add_set_data(&p, v.to_string().as_bytes(), None)
                .map_err(e)?;
        }
        if let Some((t, v)) = &w.watermark {
            let p = self.path(&format!("watermarks/{t}"));
            cw.add_set_data(&p, v.to_string().as_bytes(), None)
                .map_err(e)?;
        }
        match cw.commit().await {
            Ok(_) => {}
            Err(CheckWriteError::CheckFailed { .. }) => {
                return Err(format!(
                    "fenced out: /epoch is no longer at {epoch} (another replica leads)"
                ))
            }
            Err(e) => return Err(e.to_string()),
        }
        if let Some((id, _)) = &w.batch {
            self.known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone());
        }
        Ok(())
    }

    async fn write_through(&self, w: &MirrorWrite) -> Result<(), String> {
        let limit = self.cfg.session_timeout.0;
        let r = match tokio::time::timeout(limit, self.fenced(w)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer from ZooKeeper within {limit:?}")),
        };
        if let Err(e) = r {
            // The local change may be ahead of ZooKeeper now: discard it.
            self.dirty.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, "cluster journal write refused; archive stops, journal rebuilt at the next lease");
            return Err(e);
        }
        self.wait_both(w.floor.as_ref(), w.watermark.as_ref()).await
    }

    async fn wait_both(
        &self,
        floor: Option<&(String, i64)>,
        watermark: Option<&(String, i64)>,
    ) -> Result<(), String> {
        if let Some((t, v)) = floor {
            self.wait_applied(Applied::Floor, t, *v).await?;
        }
        if let Some((t, v)) = watermark {
            self.wait_applied(Applied::Watermark, t, *v).await?;
        }
        Ok(())
    }
}

impl JournalMirror for ZkMirror {
    fn write(&self, w: &MirrorWrite) -> Result<(), String> {
        // Journal calls run on blocking threads, never on the runtime's.
        self.0.rt.block_on(self.0.write_through(w))
    }

    fn check_lease(
        &self,
        table: &str,
        floor: Option<i64>,
        watermark: Option<i64>,
    ) -> Result<(), String> {
        let c = &self.0;
        c.rt.block_on(async {
            let (f, w) = (
                floor.map(|v| (table.to_string(), v)),
                watermark.map(|v| (table.to_string(), v)),
            );
            c.wait_both(f.as_ref(), w.as_ref()).await?;
            c.verify_lease().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Parts;
    use crate::config::ClusterConfig;

    /// The suite's ZooKeeper (scripts/test.sh), or a loud skip.
    fn zookeeper() -> Option<String> {
        match std::env::var("HOTCOLD_ZOOKEEPER") {
            Ok(z) if !z.is_empty() => Some(z),
            _ => {
                assert!(
                    std::env::var("HOTCOLD_REQUIRE_ZOOKEEPER").as_deref() != Ok("1"),
                    "HOTCOLD_REQUIRE_ZOOKEEPER=1 but HOTCOLD_ZOOKEEPER is not set"
                );
                eprintln!("SKIPPED: no ZooKeeper (set HOTCOLD_ZOOKEEPER)");
                None
            }
        }
    }

    /// The server-side half of fencing, which no process test reaches (a
    /// replica that lost its session drops its epoch first): a write
    /// carrying an epoch that another leader has since bumped is refused
    /// by ZooKeeper itself and changes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_under_an_old_epoch_is_refused_by_zookeeper() {
        let Some(zk) = zookeeper() else { return };
        let dir = tempfile::tempdir().unwrap();
        let cfg = ClusterConfig {
            zookeeper: zk,
            root: format!("/hotcold/unit-{}", rand::random::<u32>()),
            replica_id: "u0".into(),
            session_timeout: hotcold_core::units::Span(std::time::Duration::from_secs(6)),
            advertise: None,
        };
        let parts = Parts {
            data_dir: dir.path().to_path_buf(),
            tables: vec!["trades".into()],
            http_addr: "127.0.0.1:1".into(),
            gate: Default::default(),
            watermarks: Default::default(),
            cold_cache: Arc::new(crate::cache::ColdCache::new(0, std::time::Duration::ZERO)),
        };
        let c = Cluster::join(cfg, parts).await.unwrap();
        let zk = c.client().unwrap();
        let epoch = zk.set_data(&c.path("epoch"), b"u0", None).await.unwrap();
        *c.epoch.lock().unwrap() = Some(epoch.version);
        c.held.send_replace(true);
        let floor = |v: i64| MirrorWrite {
            floor: Some(("trades".into(), v)),
            ..Default::default()
        };
        c.fenced(&floor(5)).await.unwrap();
        // Another leader takes over: its lease bumps /epoch.
        zk.set_data(&c.path("epoch"), b"u1", None).await.unwrap();
        let e = c.fenced(&floor(9)).await.unwrap_err();
        assert!(e.contains("fenced out"), "{e}");
        let (data, _) = zk.get_data(&c.path("floors/trades")).await.unwrap();
        assert_eq!(data, b"5");
        // And the purge check says so too.
        let e = c.verify_lease().await.unwrap_err();
        assert!(e.contains("no longer"), "{e}");
    }
}
