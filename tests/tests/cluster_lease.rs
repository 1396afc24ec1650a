//! The cluster edition's archiver lease, against a real ZooKeeper, a real
//! hot ClickHouse shared by three `cloud-service` processes, and a gateway:
//! the leader killed with SIGKILL at each step of a batch, ZooKeeper itself
//! killed and restarted, a replica cut off from ZooKeeper by a proxy, and
//! and (in `cluster_config.rs`) the configurations refused at start. Every check of what
//! the stores hold reads them directly (ClickHouse over HTTP, the gateway's
//! SQLite file), not through the service.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::cluster::{zookeeper_script, ClusterStack};
use hotcold_tests::cluster_checks::*;
use hotcold_tests::data::{ndjson, now_ms, trades};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests share one ZooKeeper and one of them restarts it: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_at_each_step_hands_every_batch_over_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((zk, ch)) = components() else { return };
    let mut cs = ClusterStack::new(3, &ch, |_| zk.clone(), "4s");
    for r in &mut cs.replicas {
        r.start();
    }
    cs.one_leader(Duration::from_secs(30)).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let days = 8;
    ingest_old_days(&cs, days, &acked).await;
    let urls: Vec<String> = cs.replicas.iter().map(|r| r.url.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let refused409 = Arc::new(AtomicU64::new(0));
    let ingester = ingest_meanwhile(urls.clone(), acked.clone(), stop.clone());
    let points = ["export", "transfer", "committed", "purge"];
    for r in &cs.replicas {
        r.arm(&format!("{}=15000", points[0]));
    }
    drive_archives(urls, stop.clone(), refused409.clone());
    let mut failovers = Vec::new();
    for (k, point) in points.iter().enumerate() {
        let base: Vec<usize> = (0..3).map(|i| pauses(&cs, i, point)).collect();
        let t = Instant::now();
        let leader = loop {
            if let Some(i) = (0..3).find(|i| pauses(&cs, *i, point) > base[*i]) {
                break i;
            }
            if t.elapsed() > Duration::from_secs(90) {
                cs.dump_logs();
                panic!("no replica reached the failpoint {point}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            cs.leaders().await,
            vec![leader],
            "the paused replica leads alone"
        );
        let next = points
            .get(k + 1)
            .map_or(String::new(), |p| format!("{p}=15000"));
        for r in &cs.replicas {
            r.arm(&next);
        }
        cs.replicas[leader].kill9();
        let killed = Instant::now();
        let (new, _) = cs.one_leader(SESSION * 3).await;
        let took = killed.elapsed();
        println!(
            "killed {} at {point}: {} leads after {took:?}",
            cs.replicas[leader].id, cs.replicas[new].id
        );
        assert_ne!(new, leader);
        assert!(
            took < SESSION + Duration::from_secs(4),
            "failover took {took:?}"
        );
        failovers.push(took);
        restart_after_expiry(&mut cs, leader).await;
    }
    let first = Window::day_of(now_ms() - (2 + days) * DAY_MS).start;
    let last_end = Window::day_of(now_ms() - 3 * DAY_MS).end;
    wait_archived(&cs, last_end, Duration::from_secs(120)).await;
    stop.store(true, Ordering::SeqCst);
    let refused = ingester.await.expect("ingester");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acked = acked.lock().expect("acked").clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(
        cs.ledger_windows().await,
        days as usize,
        "one ledger entry a day from {first}"
    );
    assert_eq!(cs.leaders().await.len(), 1);
    assert!(
        refused409.load(Ordering::SeqCst) > 0,
        "followers never answered 409"
    );
    println!("failovers {failovers:?}; ingests refused meanwhile: {refused}");
    for what in [
        "journal rebuilt",
        "spool has no manifest",
        "already purged from hot",
        "fenced out",
    ] {
        let n: usize = cs
            .replicas
            .iter()
            .map(|r| r.logs().matches(what).count())
            .sum();
        println!("log lines {what:?}: {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_killed_and_restarted_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((zk, ch)) = components() else { return };
    let mut cs = ClusterStack::new(3, &ch, |_| zk.clone(), "4s");
    for r in &mut cs.replicas {
        r.start();
    }
    cs.one_leader(Duration::from_secs(30)).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    ingest_old_days(&cs, 3, &acked).await;
    zookeeper_script("kill");
    let down = Instant::now();
    // Without ZooKeeper no replica may take a row: it cannot know the floor.
    loop {
        let rows = trades(now_ms() - 1000, now_ms(), 10, 90_000);
        if cs.replicas[0].ingest(ndjson(&rows)).await == Some(503) {
            break;
        }
        acked.lock().expect("acked").extend(ids(&rows));
        assert!(
            down.elapsed() < SESSION * 2,
            "still taking ingest without ZooKeeper"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("503 after {:?} without ZooKeeper", down.elapsed());
    zookeeper_script("start");
    let (leader, took) = cs.one_leader(Duration::from_secs(60)).await;
    println!(
        "one leader ({}) {took:?} after ZooKeeper restarted",
        cs.replicas[leader].id
    );
    for (k, r) in cs.replicas.iter().enumerate() {
        let rows = trades(now_ms() - 1000, now_ms(), 50, 91_000 + k as u64);
        let t = Instant::now();
        while r.ingest(ndjson(&rows)).await != Some(200) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{} never took ingest again",
                r.id
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        acked.lock().expect("acked").extend(ids(&rows));
    }
    let (s, report) = cs.replicas[leader].post_archive().await.expect("archive");
    assert_eq!(s, 200, "{report}");
    wait_archived(
        &cs,
        Window::day_of(now_ms() - 3 * DAY_MS).end,
        Duration::from_secs(60),
    )
    .await;
    let acked = acked.lock().expect("acked").clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(cs.ledger_windows().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_cut_off_from_zookeeper_lapses_first_and_rejoins_as_follower() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((zk, ch)) = components() else { return };
    let target: std::net::SocketAddr = zk.parse().expect("ZooKeeper address");
    let proxy = hotcold_tests::tcp_proxy::TcpProxy::start(target)
        .await
        .expect("proxy");
    let via = proxy.addr.to_string();
    let mut cs = ClusterStack::new(
        3,
        &ch,
        |i| if i == 0 { via.clone() } else { zk.clone() },
        "4s",
    );
    // r0 (behind the proxy) starts first, so it leads.
    cs.replicas[0].start();
    assert_eq!(cs.one_leader(Duration::from_secs(30)).await.0, 0);
    cs.replicas[1].start();
    cs.replicas[2].start();
    let acked = Arc::new(Mutex::new(Vec::new()));
    ingest_old_days(&cs, 2, &acked).await;
    // The leader holds its first batch right after the commit, lease in hand.
    cs.replicas[0].arm("committed=8000");
    let r0 = cs.replicas[0].url.clone();
    let run = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{r0}/v1/admin/archive"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let t = Instant::now();
    while pauses(&cs, 0, "committed") == 0 {
        assert!(t.elapsed() < Duration::from_secs(60), "r0 never committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.set_cut(true);
    let cut = Instant::now();
    let (mut refused_at, mut other_leads_at) = (None, None);
    while other_leads_at.is_none() {
        if refused_at.is_none() {
            let rows = trades(
                now_ms() - 1000,
                now_ms(),
                5,
                95_000 + cut.elapsed().as_millis() as u64,
            );
            match cs.replicas[0].ingest(ndjson(&rows)).await {
                Some(503) => refused_at = Some(cut.elapsed()),
                Some(200) => acked.lock().expect("acked").extend(ids(&rows)),
                _ => {}
            }
        }
        for i in 1..3 {
            if cs.replicas[i].role().await.as_deref() == Some("leader") {
                other_leads_at = Some(cut.elapsed());
            }
        }
        assert!(cut.elapsed() < SESSION * 4, "no other replica took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (refused_at, other_leads_at) = (
        refused_at.expect("r0 never refused ingest"),
        other_leads_at.unwrap_or_default(),
    );
    println!("cut: r0 refuses after {refused_at:?}, another leads after {other_leads_at:?}");
    assert!(
        refused_at < other_leads_at,
        "the cut-off leader still served after another took over"
    );
    assert_ne!(cs.replicas[0].role().await.as_deref(), Some("leader"));
    // r0's run was stopped on the lost lease; its pause ends while cut off
    // and it must not purge on the stale lease.
    let status = run.await.expect("run task");
    println!("r0's run answered {status:?}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let log = cs.replicas[0].logs();
    assert!(
        log.contains("archiver lease lost"),
        "r0 never noticed it lost the lease"
    );
    let after_cut = log.rsplit("failpoint pause").next().unwrap_or_default();
    assert!(
        !after_cut.contains("window purged from hot"),
        "r0 purged after the cut:\n{after_cut}"
    );
    cs.replicas[0].arm("");
    proxy.set_cut(false);
    let t = Instant::now();
    while cs.replicas[0].role().await.as_deref() != Some("follower") {
        assert!(t.elapsed() < Duration::from_secs(30), "r0 never rejoined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "r0 rejoined as follower {:?} after the line came back",
        t.elapsed()
    );
    let log = cs.replicas[0].logs();
    assert!(
        !log.contains("cluster task died"),
        "a cluster task of r0 panicked:\n{log}"
    );
    let (leader, _) = cs.one_leader(Duration::from_secs(10)).await;
    assert_ne!(leader, 0);
    let (s, report) = cs.replicas[leader].post_archive().await.expect("archive");
    assert_eq!(s, 200, "{report}");
    wait_archived(
        &cs,
        Window::day_of(now_ms() - 3 * DAY_MS).end,
        Duration::from_secs(60),
    )
    .await;
    let acked = acked.lock().expect("acked").clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(cs.ledger_windows().await, 2);
}
