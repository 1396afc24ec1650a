//! The cluster edition's archiver lease, against a real ZooKeeper, a real
//! hot ClickHouse shared by three `cloud-service` processes, and a gateway:
//! the leader killed with SIGKILL at each step of a batch, ZooKeeper itself
//! killed and restarted, a replica cut off from ZooKeeper by a proxy, and
//! the configurations that must be refused at start. Every check of what
//! the stores hold reads them directly (ClickHouse over HTTP, the gateway's
//! SQLite file), not through the service.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::cluster::{start_fails, zookeeper, zookeeper_script, ClusterStack};
use hotcold_tests::data::{ndjson, now_ms, trades};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests share one ZooKeeper and one of them restarts it: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SESSION: Duration = Duration::from_secs(4);

fn ids(rows: &[serde_json::Value]) -> Vec<u64> {
    rows.iter().filter_map(|r| r["trade_id"].as_u64()).collect()
}

fn components() -> Option<(String, String)> {
    let zk = zookeeper()?;
    let ch = hotcold_tests::clickhouse::url()?;
    Some((zk, ch))
}

/// Old days (3 to 3 + n days ago), each ingested through another replica.
async fn ingest_old_days(cs: &ClusterStack, n: i64, acked: &Mutex<Vec<u64>>) {
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
        acked.lock().unwrap().extend(ids(&rows));
    }
}

/// Recent rows (they stay hot) through every replica in turn until
/// stopped; only answers of 200 count as acknowledged.
fn ingest_meanwhile(
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
                Ok(200) => acked.lock().unwrap().extend(ids(&rows)),
                _ => refused += 1,
            }
            k += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        refused
    })
}

/// Asks every replica to archive, over and over; followers answer 409.
fn drive_archives(urls: Vec<String>, stop: Arc<AtomicBool>, refused: Arc<AtomicU64>) {
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
async fn check_exactly_once(cs: &ClusterStack, acked: &[u64]) {
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let (hot, cold) = (cs.hot_ids().await, cs.cold_ids());
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
    assert!(
        cs.ledger_twice().is_empty(),
        "windows archived twice: {:?}",
        cs.ledger_twice()
    );
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
async fn wait_archived(cs: &ClusterStack, at_least: i64, limit: Duration) {
    let t = Instant::now();
    let cutoff = Window::day_of(now_ms() - 2 * DAY_MS).start;
    loop {
        let old = hotcold_tests::clickhouse::u64s(
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
fn pauses(cs: &ClusterStack, i: usize, point: &str) -> usize {
    cs.replicas[i]
        .logs()
        .lines()
        .filter(|l| l.contains("failpoint pause") && l.contains(&format!("\"{point}\"")))
        .count()
}

/// Restarts a killed replica once ZooKeeper has expired its old session
/// (its id would be refused as in use before).
async fn restart_after_expiry(cs: &mut ClusterStack, i: usize) {
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
    let acked = acked.lock().unwrap().clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(
        cs.ledger_windows(),
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
        let n: usize = cs.replicas.iter().map(|r| r.logs().matches(what).count()).sum();
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
        acked.lock().unwrap().extend(ids(&rows));
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
        acked.lock().unwrap().extend(ids(&rows));
    }
    let (s, report) = cs.replicas[leader].post_archive().await.expect("archive");
    assert_eq!(s, 200, "{report}");
    wait_archived(
        &cs,
        Window::day_of(now_ms() - 3 * DAY_MS).end,
        Duration::from_secs(60),
    )
    .await;
    let acked = acked.lock().unwrap().clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(cs.ledger_windows(), 3);
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
                Some(200) => acked.lock().unwrap().extend(ids(&rows)),
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
    let acked = acked.lock().unwrap().clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(cs.ledger_windows(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cluster_configs_are_refused_at_start() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((zk, ch)) = components() else { return };
    let mut cs = ClusterStack::new(1, &ch, |_| zk.clone(), "4s");
    let base = std::fs::read_to_string(&cs.replicas[0].config).expect("config");
    let (top, own_data) = (
        cs.dir.path().to_path_buf(),
        cs.replicas[0].dir.join("cloud"),
    );
    let variant = |name: &str, from: &str, to: &str| {
        let p = top.join(format!("{name}.yaml"));
        let yaml = base.replace(from, to).replace(
            &format!("data-dir: {}", own_data.display()),
            &format!("data-dir: {}", top.join(name).display()),
        );
        assert_ne!(yaml, base, "{name}");
        std::fs::write(&p, yaml).expect("variant");
        p
    };
    let root_line = format!("root: {}", cs.root);

    let out = start_fails(&variant(
        "unreachable",
        &format!("zookeeper: {zk}"),
        "zookeeper: 127.0.0.1:9",
    ))
    .await;
    assert!(
        out.contains("cannot reach ZooKeeper") || out.contains("no answer from ZooKeeper"),
        "{out}"
    );

    let client = zookeeper_client::Client::connect(&zk).await.expect("zk");
    let opts =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    // The parent exists unless an earlier test made it.
    let _ = client.create("/hotcold", b"", &opts).await;
    let foreign = format!("{}-foreign", cs.root);
    client
        .create(&foreign, b"", &opts)
        .await
        .expect("foreign root");
    client
        .create(&format!("{foreign}/brokers"), b"", &opts)
        .await
        .expect("foreign child");
    let out = start_fails(&variant("foreign", &root_line, &format!("root: {foreign}"))).await;
    assert!(out.contains("not hotcold's"), "{out}");

    let other = format!("{}-other", cs.root);
    client.create(&other, b"", &opts).await.expect("other root");
    client
        .create(&format!("{other}/meta"), b"hotcold-cluster", &opts)
        .await
        .expect("meta");
    client
        .create(&format!("{other}/journal"), b"", &opts)
        .await
        .expect("journal");
    client
        .create(
            &format!("{other}/journal/orders-0-86400000-1"),
            b"{}",
            &opts,
        )
        .await
        .expect("batch");
    let out = start_fails(&variant("other", &root_line, &format!("root: {other}"))).await;
    assert!(out.contains("another cluster's journal"), "{out}");

    cs.replicas[0].start();
    let url = cs.replicas[0].url.clone();
    let port = url.rsplit(':').next().unwrap_or_default().to_string();
    let twin = variant("twin", &format!("127.0.0.1:{port}\n"), "127.0.0.1:0\n");
    let out = start_fails(&twin).await;
    assert!(out.contains("already in use"), "{out}");
    // The first one is untouched: it still leads.
    assert_eq!(cs.one_leader(Duration::from_secs(10)).await.0, 0);
    let log = std::fs::read_to_string(cs.replicas[0].log(0)).unwrap_or_default();
    assert!(!log.contains("ERROR"), "{log}");
}
