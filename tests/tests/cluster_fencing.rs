//! A leader frozen past its session (SIGSTOP: a GC pause, a stalled disk)
//! wakes up in the middle of an export, believing it leads. Meanwhile
//! another replica took the lease and bumped `/epoch`. The woken one finds
//! its session expired, drops its run without writing or purging, and
//! rejoins; the new leader finishes every batch exactly once. (That a write
//! under the old epoch is refused by ZooKeeper itself is
//! `cluster/mirror.rs`'s test.)

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::cluster::ClusterStack;
use hotcold_tests::cluster_checks::*;
use hotcold_tests::data::now_ms;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_past_its_session_is_fenced_out() {
    let Some((zk, ch)) = components() else { return };
    let mut cs = ClusterStack::new(3, &ch, |_| zk.clone(), "4s");
    for r in &mut cs.replicas {
        r.start();
    }
    cs.one_leader(Duration::from_secs(30)).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    ingest_old_days(&cs, 3, &acked).await;
    // The export pause runs on a blocking thread: dropping the run cannot
    // stop it, so the frozen leader really wakes up mid-batch.
    for r in &cs.replicas {
        r.arm("export=3000");
    }
    let urls: Vec<String> = cs.replicas.iter().map(|r| r.url.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    drive_archives(urls, stop.clone(), Arc::new(AtomicU64::new(0)));
    let t = Instant::now();
    let old = loop {
        if let Some(i) = (0..3).find(|i| pauses(&cs, *i, "export") > 0) {
            break i;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no export started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for r in &cs.replicas {
        r.arm("");
    }
    let child = cs.replicas[old]
        .cloud
        .as_ref()
        .and_then(|c| c.child.as_ref())
        .expect("child");
    hotcold_tests::procs::signal(child, "STOP");
    let frozen = Instant::now();
    // The frozen one cannot answer; look at the other two.
    let t = Instant::now();
    let new = loop {
        let mut leads = None;
        for i in (0..3).filter(|i| *i != old) {
            if cs.replicas[i].role().await.as_deref() == Some("leader") {
                leads = Some(i);
            }
        }
        if let Some(i) = leads {
            break i;
        }
        assert!(
            t.elapsed() < SESSION * 3,
            "nobody took over from the frozen leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "{} frozen; {} leads after {:?}",
        cs.replicas[old].id,
        cs.replicas[new].id,
        frozen.elapsed()
    );
    // Let the new leader get going, then wake the old one mid-export.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let child = cs.replicas[old]
        .cloud
        .as_ref()
        .and_then(|c| c.child.as_ref())
        .expect("child");
    hotcold_tests::procs::signal(child, "CONT");
    // Its export thread runs on; what depended on it was dropped with the
    // run when the woken replica saw its session had expired.
    tokio::time::sleep(Duration::from_secs(5)).await;
    wait_archived(
        &cs,
        Window::day_of(now_ms() - 3 * DAY_MS).end,
        Duration::from_secs(90),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let log = cs.replicas[old].logs();
    let woke = log.rsplit("failpoint pause").next().unwrap_or_default();
    assert!(
        !woke.contains("window purged from hot"),
        "the fenced leader purged:\n{woke}"
    );
    assert!(
        woke.contains("archiver lease lost"),
        "it never noticed:\n{woke}"
    );
    let line = woke
        .lines()
        .find(|l| l.contains("archiver lease lost"))
        .unwrap_or_default();
    println!("after waking: {line}");
    assert_ne!(cs.leaders().await, vec![old]);
    let acked = acked.lock().expect("acked").clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(cs.ledger_windows().await, 3);
}
