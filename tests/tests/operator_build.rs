//! The binaries an operator builds (`cargo build -p cloud-service -p
//! nas-gateway`, as the Dockerfile does, without the test harness) carry no
//! test hooks: the failpoint that would abort the gateway mid-commit and
//! the pause that would hold each batch before its purge are both ignored.
//! `scripts/test.sh` builds them into `HOTCOLD_OPERATOR_BIN_DIR`.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::time::{Duration, Instant};

#[test]
fn operator_binaries_ignore_the_test_hooks() {
    let Some(dir) = std::env::var_os("HOTCOLD_OPERATOR_BIN_DIR") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: HOTCOLD_OPERATOR_BIN_DIR is not set (scripts/test.sh builds the operator binaries)"
        );
        println!("SKIPPED: HOTCOLD_OPERATOR_BIN_DIR not set (scripts/test.sh sets it)");
        return;
    };
    // Before any thread exists: every process this test starts comes from there.
    std::env::set_var("HOTCOLD_BIN_DIR", &dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let stack = Stack::start(StackOptions {
            // With hooks, the gateway would die after its first insert and
            // the cloud would sit two minutes before each purge.
            gateway_env: vec![(
                "NAS_GATEWAY_FAILPOINTS".into(),
                "before-insert=abort;;after-insert=abort;;after-ledger=abort".into(),
            )],
            cloud_env: vec![
                ("HOTCOLD_TEST_PAUSE_BEFORE_PURGE_MS".into(), "120000".into()),
                (
                    "CLOUD_SERVICE_FAILPOINTS".into(),
                    "after-export=abort;;after-commit=abort;;after-confirm=abort;;during-purge=abort"
                        .into(),
                ),
            ],
            ..Default::default()
        });
        let now = now_ms();
        let start = Window::day_of(now - 5 * DAY_MS).start;
        let end = Window::day_of(now - 3 * DAY_MS).end;
        let rows = trades(start, end, 30_000, 9);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
        let t = Instant::now();
        let (s, r) = stack.cloud.archive().await;
        assert_eq!(s, 200, "{r:#}");
        assert_eq!(r["failed"], 0, "{r:#}");
        assert_eq!(r["pending"], 0, "{r:#}");
        assert_eq!(
            r["rows_archived"].as_u64(),
            Some(rows.len() as u64),
            "{r:#}"
        );
        let schema = hotcold_tests::data::trades_schema();
        assert_eq!(
            stack.cloud.hot_count(&schema, Window::new(start, end)),
            0,
            "purged"
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the purge pause hook acted: {:?}",
            t.elapsed()
        );
        // The gateway lived through every commit point and serves cold.
        let got = stack
            .cloud
            .query_rows("trades", &format!("from={start}&to={end}"))
            .await;
        assert_eq!(got.len(), rows.len());
        let log = std::fs::read_to_string(&stack.gateway.log).unwrap_or_default();
        assert!(!log.contains("failpoint hit"), "{log}");
    });
}
