//! A line that loses too many packets, or whose round trip swings too
//! much: the archive stops sending, says why in its report, status and
//! metrics, keeps the rows hot and the batches in the spool, and goes on by
//! itself once the line has settled; every row arrives exactly once. The
//! line is a loopback relay dropping 30 % of the datagrams each way, or
//! holding them 5 ms and 400 ms in turn (a buffer that fills and drains).

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster_checks::ALL;
use hotcold_tests::procs::{Cloud, Gateway};
use hotcold_tests::proxy::UdpProxy;
use hotcold_tests::stack::{cloud_yaml, gateway_yaml, write_certs, ColdKind, StackOptions};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_line_defers_the_archive_until_it_passes() {
    defers_until_it_passes(
        "defer-loss: 0.1",
        |p| p.set_loss(0.3),
        |p| p.set_loss(0.0),
        "defer-loss 10%",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swinging_round_trip_defers_the_archive_until_it_settles() {
    defers_until_it_passes(
        "defer-rtt-spread: 100ms",
        |p| {
            p.set_swing(Some((
                Duration::from_millis(5),
                Duration::from_millis(400),
                Duration::from_millis(1500),
            )))
        },
        |p| p.set_swing(None),
        "defer-rtt-spread 100ms",
    )
    .await;
}

/// Archives four days through a relay that `spoil` makes bad and `heal`
/// good again, with `setting` in `link:`; the deferral must name `reason`.
async fn defers_until_it_passes(
    setting: &str,
    spoil: impl Fn(&UdpProxy),
    heal: impl Fn(&UdpProxy),
    reason: &str,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    write_certs(&certs);
    let gcfg = dir.path().join("nas.yaml");
    std::fs::write(
        &gcfg,
        gateway_yaml(dir.path(), "127.0.0.1:0", &certs, &ColdKind::Sqlite),
    )
    .expect("nas.yaml");
    let gateway = Gateway::start(gcfg, dir.path().join("nas.log"), Vec::new());
    let proxy = UdpProxy::start(gateway.addr).await.expect("relay");
    let opts = StackOptions {
        bwlimit: "256KiB".into(),
        idle_timeout: "20s".into(),
        ..Default::default()
    };
    let ccfg = dir.path().join("cloud.yaml");
    std::fs::write(
        &ccfg,
        cloud_yaml(dir.path(), proxy.addr, &certs, &opts).replacen(
            "link:\n",
            &format!("link:\n  {setting}\n"),
            1,
        ),
    )
    .expect("cloud.yaml");
    let cloud = Cloud::start(ccfg, dir.path().join("cloud.log"), dir.path().join("cloud"));
    let schema = trades_schema();
    let first = Window::day_of(now_ms() - 8 * DAY_MS);
    let rows = trades(first.start, first.start + 4 * DAY_MS, 60_000, 9);
    cloud.ingest_all("trades", &rows).await;

    spoil(&proxy);
    let t0 = Instant::now();
    let mut deferred = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while deferred.is_none() {
        assert!(
            Instant::now() < deadline,
            "the bad line never deferred the archive"
        );
        let (s, r) = cloud.archive_when_idle().await;
        assert_eq!(s, 200, "{r:#}");
        if let Some(why) = r["offline"].as_str().filter(|w| w.contains("deferred")) {
            deferred = Some(why.to_string());
        }
    }
    eprintln!("deferred after {:.1} s", t0.elapsed().as_secs_f64());
    let why = deferred.unwrap_or_default();
    assert!(why.contains(reason), "{why}");
    let status = cloud.status().await;
    assert!(
        status["link"]["deferred"]["reason"].is_string(),
        "{status:#}"
    );
    let metrics = cloud.get("/metrics").await.1;
    assert!(metrics.contains("hotcold_link_deferred 1"), "{metrics}");
    if reason.contains("rtt") {
        let sd = status["link"]["rtt_spread_ms"].as_f64().unwrap_or(0.0);
        assert!(sd > 100.0, "the spread that deferred: {status:#}");
        assert!(
            metrics.contains("hotcold_link_rtt_spread_seconds"),
            "{metrics}"
        );
    }
    assert!(
        cloud.hot_count(&schema, ALL) > 0,
        "what was not archived stays hot"
    );

    // The line settles: once the old measurement is stale, runs go on.
    heal(&proxy);
    let t1 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (s, r) = cloud.archive_when_idle().await;
        assert_eq!(s, 200, "{r:#}");
        if cloud.hot_count(&schema, ALL) == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the archive did not go on after the line settled: {r:#}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    eprintln!(
        "archived {:.1} s after the line settled",
        t1.elapsed().as_secs_f64()
    );
    let conn = rusqlite::Connection::open(dir.path().join("nas/cold.db")).expect("cold.db");
    let cold = hotcold_sqlite::content_hash(&conn, &schema, ALL).expect("cold");
    assert_eq!(cold, hash_json(&schema, &rows), "every row once");
    let metrics = cloud.get("/metrics").await.1;
    assert!(metrics.contains("hotcold_link_deferred 0"), "{metrics}");
    drop(gateway);
}
