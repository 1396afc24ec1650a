//! The hot backup to the NAS, with real processes: scheduled every second
//! while a writer ingests, the cloud killed with SIGKILL, its data dir and
//! its own snapshots deleted, and the cloud restored from the NAS's copy.
//! The rows lost are exactly the requests after the last backup's point,
//! which the test works out from the kept manifest; everything
//! acknowledged before it is back, whole. A second test cuts a backup
//! half-way (the gateway killed under a slow line) and shows the next one
//! resumes from what the NAS kept instead of sending it all again.

use hotcold_tests::data::{ndjson, now_ms, seeds_in_sqlite, trades};
use hotcold_tests::procs::{bin, Cloud};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PER_REQUEST: usize = 200;

/// The newest kept snapshot in a directory of snapshots: (id, point_ms, rows).
fn newest(dir: &Path) -> (String, i64, u64) {
    let mut best: Option<(String, i64, u64)> = None;
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let m = e.path().join("manifest.json");
        let Ok(text) = std::fs::read_to_string(&m) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&text).expect("manifest json");
        let point = v["point_ms"].as_i64().expect("point");
        let rows = v["ranges"]
            .as_array()
            .expect("ranges")
            .iter()
            .map(|r| r["content"]["rows"].as_u64().expect("rows"))
            .sum();
        if best.as_ref().is_none_or(|b| point > b.1) {
            best = Some((v["id"].as_str().expect("id").to_string(), point, rows));
        }
    }
    best.expect("a kept backup")
}

