//! Snapshots across the pair, proved against real processes: a SQLite hot
//! store, a ClickHouse cold store in a non-UTC zone, ingest and an archive
//! run going on while snapshots of each level are taken. Then both data
//! directories and the cold database are destroyed, both sides restored,
//! and an independent reader (plain SQL, not our code) counts what came
//! back: every ingest request acknowledged before the snapshot, whole, and
//! none sent after it. The restored pair answers and archives on.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{ndjson, now_ms, seeds_in_sqlite, trades};
use hotcold_tests::procs::{bin, Cloud};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Rows of one ingest request: its seed is `trade_id / SEED`.
const SEED: u64 = 1_000_000_000;
const PER_REQUEST: usize = 300;

/// Rows per seed in the cold ClickHouse database, read over plain HTTP.
async fn seeds_in_clickhouse(url: &str, db: &str) -> BTreeMap<u64, u64> {
    let text = clickhouse::sql(
        url,
        &format!(
            "SELECT intDiv(trade_id, {SEED}) AS s, count() FROM {db}.trades GROUP BY s FORMAT TSV"
        ),
    )
    .await;
    let text = match text {
        Ok(t) => t,
        // Nothing committed yet (or restored): no table.
        Err(e) if e.to_string().contains("doesn't exist") => String::new(),
        Err(e) => panic!("cold seeds: {e}"),
    };
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.parse().expect("seed"), b.parse().expect("count")))
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn json_tail(out: &str) -> serde_json::Value {
    let at = out.find('{').expect("json in output");
    serde_json::from_str(&out[at..]).expect("json")
}

/// One ingest request as the background writer saw it.
#[derive(Clone, Copy)]
struct Sent {
    seed: u64,
    started: Instant,
    acked: Option<Instant>,
}

async fn snapshot(stack: &Stack, level: &str) -> (serde_json::Value, Instant, Instant) {
    let asked = Instant::now();
    let (s, v) = stack
        .cloud
        .post(&format!("/v1/admin/snapshots?level={level}"))
        .await;
    assert_eq!(s, 200, "{level}: {v}");
    (v, asked, Instant::now())
}

