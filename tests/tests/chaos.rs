//! Chaos, driven by a seed: while rows are ingested continuously and archive
//! runs repeat every second, faults hit at random moments: kill -9 of the
//! cloud, kill -9 of the gateway, the line cut (a dropping relay), the cold
//! ClickHouse restarted, the gateway's staging disk filled (a small tmpfs,
//! root only), a staged chunk corrupted. Then everything is healed and
//! drained, and:
//!
//! - every row whose ingest was acknowledged is there, exactly once, across
//!   hot and cold (no id twice; count and content hash over all rows);
//! - nothing else is there but rows whose ingest got no answer (the cloud
//!   was killed mid-request) - each at most once;
//! - the spool and the staging area are empty; the watermark reached the
//!   cutoff.
//!
//! Hot and cold are both ClickHouse servers in local zones (hot in
//! Asia/Kolkata, half an hour off any whole-hour zone; cold in
//! America/New_York), so every purge and clear crosses a zone's midnight.
//!
//! `HOTCOLD_CHAOS_FAULTS` (default 30) and `HOTCOLD_SEED` replay a run; the
//! seed is printed either way.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_core::ContentHash;
use hotcold_tests::clickhouse::{self, OwnServer};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::disk::{corrupt_one, files_under, fill, SmallDisk};
use hotcold_tests::procs::{Cloud, Gateway};
use hotcold_tests::proxy::UdpProxy;
use hotcold_tests::stack::{cloud_yaml, gateway_yaml, write_certs, ColdKind, StackOptions};
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rows sent while faults hit: all of them, the acknowledged ids, and the
/// ids whose request got no answer.
type Live = (Vec<serde_json::Value>, HashSet<u64>, HashSet<u64>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fault {
    KillCloud,
    KillGateway,
    CutLine,
    RestartClickHouse,
    FillStaging,
    CorruptChunk,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_loses_and_doubles_nothing() {
    let Some(_) = clickhouse::url() else {
        return;
    };
    let faults: usize = std::env::var("HOTCOLD_CHAOS_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed = hotcold_tests::seed("chaos");
    eprintln!("chaos: {faults} faults (HOTCOLD_CHAOS_FAULTS={faults})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let ch = OwnServer::with_zone(18126, 19003, "America/New_York");
    let ch_url = ch.run("start");
    let db = clickhouse::unique_db("chaos");
    let hot_ch = OwnServer::with_zone(18127, 19004, "Asia/Kolkata");
    let hot_url = hot_ch.run("start");
    let hot_db = clickhouse::unique_db("chaos_hot");
    let cold = ColdKind::ClickHouse {
        url: ch_url.clone(),
        database: db.clone(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    write_certs(&certs);
    let disk = SmallDisk::mount(&dir.path().join("nas"), "24m");
    if disk.is_none() {
        eprintln!("NOTE: cannot mount a tmpfs (not root): the staging disk will not be filled");
    }
    let gcfg = dir.path().join("nas.yaml");
    std::fs::write(
        &gcfg,
        gateway_yaml(dir.path(), "127.0.0.1:0", &certs, &cold),
    )
    .expect("nas.yaml");
    let mut gateway = Gateway::start(gcfg.clone(), dir.path().join("nas.log"), Vec::new());
    std::fs::write(
        &gcfg,
        gateway_yaml(dir.path(), &gateway.addr.to_string(), &certs, &cold),
    )
    .expect("pin port");
    let proxy = UdpProxy::start(gateway.addr).await.expect("relay");
    let opts = StackOptions {
        hot_retention: "2d".into(),
        // Slow enough that the archive is still moving while faults hit.
        bwlimit: "64KiB".into(),
        retry_interval: "1s".into(),
        idle_timeout: "2s".into(),
        hot_clickhouse: Some((hot_url.clone(), hot_db.clone())),
        ..Default::default()
    };
    let ccfg = dir.path().join("cloud.yaml");
    std::fs::write(&ccfg, cloud_yaml(dir.path(), proxy.addr, &certs, &opts)).expect("cloud.yaml");
    let cloud_log = dir.path().join("cloud.log");
    let cloud = Arc::new(Mutex::new(Cloud::start(
        ccfg.clone(),
        cloud_log.clone(),
        dir.path().join("cloud"),
    )));
    let url = cloud.lock().expect("cloud").url.clone();
    // Restarts must come back on the same HTTP port: pin it.
    let port = url.rsplit(':').next().unwrap_or("0").to_string();
    let pinned = std::fs::read_to_string(&ccfg).expect("cloud.yaml").replace(
        "http-listen: 127.0.0.1:0",
        &format!("http-listen: 127.0.0.1:{port}"),
    );
    std::fs::write(&ccfg, pinned).expect("pin port");

    // Old days for the archive to move while the faults hit.
    let schema = trades_schema();
    let now = now_ms();
    let start = Window::day_of(now - 24 * DAY_MS).start;
    let old = trades(
        start,
        Window::day_of(now - 3 * DAY_MS).end,
        300_000,
        seed % 997,
    );
    let http = reqwest::Client::new();
    for chunk in old.chunks(50_000) {
        let r = http
            .post(format!("{url}/v1/ingest/trades"))
            .body(ndjson(chunk))
            .send()
            .await
            .expect("ingest");
        assert_eq!(r.status(), 200);
    }
    // Now archive runs start every second, by themselves (the schedule is
    // off while the old days go in: a run would raise the ingest floor).
    {
        let mut c = cloud.lock().expect("cloud");
        c.kill("TERM");
        let yaml = std::fs::read_to_string(&ccfg).expect("cloud.yaml").replace(
            "schedule:\n  enabled: false\n",
            "schedule:\n  enabled: true\n  every: 1s\n  run-timeout: 1m\n",
        );
        assert!(yaml.contains("every: 1s"), "{yaml}");
        std::fs::write(&ccfg, yaml).expect("cloud.yaml");
        *c = Cloud::start(
            ccfg.clone(),
            cloud_log.with_extension("scheduled.log"),
            dir.path().join("cloud"),
        );
    }
    let mut all: HashMap<u64, serde_json::Value> = HashMap::new();
    let mut acked: HashSet<u64> = HashSet::new();
    for r in &old {
        let id = r["trade_id"].as_u64().expect("id");
        acked.insert(id);
        all.insert(id, r.clone());
    }

    // Continuous ingest of recent rows; ids never repeat.
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicU64::new(9_000_000_000));
    let live: Arc<Mutex<Live>> = Default::default();
    let ingester = {
        let (stop, next_id, live, url) = (stop.clone(), next_id.clone(), live.clone(), url.clone());
        let http = http.clone();
        tokio::spawn(async move {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let t = now_ms();
                let mut rows = trades(t - DAY_MS / 2, t, 200, k);
                for r in &mut rows {
                    r["trade_id"] = next_id.fetch_add(1, Ordering::Relaxed).into();
                }
                let ids: Vec<u64> = rows.iter().filter_map(|r| r["trade_id"].as_u64()).collect();
                let res = http
                    .post(format!("{url}/v1/ingest/trades"))
                    .body(ndjson(&rows))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let outcome = match res {
                    Ok(r) if r.status() == 200 => 1,
                    // Refused outright: nothing was stored.
                    Ok(_) => 0,
                    Err(e) if e.is_connect() => 0,
                    // No answer: stored or not, unknown.
                    Err(_) => 2,
                };
                {
                    let mut g = live.lock().unwrap_or_else(|p| p.into_inner());
                    g.0.extend(rows);
                    match outcome {
                        1 => g.1.extend(ids),
                        2 => g.2.extend(ids),
                        _ => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    let kinds = [
        (Fault::KillCloud, 3),
        (Fault::KillGateway, 3),
        (Fault::CutLine, 3),
        (Fault::RestartClickHouse, 1),
        (Fault::FillStaging, if disk.is_some() { 2 } else { 0 }),
        (Fault::CorruptChunk, 2),
    ];
    let total_w: u32 = kinds.iter().map(|k| k.1).sum();
    let mut counts: HashMap<Fault, usize> = HashMap::new();
    let began = Instant::now();
    // How many faults hit while the archive still had old days to move.
    let mut mid_archive = 0;
    let final_cutoff = Window::day_of(now_ms() - 2 * DAY_MS).start;
    for _ in 0..faults {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..1200))).await;
        let st = http
            .get(format!("{url}/v1/admin/status"))
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        if let Ok(r) = st {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            if v["watermarks"]["trades"].as_i64().unwrap_or(i64::MIN) < final_cutoff {
                mid_archive += 1;
            }
        }
        let mut pick = rng.gen_range(0..total_w);
        let fault = kinds
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map(|k| k.0)
            .unwrap_or(Fault::KillCloud);
        *counts.entry(fault).or_default() += 1;
        match fault {
            Fault::KillCloud => {
                let mut c = cloud.lock().expect("cloud");
                c.kill("KILL");
                *c = Cloud::start(
                    ccfg.clone(),
                    cloud_log.with_extension(format!("{}.log", rng.gen::<u32>())),
                    dir.path().join("cloud"),
                );
                assert_eq!(c.url, url, "the cloud came back on another port");
            }
            Fault::KillGateway => gateway.restart(Vec::new()),
            Fault::CutLine => {
                proxy.cut.store(true, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(rng.gen_range(300..3000))).await;
                proxy.cut.store(false, Ordering::Relaxed);
            }
            Fault::RestartClickHouse => {
                ch.run("stop");
                tokio::time::sleep(Duration::from_millis(rng.gen_range(100..1500))).await;
                ch.run("start");
            }
            Fault::FillStaging => {
                let filler = fill(&dir.path().join("nas/filler"));
                tokio::time::sleep(Duration::from_millis(rng.gen_range(300..2000))).await;
                let _ = std::fs::remove_file(&filler);
            }
            Fault::CorruptChunk => {
                corrupt_one(&dir.path().join("nas/staging"), "chunk", &mut rng);
            }
        }
    }
    let fault_secs = began.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = ingester.await;

    // Healed (every fault above ends healed); now drain.
    let c = cloud.lock().expect("cloud").url.clone();
    let cutoff = Window::day_of(now_ms() - 2 * DAY_MS).start;
    let deadline = Instant::now() + Duration::from_secs(180);
    let st = loop {
        let st: serde_json::Value = match http.get(format!("{c}/v1/admin/status")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let wm = st["watermarks"]["trades"].as_i64().unwrap_or(i64::MIN);
        let spool = files_under(&dir.path().join("cloud/spool")).len();
        let staged = files_under(&dir.path().join("nas/staging")).len();
        if wm >= cutoff && st["backlog"]["batches"] == 0 && spool == 0 && staged == 0 {
            break st;
        }
        if Instant::now() > deadline {
            for p in files_under(dir.path())
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
            {
                eprintln!(
                    "==== {} ====\n{}",
                    p.display(),
                    std::fs::read_to_string(p).unwrap_or_default()
                );
            }
            panic!("seed {seed}: did not drain: watermark {wm} (cutoff {cutoff}), spool {spool} files, staging {staged} files\n{st:#}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let failed = st["last_run"]["failed"].as_u64().unwrap_or(0);

    // What the stores hold, read independently of the programs' own code.
    let (live_rows, live_acked, live_unknown) = std::mem::take(&mut *live.lock().expect("live"));
    for r in live_rows {
        if let Some(id) = r["trade_id"].as_u64() {
            all.insert(id, r);
        }
    }
    acked.extend(live_acked.iter().copied());
    let hot_ids =
        clickhouse::u64s(&hot_url, &format!("SELECT trade_id FROM {hot_db}.trades")).await;
    let cold_ids = clickhouse::u64s(&ch_url, &format!("SELECT trade_id FROM {db}.trades")).await;
    let mut seen = HashSet::new();
    for id in hot_ids.iter().chain(&cold_ids) {
        assert!(seen.insert(*id), "seed {seed}: row {id} is there twice");
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|id| !seen.contains(id))
        .take(5)
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: acknowledged rows lost, e.g. {lost:?}"
    );
    let stray: Vec<_> = seen
        .iter()
        .filter(|id| !acked.contains(id) && !live_unknown.contains(id))
        .take(5)
        .collect();
    assert!(
        stray.is_empty(),
        "seed {seed}: rows that were refused are there: {stray:?}"
    );

    // Content, not only ids: the hash over hot and cold equals the hash of
    // the rows that should be there.
    let want_rows: Vec<serde_json::Value> =
        seen.iter().filter_map(|id| all.get(id).cloned()).collect();
    assert_eq!(
        want_rows.len(),
        seen.len(),
        "seed {seed}: rows of unknown origin"
    );
    let mut got =
        clickhouse::window_hash(&hot_url, &hot_db, &schema, Window::new(i64::MIN, i64::MAX))
            .await
            .expect("hot hash");
    let cold_hash: ContentHash =
        clickhouse::window_hash(&ch_url, &db, &schema, Window::new(i64::MIN, i64::MAX))
            .await
            .expect("cold hash");
    got.merge(cold_hash);
    assert_eq!(
        got,
        hash_json(&schema, &want_rows),
        "seed {seed}: content differs"
    );
    assert!(
        cold_ids.len() >= old.len() * 9 / 10,
        "the old days are in cold: {}",
        cold_ids.len()
    );

    let mut c: Vec<_> = counts.iter().map(|(k, v)| format!("{k:?} {v}")).collect();
    c.sort();
    eprintln!(
        "chaos seed {seed}: {faults} faults in {fault_secs:.0} s ({}), {mid_archive} of them before the archive was done; {} rows acknowledged, {} unanswered ({} of them stored); {} hot + {} cold, no loss, no double; failed batches in the last run {failed}",
        c.join(", "),
        acked.len(),
        live_unknown.len(),
        live_unknown.iter().filter(|id| seen.contains(id)).count(),
        hot_ids.len(),
        cold_ids.len(),
    );
    drop(gateway);
    drop(proxy);
    drop(disk);
}
