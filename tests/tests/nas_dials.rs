//! The NAS dials the cloud (`link.direction: nas-dials`), over loopback:
//! the cloud waits and says so; once the gateway dials, archive and cold
//! queries work as when the cloud dials; a gateway killed and started again
//! dials back and the archive resumes; a gateway with another certificate
//! from the same CA is refused by the pin and logged (a certificate of
//! another CA fails the chain check before the pin). The NAT case is
//! `nas_dials_nat.rs`.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster_checks::ALL;
use hotcold_tests::nas_dials::DialPair;
use hotcold_tests::procs::Gateway;
use hotcold_tests::stack::StackOptions;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nas_dials_and_everything_above_the_connection_is_unchanged() {
    let mut pair = DialPair::cloud_first(StackOptions::default(), None);
    let schema = trades_schema();

    // No gateway yet: the cloud says it waits, and since when.
    let (_, h) = pair.cloud.get("/health").await;
    let h: Value = serde_json::from_str(&h).expect("health");
    let link = &h["components"]["link"];
    assert_eq!(link["status"], "degraded", "{h:#}");
    assert!(
        link["detail"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("waiting for the NAS to connect"),
        "{h:#}"
    );
    assert!(link["detail"]["unreachable_since"].is_string(), "{h:#}");
    let status = pair.cloud.status().await;
    assert_eq!(status["link"]["direction"], "nas-dials", "{status:#}");
    assert!(
        status["link"]["unreachable"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("waiting for the NAS to connect"),
        "{status:#}"
    );
    assert!(
        status["link"]["unreachable"]["since"].is_string(),
        "{status:#}"
    );
    // An archive now keeps everything hot: the NAS is not there.
    let day = Window::day_of(now_ms() - 5 * DAY_MS);
    let rows = trades(day.start, day.end + DAY_MS, 8_000, 1);
    pair.cloud.ingest_all("trades", &rows).await;
    let (s, r) = pair.cloud.archive().await;
    assert_eq!(s, 200, "{r:#}");
    assert_eq!(r["rows_archived"], 0, "{r:#}");
    assert_eq!(pair.cloud.hot_count(&schema, ALL), rows.len() as u64);

    // The gateway dials: the next run archives, queries read cold.
    pair.start_gateway(None);
    pair.wait_connected(20).await;
    let (s, r) = pair.cloud.archive_when_idle().await;
    assert_eq!((s, &r["failed"]), (200, &serde_json::json!(0)), "{r:#}");
    assert_eq!(r["rows_archived"], rows.len(), "{r:#}");
    let q = format!("from={}&to={}&limit=1000000", day.start, day.end + DAY_MS);
    let answered = pair.cloud.query_rows("trades", &q).await;
    assert_eq!(hash_json(&schema, &answered), hash_json(&schema, &rows));

    // Killed, the cloud notices and waits again; started, it dials back.
    pair.kill_gateway();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, h) = pair.cloud.get("/health").await;
        if h.contains("waiting for the NAS to connect") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{h}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Another range than the one just answered (that one is cached).
    let q2 = format!("from={}&to={}&limit=1000000", day.start + 1, day.end);
    let (s, _, body) = pair.cloud.query("trades", &q2).await;
    assert_eq!(s, 503, "cold unreachable is a 503 naming it: {body}");
    pair.start_gateway(None);
    pair.wait_connected(20).await;
    let answered = pair.cloud.query_rows("trades", &q).await;
    assert_eq!(hash_json(&schema, &answered), hash_json(&schema, &rows));

    // A gateway with another certificate of the same CA dials: refused,
    // logged, and the real one stays connected.
    let rogue_cfg = pair.dir.path().join("rogue.yaml");
    let real = std::fs::read_to_string(&pair.gateway_config).expect("cfg");
    let certs = pair.dir.path().join("certs");
    std::fs::write(
        &rogue_cfg,
        real.replace(
            &format!("{}/nas-gateway", certs.display()),
            &format!("{}/rogue/nas-gateway", certs.display()),
        )
        .replace(
            &format!("data-dir: {}", pair.dir.path().join("nas").display()),
            &format!("data-dir: {}", pair.dir.path().join("rogue-nas").display()),
        ),
    )
    .expect("rogue cfg");
    let rogue = Gateway::start(rogue_cfg, pair.dir.path().join("rogue.log"), Vec::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !pair
        .cloud_log()
        .contains("refused a connection dialling in")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the rogue gateway was not refused: {}",
            pair.cloud_log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let log = pair.cloud_log();
    assert!(
        log.contains("not the pinned one"),
        "the reason is logged: {log}"
    );
    drop(rogue);
    pair.wait_connected(5).await;
    let answered = pair.cloud.query_rows("trades", &q).await;
    assert_eq!(hash_json(&schema, &answered), hash_json(&schema, &rows));
}
