//! The cost report against a real pair: the hot store's bytes are the
//! SQLite files' sizes read here, the NAS's rows and bytes and the link's
//! bytes per day are the journal's batches (as status lists them), and the
//! monthly figures are those bytes at the configured prices; the CLI
//! prints it; a negative price stops the service naming the key.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::procs::bin;
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_report_adds_up_what_is_stored_and_sent() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "cost:\n  cloud-disk-per-gb-month: 0.10\n  egress-per-gb: 0.09\n  nas-per-month: 20\n  currency: EUR\n".into(),
        ..Default::default()
    });
    let d0 = Window::day_of(now_ms() - 6 * DAY_MS).start;
    let old = trades(d0, d0 + 3 * DAY_MS, 30_000, 1);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&old)).await.0, 200);
    let recent = trades(now_ms() - 3_600_000, now_ms() - 1_000, 5_000, 2);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&recent)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");

    let status = stack.cloud.status().await;
    let purged: Vec<&serde_json::Value> = status["recent_batches"]
        .as_array()
        .expect("batches")
        .iter()
        .filter(|b| b["state"] == "purged")
        .collect();
    assert_eq!(purged.len(), 3, "{status:#}");
    let sum = |k: &str| purged.iter().map(|b| b[k].as_u64().unwrap()).sum::<u64>();
    let (archived_bytes, sent) = (sum("bytes"), sum("sent_bytes"));
    assert!(sent >= archived_bytes && archived_bytes > 0);

    // The hot file settles once the checkpoint thread is done with it.
    let files = || {
        let db = stack.cloud.data_dir.join("hot.db");
        let len = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        len(db.clone()) + len(db.with_file_name("hot.db-wal"))
    };
    let mut v = serde_json::Value::Null;
    for _ in 0..20 {
        let (s, body) = stack.cloud.get("/v1/admin/cost").await;
        assert_eq!(s, 200, "{body}");
        v = serde_json::from_str(&body).expect("cost json");
        if v["hot"]["bytes"] == files() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let hot_bytes = files();
    assert_eq!(v["hot"]["bytes"], hot_bytes, "{v:#}");
    assert_eq!(v["hot"]["rows"], recent.len() as u64);
    assert_eq!(v["nas"]["rows"], old.len() as u64);
    assert_eq!(v["nas"]["bytes"], archived_bytes);
    assert_eq!(v["link"]["last_30_days_bytes"], sent);
    let today = hotcold_core::time::format_timestamp_ms(now_ms())[..10].to_string();
    assert_eq!(v["link"]["per_day"][0]["day"], today.as_str(), "{v:#}");
    assert_eq!(v["link"]["per_day"][0]["bytes"], sent);
    assert_eq!(v["link"]["per_month"][0]["month"], &today[..7]);

    // The month at the configured prices, from the bytes above.
    let gb = |n: u64| n as f64 / 1e9;
    let close = |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-9;
    let m = &v["monthly"];
    assert!(close(&m["cloud_disk"], 0.10 * gb(hot_bytes)), "{m}");
    assert!(close(&m["egress"], 0.09 * gb(sent)), "{m}");
    assert!(close(&m["nas"], 20.0), "{m}");
    assert!(
        close(&m["total"], 0.10 * gb(hot_bytes) + 0.09 * gb(sent) + 20.0),
        "{m}"
    );
    // Everything in the cloud: the archived rows at the hot bytes per row.
    let per_row = hot_bytes as f64 / recent.len() as f64;
    let all = hot_bytes + (old.len() as f64 * per_row).round() as u64;
    assert_eq!(v["all_in_cloud"]["bytes"], all, "{v:#}");
    assert!(close(&v["all_in_cloud"]["monthly"], 0.10 * gb(all)));
    assert_eq!(v["currency"], "EUR");

    let out = Command::new(bin("cloud-service"))
        .args(["cost", "--url", &stack.cloud.url])
        .output()
        .expect("cloud-service cost");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("per month") && text.contains("EUR") && text.contains("all in the cloud"),
        "{text}"
    );

    // A price that is not one stops the service before it starts.
    let cfg = stack.dir.path().join("bad.yaml");
    std::fs::write(&cfg, "cost:\n  egress-per-gb: -1\n").expect("config");
    let out = Command::new(bin("cloud-service"))
        .args(["check-config", "-c"])
        .arg(&cfg)
        .output()
        .expect("check-config");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cost.egress-per-gb"),
        "{err}"
    );
}