/// `cloud-service restore ID --from DIR`, which must succeed.
fn restore_from(cfg: &Path, id: &str, dir: &Path) {
    let out = Command::new(bin("cloud-service"))
        .args(["restore", id, "--config"])
        .arg(cfg)
        .arg("--from")
        .arg(dir)
        .output()
        .expect("restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_cloud_disk_loses_only_what_came_after_the_last_backup() {
    let snaps = tempfile::tempdir().expect("snapshot dir");
    let mut stack = Stack::start(StackOptions {
        extra_yaml: format!(
            "snapshot:\n  dir: {}\n  backup-every: 1s\n  keep: 3\n",
            snaps.path().display()
        ),
        ..Default::default()
    });
    // A writer of one-seed requests: (seed, started, acked) in wall ms.
    let mut sent: Vec<(u64, i64, i64)> = Vec::new();
    let until = std::time::Instant::now() + Duration::from_millis(4_500);
    let mut seed = 1u64;
    let mut backups_seen = 0u64;
    while std::time::Instant::now() < until {
        let now = now_ms();
        let rows = trades(now - 3_600_000, now - 1_000, PER_REQUEST, seed);
        let started = now_ms();
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
        sent.push((seed, started, now_ms()));
        seed += 1;
        if seed.is_multiple_of(20) {
            let st = stack.cloud.status().await;
            if st["backup"]["last_ok_ms"].is_i64() {
                backups_seen += 1;
                assert!(
                    st["backup"]["age_s"].as_f64().expect("age") < 5.0,
                    "{:#}",
                    st["backup"]
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(
        backups_seen > 0,
        "the scheduled backup ran while ingest went on"
    );
    let (s, metrics) = stack.cloud.get("/metrics").await;
    assert_eq!(s, 200);
    assert!(metrics.contains("hotcold_backup_age_seconds "), "{metrics}");
    assert!(metrics.contains("hotcold_backup_bytes_total "), "{metrics}");

    // The disk dies: the process, its data dir and its own snapshots.
    stack.cloud.kill("KILL");
    let data = stack.cloud.data_dir.clone();
    std::fs::remove_dir_all(&data).expect("rm data dir");
    std::fs::remove_dir_all(snaps.path().join("pool")).expect("rm local snapshots");

    // The operator copies the NAS's hot backups to the new disk.
    let nas_copy = stack.dir.path().join("from-nas");
    copy_dir(
        &stack.dir.path().join("nas-snapshots").join("cloud"),
        &nas_copy,
    );
    let (id, point, rows) = newest(&nas_copy);
    let cfg = stack.cloud.config.clone();
    restore_from(&cfg, &id, &nas_copy);
    let hot = seeds_in_sqlite(&data.join("hot.db"));
    assert_eq!(hot.values().sum::<u64>(), rows);
    let (mut kept_rows, mut lost_rows, mut lost_requests) = (0u64, 0u64, 0u64);
    for (seed, started, acked) in &sent {
        let n = hot.get(seed).copied().unwrap_or(0);
        assert!(
            n == 0 || n == PER_REQUEST as u64,
            "request {seed} in part: {n}"
        );
        // Margins of 50 ms for the point's own clock reading.
        if *acked < point - 50 {
            assert_eq!(
                n, PER_REQUEST as u64,
                "request {seed} acked before the backup"
            );
        }
        if *started > point + 50 {
            assert_eq!(n, 0, "request {seed} sent after the backup");
        }
        if n == 0 {
            lost_rows += PER_REQUEST as u64;
            lost_requests += 1;
        } else {
            kept_rows += n;
        }
    }
    let last_ack = sent.last().map_or(point, |s| s.2);
    eprintln!(
        "drill: {} requests; the last backup ({id}) was {} ms before the last ack; kept {kept_rows} rows, lost {lost_rows} rows in {lost_requests} requests",
        sent.len(),
        last_ack - point
    );
    assert!(lost_requests < sent.len() as u64, "the backup held rows");

    // The restored cloud serves what was restored.
    stack.cloud = Cloud::start(
        cfg,
        stack.dir.path().join("cloud-restored.log"),
        data.clone(),
    );
    let q = format!(
        "from={}&to={}&limit=10000000",
        now_ms() - 3 * 3_600_000,
        now_ms() + 1
    );
    let answered = stack.cloud.query_rows("trades", &q).await.len() as u64;
    assert_eq!(answered, kept_rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_cut_half_way_resumes_from_what_the_nas_kept() {
    let snaps = tempfile::tempdir().expect("snapshot dir");
    let mut stack = Stack::start(StackOptions {
        extra_yaml: format!(
            "snapshot:\n  dir: {}\n  backup-every: 0s\n  zstd-level: 1\n",
            snaps.path().display()
        ),
        bwlimit: "256KiB".into(),
        ..Default::default()
    });
    // About 2 MB of range files: at 256 KiB/s, several seconds of sending.
    let start = now_ms() - 20 * 3_600_000;
    let rows = trades(start, now_ms() - 1_000, 120_000, 7);
    stack.cloud.ingest_all("trades", &rows).await;
    let url = stack.cloud.url.clone();
    let first = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/admin/backup"))
            .send()
            .await
            .expect("backup");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    });
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stack.gateway.kill("KILL");
    let (s, body) = first.await.expect("first backup");
    assert_ne!(s, 200, "the cut backup did not finish: {body}");
    let st = stack.cloud.status().await;
    assert!(st["backup"]["last_error"].is_string(), "{:#}", st["backup"]);
    // What the NAS kept: whole range files (earlier backups) and the parts
    // of the cut one (renamed only once a whole backup is verified).
    let (mut whole, mut partial) = (0u64, 0u64);
    for e in std::fs::read_dir(stack.dir.path().join("nas-snapshots/cloud/pool"))
        .expect("pool")
        .flatten()
    {
        let (name, len) = (
            e.file_name().to_string_lossy().to_string(),
            e.metadata().map_or(0, |m| m.len()),
        );
        if name.ends_with(".seg.part") {
            partial += len;
        } else if name.ends_with(".seg") {
            whole += len;
        }
    }
    assert!(whole + partial > 0, "the NAS kept what arrived");

    stack.gateway.restart(vec![]);
    let (_, off) = stack.cloud.put("/v1/admin/bwlimit", "off").await;
    assert_eq!(off["bwlimit"], "off", "{off}");
    let (s, v) = stack.cloud.post("/v1/admin/backup").await;
    assert_eq!(s, 200, "{v}");
    let (sent, bytes) = (
        v["bytes_sent"].as_u64().expect("sent"),
        v["bytes"].as_u64().expect("bytes"),
    );
    eprintln!(
        "resumed backup: sent {sent} of {bytes} bytes; {whole} in whole files and {partial} in the parts of the cut one were on the NAS already"
    );
    // Exactly the rest: what no whole file holds, from where the cut part
    // ends (the journal's copy is the new snapshot's own, sent whole).
    assert_eq!(sent, bytes - whole - partial, "resumed, not sent again");
    // What the NAS kept restores to the rows the cloud holds.
    let nas = stack.dir.path().join("nas-snapshots/cloud");
    let (id, _, kept) = newest(&nas);
    assert_eq!(kept, rows.len() as u64);
    assert_eq!(v["id"], id.as_str());
}

/// The backup is taken before a nightly archive run; the run commits and
/// purges days after it; then the cloud's disk dies. The restored journal
/// does not know those batches, the restored hot store still holds their
/// rows: the first start reconciles with the ledger (adopting them), and
/// the next run confirms and purges them instead of planning the days
/// again under ids the gateway would refuse. Every row is answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_before_the_last_archive_run_is_reconciled_with_the_ledger() {
    use hotcold_core::schema::{Window, DAY_MS};
    let snaps = tempfile::tempdir().expect("snapshot dir");
    let mut stack = Stack::start(StackOptions {
        extra_yaml: format!(
            "snapshot:\n  dir: {}\n  backup-every: 0s\n",
            snaps.path().display()
        ),
        ..Default::default()
    });
    let d0 = Window::day_of(now_ms() - 6 * DAY_MS).start;
    for k in 0..3i64 {
        let rows = trades(d0 + k * DAY_MS, d0 + (k + 1) * DAY_MS, 2_000, k as u64 + 1);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }
    let recent = trades(now_ms() - 3_600_000, now_ms() - 1_000, 500, 9);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&recent)).await.0, 200);
    let (s, b) = stack.cloud.post("/v1/admin/backup").await;
    assert_eq!(s, 200, "{b}");
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, r["failed"].as_u64()), (200, Some(0)), "{r}");
    assert!(r["batches"].as_array().is_some_and(|b| b.len() >= 3), "{r}");

    stack.cloud.kill("KILL");
    let data = stack.cloud.data_dir.clone();
    std::fs::remove_dir_all(&data).expect("rm data dir");
    let nas_copy = stack.dir.path().join("from-nas");
    copy_dir(
        &stack.dir.path().join("nas-snapshots").join("cloud"),
        &nas_copy,
    );
    let (id, _, rows) = newest(&nas_copy);
    assert_eq!(
        rows, 6_500,
        "the backup holds the three days and the last hour"
    );
    let cfg = stack.cloud.config.clone();
    restore_from(&cfg, &id, &nas_copy);
    assert!(data.join("restore.json").exists());

    stack.cloud = Cloud::start(
        cfg,
        stack.dir.path().join("cloud-restored.log"),
        data.clone(),
    );
    let done = data.join("restore.json.done");
    for _ in 0..100 {
        if done.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let repairs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&done).expect("reconcile ran"))
            .expect("json");
    let adopted = repairs
        .as_array()
        .expect("repairs")
        .iter()
        .filter(|r| r["action"] == "adopted")
        .count();
    assert_eq!(adopted, 3, "{repairs:#}");
    assert!(!data.join("restore.json").exists());
    let (s, r) = stack.cloud.archive_when_idle().await;
    assert_eq!((s, r["failed"].as_u64()), (200, Some(0)), "{r}");
    let (s, v) = stack.cloud.get("/v1/admin/verify").await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&v).expect("verify");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["checked"], 3, "{v:#}");
    // Purged from hot, answered from cold, each row once.
    assert_eq!(
        seeds_in_sqlite(&data.join("hot.db")).values().sum::<u64>(),
        500
    );
    let q = format!("from={d0}&to={}&limit=10000000", now_ms() + 1);
    assert_eq!(stack.cloud.query_rows("trades", &q).await.len(), 6_500);
    let (s, v) = stack.cloud.post("/v1/admin/reconcile?dry_run=true").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["repairs"].as_array().map(Vec::len),
        Some(0),
        "nothing left: {v}"
    );
}
