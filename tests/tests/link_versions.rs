//! Link protocol versions: each side offers `hotcold/2` and names the older
//! `hotcold/1`, so a peer of the previous release gets a refusal naming both
//! versions instead of a bare TLS alert, and never a batch half understood.
//! Both directions: a previous-release cloud (hand-driven, speaking only
//! `hotcold/1` and sending its frames) against today's gateway, and
//! today's cloud against a previous-release gateway.

use hotcold_core::frame::Frame;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_link::framed::FramedStream;
use hotcold_link::{LinkTuning, TlsFiles};
use hotcold_tests::data::{now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster_checks::ALL;
use hotcold_tests::procs::Cloud;
use hotcold_tests::stack::{cloud_yaml, write_certs, StackOptions};
use hotcold_tests::Stack;
use std::path::Path;

fn files(certs: &Path, me: &str, peer: &str) -> TlsFiles {
    TlsFiles {
        ca: certs.join("ca.pem"),
        cert: certs.join(format!("{me}.pem")),
        key: certs.join(format!("{me}.key")),
        peer: Some(certs.join(format!("{peer}.pem"))),
    }
}

fn names_both(text: &str) -> bool {
    text.contains("hotcold/1") && text.contains("hotcold/2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_release_cloud_is_refused_by_name_and_nothing_is_staged() {
    let stack = Stack::start(StackOptions::default());
    let certs = stack.dir.path().join("certs");
    let tls = files(&certs, "cloud-service", "nas-gateway");
    let ep = hotcold_link::endpoint::client_endpoint_speaking(
        &tls,
        &LinkTuning::default(),
        &["hotcold/1"],
    )
    .expect("endpoint");
    let conn = ep
        .connect(stack.gateway.addr, hotcold_link::SERVER_NAME)
        .expect("connect")
        .await
        .expect("the handshake agrees on hotcold/1");
    // The old cloud goes on as it would: an offer of a batch.
    let day = Window::day_of(now_ms() - 4 * DAY_MS);
    let rows = trades(day.start, day.end, 500, 1);
    let (m, _) = hotcold_tests::rawlink::manifest_for("trades-1-2-1", &rows, day);
    let sent = async {
        let (send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        let mut s = FramedStream::new(send, recv, 32 << 20);
        s.write_frame(&Frame::Offer(Box::new(m)))
            .await
            .map_err(|e| e.to_string())?;
        s.expect_frame().await.map_err(|e| e.to_string())
    }
    .await;
    assert!(
        sent.is_err(),
        "the gateway must not answer an old offer: {sent:?}"
    );
    let why = conn.closed().await.to_string();
    assert!(names_both(&why), "the close names both versions: {why}");
    let staged = std::fs::read_dir(stack.dir.path().join("nas/staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "nothing of the old cloud's batch is staged");
    let log = std::fs::read_to_string(&stack.gateway.log).unwrap_or_default();
    assert!(
        log.contains("link refused") && names_both(&log),
        "the gateway logs the refusal: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_cloud_refuses_a_previous_release_gateway_by_name_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    write_certs(&certs);
    // The old gateway: it speaks hotcold/1 only, and records why it was
    // hung up on.
    let ep = hotcold_link::endpoint::server_endpoint_speaking(
        "127.0.0.1:0".parse().expect("addr"),
        &files(&certs, "nas-gateway", "cloud-service"),
        &LinkTuning::default(),
        &["hotcold/1"],
    )
    .expect("old gateway");
    let addr = ep.local_addr().expect("addr");
    let (tx, mut closes) = tokio::sync::mpsc::unbounded_channel();
    let old = tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            if let Ok(conn) = incoming.await {
                let _ = tx.send(conn.closed().await.to_string());
            }
        }
    });
    let cfg = dir.path().join("cloud.yaml");
    std::fs::write(
        &cfg,
        cloud_yaml(dir.path(), addr, &certs, &StackOptions::default()),
    )
    .expect("cloud.yaml");
    let cloud = Cloud::start(cfg, dir.path().join("cloud.log"), dir.path().join("cloud"));
    let schema = trades_schema();
    let day = Window::day_of(now_ms() - 4 * DAY_MS);
    let rows = trades(day.start, day.end, 2_000, 2);
    cloud.ingest_all("trades", &rows).await;
    let (s, r) = cloud.archive().await;
    assert_eq!(s, 200, "{r:#}");
    assert_eq!(r["rows_archived"], 0, "{r:#}");
    assert!(
        names_both(&r.to_string()),
        "the report names both versions: {r:#}"
    );
    assert_eq!(
        cloud.hot_count(&schema, ALL),
        rows.len() as u64,
        "hot keeps every row"
    );
    let (_, health) = cloud.get("/health").await;
    assert!(
        health.contains("the gateway speaks link protocol hotcold/1 and this side hotcold/2"),
        "{health}"
    );
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), closes.recv())
        .await
        .expect("the old gateway saw a connection")
        .expect("close reason");
    assert!(names_both(&seen), "the old gateway is told why: {seen}");
    old.abort();
}
