//! What the cluster tests check and drive, shared by `cluster_lease.rs` and
//! `cluster_config.rs`: ingest through every replica, archive runs asked of
//! every replica, the exactly-once checks read straight from the stores.

use crate::cluster::{zookeeper, ClusterStack};
use crate::data::{ndjson, now_ms, trades};
use hotcold_core::schema::{Window, DAY_MS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session timeout the tests configure.
pub const SESSION: Duration = Duration::from_secs(4);

pub fn ids(rows: &[serde_json::Value]) -> Vec<u64> {
    rows.iter().filter_map(|r| r["trade_id"].as_u64()).collect()
}

pub fn components() -> Option<(String, String)> {
    let zk = zookeeper()?;
    let ch = crate::clickhouse::url()?;
    Some((zk, ch))
}

/// Old days (3 to 3 + n days ago), each ingested through another replica.
pub async fn ingest_old_days(cs: &ClusterStack, n: i64, acked: &Mutex<Vec<u64>>) {
    let now = now_ms();
    for d in 0..n {
        let day = Window::day_of(now - (3 + d) * DAY_MS);
        let rows = trades(day.start, day.end, 2_000, 100 + d as u64);
        let r = &cs.replicas[d as usize % cs.replicas.len()];
        assert_eq!(
            r.ingest(ndjson(&rows)).await,
            Some(200),
            "old day {d} via {}",
            r.id
        );
        acked.lock().expect("acked").extend(ids(&rows));
    }
}

/// Recent rows (they stay hot) through every replica in turn until
/// stopped; only answers of 200 count as acknowledged.
pub fn ingest_meanwhile(
    urls: Vec<String>,
    acked: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut refused = 0u64;
        let mut k = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let now = now_ms();
            let rows = trades(now - 3_600_000, now, 200, 10_000 + k);
            let url = &urls[k as usize % urls.len()];
            let r = http
                .post(format!("{url}/v1/ingest/trades"))
                .body(ndjson(&rows))
                .timeout(Duration::from_secs(20))
                .send()
                .await;
            match r.map(|r| r.status().as_u16()) {
                Ok(200) => acked.lock().expect("acked").extend(ids(&rows)),
                _ => refused += 1,
            }
            k += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        refused
    })
}

/// Asks every replica to archive, over and over; followers answer 409.
pub fn drive_archives(urls: Vec<String>, stop: Arc<AtomicBool>, refused: Arc<AtomicU64>) {
    for url in urls {
        let (stop, refused) = (stop.clone(), refused.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let r = http
                    .post(format!("{url}/v1/admin/archive"))
                    .timeout(Duration::from_secs(120))
                    .send()
                    .await;
                if let Ok(r) = r {
                    if r.status().as_u16() == 409 {
                        let body = r.text().await.unwrap_or_default();
                        if body.contains("leader is") {
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
    }
}

/// Every acknowledged row exactly once across hot and cold, no row twice,
/// no window in the ledger twice, the same watermarks everywhere.
pub async fn check_exactly_once(cs: &ClusterStack, acked: &[u64]) {
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let (hot, cold) = (cs.hot_ids().await, cs.cold_ids().await);
    for id in hot.iter().chain(cold.iter()) {
        *seen.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "rows stored twice: {twice:?}");
    let lost: Vec<_> = acked
        .iter()
        .filter(|id| !seen.contains_key(id))
        .take(5)
        .collect();
    if !lost.is_empty() {
        cs.dump_logs();
    }
    assert!(
        lost.is_empty(),
        "acknowledged rows lost: {lost:?} (of {})",
        acked.len()
    );
    let twice = cs.ledger_twice().await;
    assert_eq!(twice, 0, "{twice} windows archived twice");
    let marks = cs.watermarks().await;
    assert!(
        marks.windows(2).all(|w| w[0].1 == w[1].1),
        "watermarks differ: {marks:?}"
    );
    println!(
        "hot {} + cold {} rows, {} acknowledged",
        hot.len(),
        cold.len(),
        acked.len()
    );
}

/// Waits until hot holds no row older than the cutoff and every replica
/// shows the same watermark at or past `at_least`.
pub async fn wait_archived(cs: &ClusterStack, at_least: i64, limit: Duration) {
    let t = Instant::now();
    let cutoff = Window::day_of(now_ms() - 2 * DAY_MS).start;
    loop {
        let old = crate::clickhouse::u64s(
            &cs.ch_url,
            &format!(
                "SELECT count() FROM {}.trades WHERE ts < {cutoff}",
                cs.hot_db
            ),
        )
        .await;
        let marks = cs.watermarks().await;
        let done = marks
            .iter()
            .all(|(_, m)| m["trades"].as_i64() >= Some(at_least))
            && marks.windows(2).all(|w| w[0].1 == w[1].1);
        if old == [0] && done {
            return;
        }
        if t.elapsed() > limit {
            cs.dump_logs();
            panic!("not archived within {limit:?}: {old:?} old rows in hot, watermarks {marks:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Lines of `failpoint pause` at `point` across a replica's logs.
pub fn pauses(cs: &ClusterStack, i: usize, point: &str) -> usize {
    cs.replicas[i]
        .logs()
        .lines()
        .filter(|l| l.contains("failpoint pause") && l.contains(&format!("\"{point}\"")))
        .count()
}

/// Restarts a killed replica once ZooKeeper has expired its old session
/// (its id would be refused as in use before).
pub async fn restart_after_expiry(cs: &mut ClusterStack, i: usize) {
    let id = cs.replicas[i].id.clone();
    let t = Instant::now();
    loop {
        let mut listed = false;
        for r in cs.replicas.iter().filter(|r| r.alive()) {
            if let Some(c) = r.cluster().await {
                let ids: Vec<&str> = c["replicas"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n["id"].as_str())
                    .collect();
                listed |= ids.contains(&id.as_str());
            }
        }
        if !listed {
            break;
        }
        assert!(t.elapsed() < SESSION * 4, "{id}'s session never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cs.replicas[i].start();
}