/// Every request acknowledged before the snapshot was asked for is there
/// whole; none sent after it answered is; nothing is there in part.
fn check_requests(hot: &BTreeMap<u64, u64>, sent: &[Sent], asked: Instant, answered: Instant) {
    for s in sent {
        let n = hot.get(&s.seed).copied().unwrap_or(0);
        assert!(
            n == 0 || n == PER_REQUEST as u64,
            "request {} is there in part: {n} rows",
            s.seed
        );
        if s.acked.is_some_and(|a| a < asked) {
            assert_eq!(n, PER_REQUEST as u64, "request {} acked before", s.seed);
        }
        if s.started > answered {
            assert_eq!(n, 0, "request {} sent after the snapshot", s.seed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_taken_under_load_restore_both_sides_exactly() {
    let Some(url) = clickhouse::url() else {
        return;
    };
    let db = clickhouse::unique_db("snapshot");
    let snaps = tempfile::tempdir().expect("snapshot dir");
    // Each delivery waits 300 ms, so the run is half-way through its six
    // days when the snapshots are taken: some committed, some not yet.
    let pauses = snaps.path().join("failpoints");
    std::fs::write(&pauses, "transfer=300\n").expect("failpoints");
    let mut stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: db.clone(),
        },
        extra_yaml: format!(
            "snapshot:\n  dir: {}\n  bounded-skew: 50ms\n",
            snaps.path().display()
        ),
        cloud_env: vec![(
            "HOTCOLD_TEST_FAILPOINTS".into(),
            pauses.display().to_string(),
        )],
        ..Default::default()
    });
    // Seeds 1-6: six old days (the last two larger), archived by the run
    // going on while the snapshots are taken.
    let d0 = Window::day_of(now_ms() - 9 * DAY_MS).start;
    for seed in 1..=6u64 {
        let day = d0 + (seed as i64 - 1) * DAY_MS;
        let n = if seed > 4 { 20_000 } else { 3_000 };
        let rows = trades(day, day + DAY_MS, n, seed);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }

    // A writer of small requests into the last hour, each one seed.
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let writer = {
        let (stop, sent, cloud_url) = (stop.clone(), sent.clone(), stack.cloud.url.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut seed = 100u64;
            while !stop.load(Ordering::Relaxed) {
                let now = now_ms();
                let rows = trades(now - 3_600_000, now - 1_000, PER_REQUEST, seed);
                let started = Instant::now();
                let i = {
                    let mut s = sent.lock().expect("lock");
                    s.push(Sent {
                        seed,
                        started,
                        acked: None,
                    });
                    s.len() - 1
                };
                let r = http
                    .post(format!("{cloud_url}/v1/ingest/trades"))
                    .body(ndjson(&rows))
                    .send()
                    .await
                    .expect("ingest");
                assert_eq!(r.status(), 200);
                sent.lock().expect("lock")[i].acked = Some(Instant::now());
                seed += 1;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let archive = {
        let cloud_url = stack.cloud.url.clone();
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{cloud_url}/v1/admin/archive"))
                .send()
                .await
                .expect("archive");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        })
    };
    let mut taken = Vec::new();
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    for level in ["strict", "bounded", "eventual"] {
        taken.push(snapshot(&stack, level).await);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let (s, r) = archive.await.expect("archive task");
    assert_eq!((s, r["failed"].as_u64()), (200, Some(0)), "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let sent = sent.lock().expect("lock").clone();
    assert!(
        sent.len() > 10,
        "the writer kept going: {} requests",
        sent.len()
    );

    let (strict, asked, answered) = &taken[0];
    eprintln!(
        "snapshots: {:#}",
        serde_json::json!(taken.iter().map(|t| &t.0).collect::<Vec<_>>())
    );
    assert_eq!(strict["level"], "strict");
    assert!(strict["pause_us"].as_u64().expect("pause") > 0);
    let bounded = &taken[1].0;
    assert!(
        bounded["skew_us"].as_u64().expect("skew") <= 50_000,
        "bounded skew within the limit: {bounded}"
    );
    assert_eq!(bounded["pause_us"], 0);
    // Each is an increment on the one before (the increments' sizes are
    // measured by the next test, where nothing purges in between).
    for k in 1..taken.len() {
        assert_eq!(taken[k].0["base"], taken[k - 1].0["id"], "{}", taken[k].0);
    }

    // The strict snapshot is of the pair: the NAS took its own right after
    // the cloud's point. Another, by the NAS's CLI with the gateway running,
    // holds every window committed since.
    let pair_cold = strict["cold"].clone();
    assert!(pair_cold["id"].is_string(), "the NAS's half: {strict}");
    assert!(
        pair_cold["windows"].as_u64() > Some(0),
        "the run had committed days by then: {strict}"
    );
    let nas_cfg = stack.gateway.config.clone();
    let out = run(Command::new(bin("nas-gateway"))
        .args(["snapshot", "create", "--config"])
        .arg(&nas_cfg));
    let nas_snap = json_tail(&out);
    let cold_before = seeds_in_clickhouse(&url, &db).await;
    assert_eq!(
        nas_snap["rows"].as_u64(),
        Some(cold_before.values().sum::<u64>()),
        "{nas_snap}"
    );

    // Every level's cloud snapshot restores, into scratch data dirs, to
    // whole requests only: what the service answered for them.
    let cloud_cfg = stack.cloud.config.clone();
    let yaml = std::fs::read_to_string(&cloud_cfg).expect("cloud.yaml");
    let data_dir = stack.cloud.data_dir.clone();
    for (i, (v, asked, answered)) in taken.iter().enumerate() {
        let scratch = stack.dir.path().join(format!("scratch-{i}"));
        let cfg = stack.dir.path().join(format!("scratch-{i}.yaml"));
        std::fs::write(
            &cfg,
            yaml.replace(
                &format!("data-dir: {}", data_dir.display()),
                &format!("data-dir: {}", scratch.display()),
            ),
        )
        .expect("scratch config");
        let id = v["id"].as_str().expect("id");
        let out = run(Command::new(bin("cloud-service"))
            .args(["restore", id, "--config"])
            .arg(&cfg));
        let restored = json_tail(&out);
        let hot = seeds_in_sqlite(&scratch.join("hot.db"));
        assert_eq!(Some(hot.values().sum::<u64>()), v["rows"].as_u64(), "{v}");
        assert_eq!(restored["rows"], v["rows"]);
        check_requests(&hot, &sent, *asked, *answered);
    }

    // Lose everything: both processes, both data dirs, the cold database.
    stack.cloud.kill("KILL");
    stack.gateway.kill("KILL");
    std::fs::remove_dir_all(&data_dir).expect("rm cloud data");
    std::fs::remove_dir_all(stack.dir.path().join("nas")).expect("rm nas data");
    clickhouse::sql(&url, &format!("DROP DATABASE {db}"))
        .await
        .expect("drop cold db");

    // The pair restores from the strict snapshot: the NAS from its half.
    let nas_id = pair_cold["id"].as_str().expect("nas id");
    let out = run(Command::new(bin("nas-gateway"))
        .args(["restore", nas_id, "--config"])
        .arg(&nas_cfg));
    assert_eq!(json_tail(&out)["rows"], pair_cold["rows"], "{out}");
    let cold_restored = seeds_in_clickhouse(&url, &db).await;
    assert_eq!(
        Some(cold_restored.values().sum::<u64>()),
        pair_cold["rows"].as_u64()
    );
    for (seed, n) in &cold_restored {
        assert_eq!(cold_before.get(seed), Some(n), "seed {seed} as it was");
    }
    let strict_id = strict["id"].as_str().expect("id");
    run(Command::new(bin("cloud-service"))
        .args(["restore", strict_id, "--config"])
        .arg(&cloud_cfg));
    let hot = seeds_in_sqlite(&data_dir.join("hot.db"));
    check_requests(&hot, &sent, *asked, *answered);

    // The restored pair: the journal agrees with the restored ledger, each
    // row of the snapshot is answered once, and the archive goes on.
    stack.gateway.restart(vec![]);
    stack.cloud = Cloud::start(
        cloud_cfg,
        stack.dir.path().join("cloud-restored.log"),
        data_dir.clone(),
    );
    let (s, v) = stack.cloud.get("/v1/admin/verify").await;
    assert_eq!(s, 200, "{v}");
    let v: serde_json::Value = serde_json::from_str(&v).expect("verify json");
    assert_eq!(v["ok"], true, "{v:#}");
    let mut want: BTreeMap<u64, u64> = hot.clone();
    for (seed, n) in &cold_restored {
        // A day both in the restored hot store and in cold (archived after
        // the cloud's point) is answered from one side, by the watermark.
        want.entry(*seed).or_insert(*n);
    }
    let answered_rows = |rows: Vec<serde_json::Value>| {
        let mut m = BTreeMap::new();
        for r in rows {
            *m.entry(r["trade_id"].as_u64().expect("trade_id") / SEED)
                .or_insert(0u64) += 1;
        }
        m
    };
    let all = format!("from={d0}&to={}&limit=10000000", now_ms() + 1);
    assert_eq!(
        answered_rows(stack.cloud.query_rows("trades", &all).await),
        want
    );
    let (s, r) = stack.cloud.archive_when_idle().await;
    assert_eq!((s, r["failed"].as_u64()), (200, Some(0)), "{r}");
    assert_eq!(
        answered_rows(stack.cloud.query_rows("trades", &all).await),
        want
    );
    let _ = clickhouse::sql(&url, &format!("DROP DATABASE IF EXISTS {db}")).await;
}

/// Rows per seed over the live service's own answer.
async fn seeds_answered(cloud: &Cloud, from: i64) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    let q = format!("from={from}&to={}&limit=10000000", now_ms() + 1);
    for r in cloud.query_rows("trades", &q).await {
        *m.entry(r["trade_id"].as_u64().expect("trade_id") / SEED)
            .or_insert(0u64) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_write_what_changed_and_damage_is_refused_by_name() {
    let snaps = tempfile::tempdir().expect("snapshot dir");
    let stack = Stack::start(StackOptions {
        extra_yaml: format!("snapshot:\n  dir: {}\n", snaps.path().display()),
        ..Default::default()
    });
    // A day of hot rows, hour after hour: 24 ranges.
    let start = Window::day_of(now_ms() - 36 * 3_600_000).start;
    let rows = trades(start, start + DAY_MS, 48_000, 1);
    stack.cloud.ingest_all("trades", &rows).await;
    let (_, base) = stack.cloud.post("/v1/admin/snapshots?level=strict").await;
    assert!(base["ranges"].as_u64() >= Some(24), "{base}");
    let full = base["bytes_written"].as_u64().expect("bytes");
    // Three increments, each after new rows in one hour of that day.
    let mut chain = vec![base.clone()];
    for k in 0..3u64 {
        let hour = start + (5 + k as i64) * 3_600_000;
        let more = trades(hour, hour + 3_600_000, 500, 10 + k);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&more)).await.0, 200);
        let (s, v) = stack.cloud.post("/v1/admin/snapshots?level=strict").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["base"], chain.last().expect("prev")["id"]);
        let written = v["bytes_written"].as_u64().expect("bytes");
        eprintln!(
            "increment {}: wrote {written} bytes of {} ({:.1}% of the full {full})",
            k + 1,
            v["bytes"],
            100.0 * written as f64 / full as f64
        );
        // One hour of 24 changed, plus the journal's copy.
        assert!(
            written * 5 < full,
            "increment {k} wrote {written} of {full}"
        );
        chain.push(v);
    }
    let live = seeds_answered(&stack.cloud, start).await;

    let (s, list) = stack.cloud.get("/v1/admin/snapshots").await;
    assert_eq!(s, 200);
    let list: serde_json::Value = serde_json::from_str(&list).expect("list");
    assert_eq!(
        list["snapshots"].as_array().map(Vec::len),
        Some(4),
        "{list}"
    );

    // The base goes; the increments share its unchanged hours and still verify.
    let cfg = stack.cloud.config.clone();
    let base_id = base["id"].as_str().expect("id");
    run(Command::new(bin("cloud-service"))
        .args(["snapshot", "delete", base_id, "--config"])
        .arg(&cfg));
    let last = chain[3]["id"].as_str().expect("id");
    let out = run(Command::new(bin("cloud-service"))
        .args(["snapshot", "verify", last, "--config"])
        .arg(&cfg));
    assert!(out.contains("ok"), "{out}");

    // The last of the chain restores to the rows the service answers now.
    let yaml = std::fs::read_to_string(&cfg).expect("yaml");
    let data = stack.cloud.data_dir.display().to_string();
    let scratch = |name: &str| {
        let d = stack.dir.path().join(name);
        let p = stack.dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &p,
            yaml.replace(
                &format!("data-dir: {data}"),
                &format!("data-dir: {}", d.display()),
            ),
        )
        .expect("scratch yaml");
        (d, p)
    };
    let (d, p) = scratch("restored");
    run(Command::new(bin("cloud-service"))
        .args(["restore", last, "--config"])
        .arg(&p));
    assert_eq!(seeds_in_sqlite(&d.join("hot.db")), live);

    // Damage: one flipped byte in a range file the last snapshot needs.
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(snaps.path().join(last).join("manifest.json")).expect("manifest"),
    )
    .expect("manifest json");
    let file = m["ranges"][3]["file"].as_str().expect("file").to_string();
    let pool = snaps.path().join("pool").join(&file);
    let mut bytes = std::fs::read(&pool).expect("range file");
    let original = bytes.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&pool, &bytes).expect("damage");
    let (d, p) = scratch("damaged");
    let out = Command::new(bin("cloud-service"))
        .args(["restore", last, "--config"])
        .arg(&p)
        .output()
        .expect("restore");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a damaged snapshot restored");
    assert!(err.contains(&file), "the error names the file: {err}");
    assert!(
        !d.join("hot.db").exists() && !d.join("journal.db").exists(),
        "nothing half-way"
    );
    // Truncated: the journal's copy of the second snapshot.
    std::fs::write(&pool, &original).expect("undo");
    let second = chain[1]["id"].as_str().expect("id");
    let journal = snaps.path().join(second).join("journal.db");
    let j = std::fs::read(&journal).expect("journal copy");
    std::fs::write(&journal, &j[..j.len() / 2]).expect("truncate");
    let out = Command::new(bin("cloud-service"))
        .args(["snapshot", "verify", second, "--config"])
        .arg(&cfg)
        .output()
        .expect("verify");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("journal.db"), "{err}");
    // A restore into a data dir that holds a store is refused.
    let out = Command::new(bin("cloud-service"))
        .args(["restore", last, "--config"])
        .arg(&cfg)
        .output()
        .expect("restore");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("fresh data directory"),
        "{err}"
    );
    // The NAS's side: an archived day, its snapshot, a damaged range file
    // refused by verify and by restore, naming it.
    let old_day = Window::day_of(now_ms() - 5 * DAY_MS).start;
    let rows = trades(old_day, old_day + DAY_MS, 3_000, 50);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, r["failed"].as_u64()), (200, Some(0)), "{r}");
    let nas_cfg = stack.gateway.config.clone();
    let nas = json_tail(&run(Command::new(bin("nas-gateway"))
        .args(["snapshot", "create", "--config"])
        .arg(&nas_cfg)));
    assert_eq!(nas["rows"], 3_000, "{nas}");
    let nas_id = nas["id"].as_str().expect("id");
    let nas_dir = stack.dir.path().join("nas-snapshots/nas");
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(nas_dir.join(nas_id).join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let file = m["ranges"][0]["file"].as_str().expect("file").to_string();
    let pool = nas_dir.join("pool").join(&file);
    let mut bytes = std::fs::read(&pool).expect("range");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&pool, &bytes).expect("damage");
    for args in [vec!["snapshot", "verify", nas_id], vec!["restore", nas_id]] {
        let out = Command::new(bin("nas-gateway"))
            .args(&args)
            .arg("--config")
            .arg(&nas_cfg)
            .output()
            .expect("nas-gateway");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(&file),
            "{args:?}: {err}"
        );
    }

    let (s, v) = stack
        .cloud
        .post("/v1/admin/snapshots?level=sometimes")
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("sometimes")),
        "{v}"
    );
}

