//! Snapshots and restore, measured on a real pair: N hot trades (default
//! 2,000,000 over the last 40 hours) in the cloud's SQLite file.
//!
//! - the baseline of the same run: `cp` of the hot file (its bytes at
//!   the disk's own copy rate);
//! - a strict snapshot (rows/s, bytes, the pause) while a writer ingests;
//! - an increment after new rows in one hour (bytes written against the
//!   full snapshot's);
//! - a restore of the last one into a fresh data dir (rows/s);
//! - the hot backup to the NAS over the loopback link, whole and then an
//!   increment (bytes sent, seconds).
//!
//! `target/release/bench_snapshot [--rows 2000000]` (part of scripts/bench.sh).

use anyhow::ensure;
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::procs::bin;
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

const HOUR: i64 = 3_600_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = hotcold_tests::arg_usize("--rows", 2_000_000);
    let snaps = tempfile::tempdir()?;
    let stack = Stack::start(StackOptions {
        extra_yaml: format!(
            "snapshot:\n  dir: {}\n  backup-every: 0s\n",
            snaps.path().display()
        ),
        ..Default::default()
    });
    let (from, to) = (now_ms() - 40 * HOUR, now_ms() - 2 * HOUR);
    stack.cloud.ingest_spread(from, to, n, 1).await?;

    // Baseline: the disk copying the hot file as it stands.
    let hot = stack.cloud.data_dir.join("hot.db");
    let wal = stack.cloud.data_dir.join("hot.db-wal");
    let hot_bytes = std::fs::metadata(&hot)?.len() + std::fs::metadata(&wal).map_or(0, |m| m.len());
    let copy = stack.dir.path().join("copy.db");
    let t = Instant::now();
    std::fs::copy(&hot, &copy)?;
    let cp_secs = t.elapsed().as_secs_f64();
    std::fs::remove_file(&copy)?;

    // A writer of small requests into the last hour while the snapshot runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, url) = (stop.clone(), stack.cloud.url.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut k, mut worst) = (0u64, 0f64);
            while !stop.load(Ordering::Relaxed) {
                let now = now_ms();
                let rows = trades(now - HOUR, now - 1_000, 200, 1_000 + k);
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/v1/ingest/trades"))
                    .body(ndjson(&rows))
                    .send()
                    .await;
                worst = worst.max(t.elapsed().as_secs_f64());
                if !r.is_ok_and(|r| r.status() == 200) {
                    return (k, worst, false);
                }
                k += 1;
            }
            (k, worst, true)
        })
    };
    let t = Instant::now();
    let (s, full) = stack.cloud.post("/v1/admin/snapshots?level=strict").await;
    let full_secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (requests, worst_ingest, ok) = writer.await?;
    ensure!(s == 200 && ok, "snapshot: {full}");

    // One hour of new rows, then the increment.
    let hour = now_ms() - 30 * HOUR;
    let more = trades(hour, hour + HOUR, 5_000, 999_999);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&more)).await;
    ensure!(s == 200, "ingest: {b}");
    let t = Instant::now();
    let (s, inc) = stack.cloud.post("/v1/admin/snapshots?level=strict").await;
    let inc_secs = t.elapsed().as_secs_f64();
    ensure!(s == 200, "increment: {inc}");

    // Restore the increment into a fresh data dir.
    let cfg = stack.cloud.config.clone();
    let yaml = std::fs::read_to_string(&cfg)?;
    let scratch = stack.dir.path().join("restored");
    let scratch_cfg = stack.dir.path().join("restored.yaml");
    std::fs::write(
        &scratch_cfg,
        yaml.replace(
            &format!("data-dir: {}", stack.cloud.data_dir.display()),
            &format!("data-dir: {}", scratch.display()),
        ),
    )?;
    let id = inc["id"].as_str().unwrap_or_default().to_string();
    let t = Instant::now();
    let out = std::process::Command::new(bin("cloud-service"))
        .args(["restore", &id, "--config"])
        .arg(&scratch_cfg)
        .output()?;
    let restore_secs = t.elapsed().as_secs_f64();
    ensure!(
        out.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The hot backup over the loopback link: whole, then one changed hour.
    let t = Instant::now();
    let (s, b1) = stack.cloud.post("/v1/admin/backup").await;
    let b1_secs = t.elapsed().as_secs_f64();
    ensure!(s == 200, "backup: {b1}");
    let more = trades(hour + HOUR, hour + 2 * HOUR, 5_000, 999_998);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&more)).await;
    ensure!(s == 200, "ingest: {b}");
    let t = Instant::now();
    let (s, b2) = stack.cloud.post("/v1/admin/backup").await;
    let b2_secs = t.elapsed().as_secs_f64();
    ensure!(s == 200, "backup: {b2}");

    let rows = |v: &serde_json::Value| v["rows"].as_u64().unwrap_or(0);
    let bytes = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    let mb = |b: u64| b as f64 / 1e6;
    println!("\n| step | rows | time | rows/s | bytes | note |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| baseline: cp of hot.db | {n} | {cp_secs:.2} s | {:.0} | {:.1} MB | the disk's copy rate, {:.0} MB/s |",
        n as f64 / cp_secs,
        mb(hot_bytes),
        mb(hot_bytes) / cp_secs
    );
    println!(
        "| strict snapshot, full | {} | {full_secs:.2} s | {:.0} | {:.1} MB written | pause {} µs; {requests} ingest requests meanwhile, slowest {:.0} ms |",
        rows(&full),
        rows(&full) as f64 / full_secs,
        mb(bytes(&full, "bytes_written")),
        full["pause_us"],
        worst_ingest * 1000.0
    );
    println!(
        "| strict snapshot, increment (1 hour changed) | {} | {inc_secs:.2} s | {:.0} | {:.2} MB written | {:.1}% of the full snapshot's bytes |",
        rows(&inc),
        rows(&inc) as f64 / inc_secs,
        mb(bytes(&inc, "bytes_written")),
        100.0 * bytes(&inc, "bytes_written") as f64 / bytes(&full, "bytes_written").max(1) as f64
    );
    println!(
        "| restore (verify + write + read back) | {} | {restore_secs:.2} s | {:.0} | {:.1} MB read | into a fresh data dir |",
        rows(&inc),
        rows(&inc) as f64 / restore_secs,
        mb(bytes(&inc, "bytes"))
    );
    println!(
        "| hot backup to the NAS, first | {} | {b1_secs:.2} s | {:.0} | {:.1} MB sent | loopback link, no bwlimit |",
        rows(&b1),
        rows(&b1) as f64 / b1_secs,
        mb(bytes(&b1, "bytes_sent"))
    );
    println!(
        "| hot backup to the NAS, next (1 hour changed) | {} | {b2_secs:.2} s | {:.0} | {:.2} MB sent | {:.1}% of the first |",
        rows(&b2),
        rows(&b2) as f64 / b2_secs,
        mb(bytes(&b2, "bytes_sent")),
        100.0 * bytes(&b2, "bytes_sent") as f64 / bytes(&b1, "bytes_sent").max(1) as f64
    );
    Ok(())
}