/// The standalone edition: one process with both tiers. A snapshot holds
/// the cold tier's half too; both data dirs go; one restore brings back
/// both tiers, and the service answers every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_edition_snapshots_and_restores_both_tiers() {
    use hotcold_tests::stack::ColdKind;
    use hotcold_tests::standalone::standalone_yaml;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("standalone.yaml");
    std::fs::write(
        &cfg,
        format!(
            "{}snapshot:\n  dir: {}\n",
            standalone_yaml(dir.path(), &ColdKind::Sqlite, "2d"),
            dir.path().join("snapshots").display()
        ),
    )
    .expect("config");
    let hot_dir = dir.path().join("hot");
    let mut cloud = Cloud::start(cfg.clone(), dir.path().join("cloud-0.log"), hot_dir.clone());
    let d0 = Window::day_of(now_ms() - 6 * DAY_MS).start;
    for k in 0..3i64 {
        let rows = trades(d0 + k * DAY_MS, d0 + (k + 1) * DAY_MS, 2_000, k as u64 + 1);
        assert_eq!(cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }
    let (s, r) = cloud.archive().await;
    assert_eq!((s, r["failed"].as_u64()), (200, Some(0)), "{r}");
    let recent = trades(now_ms() - 3_600_000, now_ms() - 1_000, 700, 9);
    assert_eq!(cloud.ingest("trades", ndjson(&recent)).await.0, 200);
    let (s, snap) = cloud.post("/v1/admin/snapshots").await;
    assert_eq!(s, 200, "{snap}");
    assert_eq!(snap["rows"], 700, "hot: {snap}");
    assert_eq!(snap["cold"]["rows"], 6_000, "the cold tier's half: {snap}");

    cloud.kill("KILL");
    std::fs::remove_dir_all(&hot_dir).expect("rm hot");
    std::fs::remove_dir_all(dir.path().join("cold")).expect("rm cold");
    let out = run(Command::new(bin("cloud-service"))
        .args(["restore", snap["id"].as_str().expect("id"), "--config"])
        .arg(&cfg));
    assert!(out.contains("cold tier: snapshot"), "{out}");
    let cloud = Cloud::start(cfg, dir.path().join("cloud-1.log"), hot_dir);
    let q = format!("from={d0}&to={}&limit=1000000", now_ms() + 1);
    assert_eq!(cloud.query_rows("trades", &q).await.len(), 6_700);
    let (s, v) = cloud.get("/v1/admin/verify").await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&v).expect("verify");
    assert_eq!(
        (v["ok"].as_bool(), v["checked"].as_u64()),
        (Some(true), Some(3)),
        "{v:#}"
    );
}
